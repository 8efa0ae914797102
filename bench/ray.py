"""Benchmark of Ray cluster pools (issue 12). Not part of CI. See bench/RAY.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ma_bench_ray REDIS_URL=redis://127.0.0.1:6379/7 \\
    CONSOLE_VAR_DIR=$PWD/var/bench-ray .venv/bin/python -m bench.ray [--jobs 10] [--rows 200]

1. submit → Running, a local Ray head vs our own node, in the same run: a real `ray start --head`
   (own ports and temp dir, stopped at the end), the console served over HTTP (gunicorn, for the
   bootstrap's signed URLs), a platform Celery worker with beat (ray_submit, ray_poll every
   RAY_POLL_SECONDS=0.2 s) and a node worker of a fresh pool. The shipped examples/tiny_train
   (epochs=1) runs JOBS times on each pool, interleaved (own, Ray, own, Ray, …), each job to
   Completed before the next; latency from training_job_create returning to the job's status
   (``job_payload``, what the API returns, polled every 20 ms) reading Running.
2. one Ray poller cycle (``ray_poll_cycle``, what beat runs) against tests/fake_ray.FakeRay with
   ROWS of our jobs running among OTHERS jobs of other users, vs 20 of ours: wall time, SQL
   queries, HTTP requests by route; statuses alone (RAY_LOG_JOBS_PER_CYCLE=0) and with the log
   fetches (at most RAY_LOG_JOBS_PER_CYCLE per cycle).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.training import ensure_database, percentile, setup_django
from tests.ray_head import RAY, LocalRayHead, free_port

ROOT = Path(__file__).resolve().parent.parent
RAY_POLL_SECONDS = "0.2"  # production default 3 s; the Ray side's Running is seen at the next cycle
TERMINAL = ("Completed", "Failed", "Abnormal", "Terminated")
DOWNLOADED = re.compile(r"\[modelarts bootstrap\] downloaded .* in ([0-9.]+) s\.")


def var_dir() -> Path:
    path = Path(os.environ["CONSOLE_VAR_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- processes this benchmark starts (each in its own session; stopped by its own ids) ---------


class Started:
    """A subprocess in a session of its own; ``stop`` ends it, its group and every descendant."""

    def __init__(self, name: str, argv: list[str], *, env: dict | None = None, log_name: str = ""):
        self.name = name
        # One log per role, overwritten by the next run (in CONSOLE_VAR_DIR).
        self.log_path = var_dir() / f"bench-ray-{log_name or name}.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env or dict(os.environ), stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.seen: dict[int, object] = {}

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def family(self) -> list:
        """The process and its descendants now (remembered: a child reparented later is still ours)."""
        import psutil

        try:
            root = psutil.Process(self.process.pid)
            for process in [root, *root.children(recursive=True)]:
                self.seen.setdefault(process.pid, process)
        except psutil.Error:
            pass
        return list(self.seen.values())

    def stop(self, timeout: float = 30) -> None:
        import psutil

        self.family()
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(timeout=10)
        _, alive = psutil.wait_procs(self.leftovers(), timeout=10)
        for process in alive:
            try:
                process.kill()
            except psutil.Error:
                pass
        self.log.close()

    def leftovers(self) -> list:
        import psutil

        alive = []
        for process in self.seen.values():
            try:
                # the same process (a pid can be reused), still running
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    alive.append(process)
            except psutil.Error:
                pass
        return alive


def start_celery(name: str, *, role: str, queues: str, beat: bool, env: dict) -> Started:
    argv = [
        sys.executable, "-m", "celery", "-A", "console", "worker", "--loglevel", "INFO", "--concurrency", "2",
        "--queues", queues, "--hostname", f"{name}@%h", "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    if beat:
        argv += ["--beat", "--schedule", str(var_dir() / "bench-ray-beat")]
    worker = Started(name, argv, env=dict(os.environ, PYTHONUNBUFFERED="1", **env), log_name=role)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if " ready." in worker.output():
            return worker
        if worker.process.poll() is not None:
            raise SystemExit(f"worker {name} exited:\n{worker.output()[-2000:]}")
        time.sleep(0.3)
    raise SystemExit(f"worker {name} not ready in 90 s")


def start_console(port: int) -> Started:
    """The console over HTTP, on the bench database: what a Ray job's bootstrap fetches from."""
    import httpx

    server = Started(
        "console",
        [sys.executable, "-m", "gunicorn", "console.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "4", "--access-logfile", "-"],
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.process.poll() is not None:
            raise SystemExit(f"the console server exited:\n{server.output()[-2000:]}")
        time.sleep(0.3)
    raise SystemExit("the console server did not answer in 60 s")


# --- part 1: submit → Running on both kinds of pool --------------------------------------------


def make_project(tag: str):
    from django.contrib.auth import get_user_model

    from console.accounts.models import Membership, Organization, Profile, Project, Role
    from console.storage.models import Bucket
    from console.storage.services import project_storage_defaults_apply

    org, _ = Organization.objects.get_or_create(name="bench")
    user = get_user_model().objects.create_user(username=f"bench-ray-{tag}", password=uuid.uuid4().hex)
    Profile.objects.create(user=user, organization=org)
    project = Project.objects.create(organization=org, name=f"bench-ray-{tag}")
    Membership.objects.create(project=project, user=user, role=Role.MEMBER)
    project_storage_defaults_apply(project=project, actor=None)
    bucket = Bucket.objects.get(project=project)
    root = bucket.local_path()
    shutil.copytree(ROOT / "examples" / "tiny_train", root / "code" / "tiny", dirs_exist_ok=True)
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / "train.csv").write_text("x,y\n1,2\n2,5\n")
    (root / "outputs").mkdir(exist_ok=True)
    return user, project, bucket


def tiny_algorithm(user, project, bucket, engine):
    from console.training.services import algorithm_create

    return algorithm_create(
        actor=user, project=project, name="tiny", code_dir=f"obs://{bucket.name}/code/tiny/",
        boot_file=f"obs://{bucket.name}/code/tiny/train.py", engine=engine,
        inputs=[{"name": "data_url", "description": "data"}],
        outputs=[{"name": "train_url", "description": "checkpoint"}],
        parameters=[{"name": "epochs", "value": "1", "constraint": {"type": "Integer"}}],
    )  # fmt: skip


def run_one(user, project, bucket, algorithm, pool, name: str, *, ray_logs: Path | None = None, alive=None) -> dict:
    """One job: create → Running (as the API's status reads it) → Completed. Returns its timings.

    ``ray_logs``: the head's log folder, where Ray's job supervisor notes when it set the job RUNNING;
    ``alive()`` raises when a process the benchmark started has died (no waiting out the timeouts then).
    """
    from django.utils import timezone

    from console.training.models import TaskLogChunk, TrainingJob
    from console.training.payloads import job_payload
    from console.training.services import training_job_create
    from console.training.services.jobs import JobSpec

    spec = JobSpec(
        name=name, algorithm=algorithm, flavor_id="bench.cpu.1u", pool=pool,
        parameters=[{"name": "epochs", "value": "1"}],
        inputs={"data_url": f"obs://{bucket.name}/data/"},
        outputs={"train_url": f"obs://{bucket.name}/outputs/{name}/"},
    )  # fmt: skip
    job = training_job_create(actor=user, project=project, spec=spec)
    submitted = time.monotonic()
    while True:
        job = TrainingJob.objects.get(pk=job.pk)
        phase = job_payload(job)["status"]["phase"]
        if phase in ("Running", *TERMINAL):
            seen_at, running = timezone.now(), time.monotonic() - submitted
            break
        if time.monotonic() - submitted > 180:
            raise SystemExit(f"job {name} stuck in {phase}: {job.phase_reason}")
        if alive:
            alive()
        time.sleep(0.02)
    while job.phase not in TERMINAL:
        if time.monotonic() - submitted > 300:
            raise SystemExit(f"job {name} did not end in 300 s: {job.phase} {job.phase_reason}")
        if alive:
            alive()
        time.sleep(0.1)
        job.refresh_from_db()
    completed = time.monotonic() - submitted
    task = job.tasks.get()
    log = "".join(TaskLogChunk.objects.filter(task=task).order_by("seq").values_list("text", flat=True))
    if job.phase != "Completed":
        raise SystemExit(f"job {name} ended {job.phase}: {job.phase_reason}\n{log[-2000:]}")
    if phase != "Running":
        raise SystemExit(f"job {name} was never seen Running (it went straight to {phase})")

    def ms(a, b):
        return (b - a).total_seconds() * 1000 if a and b else float("nan")

    result = {"running": running, "completed": completed, "scheduled": ms(job.created_at, task.assigned_at)}
    if task.executor == "ray":
        download = DOWNLOADED.search(log)
        ray_running_at = supervisor_running_at(ray_logs, task.ray_submission_id) if ray_logs else None
        result.update(
            submit=ms(task.assigned_at, task.ray_submitted_at),
            ray_start=ms(task.ray_submitted_at, ray_running_at),
            seen=ms(ray_running_at, seen_at),
            download=float(download.group(1)) if download else float("nan"),
        )
    else:
        result.update(runner_up=ms(task.assigned_at, task.started_at), prepared=ms(task.started_at, task.running_at))
    return result


def supervisor_running_at(logs: Path, submission_id: str):
    """When Ray set the job RUNNING: its job supervisor logs "Submitting job with RAY_ADDRESS" right
    after it (ray/dashboard/modules/job/job_supervisor.py), in local time, to the millisecond."""
    from datetime import datetime

    path = logs / "jobs" / f"supervisor-{submission_id}.log"
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if "Submitting job with RAY_ADDRESS" in line:
            return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").astimezone()
    return None


def describe(kind: str, index, result: dict) -> str:
    head = f"  {kind:4s} {index!s:>7s}: submit→Running {result['running'] * 1000:5.0f} ms"
    if kind == "ray":
        return (head + f" (scheduled {result['scheduled']:4.0f} + submitted {result['submit']:4.0f}"
                f" + Ray PENDING→RUNNING {result['ray_start']:5.0f} + seen {result['seen']:4.0f} ms);"
                f" then bootstrap download {result['download']:.1f} s; submit→Completed {result['completed']:4.1f} s")  # fmt: skip
    return (head + f" (scheduled {result['scheduled']:4.0f} + runner up {result['runner_up']:4.0f}"
            f" + prepared {result['prepared']:4.0f} ms); submit→Completed {result['completed']:4.1f} s")  # fmt: skip


def bench_submit(count: int) -> dict:
    from console.nodepools.models import Node, Pool
    from console.nodepools.raycluster.services import ray_pool_create
    from console.training.models import Flavor, TrainingJob

    tag = uuid.uuid4().hex[:6]
    Flavor.objects.get_or_create(
        flavor_id="bench.cpu.1u", defaults={"flavor_name": "Bench 1 vCPU", "cpu_cores": 1, "memory_gb": 1, "disk_gb": 1}
    )
    user, project, bucket = make_project(tag)
    own_pool = Pool.objects.create(name=f"bench-own-{tag}")
    ray_pool = algorithm = None
    started: list[Started] = []
    results: dict[str, list[dict]] = {"own": [], "ray": []}
    try:
        head = LocalRayHead(log_path=var_dir() / "bench-ray-head.log")
        started.append(head)
        console_port = free_port()
        started.append(start_console(console_port))
        print(f"  console at http://127.0.0.1:{console_port}; waiting for the Ray head ({head.address}) …")
        head.start()
        ray_pool = ray_pool_create(
            actor=user, name=f"bench-ray-{tag}", address=head.address, interpreter=sys.executable,
            console_url=f"http://127.0.0.1:{console_port}", max_concurrent_jobs=4, pending_deadline_seconds=300,
        )  # fmt: skip
        started.append(
            start_celery(
                f"bench-ray-platform-{tag}", role="platform", queues="platform", beat=True,
                env={"RAY_POLL_SECONDS": RAY_POLL_SECONDS},
            )
        )  # fmt: skip
        # A node only (no platform queue, no beat): the node agent adds pool.<pool> and node.<name> once registered.
        node_name = f"bench-node-{tag}"
        started.append(
            start_celery(
                node_name, role="node", queues=f"node.{node_name}", beat=False,
                env={"CONSOLE_NODE_POOL": own_pool.name, "CONSOLE_NODE_NAME": node_name},
            )
        )  # fmt: skip
        # Live = registered and heartbeating: on a loaded machine the engine probe can outlast the
        # node timeout between registration and the first heartbeat (then the node takes no job).
        deadline = time.monotonic() + 60
        while not Node.objects.live().filter(name=node_name).exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"node {node_name} is not live 60 s after its worker was ready")
            time.sleep(0.2)
        engine = Node.objects.get(name=node_name).engines.first()
        algorithm = tiny_algorithm(user, project, bucket, engine)
        pools = {"own": own_pool, "ray": ray_pool}

        def alive():
            for process in started:
                if process.process.poll() is not None:
                    raise SystemExit(
                        f"{getattr(process, 'name', 'the Ray head')} exited (code {process.process.returncode})"
                        f" mid-run: see {process.log_path}. A `ray stop` anywhere on this machine stops every"
                        " Ray head, this one too: run the benchmark again when no other Ray head is in use."
                    )

        for index in range(count + 1):
            for kind in ("own", "ray"):  # interleaved: both see the same machine load
                result = run_one(
                    user,
                    project,
                    bucket,
                    algorithm,
                    pools[kind],
                    f"{kind}-{index}",
                    ray_logs=head.logs_dir(),
                    alive=alive,
                )
                if index == 0:
                    print(describe(kind, "warm-up", result) + "  (not counted)")
                    continue
                results[kind].append(result)
                print(describe(kind, f"job {index}", result))
        return results
    finally:
        for process in reversed(started):
            process.stop()
        TrainingJob.objects.filter(project=project).delete()
        shutil.rmtree(bucket.local_path(), ignore_errors=True)
        Node.objects.filter(pool=own_pool).delete()
        own_pool.delete()
        if ray_pool is not None:
            ray_pool.delete()
        if algorithm is not None:
            algorithm.delete()  # the project and its user stay (its authorization protects it)
        left = [p for process in started for p in process.leftovers()]
        print(f"  stopped: {', '.join(p.name for p in started)}; processes left: {len(left)}")
        if left:
            print("  LEFT RUNNING: " + ", ".join(f"{p.pid} {' '.join(p.cmdline())[:80]}" for p in left))


