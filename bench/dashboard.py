"""Benchmark of the project dashboard and the job list at 100 / 10,000 / 100,000 jobs (issue 11). Not CI.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ma_bench_dashboard \\
      CONSOLE_VAR_DIR=$PWD/var/bench-dashboard .venv/bin/python -m bench.dashboard [--sizes 100,10000,100000] [-n 60]

One project per size, seeded once with ``bench.seed.seed_jobs`` (kept between runs: a project that
already holds its jobs is reused), plus what the dashboard shows of running jobs: a logged ``loss``
curve (60 points) and ``accuracy`` for the 10 newest running jobs, and a computed storage-use row.
A real gunicorn (one worker, one thread: one request at a time, as measured) serves the pages; each
request opens a new TCP connection, sends the member's session cookie and reads the whole body.
Requests go round-robin over pages and sizes (request i of each, then i + 1), so that other load on
the machine falls on every size alike.
Printed: p50 / p95 in ms per page and size, and t(100,000) / t(100) (target ≤ 1.5).
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.5


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def setup_django() -> None:
    from bench.training import ensure_database

    ensure_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()
    # After django.setup(): a process entry point.
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def prepare(size: int) -> tuple:
    """The project of ``size`` jobs (seeded when it does not hold them yet) and its member's session key."""
    from django.conf import settings
    from django.test import Client
    from django.utils import timezone

    from bench.seed import bench_project, seed_jobs
    from console.dashboard.services import project_storage_use_refresh
    from console.training.models import TaskScalarSeries, TrainingJob
    from console.training.workload import TrainingTaskRun

    project, user = bench_project(f"dash-{size}", "bench-dashboard")
    have = TrainingJob.objects.filter(project=project).count()
    if have != size:
        TrainingJob.objects.filter(project=project).delete()
        started = time.monotonic()
        print(f"seeding {size:,} jobs…", flush=True)
        seed_jobs(project, size, user=user)
        print(f"  seeded in {time.monotonic() - started:.0f} s", flush=True)
    running = TrainingJob.objects.filter(project=project, phase="Running").order_by("-created_at", "-id")[:10]
    now = timezone.now()
    for job in running:
        task = job.tasks.filter(index=0).first()
        if task is None or TaskScalarSeries.objects.filter(task=task).exists():
            continue
        points = [{"name": "loss", "step": s * 10, "value": 2.5 * 0.95**s, "wall_time": now} for s in range(60)]
        points.append({"name": "accuracy", "step": 590, "value": 0.8, "wall_time": now})
        TrainingTaskRun(task).store_scalars(points)
    project_storage_use_refresh(project=project)
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return project, client.cookies[settings.SESSION_COOKIE_NAME].value


def vacuum() -> None:
    """What autovacuum does on a live database some time after a bulk load: statistics for the
    planner and the visibility map that lets a count read an index alone."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in ("training_trainingjob", "training_trainingtask", "training_jobevent", "training_taskscalar"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    log = open(Path(os.environ.get("CONSOLE_VAR_DIR", ROOT / "var")) / "bench-dashboard-gunicorn.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "console.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "1", "--access-logfile", "-"],
        cwd=ROOT, env=dict(os.environ, DEBUG="0"), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"gunicorn exited:\n{Path(log.name).read_text()[-2000:]}")
            time.sleep(0.2)
    raise SystemExit("gunicorn did not listen in 60 s")


def fetch(port: int, path: str, cookie: str, *, htmx: bool = False) -> tuple[float, int, int]:
    """(seconds, status, bytes) of one GET on a new connection."""
    from django.conf import settings

    headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}", "Host": "127.0.0.1"}
    if htmx:
        headers["HX-Request"] = "true"
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    return time.perf_counter() - started, response.status, len(body)


def measure_all(port: int, targets: list[tuple], n: int) -> dict:
    """targets: [(key, path, cookie, htmx)]. Round-robin: request i of every target, then request i + 1,
    so that load from elsewhere on the machine falls on every size alike instead of on one."""
    for _key, path, cookie, htmx in targets:
        for _ in range(5):  # warm: the worker's imports, template loading, the database's caches
            fetch(port, path, cookie, htmx=htmx)
    times: dict = {key: [] for key, *_ in targets}
    sizes: dict = {}
    for _ in range(n):
        for key, path, cookie, htmx in targets:
            took, status, size = fetch(port, path, cookie, htmx=htmx)
            if status != 200:
                raise SystemExit(f"{path}: HTTP {status}")
            times[key].append(took * 1000)
            sizes[key] = size
    return {
        key: {"p50": percentile(t, 0.5), "p95": percentile(t, 0.95), "mean": statistics.mean(t), "bytes": sizes[key]}
        for key, t in times.items()
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,10000,100000")
    parser.add_argument("-n", type=int, default=60, help="requests per page and size")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    setup_django()
    projects = {size: prepare(size) for size in sizes}
    vacuum()
    port = free_port()
    server = start_server(port)
    pages = [
        ("dashboard", "/projects/{pid}/dashboard/", False),
        ("dashboard (HTMX poll)", "/projects/{pid}/dashboard/", True),
        ("job list", "/projects/{pid}/training/jobs/", False),
    ]
    targets = [
        ((name, size), path.format(pid=projects[size][0].project_id), projects[size][1], htmx)
        for size in sizes
        for name, path, htmx in pages
    ]
    try:
        results = measure_all(port, targets, args.n)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    print()
    print(f"{'page':<22} {'jobs':>8} {'p50 ms':>8} {'p95 ms':>8} {'KB':>6}")
    for name, _path, _htmx in pages:
        for size in sizes:
            r = results[name, size]
            print(f"{name:<22} {size:>8,} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['bytes'] / 1024:>6.1f}")
    low, high = min(sizes), max(sizes)
    print()
    ok = True
    for name, _path, _htmx in pages:
        p50 = results[name, high]["p50"] / results[name, low]["p50"]
        p95 = results[name, high]["p95"] / results[name, low]["p95"]
        verdict = "ok" if p50 <= TARGET_RATIO else "OVER"
        ok &= name == "job list" or p50 <= TARGET_RATIO
        print(f"t({high:,})/t({low:,}) {name:<22} p50 {p50:.2f}  p95 {p95:.2f}  (target ≤ {TARGET_RATIO}: {verdict})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
