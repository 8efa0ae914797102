"""A reusable seeder of realistic training jobs, for benchmarks (lists, dashboards). Not for CI data.

    from bench.seed import seed_jobs
    seed_jobs(project, 100_000)            # → number of jobs written

or from the shell (creates the organization, project and a member when missing):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ma_bench_lists \\
      .venv/bin/python -m bench.seed --project bench --jobs 100000 [--user bench] [--batch 5000]

What a row looks like, so that timings mean something:
- phases spread over every phase (most jobs finished, as in a real project), with a matching secondary phase,
  start/end times and exit code;
- ``algorithm_spec`` of ~1.9 KB of JSON, as ``training_job_create`` snapshots it (code dir, boot file,
  a dozen parameters with constraints, inputs, outputs, the engine), plus the flavor snapshot;
- one task per job that reached a node (and two for a share of them: distributed jobs), with the
  "running nodes" timeline events that make the API's ``node_count_metrics``;
- ``created_at`` spread evenly over the last ``days`` days (newest first = the list's order);
- names and descriptions of a few words from a small vocabulary, so that a search matches a share of
  rows, never all or none; ``NAME_NEEDLE`` appears in exactly one job (``seed_jobs`` returns it in ``needle``).

Rows go in with ``bulk_create`` in batches (``batch`` rows per INSERT), one transaction per batch:
100,000 jobs take about a minute on PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta

NAME_NEEDLE = "needle-job"

WORDS = [
    "resnet", "bert", "llama", "qwen", "vision", "speech", "ocr", "detect", "segment", "translate",
    "finetune", "pretrain", "eval", "lora", "distill", "baseline", "sweep", "ablation", "nightly", "demo",
]  # fmt: skip

# Weights: a real project is mostly finished jobs, with a few live ones.
PHASE_WEIGHTS = [
    ("Completed", 50, "Completed"),
    ("Failed", 15, "Failed"),
    ("Terminated", 12, "Terminated"),
    ("Abnormal", 5, "Lost"),
    ("Running", 8, "Running"),
    ("Pending", 4, "Queuing"),
    ("Creating", 3, "Creating"),
    ("Terminating", 3, "Terminating"),
]
TASK_STATUS = {
    "Completed": "succeeded",
    "Failed": "failed",
    "Terminated": "terminated",
    "Abnormal": "lost",
    "Running": "running",
    "Terminating": "running",
}


def _parameters(rng: random.Random) -> list[dict]:
    names = ["lr", "epochs", "batch_size", "momentum", "weight_decay", "warmup_steps", "seed", "dropout",
             "max_seq_len", "grad_accum", "optimizer", "scheduler"]  # fmt: skip
    return [
        {
            "name": name,
            "description": f"The {name.replace('_', ' ')} of the training run.",
            "value": str(rng.randint(1, 1000)),
            "constraint": {
                "type": "String",
                "editable": True,
                "required": False,
                "sensitive": False,
                "valid_type": "None",
                "valid_range": [],
            },
        }
        for name in names
    ]


def algorithm_spec(rng: random.Random, *, engine: dict | None = None) -> dict:
    """A snapshot shaped like ``services.jobs._algorithm_snapshot`` (~1.9 KB as JSON)."""
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "name": f"{rng.choice(WORDS)}-algorithm",
        "code_dir": "/bench-bucket/algorithms/train-code/",
        "boot_file": "/bench-bucket/algorithms/train-code/train.py",
        "parameters": _parameters(rng),
        "parameters_customization": True,
        "inputs": [{"name": "data_url", "description": "Training data"}],
        "outputs": [{"name": "train_url", "description": "Model output"}],
        "engine": engine
        or {
            "engine_id": "bench-engine",
            "engine_name": "PyTorch",
            "engine_version": "pytorch_2.13.0-cpu-py3.12",
            "tags": [],
            "v1_compatible": False,
            "run_user": "1000",
        },
    }


FLAVOR_SPEC = {
    "flavor_id": "modelarts.vm.cpu.2u",
    "flavor_name": "CPU: 2 vCPUs 8GB",
    "flavor_type": "CPU",
    "cpu_arch": "x86",
    "cpu_cores": 2,
    "memory_gb": 8,
    "disk_gb": 50,
    "gpu_count": 0,
    "npu_count": 0,
    "billing_code": "modelarts.vm.cpu.2u",
    "billing_unit_num": 1,
}


@contextmanager
def _explicit_created_at(*models):
    """bulk_create keeps the ``created_at`` we give (``auto_now_add`` would overwrite it with now)."""
    fields = [m._meta.get_field("created_at") for m in models]
    saved = [f.auto_now_add for f in fields]
    for f in fields:
        f.auto_now_add = False
    try:
        yield
    finally:
        for f, value in zip(fields, saved, strict=True):
            f.auto_now_add = value


def seed_jobs(
    project, n: int, *, batch: int = 5000, user=None, days: int = 365, seed: int = 15, task_share: float = 1.0
) -> dict:
    """Write ``n`` realistic training jobs into ``project`` (plus their tasks and node-count events).

    ``task_share``: the fraction of jobs that reached a node that get task rows (1.0 = all, as in
    reality). Returns {"jobs", "tasks", "events", "seconds", "needle"}: ``needle`` is the name of
    the one job whose name contains ``NAME_NEEDLE`` (None when n == 0).
    """
    from django.db import transaction
    from django.utils import timezone

    from console.training.models import JobEvent, TrainingJob, TrainingTask

    rng = random.Random(seed)
    started = time.monotonic()
    now = timezone.now()
    span = timedelta(days=days)
    phases = [p for p, _w, _s in PHASE_WEIGHTS]
    weights = [w for _p, w, _s in PHASE_WEIGHTS]
    secondary = {p: s for p, _w, s in PHASE_WEIGHTS}
    needle_at = n // 2
    counts = {"jobs": 0, "tasks": 0, "events": 0}
    user_name = getattr(user, "username", "") or ""

    with _explicit_created_at(TrainingJob):
        for first in range(0, n, batch):
            jobs = []
            for i in range(first, min(n, first + batch)):
                phase = rng.choices(phases, weights)[0]
                # Row i is the i-th newest: created_at decreases with i, evenly over the span.
                created = now - span * (i + rng.random() * 0.5) / max(n, 1)
                ran = phase not in ("Creating", "Pending")
                start = created + timedelta(seconds=rng.randint(5, 600)) if ran else None
                finished = phase in ("Completed", "Failed", "Terminated", "Abnormal")
                end = start + timedelta(seconds=rng.randint(30, 36000)) if finished and start else None
                words = rng.sample(WORDS, 2)
                name = f"{words[0]}-{words[1]}-{i:06d}"
                if i == needle_at:
                    name = f"{NAME_NEEDLE}-{i:06d}"
                jobs.append(
                    TrainingJob(
                        project=project,
                        name=name,
                        description=f"{rng.choice(WORDS).capitalize()} run on {rng.choice(WORDS)} data, try {i}.",
                        created_by=user,
                        user_name=user_name,
                        algorithm_spec=algorithm_spec(rng),
                        parameters=[{"name": "lr", "value": "0.01"}, {"name": "epochs", "value": "3"}],
                        inputs=[{"name": "data_url", "description": "", "obs_url": "obs://bench-bucket/data/"}],
                        outputs=[{"name": "train_url", "description": "", "obs_url": f"obs://bench-bucket/out/{i}/"}],
                        flavor_spec=FLAVOR_SPEC,
                        node_count=2 if ran and rng.random() < 0.1 else 1,
                        phase=phase,
                        secondary_phase=secondary[phase],
                        phase_reason="" if phase != "Failed" else "The script exited with code 1.",
                        exit_code=(0 if phase == "Completed" else 1 if phase == "Failed" else None),
                        created_at=created,
                        nodes_assigned_at=start,
                        start_time=start,
                        end_time=end,
                    )
                )
            with transaction.atomic():
                TrainingJob.objects.bulk_create(jobs, batch_size=batch)
                tasks, events = [], []
                for job in jobs:
                    if job.start_time is None or rng.random() >= task_share:
                        continue
                    status = TASK_STATUS[job.phase]
                    for index in range(job.node_count):
                        tasks.append(
                            TrainingTask(
                                job=job,
                                index=index,
                                name=f"worker-{index}",
                                status=status,
                                node_name=f"node-{index}",
                                assigned_at=job.start_time,
                                started_at=job.start_time,
                                running_at=job.start_time,
                                finished_at=job.end_time,
                                exit_code=job.exit_code,
                            )
                        )
                    events.append(JobEvent(job=job, at=job.start_time, kind="running", running_nodes=job.node_count))
                    if job.end_time:
                        events.append(JobEvent(job=job, at=job.end_time, kind="finished", running_nodes=0))
                TrainingTask.objects.bulk_create(tasks, batch_size=batch)
                JobEvent.objects.bulk_create(events, batch_size=batch)
            counts["jobs"] += len(jobs)
            counts["tasks"] += len(tasks)
            counts["events"] += len(events)
    counts["seconds"] = round(time.monotonic() - started, 1)
    counts["needle"] = f"{NAME_NEEDLE}-{needle_at:06d}" if n else None
    return counts


def bench_project(name: str = "bench", username: str = "bench"):
    """The benchmark's organization, project and member (created when missing) → (project, user)."""
    from django.contrib.auth import get_user_model

    from console.accounts.models import Membership, Organization, Profile, Project, Role

    org, _ = Organization.objects.get_or_create(name="bench")
    project = Project.objects.filter(organization=org, name=name).first()
    if project is None:
        project = Project.objects.create(organization=org, name=name)
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        user = get_user_model().objects.create_user(username=username, password=uuid.uuid4().hex)
        Profile.objects.create(user=user, organization=org)
    Membership.objects.get_or_create(project=project, user=user, defaults={"role": Role.MEMBER})
    return project, user


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Seed realistic training jobs into one project.")
    parser.add_argument("--project", default="bench", help="project name (in organization 'bench')")
    parser.add_argument("--user", default="bench", help="the member who 'created' the jobs")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()
    # After django.setup(): a process entry point.
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    project, user = bench_project(args.project, args.user)
    result = seed_jobs(project, args.jobs, batch=args.batch, user=user)
    print(f"project {project.project_id}: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
