"""Benchmark of notebooks (issue 13): create → RUNNING on a warm node. Not part of CI.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ma_bench_notebooks REDIS_URL=redis://127.0.0.1:6379/6 \\
    CONSOLE_VAR_DIR=$PWD/var/bench-notebooks .venv/bin/python -m bench.notebooks [--count 10]

A real node worker (celery, CONSOLE_NODE_POOL, with beat) registers in a fresh pool and detects its
JupyterLab image; one warm-up notebook is created and deleted; then COUNT notebooks one after the
other: time from ``notebook_create`` returning to the row reading RUNNING (Jupyter's /api/status
answered through its socket), then stop + delete before the next. The kernel round trip through the
forwarder is measured by ``python -m bench.frontdoor``.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import time
import uuid

from bench.training import ensure_database, percentile, setup_django, start_worker


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10)
    args = parser.parse_args()
    ensure_database()
    setup_django()
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from console.accounts.models import Membership, Organization, Profile, Project, Role
    from console.nodepools.models import Node, Pool
    from console.notebooks.models import Image, Notebook
    from console.notebooks.services import NotebookSpec, notebook_create, notebook_delete, notebook_stop
    from console.notebooks.states import State
    from console.storage.services import project_storage_defaults_apply

    tag = uuid.uuid4().hex[:6]
    org, _ = Organization.objects.get_or_create(name="bench")
    user = get_user_model().objects.create_user(username=f"nb-{tag}", password=uuid.uuid4().hex)
    Profile.objects.create(user=user, organization=org)
    project = Project.objects.create(organization=org, name=f"nb-{tag}")
    Membership.objects.create(project=project, user=user, role=Role.MEMBER)
    project_storage_defaults_apply(project=project, actor=None)
    pool = Pool.objects.create(name=f"nb-{tag}")
    worker = start_worker(pool.name, f"nb-{tag}")
    try:
        node = Node.objects.get(name=f"nb-{tag}")
        image = wait_for(
            lambda: Image.objects.filter(node_images__node=node).first(), 60, "the JupyterLab image of the node"
        )
        flavor = settings.NOTEBOOK_FLAVORS[0]["flavor_id"]

        def one(name: str) -> float:
            started = time.perf_counter()
            notebook = notebook_create(
                actor=user,
                project=project,
                spec=NotebookSpec(name=name, flavor_id=flavor, image_id=str(image.image_id), pool=pool),
            )
            wait_for(
                lambda: Notebook.objects.filter(pk=notebook.pk, state=State.RUNNING).exists(), 180, f"{name} RUNNING"
            )
            elapsed = time.perf_counter() - started
            notebook_stop(actor=user, notebook=notebook)
            wait_for(
                lambda: Notebook.objects.filter(pk=notebook.pk, state=State.STOPPED).exists(), 120, f"{name} STOPPED"
            )
            notebook_delete(actor=user, notebook=Notebook.objects.get(pk=notebook.pk))
            return elapsed

        warm = one("warm-up")
        print(f"warm-up notebook (not counted): create → RUNNING {warm * 1000:.0f} ms")
        times = [one(f"bench-{i}") * 1000 for i in range(args.count)]
        print(
            f"create → RUNNING over {len(times)} notebooks: p50 {statistics.median(times):.0f} ms, "
            f"p95 {percentile(times, 0.95):.0f} ms, max {max(times):.0f} ms"
        )
    finally:
        os.killpg(worker.pid, signal.SIGQUIT)
        worker.wait(30)


if __name__ == "__main__":
    main()
