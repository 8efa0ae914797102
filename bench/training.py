"""Benchmark of training jobs (issue 5). Not part of CI. See bench/TRAINING.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ma_bench_training REDIS_URL=redis://127.0.0.1:6379/6 \\
    CONSOLE_VAR_DIR=$PWD/var/bench-training .venv/bin/python -m bench.training [--jobs 20] [--rows 1000]

1. submit → Running: a real node worker (celery, CONSOLE_NODE_POOL) runs N short jobs one
   after the other; latency from the create call returning to the job's status reading
   Running (the status the API returns, polled every 20 ms).
2. log line → log endpoint: each job's script prints a timestamped line every 100 ms; the
   job page's log endpoint (the real view through Django's URL routing, auth and ORM, polled
   every 50 ms) is read and each line's latency is (time it was returned) − (time printed).
3. one poller cycle over ROWS active job rows (database only): time and query count of
   ``poll_cycle()`` with nothing to change, and with every job changing at once.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """\
import sys, time
deadline = time.time() + float(sys.argv[1].split("=", 1)[1]) if len(sys.argv) > 1 and sys.argv[1].startswith("--seconds=") else time.time() + 2
n = 0
while time.time() < deadline:
    n += 1
    print("LAT %d %.6f" % (n, time.time()), flush=True)
    time.sleep(0.1)
