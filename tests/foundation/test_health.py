"""The health page's checks: database, broker, workers (a real ping, run in the background), beat (its own heartbeat)."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from console.core.health import observe_workers, run_checks
from console.core.models import ServiceHeartbeat

from .conftest import HX, is_full_page


def by_name(checks):
    return {c.name: c for c in checks}


def test_it_sees_the_database_and_broker_up_and_no_worker(db):
    # The ping runs in the background (beat's observe_workers task); here it runs once, with no worker.
    observe_workers()
    checks = by_name(run_checks())
    assert list(checks) == ["web", "database", "broker", "worker", "beat"]
    assert checks["web"].up
    assert checks["database"].up and checks["database"].detail.split(",")[0] in ("postgresql", "sqlite")
    assert checks["broker"].up, checks["broker"].detail
    assert not checks["worker"].up
    assert checks["worker"].detail == "No worker answered a ping."
    assert 0 <= checks["worker"].age_s < 5


def test_the_background_ping_is_time_boxed_to_a_second(db, settings):
    started = time.perf_counter()
    detail = observe_workers()
    # ping, stats and active_queues are asked at once, each waiting at most 1 s.
    assert time.perf_counter() - started < 2.5
    assert detail["workers"] == {}
    assert {"name": "platform", "waiting": detail["queues"][0]["waiting"]} in detail["queues"]


def test_the_page_never_pings_a_worker(client_for, site_admin, monkeypatch):
    from console.celery import app

    def refuse(*args, **kwargs):
        raise AssertionError("the health page pinged the workers itself")

    monkeypatch.setattr(app.control, "ping", refuse)
    monkeypatch.setattr(app.control, "inspect", refuse)
    client = client_for(site_admin)
    client.get("/admin/health/")
    started = time.perf_counter()
    response = client.get("/admin/health/")
    assert time.perf_counter() - started < 0.5
    html = response.content.decode()
    assert "No answer yet: workers are pinged in the background by beat every 10 s." in html


def test_it_shows_the_last_answer_with_its_age_and_calls_an_old_one_stale(client_for, site_admin, settings):
    ServiceHeartbeat.objects.create(
        name="workers", beat_at=timezone.now() - timedelta(seconds=7), detail={"workers": {"w1@host": {}}}
    )
    worker = by_name(run_checks())["worker"]
    assert worker.up and worker.detail == "w1@host"
    html = client_for(site_admin).get("/admin/health/").content.decode()
    assert "pinged 7 s ago" in html
    ServiceHeartbeat.objects.filter(name="workers").update(
        beat_at=timezone.now() - timedelta(seconds=settings.WORKERS_STALE_SECONDS + 5)
    )
    worker = by_name(run_checks())["worker"]
    assert not worker.up
    assert worker.detail == (
        f"The last ping is {round(settings.WORKERS_STALE_SECONDS + 5)} s old: the background ping has stopped (is beat up?)."
    )


def test_it_reports_beat_down_when_it_never_reported(db):
    beat = by_name(run_checks())["beat"]
    assert not beat.up and beat.detail == "Beat has never reported."


def test_it_reports_beat_up_when_its_heartbeat_is_fresh(db):
    ServiceHeartbeat.objects.create(name="beat", beat_at=timezone.now() - timedelta(seconds=1))
    assert by_name(run_checks())["beat"].up


def test_it_reports_beat_down_when_its_heartbeat_is_stale(db, settings):
    stale = timezone.now() - timedelta(seconds=settings.BEAT_DOWN_AFTER_SECONDS + 2)
    ServiceHeartbeat.objects.create(name="beat", beat_at=stale)
    beat = by_name(run_checks())["beat"]
    assert not beat.up
    assert beat.detail.startswith("last tick ")


def test_it_reports_a_broken_broker_instead_of_raising(db):
    from console.celery import app

    saved = app.conf.broker_url
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    app.conf.broker_url = saved.split("://")[0] + "://127.0.0.1:1/0" if saved.startswith("redis") else saved
    if not saved.startswith("redis"):
        pytest.skip("the embedded broker has no address to break")
    try:
        broker = by_name(run_checks())["broker"]
    finally:
        app.conf.broker_url = saved
    assert not broker.up
    assert broker.detail


def test_it_records_beat_heartbeats_from_the_scheduler(transactional_db):
    # record_beat runs in beat's own process, in autocommit: no test transaction around it.
    from console.core.beat import record_beat

    record_beat()
    first = ServiceHeartbeat.objects.get(name="beat").beat_at
    record_beat()
    assert ServiceHeartbeat.objects.get(name="beat").beat_at >= first
    assert ServiceHeartbeat.objects.count() == 1


def test_it_shows_the_health_page_to_a_site_admin(client_for, site_admin):
    ServiceHeartbeat.objects.create(name="beat", beat_at=timezone.now())
    observe_workers()
    response = client_for(site_admin).get("/admin/health/")
    assert response.status_code == 200
    assert is_full_page(response)
    html = response.content.decode()
    for name in ("web", "database", "broker", "worker", "beat"):
        assert f'data-check="{name}"' in html
    assert "No worker answered a ping." in html


def test_it_answers_the_table_fragment_to_htmx_polling(client_for, site_admin):
    response = client_for(site_admin).get("/admin/health/", **HX)
    assert response.status_code == 200
    assert not is_full_page(response)
    assert response.content.lstrip().startswith(b'<div id="health-table"')
    assert "HX-Request" in response["Vary"]


def test_it_names_the_connection_pool_on_postgresql(db, settings):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the pool is PostgreSQL's")
    detail = by_name(run_checks())["database"].detail
    assert (
        detail
        == f"postgresql, pool of {settings.DATABASE_POOL_MIN_SIZE}–{settings.DATABASE_POOL_MAX_SIZE} connections per process"
    )


# --- what `manage.py serve` reports about the programs it supervises ------------------------------


def write_status(settings, tmp_path, supervisor_pid, processes):
    import json

    settings.VAR_DIR = tmp_path
    (tmp_path / "serve-status.json").write_text(json.dumps({"supervisor_pid": supervisor_pid, "processes": processes}))


SUPERVISED = {
    "web": {"state": "running", "restarts": 0, "last_exit": None, "next_start_at": None},
    "worker": {
        "state": "running", "restarts": 2, "next_start_at": None,
        "last_exit": {"code": None, "signal": "SIGKILL", "at": "2026-03-01T10:00:05+00:00"},
    },
    "beat": {
        "state": "restarting", "restarts": 1, "next_start_at": "2026-03-01T10:00:09+00:00",
        "last_exit": {"code": 1, "signal": None, "at": "2026-03-01T10:00:07+00:00"},
    },
}  # fmt: skip


def test_it_shows_restarts_and_last_exits_from_the_run_command(client_for, site_admin, settings, tmp_path):
    import os

    write_status(settings, tmp_path, os.getpid(), SUPERVISED)
    checks = by_name(run_checks())
    assert checks["worker"].supervised["restarts"] == 2
    assert checks["database"].supervised is None  # not a program the run command starts
    html = client_for(site_admin).get("/admin/health/").content.decode()
    assert '<td data-restarts="2">2</td>' in html
    assert "killed by SIGKILL · 2026-03-01 10:00:05" in html
    assert "exit code 1 · 2026-03-01 10:00:07 · restarting at 10:00:09" in html
    assert '<td data-restarts="0">0</td>' in html  # web


def test_it_ignores_the_status_of_a_run_command_that_is_gone(client_for, site_admin, settings, tmp_path):
    import psutil

    gone = max(psutil.pids()) + 100_000
    write_status(settings, tmp_path, gone, SUPERVISED)
    assert all(check.supervised is None for check in run_checks())
    html = client_for(site_admin).get("/admin/health/").content.decode()
    assert "killed by SIGKILL" not in html
