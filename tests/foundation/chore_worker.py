"""A small LeasedWork kind for tests that need a real worker to run it.

The model lives in an isolated app registry (no migration); a test creates its table. A worker
started with tests.foundation.broker_restart_settings imports this module, so it runs the task
and its sweep looks after the rows like any registered kind.
"""

import time

from celery import shared_task
from django.test.utils import isolate_apps

from console.core import work
from console.core.models import LeasedWork, WorkState

TASK = "tests.foundation.chore_worker.run"
# Long enough that a row is still queued when the test kills the broker.
CHORE_SECONDS = 0.5

with isolate_apps("console.core"):

    class WorkerChore(LeasedWork):
        WORK_TASK = TASK

        class Meta:
            app_label = "core"
            db_table = "test_worker_chore"


work.register_work(WorkerChore)


@shared_task(name=TASK)
def run(pk):
    token = work.work_claim(WorkerChore, pk)
    if token is None:
        return "not ours"
    time.sleep(CHORE_SECONDS)
    work.work_finish(WorkerChore, pk, token, state=WorkState.SUCCEEDED)
    return "done"
