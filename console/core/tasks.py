from celery import shared_task

from console.core import work


@shared_task(name="console.core.tasks.sweep_stale_work")
def sweep_stale_work():
    return work.sweep_stale_work()


@shared_task(name="console.core.tasks.resend_lost_work")
def resend_lost_work():
    """Sent by a worker each time it (re)connects to the broker: resend what the broker lost."""
    return work.check_broker(force=True)


@shared_task(name="console.core.tasks.observe_workers")
def observe_workers():
    """Beat: ping and inspect every worker (time-boxed) and keep the answer for the health and operations pages."""
    from console.core.health import observe_workers as observe

    observe()
