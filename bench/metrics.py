"""Benchmark of logged training metrics (issue 11). Not part of CI. See bench/METRICS.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ma_bench_metrics REDIS_URL=redis://127.0.0.1:6379/6 \\
    CONSOLE_VAR_DIR=$PWD/var/bench-metrics .venv/bin/python -m bench.metrics [--points 100000] [--jobs 3]

1. chart endpoint: one metric of 100,000 points (rows inserted directly); the job page's JSON
   endpoint (real view: URL routing, auth, ORM, LTTB) asked for 2,000 points, 10 times:
   payload bytes and time p50/p95.
2. metric line → chart endpoint: a real node worker runs a script printing
   ``MA_METRIC {"step": n, "sent": <unix time>}`` every 100 ms; the endpoint is polled every
   50 ms and each step's latency is (time it was first returned) − (time printed).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench.training import ensure_database, percentile, setup_django, start_worker

SCRIPT = """\
import json, time
for n in range(40):
    print("MA_METRIC " + json.dumps({"step": n, "sent": time.time()}), flush=True)
    time.sleep(0.1)
"""


def make_project(tag):
    from django.contrib.auth import get_user_model

    from console.accounts.models import Membership, Organization, Profile, Project, Role
    from console.storage.services import project_storage_defaults_apply

    org, _ = Organization.objects.get_or_create(name="bench")
    user = get_user_model().objects.create_user(username=f"bench-m-{tag}", password=uuid.uuid4().hex)
    Profile.objects.create(user=user, organization=org)
    project = Project.objects.create(organization=org, name=f"bench-m-{tag}")
    Membership.objects.create(project=project, user=user, role=Role.MEMBER)
    project_storage_defaults_apply(project=project, actor=None)
    return user, project


def bench_chart(user, project, points: int) -> dict:
    from django.test import Client
    from django.urls import reverse

    from console.training.models import TaskScalar, TaskScalarSeries, TrainingJob, TrainingTask

    job = TrainingJob.objects.create(project=project, name=f"curve-{uuid.uuid4().hex[:6]}", created_by=user)
    task = TrainingTask.objects.create(job=job, index=0, name="worker-0")
    start = datetime.now(UTC)
    values = [1.0 / (1 + i / 1000) + 0.05 * ((i * 7919) % 100) / 100 for i in range(points)]
    TaskScalar.objects.bulk_create(
        (TaskScalar(task=task, name="loss", step=i, wall_time=start + timedelta(milliseconds=i), value=v)
         for i, v in enumerate(values)),
        batch_size=10000,
    )  # fmt: skip
    TaskScalarSeries.objects.create(
        task=task, name="loss", points=points, last_step=points - 1, last_value=values[-1],
        last_wall_time=start, min_value=min(values), max_value=max(values),
    )  # fmt: skip
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    url = reverse("training:job_scalars", kwargs={"project_id": project.project_id, "job_id": job.uuid})
    times, size, shown = [], 0, 0
    for _ in range(11):
        began = time.perf_counter()
        response = client.get(url, {"name": "loss", "max_points": 2000})
        times.append(time.perf_counter() - began)
        size = len(response.content)
        shown = response.json()["curves"]["loss"]["tasks"][0]["shown"]
    times = times[1:]  # the first warms the caches
    return {
        "points": points,
        "shown": shown,
        "bytes": size,
        "p50": percentile(times, 0.5),
        "p95": percentile(times, 0.95),
    }


def bench_line_latency(user, project, jobs: int) -> dict:
    from django.test import Client
    from django.urls import reverse

    from console.nodepools.models import Node, Pool
    from console.storage.models import Bucket
    from console.training.models import Flavor, TrainingJob
    from console.training.services import algorithm_create, training_job_create
    from console.training.services.jobs import JobSpec

    tag = uuid.uuid4().hex[:6]
    bucket = Bucket.objects.get(project=project)
    root = bucket.local_path()
    (root / "code").mkdir(parents=True, exist_ok=True)
    (root / "code" / "metric.py").write_text(SCRIPT)
    pool = Pool.objects.create(name=f"bench-m-{tag}")
    Flavor.objects.get_or_create(
        flavor_id="bench.cpu.1u", defaults={"flavor_name": "Bench 1 vCPU", "cpu_cores": 1, "memory_gb": 1, "disk_gb": 1}
    )
    worker = start_worker(pool.name, f"bench-m-{tag}")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    latencies: list[float] = []
    try:
        node = Node.objects.get(name=f"bench-m-{tag}")
        algorithm = algorithm_create(
            actor=user, project=project, name=f"metric-{tag}", code_dir=f"obs://{bucket.name}/code/",
            boot_file=f"obs://{bucket.name}/code/metric.py", engine=node.engines.first(),
        )  # fmt: skip
        from console.training.services.catalog import flavor_max_num

        flavor = Flavor.objects.get(flavor_id="bench.cpu.1u")
        waited = time.monotonic() + 60
        while flavor_max_num(flavor, pool=pool, engine=algorithm.engine) == 0 and time.monotonic() < waited:
            time.sleep(0.2)  # the node registers its capacity a moment after "ready"
        for index in range(jobs + 1):  # job 0 warms the worker up and is not counted
            spec = JobSpec(name=f"m-{tag}-{index}", algorithm=algorithm, flavor_id="bench.cpu.1u", pool=pool)
            job = training_job_create(actor=user, project=project, spec=spec)
            url = reverse("training:job_scalars", kwargs={"project_id": project.project_id, "job_id": job.uuid})
            seen: set[int] = set()
            mine: list[float] = []
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                body = client.get(url, {"name": "sent", "max_points": 20000}).json()
                now = time.time()
                for curve in body["curves"].values():
                    for task in curve["tasks"]:
                        for step, sent in zip(task["xs"], task["ys"], strict=True):
                            if step not in seen:
                                seen.add(step)
                                mine.append(now - sent)
                if not body["live"] and len(seen) >= 40:
                    break
                time.sleep(0.05)
            job.refresh_from_db()
            print(f"  job {index}: {job.phase}, {len(mine)} lines, p50 {percentile(mine, 0.5) * 1000:.0f} ms,"
                  f" p95 {percentile(mine, 0.95) * 1000:.0f} ms{' (warm-up)' if index == 0 else ''}")  # fmt: skip
            if index:
                latencies += mine
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        TrainingJob.objects.filter(project=project).delete()
        Node.objects.filter(pool=pool).delete()
        pool.delete()
    return {"lines": len(latencies), "p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=3)
    args = parser.parse_args()
    ensure_database()
    setup_django()
    user, project = make_project(uuid.uuid4().hex[:6])
    chart = bench_chart(user, project, args.points)
    print(f"chart endpoint, {chart['points']} points → {chart['shown']} shown: {chart['bytes']} bytes,"
          f" p50 {chart['p50'] * 1000:.0f} ms, p95 {chart['p95'] * 1000:.0f} ms")  # fmt: skip
    line = bench_line_latency(user, project, args.jobs)
    print(f"MA_METRIC line → chart endpoint: {line['lines']} lines, p50 {line['p50'] * 1000:.0f} ms,"
          f" p95 {line['p95'] * 1000:.0f} ms (target ≤ 2000 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
