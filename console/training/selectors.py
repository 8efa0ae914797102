"""Reads for pages and the API, always scoped to the project (and hiding jobs being deleted).

A selector that takes ``user`` returns only what that user may see: the project's
algorithms and jobs, if the user is a member of it (or a site administrator).
Selectors without ``user`` read the shared catalog, or a job the caller already got through one.
"""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Iterator

from django.db.models import Prefetch, Q
from django.http import Http404
from django.utils import timezone

from console.accounts.models import Membership
from console.accounts.selectors import is_site_admin
from console.nodepools.models import Node, Pool
from console.nodepools.services import default_pool
from console.training.models import (
    Algorithm,
    Engine,
    Flavor,
    JobEvent,
    NodeEngine,
    TaskLogChunk,
    TaskMetricSample,
    TrainingJob,
    TrainingTask,
)
from console.training.phases import ACTIVE_PHASES, OCCUPYING_STATUSES, Phase
from console.training.services.catalog import flavors_with_max_num, node_fits

LOG_CHUNKS_PER_CALL = 200


def _uuid(value) -> uuid_module.UUID | None:
    try:
        return uuid_module.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _in_project_of(queryset, *, user, project):
    """``queryset`` narrowed to ``project``, and to nothing when ``user`` may not see the project."""
    queryset = queryset.filter(project=project)
    if is_site_admin(user):
        return queryset
    if user is None or not user.is_authenticated:
        return queryset.none()
    # Asked once, not joined: a join to the memberships made every COUNT and page of a big list
    # walk a nested loop row by row instead of one index-only scan (issue 15).
    if not Membership.objects.filter(project=project, user=user).exists():
        return queryset.none()
    return queryset


# --- catalog -----------------------------------------------------------------------


def flavor_list(*, flavor_type: str | None = None, pool: Pool | None = None) -> list[Flavor]:
    """Enabled flavors with ``max_num`` for the pool (the default pool when none is named)."""
    return flavors_with_max_num(pool=pool or default_pool(), flavor_type=flavor_type)


def engine_list(*, enabled_only: bool = True):
    engines = Engine.objects.all()
    if enabled_only:
        engines = engines.filter(enabled=True)
    return engines.prefetch_related(Prefetch("node_engines", queryset=NodeEngine.objects.select_related("node")))


def flavor_availability(*, flavor: Flavor, pool: Pool | None, node_count: int = 1) -> dict:
    """For the create form: "free now" or "will queue behind N jobs" (and why not at all)."""
    pool = pool or default_pool()
    if pool is None:
        return {"state": "none", "free": 0, "ahead": 0, "max_num": 0}
    live = [n for n in Node.objects.live().filter(pool=pool) if node_fits(n, flavor)]
    busy = set(
        TrainingTask.objects.filter(status__in=OCCUPYING_STATUSES, node__in=live).values_list("node_id", flat=True)
    )
    free = [n for n in live if n.pk not in busy]
    ahead = TrainingJob.objects.filter(
        pool=pool, phase__in=(Phase.CREATING, Phase.PENDING), nodes_assigned_at__isnull=True, deleted_at__isnull=True
    ).count()
    if not live:
        state = "none"
    elif len(free) >= node_count and ahead == 0:
        state = "free"
    else:
        state = "queue"
    return {"state": state, "free": len(free), "ahead": ahead, "max_num": len(live)}


# --- algorithms ----------------------------------------------------------------------


def algorithm_list(*, user, project, search: str = ""):
    algorithms = _in_project_of(Algorithm.objects.all(), user=user, project=project).select_related(
        "engine", "created_by"
    )
    if search:
        algorithms = algorithms.filter(Q(name__icontains=search) | Q(description__icontains=search))
    return algorithms


def algorithm_get(*, user, project, algorithm_id) -> Algorithm:
    key = _uuid(algorithm_id)
    algorithms = _in_project_of(Algorithm.objects.select_related("engine"), user=user, project=project)
    algorithm = algorithms.filter(uuid=key).first() if key else None
    if algorithm is None:
        raise Http404("No such algorithm in this project.")
    return algorithm


# --- jobs ------------------------------------------------------------------------------


def job_list(*, user, project, phase: str = "", search: str = ""):
    jobs = (
        _in_project_of(TrainingJob.objects.filter(deleted_at__isnull=True), user=user, project=project)
        .select_related("flavor", "created_by", "algorithm")
        .prefetch_related(Prefetch("tasks", queryset=TrainingTask.objects.order_by("index")))
    )
    if phase == "active":
        jobs = jobs.filter(phase__in=ACTIVE_PHASES)
    elif phase in Phase.values:
        jobs = jobs.filter(phase=phase)
    if search:
        jobs = jobs.filter(Q(name__icontains=search) | Q(description__icontains=search))
    return jobs


def job_get(*, user, project, job_id) -> TrainingJob:
    key = _uuid(job_id)
    job = (
        _in_project_of(TrainingJob.objects.filter(uuid=key, deleted_at__isnull=True), user=user, project=project)
        .select_related("flavor", "created_by", "algorithm", "engine", "pool", "model_version__model")
        .first()
        if key
        else None
    )
    if job is None:
        raise Http404("No such training job in this project.")
    return job


def job_tasks(job: TrainingJob) -> list[TrainingTask]:
    """The job's tasks by index; from the prefetch of ``job_list`` when there is one (no query per job)."""
    cached = getattr(job, "_prefetched_objects_cache", {}).get("tasks")
    if cached is not None:
        return sorted(cached, key=lambda task: task.index)
    return list(job.tasks.order_by("index"))


NODE_COUNT_EVENTS = "node_count_events"


