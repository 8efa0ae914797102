"""The poller: turn what the runners reported into each job's phase.

Run by Celery beat every TRAINING_POLL_SECONDS over every non-terminal job, and
by a runner for its own job right after it reports (so Running and Completed
show without waiting for beat). A cycle costs the same few queries whatever the
number of jobs: bulk updates for lost runners, two reads (jobs, tasks), one
conditional ``UPDATE … WHERE phase = <expected> RETURNING id`` per kind of
transition, one bulk insert of timeline events. A terminal phase is never
overwritten (no update names a terminal phase as the expected one), so two
pollers at once, or a poller and a runner, cannot undo each other.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Count, DateTimeField, F, IntegerField, TextField, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from console.nodepools.models import Node, Pool, PoolKind
from console.nodepools.services import nodes_mark_silent
from console.training.models import EventKind, JobEvent, TrainingJob, TrainingTask
from console.training.phases import (
    ACTIVE_PHASES,
    HEARTBEATING_STATUSES,
    OCCUPYING_STATUSES,
    TERMINAL_PHASES,
    TERMINAL_TASK_STATUSES,
    Executor,
    Phase,
    SecondaryPhase,
    TaskStatus,
)
from console.training.services.scheduling import schedule_pool_soon
from console.training.sql import update_returning
from console.versions.services import task_record_finish, task_records_remove_for_deleted_jobs

logger = logging.getLogger(__name__)

LAST_LINES = 10


def _mark_lost_runners(tasks, now) -> int:
    # A Ray pool's task has no runner: the Ray poller (services.ray_jobs) says when it is lost.
    tasks = tasks.filter(executor=Executor.NODE)
    timeout = settings.TRAINING_RUNNER_TIMEOUT_SECONDS
    lost = tasks.filter(status__in=HEARTBEATING_STATUSES, heartbeat_at__lt=now - timedelta(seconds=timeout)).update(
        status=TaskStatus.LOST,
        finished_at=now,
        message=_("The runner stopped reporting: no heartbeat for %(seconds)s seconds.") % {"seconds": _n(timeout)},
    )
    launch = settings.TRAINING_LAUNCH_TIMEOUT_SECONDS
    lost += tasks.filter(status=TaskStatus.ASSIGNED, assigned_at__lt=now - timedelta(seconds=launch)).update(
        status=TaskStatus.LOST,
        finished_at=now,
        message=_("The runner did not start on its node within %(seconds)s seconds.") % {"seconds": _n(launch)},
    )
    return lost


def _n(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _decide(job: dict, tasks: list[dict], now, *, live_by_pool: dict, pool_names: dict):
    """(phase, secondary, reason or None, exit_code or None) the job should move to, or None."""
    phase = job["phase"]
    statuses = [t["status"] for t in tasks]
    all_terminal = bool(tasks) and all(s in TERMINAL_TASK_STATUSES for s in statuses)
    if phase == Phase.TERMINATING:
        if not all_terminal:
            return None
        lost = next((t for t in tasks if t["status"] == TaskStatus.LOST), None)
        if lost is not None:
            return (
                Phase.ABNORMAL,
                SecondaryPhase.TERMINATED_FAILED,
                _("Stopping could not be confirmed: %(task)s on %(node)s — %(message)s")
                % {"task": lost["name"], "node": lost["node_name"] or "?", "message": lost["message"]},
                None,
            )
        return Phase.TERMINATED, SecondaryPhase.TERMINATED, None, None
    failed = next((t for t in tasks if t["status"] == TaskStatus.FAILED), None)
    if failed is not None:
        secondary = SecondaryPhase.CREATE_FAILED if failed["create_failed"] else SecondaryPhase.FAILED
        return Phase.FAILED, secondary, f"{failed['name']}: {failed['message']}", failed["exit_code"]
    lost = next((t for t in tasks if t["status"] == TaskStatus.LOST), None)
    if lost is not None:
        return (
            Phase.ABNORMAL,
            SecondaryPhase.LOST,
            _("%(task)s on node %(node)s: %(message)s")
            % {"task": lost["name"], "node": lost["node_name"] or "?", "message": lost["message"]},
            None,
        )
    terminated = next((t for t in tasks if t["status"] == TaskStatus.TERMINATED), None)
    if terminated is not None:
        reason = f"{terminated['name']}: {terminated['message']}"
        if all_terminal:
            return Phase.TERMINATED, SecondaryPhase.TERMINATED, reason, None
        # One task was stopped from outside the job (its runner was told to stop): stop the rest too.
        return Phase.TERMINATING, SecondaryPhase.TERMINATING, reason, None
    if all_terminal and all(s == TaskStatus.SUCCEEDED for s in statuses):
        return Phase.COMPLETED, SecondaryPhase.COMPLETED, "", 0
    if (
        phase in (Phase.CREATING, Phase.PENDING)
        and job["nodes_assigned_at"] is not None
        and tasks
        and all(s in (TaskStatus.RUNNING, TaskStatus.SUCCEEDED) for s in statuses)
    ):
        return Phase.RUNNING, SecondaryPhase.RUNNING, "", None
    grace = timedelta(seconds=settings.TRAINING_CREATING_GRACE_SECONDS)
    if phase == Phase.CREATING and job["nodes_assigned_at"] is None and job["created_at"] < now - grace:
        pool = pool_names.get(job["pool_id"], "?")
        if not live_by_pool.get(job["pool_id"]):
            reason = _("No node of pool %(pool)s is online: the job starts when one registers.") % {"pool": pool}
        else:
            reason = _("Waiting for a worker of pool %(pool)s to take the job.") % {"pool": pool}
        return Phase.PENDING, SecondaryPhase.QUEUING, reason, None
    return None


def _grouped(pairs, extra=None) -> list[When]:
    """CASE branches, one per distinct value (``WHEN id IN (…) THEN value``): many jobs moving
    for the same reason cost one branch, not one each."""
    by_value: dict = defaultdict(list)
    for pk, value in pairs:
        by_value[value].append(pk)
    return [When(pk__in=pks, then=Value(value), **(extra or {})) for value, pks in by_value.items()]


def _event_for(job_id: int, phase: str, reason: str, tasks: list[dict], now) -> JobEvent:
    if phase == Phase.RUNNING:
        nodes = ", ".join(t["node_name"] for t in tasks if t["node_name"])
        return JobEvent(
            job_id=job_id,
            at=now,
            kind=EventKind.RUNNING,
            message=_("Running on %(nodes)s.") % {"nodes": nodes},
            running_nodes=len(tasks),
        )
    if phase == Phase.PENDING:
        return JobEvent(job_id=job_id, at=now, kind=EventKind.QUEUED, message=reason, running_nodes=0)
    if phase == Phase.TERMINATING:
        return JobEvent(job_id=job_id, at=now, kind=EventKind.STOP, message=reason)
    label = str(Phase(phase).label)
    message = f"{label}: {reason}" if reason else label
    return JobEvent(job_id=job_id, at=now, kind=EventKind.FINISHED, message=message, running_nodes=0)


def reconcile_jobs(*, job_ids: list[int] | None = None, now=None) -> Counter:
    """One cycle over every active job (or just ``job_ids``). Returns what it did."""
    now = now or timezone.now()
    counts: Counter = Counter()
    task_scope = TrainingTask.objects.all() if job_ids is None else TrainingTask.objects.filter(job_id__in=job_ids)
    counts["lost"] = _mark_lost_runners(task_scope, now)

    jobs_qs = TrainingJob.objects.filter(phase__in=ACTIVE_PHASES)
    if job_ids is not None:
        jobs_qs = jobs_qs.filter(pk__in=job_ids)
    jobs = list(
        jobs_qs.values("pk", "phase", "node_count", "created_at", "nodes_assigned_at", "pool_id", "task_record_id")
    )
    tasks_by_job: dict[int, list[dict]] = defaultdict(list)
    if jobs:
        rows = TrainingTask.objects.filter(job__phase__in=ACTIVE_PHASES)
        if job_ids is not None:
            rows = rows.filter(job_id__in=job_ids)
        for row in rows.order_by("job_id", "index").values(
            "job_id", "name", "status", "exit_code", "message", "create_failed", "running_at", "node_name"
        ):
            tasks_by_job[row["job_id"]].append(row)

    creating_pools = {j["pool_id"] for j in jobs if j["phase"] == Phase.CREATING and j["nodes_assigned_at"] is None}
    live_by_pool, pool_names = {}, {}
    if creating_pools:
        live_by_pool = dict(
            Node.objects.live(now).filter(pool_id__in=creating_pools).values_list("pool_id").annotate(n=Count("pk"))
        )
        pool_names = dict(Pool.objects.filter(pk__in=creating_pools).values_list("pk", "name"))
        # A Ray pool has no nodes of ours: a platform worker takes its jobs and submits them.
        for pool_id in Pool.objects.filter(pk__in=creating_pools, kind=PoolKind.RAY).values_list("pk", flat=True):
            live_by_pool[pool_id] = 1

    # (expected phase, new phase, new secondary) → [(job, reason, exit code)]
    groups: dict[tuple, list] = defaultdict(list)
    for job in jobs:
        decision = _decide(job, tasks_by_job[job["pk"]], now, live_by_pool=live_by_pool, pool_names=pool_names)
        if decision is None:
            continue
        phase, secondary, reason, exit_code = decision
        if phase == job["phase"] and phase != Phase.PENDING:
            continue
        if phase == Phase.PENDING and job["phase"] == Phase.PENDING:
            continue
        groups[(job["phase"], phase, secondary)].append((job, reason, exit_code))

    events: list[JobEvent] = []
    finished: list[int] = []
    stopping: list[int] = []
    for (expected, phase, secondary), items in groups.items():
        values: dict = {"phase": phase, "secondary_phase": secondary}
        reasons = _grouped((job["pk"], reason) for job, reason, _code in items if reason is not None)
        if reasons:
            values["phase_reason"] = Case(*reasons, default=F("phase_reason"), output_field=TextField())
        codes = _grouped((job["pk"], code) for job, _reason, code in items if code is not None)
        if codes:
            values["exit_code"] = Case(*codes, default=F("exit_code"), output_field=IntegerField())
        if phase == Phase.RUNNING or phase in TERMINAL_PHASES:
            starts = []
            for job, _reason, _code in items:
                running = [t["running_at"] for t in tasks_by_job[job["pk"]] if t["running_at"]]
                if running:
                    starts.append((job["pk"], max(running) if phase == Phase.RUNNING else min(running)))
            if starts:
                values["start_time"] = Case(
                    *_grouped(starts, extra={"start_time__isnull": True}),
                    default=F("start_time"),
                    output_field=DateTimeField(),
                )
        if phase in TERMINAL_PHASES:
            values["end_time"] = now
        moved = set(
            update_returning(
                TrainingJob.objects.filter(pk__in=[j["pk"] for j, _r, _c in items], phase=expected), values
            )
        )
        counts[str(phase)] += len(moved)
        for job, reason, _code in items:
            if job["pk"] in moved:
                events.append(_event_for(job["pk"], phase, reason or "", tasks_by_job[job["pk"]], now))
                if phase in TERMINAL_PHASES:
                    finished.append(job["pk"])
                elif phase == Phase.TERMINATING:
                    stopping.append(job["pk"])
    if events:
        JobEvent.objects.bulk_create(events)
    if stopping:
        TrainingTask.objects.filter(job_id__in=stopping, status__in=HEARTBEATING_STATUSES, stop_requested=False).update(
            stop_requested=True, stop_reason=_("Another task of the job was stopped.")
        )
    if finished:
        _after_finish(finished, now)
    if job_ids is None:
        counts["purged"] = _purge_deleted()
    return counts


def _after_finish(job_ids: list[int], now) -> None:
    """Jobs that just ended: their other tasks stop; their model-version task records finish."""
    # A failed or lost task ends the job: its siblings are stopped rather than left running alone.
    TrainingTask.objects.filter(job_id__in=job_ids, status__in=(TaskStatus.WAITING, TaskStatus.ASSIGNED)).update(
        status=TaskStatus.TERMINATED, finished_at=now, message=_("Not started: the job ended.")
    )
    TrainingTask.objects.filter(job_id__in=job_ids, status__in=HEARTBEATING_STATUSES, stop_requested=False).update(
        stop_requested=True, stop_reason=_("Another task of the job ended it.")
    )
    for job in TrainingJob.objects.filter(pk__in=job_ids, task_record__isnull=False).select_related("task_record"):
        _finish_task_record(job)
    pools = set(TrainingJob.objects.filter(pk__in=job_ids).values_list("pool_id", flat=True))
    for pool_id in pools:
        # Nodes freed: the next waiting job of the pool may start now.
        schedule_pool_soon(pool_id)


def _finish_task_record(job: TrainingJob) -> None:
    try:
        task_record_finish(
            record=job.task_record,
            succeeded=job.phase == Phase.COMPLETED,
            reason="" if job.phase == Phase.COMPLETED else f"{job.phase}: {job.phase_reason}"[:2000],
        )
    except Exception:  # the job's outcome stands even if its record cannot be updated
        logger.exception("could not finish task record of job %s", job.pk)


def _purge_deleted() -> int:
    """Jobs deleted while they ran: once terminal, their rows (tasks, logs, metrics, events) go."""
    doomed = list(
        TrainingJob.objects.filter(deleted_at__isnull=False, phase__in=TERMINAL_PHASES)
        .exclude(tasks__status__in=OCCUPYING_STATUSES)
        .values_list("pk", flat=True)[:200]
    )
    if not doomed:
        return 0
    with transaction.atomic():
        records = list(TrainingJob.objects.filter(pk__in=doomed).values_list("task_record_id", flat=True))
        TrainingJob.objects.filter(pk__in=doomed).delete()
        # Their records on input versions go with them (a link to a gone page must not block the model).
        task_records_remove_for_deleted_jobs(record_ids=records)
    return len(doomed)


def schedule_waiting_pools(now=None) -> int:
    """Pools with waiting jobs and a free live node get a scheduling message (capacity freed, node joined)."""
    now = now or timezone.now()
    waiting_pools = set(
        TrainingJob.objects.filter(
            phase__in=(Phase.CREATING, Phase.PENDING), nodes_assigned_at__isnull=True, deleted_at__isnull=True
        )
        .values_list("pool_id", flat=True)
        .distinct()
    )
    waiting_pools.discard(None)
    if not waiting_pools:
        return 0
    busy = TrainingTask.objects.filter(status__in=OCCUPYING_STATUSES).values("node_id")
    free_pools = set(
        Node.objects.live(now)
        .filter(pool_id__in=waiting_pools)
        .exclude(pk__in=busy)
        .values_list("pool_id", flat=True)
        .distinct()
    )
    for pool_id in free_pools:
        schedule_pool_soon(pool_id)
    return len(free_pools)


def poll_cycle() -> Counter:
    """What beat runs: reconcile every job, mark silent nodes, nudge pools with free capacity."""
    now = timezone.now()
    counts = reconcile_jobs(now=now)
    counts["silent_nodes"] = nodes_mark_silent(now=now)
    counts["nudged_pools"] = schedule_waiting_pools(now)
    return counts
