"""Real checks of every moving part, for the health page."""

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime

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
    # Filled when `manage.py serve` supervises this part (see supervised_programs).
    supervised: dict | None = None


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
    pool = connection.settings_dict.get("OPTIONS", {}).get("pool")
    if pool:
        return True, str(_("%(vendor)s, pool of %(min)s–%(max)s connections per process")) % {
            "vendor": connection.vendor,
            "min": pool["min_size"],
            "max": pool["max_size"],
        }
    if getattr(settings, "DATABASE_POOL_MISSING", False):
        return True, str(_("%(vendor)s, no connection pool: psycopg-pool is not installed")) % {
            "vendor": connection.vendor,
        }
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


def supervised_programs() -> dict[str, dict]:
    """What `manage.py serve` last wrote about the programs it supervises: restarts and last exit.

    {} when the console is not run by `serve` (docker compose restarts containers itself) or
    the supervisor that wrote the file is gone (a stale file must not pass for live state).
    """
    from console.core.management.commands.serve import status_path

    try:
        status = json.loads(status_path().read_text())
        os.kill(int(status["supervisor_pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    programs = {}
    for name, state in (status.get("processes") or {}).items():
        last_exit = state.get("last_exit")
        if last_exit:
            last_exit = {**last_exit, "at": datetime.fromisoformat(last_exit["at"])}
            if last_exit["signal"]:
                last_exit["text"] = str(_("killed by %(signal)s")) % {"signal": last_exit["signal"]}
            else:
                last_exit["text"] = str(_("exit code %(code)s")) % {"code": last_exit["code"]}
        next_start = state.get("next_start_at")
        programs[name] = {
            "state": state.get("state"),
            "restarts": int(state.get("restarts") or 0),
            "last_exit": last_exit,
            "next_start_at": datetime.fromisoformat(next_start) if next_start else None,
        }
    return programs


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
    programs = supervised_programs()
    for check in checks:
        check.supervised = programs.get(check.name)
    return checks
