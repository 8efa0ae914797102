"""Test settings: the real settings, with fast password hashing and quick background intervals."""

from console.settings import *  # noqa: F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
WORK_HEARTBEAT_SECONDS = 0.5
WORK_STALE_SECONDS = 3
WORK_LOST_MESSAGE_SECONDS = 6
SWEEP_INTERVAL_SECONDS = 1
BEAT_HEARTBEAT_SECONDS = 1
BEAT_DOWN_AFTER_SECONDS = 5
# Serve static files from the app folders, as runserver does: tests need no collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# The many short-lived test workers skip the torch warm-up (a few seconds each).
WEIGHTCHECK_WARM_UP = False