def with_node_count_events(jobs):
    """``jobs`` with the events ``node_count_metrics`` reads, prefetched in one query for all of them."""
    return jobs.prefetch_related(
        Prefetch(
            "events",
            queryset=JobEvent.objects.filter(running_nodes__isnull=False).order_by("at", "id"),
            to_attr=NODE_COUNT_EVENTS,
        )
    )


def task_get(*, job: TrainingJob, task_name: str) -> TrainingTask:
    task = job.tasks.filter(name=task_name).first()
    if task is None:
        raise Http404("The training job has no such task.")
    return task


def job_queue_position(job: TrainingJob) -> int | None:
    """1 = next to start. None when the job is not waiting for nodes."""
    if job.phase not in (Phase.CREATING, Phase.PENDING) or job.nodes_assigned_at is not None:
        return None
    ahead = TrainingJob.objects.filter(
        pool_id=job.pool_id,
        phase__in=(Phase.CREATING, Phase.PENDING),
        nodes_assigned_at__isnull=True,
        deleted_at__isnull=True,
    ).filter(Q(created_at__lt=job.created_at) | Q(created_at=job.created_at, pk__lt=job.pk))
    return ahead.count() + 1


def job_events(job: TrainingJob):
    return JobEvent.objects.filter(job=job).order_by("at", "id")


def node_count_metrics(job: TrainingJob) -> list[list[int]] | None:
    """The seed's [[timestamp ms, running nodes], …]; null before anything happened (as at creation)."""
    prefetched = getattr(job, NODE_COUNT_EVENTS, None)
    if prefetched is not None:
        pairs = [(event.at, event.running_nodes) for event in prefetched]
    else:
        pairs = (
            JobEvent.objects.filter(job=job, running_nodes__isnull=False)
            .order_by("at", "id")
            .values_list("at", "running_nodes")
        )
    points = [[int(at.timestamp() * 1000), n] for at, n in pairs]
    if job.phase == Phase.CREATING and len(points) <= 1:
        return None
    if job.phase == Phase.RUNNING and points:
        points.append([int(timezone.now().timestamp() * 1000), points[-1][1]])
    return points


# --- logs and metrics -------------------------------------------------------------------


def task_log_after(task: TrainingTask, *, after: int = 0, limit: int = LOG_CHUNKS_PER_CALL) -> tuple[str, int]:
    """Log text written after chunk ``after``, and the last chunk's number (pass it next time)."""
    chunks = list(
        TaskLogChunk.objects.filter(task=task, seq__gt=after).order_by("seq").values_list("seq", "text")[:limit]
    )
    if not chunks:
        return "", after
    return "".join(text for _seq, text in chunks), chunks[-1][0]


def task_log_stream(task: TrainingTask, *, batch: int = 500) -> Iterator[str]:
    """The whole task log, chunk by chunk (for downloads and signed log links)."""
    after = 0
    while True:
        chunks = list(
            TaskLogChunk.objects.filter(task=task, seq__gt=after).order_by("seq").values_list("seq", "text")[:batch]
        )
        if not chunks:
            return
        for seq, text in chunks:
            after = seq
            yield text


def task_log_tail(task: TrainingTask, *, lines: int = 200) -> tuple[str, int]:
    """The last ``lines`` lines (for the first paint of the log panel) and the chunk number they end at."""
    recent = list(
        TaskLogChunk.objects.filter(task=task).order_by("-seq").values_list("seq", "text")[:LOG_CHUNKS_PER_CALL]
    )
    if not recent:
        return "", 0
    last = recent[0][0]
    text = "".join(t for _s, t in reversed(recent))
    kept = text.splitlines(keepends=True)[-lines:]
    return "".join(kept), last


METRIC_NAMES = [
    ("cpuUsage", "cpu_usage"),
    ("memUsage", "mem_usage"),
    ("npuUtil", "npu_util"),
    ("npuMemUsage", "npu_mem_usage"),
    ("gpuUtil", "gpu_util"),
    ("gpuMemUsage", "gpu_mem_usage"),
]


def task_metric_samples(task: TrainingTask, *, limit: int = 1000) -> list[dict]:
    """Samples oldest first, evenly thinned to at most ``limit`` (the first and last kept)."""
    rows = list(
        TaskMetricSample.objects.filter(task=task)
        .order_by("at", "id")
        .values("at", "cpu_usage", "mem_usage", "mem_bytes", "gpu_util", "gpu_mem_usage", "npu_util", "npu_mem_usage")
    )
    if len(rows) > limit:
        step = len(rows) / limit
        rows = [rows[int(i * step)] for i in range(limit - 1)] + [rows[-1]]
    return rows


def task_metrics(task: TrainingTask, *, limit: int = 1000) -> dict:
    """The seed's metrics body: {"metrics": [{"metric": "cpuUsage", "value": [...]}, ...]}, −1 = no data."""
    rows = task_metric_samples(task, limit=limit)
    return {
        "metrics": [
            {"metric": name, "value": [round(row[field], 3) if row[field] is not None else -1 for row in rows]}
            for name, field in METRIC_NAMES
        ]
    }


# --- nodes (administrators) -----------------------------------------------------------------


def node_list():
    nodes = list(
        Node.objects.select_related("pool").prefetch_related(
            Prefetch("node_engines", queryset=NodeEngine.objects.select_related("engine"))
        )
    )
    running = {}
    for task in TrainingTask.objects.filter(status__in=OCCUPYING_STATUSES, node__in=nodes).select_related("job"):
        running[task.node_id] = task
    for node in nodes:
        node.current_task = running.get(node.pk)
    return nodes