# --- part 2: one poller cycle over N active Ray jobs ---------------------------------------------


def bench_poller(sizes: list[int], others: int, cycles: int = 5) -> list[dict]:
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings
    from django.utils import timezone

    from console.accounts.models import Organization, Project
    from console.nodepools.models import RayCluster
    from console.nodepools.raycluster.services import ray_pool_create
    from console.training.models import Algorithm, Engine, Flavor, TrainingJob, TrainingTask
    from console.training.services.ray_jobs import ray_node_label, ray_poll_cycle, submission_id_for
    from tests.fake_ray import FakeRay

    tag = uuid.uuid4().hex[:6]
    org, _ = Organization.objects.get_or_create(name="bench")
    project = Project.objects.create(organization=org, name=f"bench-raypoll-{tag}")
    engine, _ = Engine.objects.get_or_create(
        engine_id="bench-engine", defaults={"engine_name": "Python", "engine_version": "bench-engine"}
    )
    flavor, _ = Flavor.objects.get_or_create(
        flavor_id="bench.cpu.1u", defaults={"flavor_name": "Bench", "cpu_cores": 1, "memory_gb": 1, "disk_gb": 1}
    )
    algorithm = Algorithm.objects.create(
        project=project, name="a", code_dir="/b/c/", boot_file="/b/c/x.py", engine=engine
    )
    fake = FakeRay()
    pool = None
    rows = []
    try:
        pool = ray_pool_create(
            actor=None, name=f"bench-raypoll-{tag}", address=fake.address, interpreter=sys.executable,
            console_url="http://127.0.0.1:8000", max_concurrent_jobs=500,
        )  # fmt: skip
        pools_polled = RayCluster.objects.count()
        for i in range(others):  # other users' jobs on the same cluster: in every GET /api/jobs/
            fake.add_job(f"raysubmit_{i:016x}", "RUNNING", metadata={"owner": "someone else"})
        for size in sizes:
            now = timezone.now()
            jobs = TrainingJob.objects.bulk_create(
                [
                    TrainingJob(
                        project=project,
                        name=f"r{size}-{i}",
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
                    for i in range(size)
                ]
            )
            tasks = [
                TrainingTask(
                    job=job,
                    index=0,
                    name="worker-0",
                    executor="ray",
                    status="running",
                    node_name=ray_node_label(pool),
                    assigned_at=now,
                    started_at=now,
                    running_at=now,
                    heartbeat_at=now,
                    ray_submitted_at=now,
                    ray_status="RUNNING",
                )  # fmt: skip
                for job in jobs
            ]
            for task in tasks:
                task.ray_submission_id = submission_id_for(task)
                fake.add_job(task.ray_submission_id, "RUNNING")
            TrainingTask.objects.bulk_create(tasks)
            row = {"size": size, "listed": len(fake.jobs), "pools": pools_polled}
            for label, cap in (("statuses", 0), ("with logs", settings.RAY_LOG_JOBS_PER_CYCLE)):
                timings, queries, requests = [], [], []
                with override_settings(RAY_LOG_JOBS_PER_CYCLE=cap):
                    for cycle in range(cycles):
                        for task in tasks:  # every job printed a line since the last cycle
                            fake.append_log(task.ray_submission_id, f"step {cycle} loss 0.{cycle}\n")
                        before = fake.requests.copy()
                        with CaptureQueriesContext(connection) as captured:
                            started = time.perf_counter()
                            counts = ray_poll_cycle()
                            timings.append(time.perf_counter() - started)
                        queries.append(len(captured))
                        requests.append(fake.requests - before)
                        if counts.get("unreachable") or counts.get("lost"):
                            raise SystemExit(f"the poller did not see the fake head as expected: {counts}")
                row[label] = {"timings": timings, "queries": queries, "requests": requests, "cap": cap}
            rows.append(row)
            TrainingJob.objects.filter(pk__in=[job.pk for job in jobs]).delete()
            for task in tasks:
                fake.jobs.pop(task.ray_submission_id, None)
        return rows
    finally:
        fake.close()
        TrainingJob.objects.filter(project=project).delete()
        if pool is not None:
            pool.delete()
        algorithm.delete()
        project.delete()


# --- report --------------------------------------------------------------------------------------


def table(header: list[str], body: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *body)]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(header, widths))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(str(c).ljust(w) for c, w in zip(line, widths)) for line in body]
    return "\n".join("  " + line for line in lines)


