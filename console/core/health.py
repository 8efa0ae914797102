"""Real checks of every moving part, for the health page."""

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


@dataclass
class Check:
    name: str
    label: str
    up: bool
    detail: str
    took_ms: float


def _timed(fn):
    started = time.perf_counter()
    try:
        up, detail = fn()
    except Exception as error:  # a health check reports failures, it does not raise them
        up, detail = False, f"{type(error).__name__}: {error}"
    return up, detail, round((time.perf_counter() - started) * 1000, 1)


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return True, connection.vendor


def _broker():
    from console.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return True, conn.as_uri()


def _workers():
    from console.celery import app

    replies = app.control.ping(timeout=1.5) or []
    names = sorted(name for reply in replies for name in reply)
    if not names:
        return False, str(_("No worker answered a ping."))
    return True, ", ".join(names)


def _beat():
    from console.core.models import ServiceHeartbeat

    heartbeat = ServiceHeartbeat.objects.filter(name="beat").first()
    if heartbeat is None:
        return False, str(_("Beat has never reported."))
    age = (timezone.now() - heartbeat.beat_at).total_seconds()
    up = age <= settings.BEAT_DOWN_AFTER_SECONDS
    return up, str(_("last tick %(age)s s ago")) % {"age": round(age, 1)}


def run_checks() -> list[Check]:
    checks = [Check("web", str(_("Web server")), True, str(_("serving this page")), 0.0)]
    for name, label, fn in (
        ("database", _("Database"), _database),
        ("broker", _("Broker"), _broker),
        ("worker", _("Workers"), _workers),
        ("beat", _("Beat"), _beat),
    ):
        up, detail, took = _timed(fn)
        checks.append(Check(name, str(label), up, detail, took))
    return checks