"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def ensure_database() -> None:
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(os.environ["DATABASE_URL"])
    if "postgresql" not in config["ENGINE"]:
        return
    with psycopg.connect(
        host=config["HOST"] or "127.0.0.1", port=config["PORT"] or 5432, user=config["USER"],
        password=config["PASSWORD"] or None, dbname="postgres", autocommit=True,
    ) as connection:  # fmt: skip
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{config["NAME"]}"')


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def start_worker(pool_name: str, node_name: str) -> subprocess.Popen:
    env = dict(os.environ, CONSOLE_NODE_POOL=pool_name, CONSOLE_NODE_NAME=node_name, PYTHONUNBUFFERED="1")
    log = open(ROOT / "var" / f"bench-{node_name}.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "console", "worker", "--loglevel", "INFO", "--concurrency", "2",
         "--queues", "platform", "--hostname", f"{node_name}@%h", "--without-mingle", "--without-gossip",
         "--beat", "--schedule", str(Path(os.environ["CONSOLE_VAR_DIR"]) / "bench-beat")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if " ready." in Path(log.name).read_text():
            return process
        if process.poll() is not None:
            raise SystemExit(f"worker exited:\n{Path(log.name).read_text()[-2000:]}")
        time.sleep(0.3)
    raise SystemExit("worker not ready in 90 s")


def bench_jobs(count: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from console.accounts.models import Membership, Organization, Profile, Project, Role
    from console.nodepools.models import Node, Pool
    from console.storage.models import Bucket
    from console.storage.services import project_storage_defaults_apply
    from console.training.models import Flavor, TrainingJob
    from console.training.payloads import job_payload
    from console.training.services import algorithm_create, training_job_create
    from console.training.services.jobs import JobSpec

    tag = uuid.uuid4().hex[:6]
    org, _ = Organization.objects.get_or_create(name="bench")
    user = get_user_model().objects.create_user(username=f"bench-{tag}", password=uuid.uuid4().hex)
    Profile.objects.create(user=user, organization=org)
    project = Project.objects.create(organization=org, name=f"bench-{tag}")
    Membership.objects.create(project=project, user=user, role=Role.MEMBER)
    project_storage_defaults_apply(project=project, actor=None)
    bucket = Bucket.objects.get(project=project)
    root = bucket.local_path()
    (root / "code").mkdir(parents=True, exist_ok=True)
    (root / "code" / "lat.py").write_text(SCRIPT)
    pool = Pool.objects.create(name=f"bench-{tag}")
    Flavor.objects.get_or_create(
        flavor_id="bench.cpu.1u", defaults={"flavor_name": "Bench 1 vCPU", "cpu_cores": 1, "memory_gb": 1, "disk_gb": 1}
    )
    worker = start_worker(pool.name, f"bench-{tag}")
    try:
        node = Node.objects.get(name=f"bench-{tag}")
        engine = node.engines.first()
        algorithm = algorithm_create(
            actor=user, project=project, name="lat", code_dir=f"obs://{bucket.name}/code/",
            boot_file=f"obs://{bucket.name}/code/lat.py", engine=engine,
            parameters=[{"name": "seconds", "value": "2", "constraint": {"type": "Float"}}],
        )  # fmt: skip
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        to_running, line_latencies, per_job_p95 = [], [], []
        # Job 0 is a warm-up, reported but not counted: right after "ready" a worker's pool processes
        # and its zygote are still starting (several seconds on a busy 2-core machine).
        warmup = None
        for index in range(count + 1):
            spec = JobSpec(name=f"lat-{index}", algorithm=algorithm, flavor_id="bench.cpu.1u", pool=pool)
            job = training_job_create(actor=user, project=project, spec=spec)
            submitted = time.monotonic()
            while True:
                job.refresh_from_db()
                if job_payload(job)["status"]["phase"] in ("Running", "Completed", "Failed", "Abnormal"):
                    break
                if time.monotonic() - submitted > 60:
                    raise SystemExit(f"job {job.name} stuck in {job.phase}")
                time.sleep(0.02)
            to_running.append(time.monotonic() - submitted)
            url = reverse(
                "training:task_log",
                kwargs={"project_id": project.project_id, "job_id": job.uuid, "task_name": "worker-0"},
            )
            after, latencies, buffer = 0, [], ""
            while True:
                data = client.get(url, {"after": after}).json()
                now = time.time()
                buffer += data["text"]
                after = data["next"]
                *lines, buffer = buffer.split("\n")
                for line in lines:
                    if line.startswith("LAT "):
                        latencies.append(now - float(line.split()[2]))
                if data["done"]:
                    break
                time.sleep(0.05)
            waited = time.monotonic()
            while job.phase not in ("Completed", "Failed", "Abnormal", "Terminated") and time.monotonic() - waited < 15:
                time.sleep(0.05)  # the log is complete a moment before the runner's last report lands
                job.refresh_from_db()
            if job.phase != "Completed":
                raise SystemExit(f"job {job.name} ended {job.phase}: {job.phase_reason}")
            if index == 0:
                warmup = to_running.pop()
                print(f"  warm-up job (not counted): submit→Running {warmup * 1000:.0f} ms")
                continue
            line_latencies += latencies
            per_job_p95.append(percentile(latencies, 0.95))
            task = job.tasks.get()

            def ms(a, b):
                return (b - a).total_seconds() * 1000

            print(f"  job {index:2d}: submit→Running {to_running[-1] * 1000:5.0f} ms (scheduled {ms(job.created_at, task.assigned_at):4.0f}"
                  f" + runner up {ms(task.assigned_at, task.started_at):4.0f} + prepared {ms(task.started_at, task.running_at):4.0f} ms),"
                  f" {len(latencies)} log lines, latency p50 {percentile(latencies, 0.5) * 1000:4.0f} p95 {per_job_p95[-1] * 1000:4.0f} ms")  # fmt: skip
        return {"to_running": to_running, "lines": line_latencies, "warmup": warmup}
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        TrainingJob.objects.filter(project=project).delete()
        shutil.rmtree(root, ignore_errors=True)
        Node.objects.filter(pool=pool).delete()
        pool.delete()
        project.algorithms.all().delete()  # the project and its user stay (its authorization protects it)


def bench_poller(rows: int) -> dict:
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from console.accounts.models import Organization, Project
    from console.nodepools.models import Pool
    from console.training.models import Algorithm, Engine, Flavor, TrainingJob, TrainingTask
    from console.training.services.reconcile import poll_cycle, reconcile_jobs

    tag = uuid.uuid4().hex[:6]
    org, _ = Organization.objects.get_or_create(name="bench")
    project = Project.objects.create(organization=org, name=f"bench-poll-{tag}")
    engine, _ = Engine.objects.get_or_create(
        engine_id="bench-engine", defaults={"engine_name": "Python", "engine_version": "bench-engine"}
    )
    flavor, _ = Flavor.objects.get_or_create(
        flavor_id="bench.cpu.1u", defaults={"flavor_name": "Bench", "cpu_cores": 1, "memory_gb": 1, "disk_gb": 1}
    )
    pool = Pool.objects.create(name=f"bench-poll-{tag}")
    algorithm = Algorithm.objects.create(
        project=project, name="a", code_dir="/b/c/", boot_file="/b/c/x.py", engine=engine
    )
    now = timezone.now()
    jobs = TrainingJob.objects.bulk_create(
        [
            TrainingJob(
                project=project,
                name=f"j{i}",
                algorithm=algorithm,
                algorithm_spec={"name": "a", "engine": engine.snapshot()},
                engine=engine,
                flavor=flavor,
                flavor_spec=flavor.snapshot(),
                pool=pool,
                phase="Running",
                secondary_phase="Running",
                nodes_assigned_at=now,
                start_time=now,
            )  # fmt: skip
            for i in range(rows)
        ]
    )
    TrainingTask.objects.bulk_create(
        [
            TrainingTask(job=job, index=0, name="worker-0", status="running", heartbeat_at=now, running_at=now)
            for job in jobs
        ]
    )
    try:
        timings, queries = [], []
        for _ in range(5):
            TrainingTask.objects.filter(job__project=project).update(heartbeat_at=timezone.now())
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                poll_cycle()
                timings.append(time.perf_counter() - started)
            queries.append(len(captured))
        TrainingTask.objects.filter(job__project=project).update(heartbeat_at=timezone.now() - timedelta(hours=1))
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            counts = reconcile_jobs(job_ids=None)
            changing = time.perf_counter() - started
        return {"idle": timings, "idle_queries": queries, "changing": changing, "changing_queries": len(captured),
                "moved": counts.get("Abnormal", 0)}  # fmt: skip
    finally:
        TrainingJob.objects.filter(project=project).delete()
        algorithm.delete()
        project.delete()
        pool.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--skip-jobs", action="store_true")
    args = parser.parse_args()
    for name in ("DATABASE_URL", "REDIS_URL", "CONSOLE_VAR_DIR"):
        if not os.environ.get(name):
            raise SystemExit(f"Set {name} (see the command at the top of bench/training.py).")
    ensure_database()
    setup_django()
    (ROOT / "var").mkdir(exist_ok=True)
    if not args.skip_jobs:
        print(f"submit → Running and log latency over {args.jobs} jobs (real node worker, local executor):")
        result = bench_jobs(args.jobs)
        running = [t * 1000 for t in result["to_running"]]
        lines = [t * 1000 for t in result["lines"]]
        print(f"submit → Running: p50 {percentile(running, 0.5):.0f} ms, p95 {percentile(running, 0.95):.0f} ms, "
              f"max {max(running):.0f} ms (target ≤ 2000 ms)")  # fmt: skip
        print(f"log line → log endpoint: {len(lines)} lines, p50 {percentile(lines, 0.5):.0f} ms, "
              f"p95 {percentile(lines, 0.95):.0f} ms, max {max(lines):.0f} ms (target p95 ≤ 1000 ms; includes the 50 ms poll)")  # fmt: skip
    print(f"poller cycle over {args.rows} active job rows (database only):")
    poll = bench_poller(args.rows)
    print(f"  nothing to change: median {statistics.median(poll['idle']) * 1000:.0f} ms, "
          f"{poll['idle_queries'][0]} queries (all runs: {poll['idle_queries']})")  # fmt: skip
    print(f"  every job changing (runner lost → Abnormal, {poll['moved']} moved): {poll['changing'] * 1000:.0f} ms, "
          f"{poll['changing_queries']} queries")  # fmt: skip


if __name__ == "__main__":
    main()
