"""Settings of the worker in test_broker_restart: the production resend delay, and the test chore."""

from tests.settings import *  # noqa: F401,F403

# As in production: if recovery waited for the time-based resend, the test would time out.
WORK_LOST_MESSAGE_SECONDS = 300
CELERY_IMPORTS = ["tests.foundation.chore_worker"]
