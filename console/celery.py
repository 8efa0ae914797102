"""The Celery app. Configured from Django settings (CELERY_* names)."""

import logging
import os

from celery import Celery, bootsteps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

logger = logging.getLogger(__name__)


def _survive_redis_loss_with_unacked_messages():
    """Work around a kombu 5.x bug that made the worker exit (code 1) when Redis went away.

    On a lost connection Celery's consumer calls `connection.collect()`, which drops the
    transport's link to its Connection, then `connection.close()`. Closing the default channel
    restores the unacknowledged messages (acks_late: every task in progress has one); the Redis
    pool was already dropped on the disconnect, so the channel builds a new one from the dropped
    link and raises `AttributeError: 'NoneType' object has no attribute 'hostname'`. Celery ignores
    only connection errors there, so the AttributeError ended the worker ("Unrecoverable error").
    Reproduced with kombu 5.7.0: a task running while Redis is killed, the worker exited on the 3rd of 3 restarts.

    Raising a connection error instead lets Celery ignore it and reconnect. The messages stay in
    Redis's unacked hash (it is unreachable anyway); kombu restores them after the visibility
    timeout, and the rows' pending messages are resent by the broker check in console.core.work.
    """
    try:
        from kombu.transport import redis as kombu_redis
    except ImportError:  # the embedded install runs on the filesystem broker
        return
    if kombu_redis.redis is None or getattr(kombu_redis.Channel, "_console_patched", False):
        return
    connparams = kombu_redis.Channel._connparams

    def _connparams(self, *args, **kwargs):
        if self.connection.client is None:
            raise kombu_redis.redis.ConnectionError("the broker connection was closed after a connection loss")
        return connparams(self, *args, **kwargs)

    kombu_redis.Channel._connparams = _connparams
    kombu_redis.Channel._console_patched = True


_survive_redis_loss_with_unacked_messages()

app = Celery("console")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class ResendLostWorkOnConnect(bootsteps.StartStopStep):
    """Each time the worker's consumer (re)connects to the broker, ask for lost messages to be resent.

    Celery restarts the consumer's steps after every reconnection, so this runs when the broker
    comes back: a restarted Redis without persistence has lost every queued message, and rows
    whose send failed while it was away have none. Without this they wait for the time-based
    resend (WORK_LOST_MESSAGE_SECONDS). The check itself runs as a task, off the consumer.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, c):
        try:
            c.app.send_task("console.core.tasks.resend_lost_work")
        except Exception:  # the broker went away again; the next reconnection asks again
            logger.warning("could not ask for lost work to be resent", exc_info=True)


app.steps["consumer"].add(ResendLostWorkOnConnect)


@app.on_after_finalize.connect
def _schedule_periodic_work(sender, **kwargs):
    # Imported late: settings are ready only once the app is finalised.
    from django.conf import settings

    sender.add_periodic_task(
        settings.SWEEP_INTERVAL_SECONDS,
        sender.signature("console.core.tasks.sweep_stale_work"),
        name="sweep stale work",
    )
    # --- training: reconcile every non-terminal job (console.training.services.reconcile) ---
    sender.add_periodic_task(
        settings.TRAINING_POLL_SECONDS,
        sender.signature("console.training.tasks.poll", queue="platform"),
        name="training poll",
    )
    # --- Ray cluster pools: jobs' status and logs (one call per pool), and the clusters' health ---
    sender.add_periodic_task(
        settings.RAY_POLL_SECONDS,
        sender.signature("console.training.tasks.ray_poll", queue="platform"),
        name="ray poll",
        expires=max(settings.RAY_POLL_SECONDS * 4, 10),
    )
    sender.add_periodic_task(
        settings.RAY_CLUSTER_REFRESH_SECONDS,
        sender.signature("console.nodepools.tasks.ray_clusters_refresh", queue="platform"),
        name="ray clusters refresh",
        expires=settings.RAY_CLUSTER_REFRESH_SECONDS,
    )
    # --- health and operations: Celery's own inspect, time-boxed, off the page (console.core.health) ---
    sender.add_periodic_task(
        settings.WORKERS_OBSERVE_SECONDS,
        sender.signature("console.core.tasks.observe_workers", queue="platform"),
        name="observe workers",
        expires=settings.WORKERS_OBSERVE_SECONDS,
    )
    # --- dashboard: each project's storage use, summed here and never on a page load ---
    sender.add_periodic_task(
        settings.DASHBOARD_STORAGE_USE_SECONDS,
        sender.signature("console.dashboard.tasks.refresh_storage_use", queue="platform"),
        name="storage use",
        expires=settings.DASHBOARD_STORAGE_USE_SECONDS,
    )
