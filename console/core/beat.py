"""Celery beat's scheduler, plus a heartbeat row so the health page can tell beat is alive.

Beat's liveness is recorded by beat itself (not by a task a worker runs), so a
stopped worker does not make beat look down.
"""

import time

from celery.beat import PersistentScheduler
from django.conf import settings


class HeartbeatScheduler(PersistentScheduler):
    _last_beat = 0.0

    def tick(self, *args, **kwargs):
        interval = super().tick(*args, **kwargs)
        now = time.monotonic()
        if now - self._last_beat >= settings.BEAT_HEARTBEAT_SECONDS:
            self._last_beat = now
            record_beat()
        return min(interval, settings.BEAT_HEARTBEAT_SECONDS)


def record_beat():
    from django.db import close_old_connections
    from django.utils import timezone

    from console.core.models import ServiceHeartbeat

    close_old_connections()
    try:
        ServiceHeartbeat.objects.update_or_create(name="beat", defaults={"beat_at": timezone.now()})
    except Exception:  # the database may be briefly away; the next tick tries again
        import logging

        logging.getLogger(__name__).exception("could not record beat heartbeat")
