from celery import shared_task

from console.core import work


@shared_task(name="console.core.tasks.sweep_stale_work")
def sweep_stale_work():
    return work.sweep_stale_work()
