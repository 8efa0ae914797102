"""Claiming nodes for waiting jobs, first come first served, one pool at a time.

The pool's row lock serialises scheduling in that pool, so two workers can never
give one node to two tasks; a multi-node job gets all its N nodes in the same
transaction or none (it waits, and jobs behind it wait too: strict FIFO, so a
big job is not starved by small ones). Launching happens after commit: the
runner of a task assigned to this worker's own node is started right here,
the others through their node's queue.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

from celery import current_app
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from console.nodepools.models import Node, Pool, PoolKind, node_queue_name
from console.nodepools.workloads.launch import launch_runner
from console.nodepools.workloads.registry import busy_node_ids
from console.training.models import EventKind, JobEvent, NodeEngine, TrainingJob, TrainingTask
from console.training.phases import WORKLOAD_KIND, Phase, SecondaryPhase, TaskStatus
from console.training.services.catalog import node_fits, why_node_does_not_fit
from console.training.sql import update_returning

logger = logging.getLogger(__name__)

LAUNCH_TASK = "console.training.tasks.launch_task"
SCHEDULE_TASK = "console.training.tasks.schedule_pool"


@dataclass(frozen=True)
class Launch:
    task_id: int
    node_id: int
    node_name: str


def schedule_pool_soon(pool_id: int | None, *, job_id: int | None = None) -> None:
    """After commit, ask a worker of the pool to schedule it (the pool's own queue)."""
    if pool_id is None:
        return

    def send():
        row = Pool.objects.filter(pk=pool_id).values_list("name", "kind").first()
        if row is None:
            return
        name, kind = row
        # A Ray pool has no workers of its own: the platform submits its jobs over HTTP.
        queue = "platform" if kind == PoolKind.RAY else f"pool.{name}"
        current_app.send_task(SCHEDULE_TASK, args=[pool_id, job_id], queue=queue)

    transaction.on_commit(send)


def _waiting_reason(job: TrainingJob, *, pool: Pool, free: list[Node], live: list[Node], engines_by_node) -> str:
    spec = job.flavor_spec
    flavor = spec.get("flavor_id", "?")
    engine_id = job.algorithm_spec.get("engine", {}).get("engine_id", "?")
    if not live:
        return _("No node of pool %(pool)s is online: the job starts when one registers.") % {"pool": pool.name}
    able = [n for n in live if node_fits(n, spec) and job.engine_id in engines_by_node[n.pk]]
    if len(able) < job.node_count:
        unfit = [n for n in live if not node_fits(n, spec)]
        detail = ""
        if unfit:
            detail = " " + _("(%(node)s has %(what)s)") % {
                "node": unfit[0].name,
                "what": why_node_does_not_fit(unfit[0], spec),
            }
        return _(
            "The job needs %(count)s node(s) of flavor %(flavor)s with engine %(engine)s; only %(able)s online node(s) "
            "of pool %(pool)s can run it%(detail)s."
        ) % {
            "count": job.node_count,
            "flavor": flavor,
            "engine": engine_id,
            "able": len(able),
            "pool": pool.name,
            "detail": detail,
        }
    free_able = [n for n in free if node_fits(n, spec) and job.engine_id in engines_by_node[n.pk]]
    return _(
        "Waiting for %(count)s free node(s) of flavor %(flavor)s in pool %(pool)s: %(free)s free now, "
        "%(busy)s busy with other jobs."
    ) % {
        "count": job.node_count,
        "flavor": flavor,
        "pool": pool.name,
        "free": len(free_able),
        "busy": len(able) - len(free_able),
    }


def waiting_jobs(pool: Pool) -> list[TrainingJob]:
    """The pool's jobs still waiting for nodes (or a submission), first come first served."""
    return list(
        TrainingJob.objects.filter(
            pool=pool,
            phase__in=(Phase.CREATING, Phase.PENDING),
            nodes_assigned_at__isnull=True,
            deleted_at__isnull=True,
        ).order_by("created_at", "pk")
    )


def pool_schedule(*, pool_id: int, local_node_name: str | None = None) -> list[Launch]:
    """Give free nodes to the pool's waiting jobs in order. Returns the runners to launch (after commit)."""
    now = timezone.now()
    launches: list[Launch] = []
    with transaction.atomic():
        pool = Pool.objects.select_for_update().filter(pk=pool_id).first()
        if pool is None:
            return []
        waiting = waiting_jobs(pool)
        if not waiting:
            return []
        live = list(Node.objects.live(now).filter(pool=pool).order_by("name"))
        # Every kind's workloads hold nodes (a notebook too), not only training tasks.
        occupied = busy_node_ids([n.pk for n in live])
        free_ids = [n.pk for n in live if n.pk not in occupied]
        # Lock the free nodes too: a node-pools action removing one waits for us, and we for it.
        locked = {n.pk for n in Node.objects.select_for_update().filter(pk__in=free_ids).live(now)}
        free = [n for n in live if n.pk in locked]
        engines_by_node = defaultdict(set)
        for node_id, engine_id in NodeEngine.objects.filter(node__in=live).values_list("node_id", "engine_id"):
            engines_by_node[node_id].add(engine_id)

        events: list[JobEvent] = []
        blocked = False
        behind: list[TrainingJob] = []
        for job in waiting:
            if blocked:
                behind.append(job)
                continue
            candidates = [n for n in free if node_fits(n, job.flavor_spec) and job.engine_id in engines_by_node[n.pk]]
            if local_node_name:
                candidates.sort(key=lambda n: n.name != local_node_name)
            if len(candidates) < job.node_count:
                blocked = True
                reason = _waiting_reason(job, pool=pool, free=free, live=live, engines_by_node=engines_by_node)
                events += set_waiting([job], reason=reason, now=now)
                continue
            chosen = candidates[: job.node_count]
            names = ", ".join(n.name for n in chosen)
            moved = update_returning(
                TrainingJob.objects.filter(
                    pk=job.pk, phase__in=(Phase.CREATING, Phase.PENDING), nodes_assigned_at__isnull=True
                ),
                {
                    "phase": Phase.PENDING,
                    "secondary_phase": SecondaryPhase.CREATING,
                    "phase_reason": _("Starting on %(nodes)s: downloading code and inputs.") % {"nodes": names},
                    "nodes_assigned_at": now,
                },
            )
            if not moved:
                continue  # stopped or deleted meanwhile
            tasks = list(TrainingTask.objects.filter(job=job, status=TaskStatus.WAITING).order_by("index"))
            for task, node in zip(tasks, chosen):
                TrainingTask.objects.filter(pk=task.pk, status=TaskStatus.WAITING).update(
                    status=TaskStatus.ASSIGNED, node=node, node_name=node.name, assigned_at=now
                )
                launches.append(Launch(task_id=task.pk, node_id=node.pk, node_name=node.name))
            if job.phase == Phase.CREATING:
                events.append(
                    JobEvent(
                        job=job,
                        at=now,
                        kind=EventKind.QUEUED,
                        message=_("Queued in pool %(pool)s.") % {"pool": pool.name},
                        running_nodes=0,
                    )
                )
            events.append(
                JobEvent(
                    job=job, at=now, kind=EventKind.ASSIGNED, message=_("Nodes assigned: %(nodes)s.") % {"nodes": names}
                )
            )
            free = [n for n in free if n not in chosen]
        if behind:
            events += set_waiting(
                behind, reason=_("Queued behind earlier jobs in pool %(pool)s.") % {"pool": pool.name}, now=now
            )
        JobEvent.objects.bulk_create(events)
    return launches


def set_waiting(jobs: list[TrainingJob], *, reason: str, now) -> list[JobEvent]:
    """Creating → Pending/Queuing (with a timeline event), or a Pending job's reason refreshed."""
    ids = [job.pk for job in jobs]
    queued = update_returning(
        TrainingJob.objects.filter(pk__in=ids, phase=Phase.CREATING, nodes_assigned_at__isnull=True),
        {"phase": Phase.PENDING, "secondary_phase": SecondaryPhase.QUEUING, "phase_reason": reason},
    )
    TrainingJob.objects.filter(pk__in=ids, phase=Phase.PENDING, nodes_assigned_at__isnull=True).exclude(
        phase_reason=reason
    ).update(secondary_phase=SecondaryPhase.QUEUING, phase_reason=reason)
    return [JobEvent(job_id=pk, at=now, kind=EventKind.QUEUED, message=reason, running_nodes=0) for pk in queued]


def dispatch_launches(launches: list[Launch], *, local_node_name: str | None = None) -> None:
    """Start each task's runner: here when the node is ours, else through the node's queue."""
    for launch in launches:
        if local_node_name and launch.node_name == local_node_name:
            launch_runner(WORKLOAD_KIND, launch.task_id)
        else:
            current_app.send_task(LAUNCH_TASK, args=[launch.task_id], queue=node_queue_name(launch.node_name))
