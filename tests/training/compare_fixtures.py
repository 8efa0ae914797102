"""Jobs for the compare / re-run / lineage tests: one algorithm, jobs made by the real service, and
scalars written as the runner writes them (a point per step plus the per-name summary row)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from console.training.models import TaskScalar, TaskScalarSeries, TrainingJob, TrainingTask
from console.training.phases import TERMINAL_PHASES, Phase, SecondaryPhase, TaskStatus
from console.training.services import algorithm_create, training_job_create
from console.training.services.jobs import JobSpec
from tests.training.conftest import make_node


@pytest.fixture
def lab(storage_project, member, examples_in_bucket, default_pool, flavors, local_engine, bucket_name):
    make_node(default_pool, "node-a", engine=local_engine)
    algorithm = algorithm_create(
        actor=member, project=storage_project, name="tiny", code_dir=f"obs://{bucket_name}/code/tiny/",
        boot_file=f"obs://{bucket_name}/code/tiny/train.py", engine=local_engine,
        inputs=[{"name": "data_url"}], outputs=[{"name": "train_url"}], parameters_customization=True,
        parameters=[
            {"name": "lr", "value": "0.1", "constraint": {"type": "Float"}},
            {"name": "epochs", "value": "3", "constraint": {"type": "Integer", "valid_type": "Range", "valid_range": [1, 10]}},
            {"name": "api_key", "value": "default-secret", "constraint": {"type": "String", "sensitive": True}},
        ],
    )  # fmt: skip
    return {"project": storage_project, "algorithm": algorithm, "bucket": bucket_name, "actor": member}


def make_job(lab, name, *, lr="0.1", extra=(), phase=Phase.COMPLETED, minutes=3, **spec) -> TrainingJob:
    bucket = lab["bucket"]
    job = training_job_create(
        actor=lab["actor"],
        project=lab["project"],
        spec=JobSpec(
            name=name, algorithm=lab["algorithm"],
            parameters=[{"name": "lr", "value": lr}, {"name": "api_key", "value": "top-secret-123"}, *extra],
            inputs={"data_url": f"obs://{bucket}/data/"}, outputs={"train_url": f"obs://{bucket}/outputs/{name}/"},
            flavor_id="test.cpu.1u", **spec,
        ),
    )  # fmt: skip
    if phase is not None:
        end = timezone.now()
        TrainingJob.objects.filter(pk=job.pk).update(
            phase=phase,
            secondary_phase=phase if phase in SecondaryPhase.values else SecondaryPhase.RUNNING,
            start_time=end - timezone.timedelta(minutes=minutes),
            end_time=end if phase in TERMINAL_PHASES else None,
        )
        if phase in TERMINAL_PHASES:
            TrainingTask.objects.filter(job=job).update(status=TaskStatus.SUCCEEDED)
    return TrainingJob.objects.get(pk=job.pk)


def log_scalars(job: TrainingJob, name: str, values: list[float], every: int = 1) -> None:
    """What the runner stores for ``name`` logged at steps every, 2·every, … by worker-0."""
    task = job.tasks.get(index=0)
    start = timezone.now()
    TaskScalar.objects.bulk_create(
        [
            TaskScalar(task=task, name=name, step=i * every, wall_time=start + timezone.timedelta(seconds=i), value=v)
            for i, v in enumerate(values, start=1)
        ]
    )
    TaskScalarSeries.objects.create(
        task=task, name=name, points=len(values), last_step=len(values) * every, last_value=values[-1],
        last_wall_time=start + timezone.timedelta(seconds=len(values)), min_value=min(values), max_value=max(values),
    )  # fmt: skip


def url(name, project, **kwargs):
    return reverse(f"training:{name}", kwargs={"project_id": project.project_id, **kwargs})
