"""Reads of the project dashboard: a fixed number of queries whatever the number of jobs.

Every list is cut to a few rows in SQL (LIMIT), every count is one GROUP BY; nothing walks
a bucket or loops over jobs in Python. tests/dashboard/test_queries.py holds the count
equal at 100 and 10,000 jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import Count, F, Prefetch, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from console.accounts.models import Project
from console.dashboard.models import ProjectStorageUse
from console.mymodels.models import ModelStatus
from console.mymodels.selectors import model_list
from console.training.metrics import latest_scalars
from console.training.models import TaskLogChunk, TaskScalar, TrainingJob, TrainingTask
from console.training.phases import Phase
from console.versions.models import ModelVersion, TaskKind, TaskRecord

RUNNING_SHOWN = 10
FAILURES_SHOWN = 5
QUEUE_SHOWN = 10
SPARK_POINTS = 40
# The metric a running job shows first when it logs several (the usual names first).
PREFERRED_METRICS = ("loss", "train/loss", "train_loss", "accuracy", "acc")
WAITING_PHASES = (Phase.CREATING, Phase.PENDING)


@dataclass
class RunningJob:
    job: TrainingJob
    elapsed_s: int
    nodes: list[str]
    metric: dict | None  # {"name", "value", "step"}
    other_metrics: list[dict]
    sparkline: str  # SVG polyline points, "" without a series


@dataclass
class Failure:
    job: TrainingJob
    last_line: str


@dataclass
class Waiting:
    job: TrainingJob
    position: int | None
    pool_name: str


@dataclass
class Dashboard:
    project: Project
    now: datetime
    phase_counts: list[dict]  # [{"phase", "label", "count"}] in Phase order
    total_jobs: int
    running: list[RunningJob]
    failures: list[Failure]
    waiting: list[Waiting]
    models_by_status: list[dict]
    versions_by_status: list[dict]
    checks_pending: int
    checks_failed: int
    storage: ProjectStorageUse | None
    storage_age_s: float | None = None
    counts: dict = field(default_factory=dict)


def _jobs(project):
    return TrainingJob.objects.filter(project=project, deleted_at__isnull=True)


def phase_counts(project) -> dict[str, int]:
    rows = _jobs(project).order_by().values("phase").annotate(n=Count("id"))
    return {row["phase"]: row["n"] for row in rows}


def sparkline_points(values: list[float], *, width: int = 120, height: int = 28) -> str:
    """SVG polyline points of ``values`` scaled into width × height (y grows downward)."""
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = width / (len(values) - 1)
    return " ".join(f"{i * step:.1f},{height - 2 - (v - low) / span * (height - 4):.1f}" for i, v in enumerate(values))


def _pick_metric(scalars: list[dict]) -> dict | None:
    if not scalars:
        return None
    by_name = {s["name"]: s for s in scalars}
    for name in PREFERRED_METRICS:
        if name in by_name:
            return by_name[name]
    return sorted(scalars, key=lambda s: s["name"])[0]


def _series(job_metric: dict[int, str]) -> dict[int, list[float]]:
    """job id → the last SPARK_POINTS values of its chosen metric (worker-0's), oldest first. One query."""
    if not job_metric:
        return {}
    from django.db.models import Q

    wanted = Q()
    for job_id, name in job_metric.items():
        wanted |= Q(task__job_id=job_id, name=name)
    rows = (
        TaskScalar.objects.filter(wanted, task__index=0)
        .annotate(
            job_id=F("task__job_id"),
            recent=Window(RowNumber(), partition_by=[F("task_id"), F("name")], order_by=F("step").desc()),
        )
        .filter(recent__lte=SPARK_POINTS)
        .order_by("job_id", "step")
        .values_list("job_id", "value")
    )
    series: dict[int, list[float]] = {}
    for job_id, value in rows:
        series.setdefault(job_id, []).append(value)
    return series


def running_jobs(project, *, now) -> list[RunningJob]:
    jobs = list(
        _jobs(project)
        .filter(phase=Phase.RUNNING)
        .prefetch_related(Prefetch("tasks", queryset=TrainingTask.objects.order_by("index")))
        .order_by("-created_at", "-id")[:RUNNING_SHOWN]
    )
    scalars = latest_scalars([job.pk for job in jobs]) if jobs else {}
    chosen = {job.pk: _pick_metric(scalars.get(job.pk) or []) for job in jobs}
    series = _series({job_id: metric["name"] for job_id, metric in chosen.items() if metric})
    rows = []
    for job in jobs:
        metric = chosen[job.pk]
        start = job.start_time or job.nodes_assigned_at or job.created_at
        rows.append(
            RunningJob(
                job=job,
                elapsed_s=max(0, int((now - start).total_seconds())),
                nodes=[task.node_name for task in job.tasks.all() if task.node_name],
                metric=metric,
                other_metrics=[s for s in scalars.get(job.pk) or [] if metric and s["name"] != metric["name"]][:3],
                sparkline=sparkline_points(series.get(job.pk, [])),
            )
        )
    return rows


def _last_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        if line.strip():
            return line.strip()[:300]
    return ""


def recent_failures(project) -> list[Failure]:
    jobs = list(
        _jobs(project).filter(phase__in=(Phase.FAILED, Phase.ABNORMAL)).order_by("-created_at", "-id")[:FAILURES_SHOWN]
    )
    if not jobs:
        return []
    # The last chunk worker-0's runner flushed: its last line is usually the error.
    chunks = (
        TaskLogChunk.objects.filter(task__job__in=jobs, task__index=0)
        .annotate(
            job_id=F("task__job_id"), last=Window(RowNumber(), partition_by=[F("task_id")], order_by=F("seq").desc())
        )
        .filter(last=1)
        .values_list("job_id", "text")
    )
    last = {job_id: _last_line(text) for job_id, text in chunks}
    return [Failure(job=job, last_line=last.get(job.pk, "")) for job in jobs]


def queue(project) -> list[Waiting]:
    """The project's jobs waiting for nodes, oldest first, with their place in their pool's queue.

    The place counts every project's waiting jobs in the same pool (the scheduler's order:
    created_at, then id), so one window over the waiting jobs, then this project's first rows.
    """
    table = TrainingJob._meta.db_table
    sql = f"""
        SELECT id, position FROM (
            SELECT id, project_id, created_at,
                   ROW_NUMBER() OVER (PARTITION BY pool_id ORDER BY created_at, id) AS position
            FROM {table}
            WHERE phase IN (%s, %s) AND nodes_assigned_at IS NULL AND deleted_at IS NULL
        ) AS waiting
        WHERE project_id = %s ORDER BY created_at, id LIMIT %s
    """  # noqa: S608 — the table name is the model's, every value a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, [*WAITING_PHASES, project.pk, QUEUE_SHOWN])
        positions = dict(cursor.fetchall())
    if not positions:
        return []
    jobs = _jobs(project).filter(pk__in=positions).select_related("pool").order_by("created_at", "id")
    return [Waiting(job=job, position=positions[job.pk], pool_name=job.pool.name if job.pool else "") for job in jobs]


def _status_rows(counts: dict[str, int], choices) -> list[dict]:
    return [{"status": value, "label": label, "count": counts.get(value, 0)} for value, label in choices]


def project_dashboard(*, project: Project) -> Dashboard:
    """Everything the dashboard shows, for a project the caller already checked the user may see."""
    now = timezone.now()
    counts = phase_counts(project)
    model_counts: dict[str, int] = {}
    for status in model_list(project=project).values_list("status", flat=True):
        model_counts[status] = model_counts.get(status, 0) + 1
    version_counts = {
        row["status"]: row["n"]
        for row in ModelVersion.objects.filter(model__project=project)
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
    }
    checks = {
        row["state"]: row["n"]
        for row in TaskRecord.objects.filter(version__model__project=project, kind=TaskKind.WEIGHT_VALIDATION)
        .order_by()
        .values("state")
        .annotate(n=Count("id"))
    }
    storage = ProjectStorageUse.objects.filter(project=project).first()
    return Dashboard(
        project=project,
        now=now,
        phase_counts=[
            {"phase": value, "label": label, "count": counts.get(value, 0)} for value, label in Phase.choices
        ],
        total_jobs=sum(counts.values()),
        running=running_jobs(project, now=now),
        failures=recent_failures(project),
        waiting=queue(project),
        models_by_status=_status_rows(model_counts, ModelStatus.choices),
        versions_by_status=_status_rows(version_counts, ModelStatus.choices),
        checks_pending=checks.get("pending", 0) + checks.get("running", 0),
        checks_failed=checks.get("failed", 0),
        storage=storage,
        storage_age_s=(now - storage.computed_at).total_seconds() if storage else None,
        counts={
            "running": counts.get(Phase.RUNNING, 0),
            "pending": counts.get(Phase.PENDING, 0),
            "creating": counts.get(Phase.CREATING, 0),
            "failed": counts.get(Phase.FAILED, 0),
            "abnormal": counts.get(Phase.ABNORMAL, 0),
            "models": sum(model_counts.values()),
            "versions": sum(version_counts.values()),
        },
    )
