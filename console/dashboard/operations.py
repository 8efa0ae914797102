"""Reads of the operations view (site administrators): nodes, what runs on them, pool queues, Celery.

Node use is the sum of the latest resource sample of each task on the node (the runner samples
its process group every TRAINING_METRIC_INTERVAL_SECONDS), against the capacity the node
registered. Celery's state is the last answer of the background observer
(console.core.health.observe_workers, run by beat): this page never waits for a worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from console.core.health import workers_observed
from console.core.models import ServiceHeartbeat
from console.nodepools.billing import BillingView, node_billing
from console.nodepools.models import Node, Pool, RayCluster
from console.nodepools.workloads.registry import occupants_by_node
from console.training.models import TaskMetricSample, TrainingJob, TrainingTask
from console.training.phases import OCCUPYING_STATUSES, Executor, Phase

QUEUE_SHOWN_PER_POOL = 10
SAMPLE_FIELDS = ("at", "cpu_usage", "mem_bytes", "gpu_util", "gpu_mem_usage")


@dataclass
class NodeUse:
    node: Node
    billing: BillingView
    occupants: list
    cpu_pct: float | None = None  # of the node's cores
    mem_pct: float | None = None  # of the node's memory
    mem_bytes: int | None = None
    gpu_pct: float | None = None  # mean utilisation over the GPUs the tasks report
    sampled_at: datetime | None = None
    heartbeat_age_s: float | None = None


@dataclass
class PoolQueue:
    pool: Pool
    nodes: int
    live_nodes: int
    waiting_total: int = 0
    waiting: list[dict] = field(default_factory=list)  # [{"job", "position"}]
    # A Ray pool: its cluster (health, nodes as Ray reports them) and the tasks Ray runs for it.
    ray: RayCluster | None = None
    on_ray: list[TrainingTask] = field(default_factory=list)


def _latest_samples(node_ids: list[int]) -> dict[int, list[dict]]:
    """node id → the latest sample of each task holding it (one query, subqueries on the (task, at) index)."""
    latest = TaskMetricSample.objects.filter(task=OuterRef("pk")).order_by("-at", "-id")
    tasks = (
        TrainingTask.objects.filter(node_id__in=node_ids, status__in=OCCUPYING_STATUSES)
        .annotate(**{f"s_{name}": Subquery(latest.values(name)[:1]) for name in SAMPLE_FIELDS})
        .values("node_id", "job__flavor_spec", *[f"s_{name}" for name in SAMPLE_FIELDS])
    )
    by_node: dict[int, list[dict]] = {}
    for row in tasks:
        if row["s_at"] is None:
            continue  # no sample yet (the runner is still preparing)
        by_node.setdefault(row["node_id"], []).append(row)
    return by_node


def _use(row: NodeUse, samples: list[dict]) -> None:
    node = row.node
    if not samples:
        return
    # cpu_usage is a % of the task's flavor cores: back to cores, then a share of the node's.
    cores = sum(
        max(0.0, s["s_cpu_usage"]) / 100 * int((s["job__flavor_spec"] or {}).get("cpu_cores") or 0) for s in samples
    )
    memory = sum(max(0, s["s_mem_bytes"]) for s in samples)
    gpus = [s["s_gpu_util"] for s in samples if s["s_gpu_util"] is not None and s["s_gpu_util"] >= 0]
    row.cpu_pct = round(100 * cores / node.cpu_cores, 1) if node.cpu_cores else None
    row.mem_bytes = memory
    row.mem_pct = round(100 * memory / node.memory_bytes, 1) if node.memory_bytes else None
    row.gpu_pct = round(sum(gpus) / len(gpus), 1) if gpus else None
    row.sampled_at = max(s["s_at"] for s in samples)


def node_uses(*, now: datetime) -> list[NodeUse]:
    nodes = list(Node.objects.members().select_related("pool").order_by("pool__name", "name"))
    ids = [node.pk for node in nodes]
    occupants = occupants_by_node(ids) if ids else {}
    samples = _latest_samples(ids) if ids else {}
    rows = []
    for node in nodes:
        row = NodeUse(
            node=node,
            billing=node_billing(node, now=now),
            occupants=occupants.get(node.pk, []),
            heartbeat_age_s=(now - node.heartbeat_at).total_seconds() if node.heartbeat_at else None,
        )
        _use(row, samples.get(node.pk, []))
        rows.append(row)
    return rows


def pool_queues(nodes: list[NodeUse]) -> list[PoolQueue]:
    """Each pool with its waiting jobs in the scheduler's order (created_at, id), the first few named."""
    pools = {pool.pk: PoolQueue(pool=pool, nodes=0, live_nodes=0) for pool in Pool.objects.order_by("name")}
    for cluster in RayCluster.objects.filter(pool_id__in=list(pools)):
        pools[cluster.pool_id].ray = cluster
    on_ray = TrainingTask.objects.filter(executor=Executor.RAY, status__in=OCCUPYING_STATUSES).select_related(
        "job", "job__project"
    )
    for task in on_ray.order_by("job__created_at", "pk"):
        if task.job.pool_id in pools:
            pools[task.job.pool_id].on_ray.append(task)
    for row in nodes:
        queue = pools.get(row.node.pool_id)
        if queue:
            queue.nodes += 1
            queue.live_nodes += row.node.heartbeat_fresh
    table = TrainingJob._meta.db_table
    sql = f"""
        SELECT id, pool_id, position, total FROM (
            SELECT id, pool_id,
                   ROW_NUMBER() OVER (PARTITION BY pool_id ORDER BY created_at, id) AS position,
                   COUNT(*) OVER (PARTITION BY pool_id) AS total
            FROM {table}
            WHERE phase IN (%s, %s) AND nodes_assigned_at IS NULL AND deleted_at IS NULL
        ) AS waiting
        WHERE position <= %s ORDER BY pool_id, position
    """  # noqa: S608 — the table name is the model's, every value a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, [Phase.CREATING, Phase.PENDING, QUEUE_SHOWN_PER_POOL])
        rows = cursor.fetchall()
    jobs = TrainingJob.objects.select_related("project").in_bulk([row[0] for row in rows])
    for job_id, pool_id, position, total in rows:
        queue = pools.get(pool_id)
        if queue is None or job_id not in jobs:
            continue  # a job of no pool waits for the default pool to be created
        queue.waiting_total = total
        queue.waiting.append({"job": jobs[job_id], "position": position})
    return list(pools.values())


def celery_state(*, now: datetime) -> dict:
    detail, age = workers_observed()
    beat = ServiceHeartbeat.objects.filter(name="beat").first()
    return {
        "observed": detail is not None,
        "age_s": age,
        "workers": sorted((detail or {}).get("workers", {}).items()),
        "queues": (detail or {}).get("queues", []),
        "errors": (detail or {}).get("errors", []),
        "took_ms": (detail or {}).get("took_ms"),
        "beat_at": beat.beat_at if beat else None,
        "beat_age_s": (now - beat.beat_at).total_seconds() if beat else None,
    }


def operations() -> dict:
    now = timezone.now()
    nodes = node_uses(now=now)
    return {"now": now, "nodes": nodes, "pools": pool_queues(nodes), "celery": celery_state(now=now)}
