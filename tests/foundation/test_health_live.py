"""The health checks against a real Celery worker with embedded beat: up while it runs, down once stopped."""

import time

import pytest

from console.core.health import run_checks

pytestmark = pytest.mark.integration


def wait_for(predicate, *, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        checks = {c.name: c for c in run_checks()}
        if predicate(checks):
            return checks
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{what} not seen in {timeout}s: {[(c.name, c.up, c.detail) for c in checks.values()]}"
            )
        time.sleep(0.5)


def test_it_sees_a_running_worker_and_beat_and_a_stopped_worker_down(celery_worker_process, client, site_admin):
    worker = celery_worker_process(beat=True, name="healthworker")
    checks = wait_for(lambda c: c["worker"].up and c["beat"].up, timeout=60, what="worker and beat up")
    assert "healthworker@" in checks["worker"].detail
    assert checks["database"].up and checks["broker"].up

    # The page an administrator looks at says the same.
    client.force_login(site_admin, backend="django.contrib.auth.backends.ModelBackend")
    html = client.get("/admin/health/").content.decode()
    assert html.count('<span class="badge badge-success">Up</span>') == 5, html

    worker.stop()  # SIGTERM, as an operator stopping the service would
    checks = wait_for(lambda c: not c["worker"].up, timeout=60, what="worker down")
    assert checks["worker"].detail == "No worker answered a ping."
    # Beat ran inside that worker: its heartbeat goes stale too.
    wait_for(lambda c: not c["beat"].up, timeout=60, what="beat down")
