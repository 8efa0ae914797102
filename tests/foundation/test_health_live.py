"""The health checks against a real Celery worker with embedded beat (which runs the background ping): up while it runs, down once stopped."""

import time

import pytest

from console.core.health import observe_workers, run_checks

pytestmark = pytest.mark.integration


def wait_for(predicate, *, timeout, what, ping_here=False):
    deadline = time.monotonic() + timeout
    while True:
        if ping_here:  # the background ping, run from here: beat (which ran it) stopped with the worker
            observe_workers()
        checks = {c.name: c for c in run_checks()}
        if predicate(checks):
            return checks
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{what} not seen in {timeout}s: {[(c.name, c.up, c.detail) for c in checks.values()]}"
            )
        time.sleep(0.5)


def test_it_sees_a_running_worker_and_beat_and_a_stopped_worker_down(celery_worker_process, client, site_admin):
    # Beat in the worker runs the background ping (console.core.tasks.observe_workers) every 2 s here.
    worker = celery_worker_process(beat=True, name="healthworker", extra_env={"WORKERS_OBSERVE_SECONDS": "2"})
    checks = wait_for(lambda c: c["worker"].up and c["beat"].up, timeout=60, what="worker and beat up")
    assert "healthworker@" in checks["worker"].detail
    assert checks["database"].up and checks["broker"].up

    # The page an administrator looks at says the same.
    client.force_login(site_admin, backend="django.contrib.auth.backends.ModelBackend")
    html = client.get("/admin/health/").content.decode()
    assert html.count('<span class="badge badge-success">Up</span>') == 5, html

    worker.stop()  # SIGTERM, as an operator stopping the service would
    checks = wait_for(lambda c: not c["worker"].up, timeout=60, what="worker down", ping_here=True)
    assert checks["worker"].detail == "No worker answered a ping."
    # Beat ran inside that worker: its heartbeat goes stale too.
    wait_for(lambda c: not c["beat"].up, timeout=60, what="beat down")