def report_submit(results: dict) -> None:
    def stats(values: list[float]) -> list[str]:
        return [f"{percentile(values, 0.5):.0f}", f"{percentile(values, 0.95):.0f}", f"{max(values):.0f}"]

    body = []
    for kind, label in (("own", "our own node"), ("ray", "local Ray head")):
        running = [r["running"] * 1000 for r in results[kind]]
        completed = [r["completed"] * 1000 for r in results[kind]]
        body.append([f"submit → Running, {label}", str(len(running)), *stats(running)])
        parts = (
            (("submit", "  of which ray_submit (POST)"), ("ray_start", "  of which Ray PENDING → RUNNING"),
             ("seen", "  of which RUNNING → shown (poller)"))
            if kind == "ray" else (("runner_up", "  of which runner up"), ("prepared", "  of which prepared"))
        )  # fmt: skip
        for key, name in parts:
            values = [r[key] for r in results[kind] if r[key] == r[key]]  # NaN: not found in Ray's log
            if values:
                body.append([name, str(len(values)), *stats(values)])
        body.append([f"submit → Completed, {label}", str(len(completed)), *stats(completed)])
    print(table(["figure (ms)", "jobs", "p50", "p95", "max"], body))


def report_poller(rows: list[dict]) -> None:
    body = []
    for row in rows:
        for label in ("statuses", "with logs"):
            part = row[label]
            routes = sorted({route for r in part["requests"] for route in r})
            calls = ", ".join(
                f"{route} {'/'.join(str(r.get(route, 0)) for r in part['requests'])}" for route in routes
            )  # fmt: skip
            body.append([
                f"{row['size']} of ours / {row['listed']} listed", f"{label} (log cap {part['cap']})",
                f"{statistics.median(part['timings']) * 1000:.0f}", f"{max(part['timings']) * 1000:.0f}",
                "/".join(str(q) for q in part["queries"]), calls or "none",
            ])  # fmt: skip
    print(table(["active Ray jobs", "cycle", "median ms", "max ms", "SQL queries per cycle", "HTTP calls per cycle, by route"], body))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10, help="counted jobs per pool (one warm-up each besides)")
    parser.add_argument("--rows", type=int, default=200, help="our active Ray jobs in the poller cycle")
    parser.add_argument("--others", type=int, default=1000, help="other users' jobs in the Ray head's list")
    parser.add_argument("--skip-jobs", action="store_true", help="only the poller cycle (no Ray head needed)")
    args = parser.parse_args()
    for name in ("DATABASE_URL", "REDIS_URL", "CONSOLE_VAR_DIR"):
        if not os.environ.get(name):
            raise SystemExit(f"Set {name} (see the command at the top of bench/ray.py).")
    if not args.skip_jobs and not RAY.exists():
        raise SystemExit(f"ray is not installed beside {sys.executable} (requirements-test.txt pins ray[default]).")
    ensure_database()
    setup_django()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    if not args.skip_jobs:
        print(f"submit → Running over {args.jobs} jobs per pool (examples/tiny_train, epochs=1, interleaved; "
              f"RAY_POLL_SECONDS={RAY_POLL_SECONDS} in the platform worker):")  # fmt: skip
        results = bench_submit(args.jobs)
        report_submit(results)
    from django.conf import settings

    sizes = sorted({min(20, args.rows), args.rows})
    print(f"\none Ray poller cycle (ray_poll_cycle against FakeRay; {args.others} other users' jobs, all RUNNING; "
          f"RAY_LOG_JOBS_PER_CYCLE={settings.RAY_LOG_JOBS_PER_CYCLE}; 5 cycles each, a new log line per job per cycle):")  # fmt: skip
    report_poller(bench_poller(sizes, args.others))


if __name__ == "__main__":
    main()
