"""Real checks of every moving part, for the health page."""

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
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
    # Seconds since a background check (the worker ping) last ran; None for checks made now.
    age_s: float | None = None


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


# The row the background observer (console.core.tasks.observe_workers, run by beat) writes:
# the page reads it and never waits for a worker to answer.
WORKERS_ROW = "workers"


def observe_workers(*, timeout: float | None = None) -> dict:
    """Ask every Celery worker through Celery's own remote control, time-boxed, and store the answer.

    ping (who answers), stats (pid, pool size, tasks run, uptime), active_queues (what each
    consumes), plus the number of messages waiting in each of those queues. Each broadcast waits
    at most ``timeout`` seconds (WORKERS_INSPECT_TIMEOUT, ≤ 1 s). Runs in the background only.
    """
    from console.celery import app
    from console.core.models import ServiceHeartbeat

    timeout = min(1.0, timeout if timeout is not None else settings.WORKERS_INSPECT_TIMEOUT)
    started = time.perf_counter()
    errors = []

    def ask(what, call):
        try:
            return call() or {}
        except Exception as error:  # a broker hiccup is shown on the page, not raised
            errors.append(f"{what}: {type(error).__name__}: {error}"[:300])
            return {}

    # The three broadcasts at once: each waits its whole timeout (the number of workers is not known).
    inspect = app.control.inspect(timeout=timeout)
    with ThreadPoolExecutor(max_workers=3) as pool:
        ping = pool.submit(ask, "ping", lambda: app.control.ping(timeout=timeout))
        stats = pool.submit(ask, "stats", inspect.stats)
        active_queues = pool.submit(ask, "active_queues", inspect.active_queues)
        replies, stats, active_queues = ping.result() or [], stats.result(), active_queues.result()
    names = sorted(name for reply in replies for name in reply)
    workers = {}
    queue_names = {settings.CELERY_TASK_DEFAULT_QUEUE}
    for name in names:
        info = stats.get(name) or {}
        queues = sorted(q.get("name", "") for q in active_queues.get(name) or [])
        queue_names.update(queues)
        workers[name] = {
            "pid": info.get("pid"),
            "concurrency": (info.get("pool") or {}).get("max-concurrency"),
            "tasks_run": sum((info.get("total") or {}).values()),
            "uptime_s": info.get("uptime"),
            "max_rss_kb": (info.get("rusage") or {}).get("maxrss"),
            "queues": queues,
        }
    depths = ask("queue depth", lambda: _queue_depths(app, sorted(queue_names)))
    detail = {
        "workers": workers,
        "queues": [{"name": q, "waiting": depths.get(q)} for q in sorted(queue_names)],
        "errors": errors,
        "took_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    ServiceHeartbeat.objects.update_or_create(name=WORKERS_ROW, defaults={"beat_at": timezone.now(), "detail": detail})
    return detail


def _queue_depths(app, names: list[str]) -> dict[str, int | None]:
    """Messages waiting in each queue (a passive declare: the queue is never created)."""
    depths: dict[str, int | None] = {}
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=1)
        channel = conn.default_channel
        for name in names:
            try:
                depths[name] = channel.queue_declare(queue=name, passive=True).message_count
            except Exception:  # a queue nobody declared yet has no messages to count
                depths[name] = None
    return depths


def workers_observed():
    """(detail, age in seconds) of the last background answer, or (None, None) when there is none yet."""
    from console.core.models import ServiceHeartbeat

    row = ServiceHeartbeat.objects.filter(name=WORKERS_ROW).first()
    if row is None:
        return None, None
    return row.detail, max(0.0, (timezone.now() - row.beat_at).total_seconds())


def _workers():
    detail, age = workers_observed()
    if detail is None:
        return False, str(_("No answer yet: workers are pinged in the background by beat every %(n)s s.")) % {
            "n": round(settings.WORKERS_OBSERVE_SECONDS)
        }
    if age > settings.WORKERS_STALE_SECONDS:
        return False, str(_("The last ping is %(age)s s old: the background ping has stopped (is beat up?).")) % {
            "age": round(age)
        }
    names = sorted(detail.get("workers") or {})
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
    # The workers' answer is the background ping's: say how old it is.
    by_name = {check.name: check for check in checks}
    by_name["worker"].age_s = workers_observed()[1]
    programs = supervised_programs()
    for check in checks:
        check.supervised = programs.get(check.name)
    return checks
