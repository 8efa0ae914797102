"""Training jobs on a Ray pool: queue, submit, watch, stop — through the Ray Jobs API.

The job, its task and its timeline are the same rows as on the console's own nodes; what a
runner reports there, the poller reports here, from Ray's answers:

* **Queue** (``ray_pool_schedule``, pool row locked): first come first served, at most the pool's
  ``max_concurrent_jobs`` submitted at once (Ray's head holds ~85 MB per running job), and only
  while the head answers; a waiting job says why.
* **Submit** (``ray_submit``, platform queue): the submission id is derived from the job and the
  attempt, and recorded before the POST. A GET comes first; a resubmission after a crash finds
  the job Ray already has (a duplicate id gets a 500 from Ray: the client falls back to GET).
  Exactly one Ray job per task, however many workers die mid-submit.
* **Watch** (``ray_poll_cycle``, beat): one ``GET /api/jobs/`` per pool per cycle, kept to our
  prefix and our active ids; conditional updates; PENDING past the pool's deadline ends the job;
  a job the head no longer knows (it restarted) is Lost with that reason. Logs: Ray returns the
  whole log each time, so an offset is kept and each cycle appends a bounded slice.
* **Stop**: ``POST /api/jobs/<id>/stop`` right after the stop commits, again each cycle until Ray
  reports STOPPED.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from console.nodepools.models import Pool, PoolKind, RayCluster
from console.nodepools.raycluster.client import RayClient, RayError, RayJob, RayUnreachable
from console.nodepools.raycluster.services import client_for, mark_reachable, mark_unreachable
from console.nodepools.workloads.scalars import ScalarReader
from console.training.arguments import METRIC_PREFIX
from console.training.metrics import scalar_cap, scalar_name_cap, scalars_store
from console.training.models import (
    EventKind,
    JobEvent,
    TaskLogChunk,
    TaskMetricSample,
    TaskScalarSeries,
    TrainingJob,
    TrainingTask,
)
from console.training.phases import (
    OCCUPYING_STATUSES,
    Executor,
    Phase,
    SecondaryPhase,
    TaskStatus,
)
from console.training.ray_bootstrap import bootstrap_package, entrypoint_for, mask_credentials, secrets_of
from console.training.services.reconcile import reconcile_jobs
from console.training.services.scheduling import set_waiting, waiting_jobs
from console.training.sql import update_returning

logger = logging.getLogger(__name__)

SUBMIT_TASK = "console.training.tasks.ray_submit"
STOP_TASK = "console.training.tasks.ray_stop"
# A job is submitted once; a future retry policy would submit attempt 2 under a new id.
ATTEMPT = 1
SUBMITTED_STATUSES = (TaskStatus.STARTING, TaskStatus.RUNNING)


def submission_id_for(task: TrainingTask) -> str:
    return f"{settings.RAY_SUBMISSION_PREFIX}{task.job.uuid.hex}-{task.index}-{ATTEMPT}"


def ray_node_label(pool: Pool) -> str:
    """What a task shows as its node: Ray picks the machine, the console names the cluster."""
    return f"ray:{pool.name}"


# --- queue ----------------------------------------------------------------------------------------


def ray_pool_schedule(*, pool_id: int) -> list[int]:
    """Move waiting jobs of a Ray pool to submission, within its cap. Returns the task ids to submit."""
    now = timezone.now()
    submit: list[int] = []
    with transaction.atomic():
        pool = Pool.objects.select_for_update().filter(pk=pool_id, kind=PoolKind.RAY).first()
        cluster = RayCluster.objects.filter(pool_id=pool_id).first() if pool else None
        if pool is None or cluster is None:
            return []
        waiting = waiting_jobs(pool)
        if not waiting:
            return []
        active = TrainingTask.objects.filter(
            job__pool=pool, executor=Executor.RAY, status__in=OCCUPYING_STATUSES
        ).count()
        free = cluster.max_concurrent_jobs - active
        events: list[JobEvent] = []
        if not cluster.reachable:
            reason = _(
                "The Ray cluster of pool %(pool)s is unreachable (%(why)s): the job is submitted when its head answers."
            ) % {"pool": pool.name, "why": cluster.message or _("no answer")}
            return _wait(waiting, reason, now)
        for position, job in enumerate(waiting):
            if free <= 0:
                reason = _(
                    "Pool %(pool)s runs %(max)s Ray jobs at once (its cap protects the Ray head): "
                    "the job is submitted when one ends."
                ) % {"pool": pool.name, "max": cluster.max_concurrent_jobs}
                events += set_waiting(waiting[position:], reason=reason, now=now)
                break
            moved = update_returning(
                TrainingJob.objects.filter(
                    pk=job.pk, phase__in=(Phase.CREATING, Phase.PENDING), nodes_assigned_at__isnull=True
                ),
                {
                    "phase": Phase.PENDING,
                    "secondary_phase": SecondaryPhase.CREATING,
                    "phase_reason": _("Submitting to the Ray cluster of pool %(pool)s.") % {"pool": pool.name},
                    "nodes_assigned_at": now,
                },
            )
            if not moved:
                continue
            tasks = list(TrainingTask.objects.filter(job=job, status=TaskStatus.WAITING))
            TrainingTask.objects.filter(pk__in=[t.pk for t in tasks]).update(
                status=TaskStatus.ASSIGNED, node_name=ray_node_label(pool), assigned_at=now, executor=Executor.RAY
            )
            submit += [t.pk for t in tasks]
            free -= 1
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
        JobEvent.objects.bulk_create(events)
    return submit


def _wait(jobs: list[TrainingJob], reason: str, now) -> list[int]:
    JobEvent.objects.bulk_create(set_waiting(jobs, reason=reason, now=now))
    return []


def dispatch_submissions(task_ids: list[int]) -> None:
    for task_id in task_ids:
        current_app.send_task(SUBMIT_TASK, args=[task_id], queue="platform")


# --- submit ---------------------------------------------------------------------------------------


def ray_submit(*, task_id: int) -> str:
    """Submit one assigned task to its Ray pool (idempotent). Returns what happened, for logs."""
    task = (
        TrainingTask.objects.select_related("job", "job__pool", "job__project", "job__created_by")
        .filter(pk=task_id, executor=Executor.RAY)
        .first()
    )
    if task is None or task.status != TaskStatus.ASSIGNED:
        return "not assigned"
    job = task.job
    cluster = RayCluster.objects.filter(pool_id=job.pool_id).select_related("pool").first()
    if cluster is None:
        _fail(task, _("Pool %(pool)s is no longer a Ray pool.") % {"pool": job.pool.name if job.pool else "?"})
        return "no cluster"
    submission_id = submission_id_for(task)
    # Written before the POST: a worker killed after it leaves the id findable by the next attempt.
    TrainingTask.objects.filter(pk=task.pk, status=TaskStatus.ASSIGNED).update(ray_submission_id=submission_id)
    task.ray_submission_id = submission_id
    with client_for(cluster) as client:
        try:
            ray_job = client.find_job(submission_id)
            adopted = ray_job is not None
            if ray_job is None:
                name, data = bootstrap_package()
                working_dir = client.ensure_package(name, data)
                ray_job = client.submit(
                    submission_id=submission_id,
                    entrypoint=entrypoint_for(task, cluster),
                    body=_submit_body(task, working_dir),
                )
        except RayUnreachable as error:
            mark_unreachable(cluster_id=cluster.pk, message=str(error))
            TrainingJob.objects.filter(pk=job.pk, phase=Phase.PENDING).update(
                phase_reason=_("The Ray head of pool %(pool)s did not answer (%(why)s): submitting again shortly.")
                % {"pool": cluster.pool.name, "why": error}
            )
            return "unreachable"
        except RayError as error:
            reason = _("The Ray cluster of pool %(pool)s refused the job: %(why)s")
            _fail(task, reason % {"pool": cluster.pool.name, "why": error})
            return "refused"
        mark_reachable(cluster_id=cluster.pk)
        now = timezone.now()
        started = TrainingTask.objects.filter(pk=task.pk, status=TaskStatus.ASSIGNED).update(
            status=TaskStatus.STARTING,
            started_at=now,
            heartbeat_at=now,
            ray_submitted_at=now,
            ray_status=ray_job.status,
        )
        if not started:
            # Stopped while we submitted: Ray must not run it.
            _stop_quietly(client, submission_id)
            return "stopped meanwhile"
        message = (
            _("%(task)s: found already submitted to Ray as %(id)s (an earlier attempt got through).")
            if adopted
            else _("%(task)s: submitted to the Ray cluster of pool %(pool)s as %(id)s.")
        ) % {"task": task.name, "pool": cluster.pool.name, "id": submission_id}
        JobEvent.objects.create(job=job, at=now, kind=EventKind.ASSIGNED, message=message, task_name=task.name)
        TrainingJob.objects.filter(pk=job.pk, phase=Phase.PENDING).update(
            phase_reason=_("Ray: %(message)s") % {"message": ray_job.message or ray_job.status}
        )
        _apply_statuses(cluster, client, {task.pk: ray_job}, now=now)
    return "adopted" if adopted else "submitted"


def _submit_body(task: TrainingTask, working_dir: str) -> dict:
    spec = task.job.flavor_spec or {}
    job = task.job
    return {
        # Never pip: runtime_env installs hang on clusters without internet.
        "runtime_env": {"working_dir": working_dir},
        "entrypoint_num_cpus": float(spec.get("cpu_cores") or 0),
        "entrypoint_num_gpus": float(spec.get("gpu_count") or 0),
        # A scheduling hint to Ray, not a limit (the pool page says so).
        "entrypoint_memory": int(spec.get("memory_gb") or 0) * 1024**3,
        "metadata": {
            "modelarts_job_id": str(job.uuid),
            "modelarts_job_name": job.name[:64],
            "modelarts_project": job.project.project_id if job.project_id else "",
            "modelarts_task": task.name,
        },
    }


def _fail(task: TrainingTask, message: str) -> None:
    now = timezone.now()
    changed = TrainingTask.objects.filter(pk=task.pk, status__in=(TaskStatus.ASSIGNED, *SUBMITTED_STATUSES)).update(
        status=TaskStatus.FAILED, create_failed=True, message=message[:10000], finished_at=now
    )
    if changed:
        JobEvent.objects.create(
            job_id=task.job_id, at=now, kind=EventKind.TASK_EXIT, message=f"{task.name}: {message}", task_name=task.name
        )
    reconcile_jobs(job_ids=[task.job_id])


def _stop_quietly(client: RayClient, submission_id: str) -> None:
    try:
        client.stop(submission_id)
    except RayError as error:
        logger.warning("could not stop Ray job %s: %s", submission_id, error)


# --- stop -----------------------------------------------------------------------------------------


def ray_stop_soon(job_id: int) -> None:
    """After a stop commits: ask Ray to stop the job's submitted tasks now (the poller repeats it)."""
    ids = list(
        TrainingTask.objects.filter(
            job_id=job_id, executor=Executor.RAY, status__in=SUBMITTED_STATUSES, stop_requested=True
        ).values_list("pk", flat=True)
    )
    for task_id in ids:
        current_app.send_task(STOP_TASK, args=[task_id], queue="platform")


def ray_stop(*, task_id: int) -> bool:
    task = TrainingTask.objects.select_related("job").filter(pk=task_id, executor=Executor.RAY).first()
    if task is None or not task.ray_submission_id or task.status not in SUBMITTED_STATUSES:
        return False
    cluster = RayCluster.objects.filter(pool_id=task.job.pool_id).first()
    if cluster is None:
        return False
    try:
        with client_for(cluster) as client:
            return client.stop(task.ray_submission_id)
    except RayError as error:
        logger.warning("could not stop Ray job %s: %s", task.ray_submission_id, error)
        return False


# --- watch ----------------------------------------------------------------------------------------


def ray_poll_cycle(*, now=None) -> Counter:
    """One cycle over every Ray pool: schedule, resubmit stale submissions, statuses, logs, stops."""
    now = now or timezone.now()
    counts: Counter = Counter()
    for cluster in RayCluster.objects.select_related("pool"):
        try:
            counts += _poll_pool(cluster, now=now)
        except Exception:
            logger.exception("Ray poll of pool %s failed", cluster.pool.name)
    return counts


def _poll_pool(cluster: RayCluster, *, now) -> Counter:
    counts: Counter = Counter()
    tasks = list(
        TrainingTask.objects.filter(
            job__pool_id=cluster.pool_id, executor=Executor.RAY, status__in=(TaskStatus.ASSIGNED, *SUBMITTED_STATUSES)
        ).values("pk", "status", "ray_submission_id", "assigned_at", "job_id")
    )
    # Submissions no worker confirmed (the worker died, or the head was down): submit again.
    stale = now - timedelta(seconds=settings.RAY_SUBMIT_RETRY_SECONDS)
    resubmit = [t["pk"] for t in tasks if t["status"] == TaskStatus.ASSIGNED and t["assigned_at"] < stale]
    submitted = {t["pk"]: t["ray_submission_id"] for t in tasks if t["status"] in SUBMITTED_STATUSES}
    if submitted:
        with client_for(cluster) as client:
            try:
                ours = {
                    job.submission_id: job
                    for job in client.jobs()
                    if job.submission_id.startswith(settings.RAY_SUBMISSION_PREFIX)
                }
                # Not in the list: ask once more before calling it lost (cheap, and rare).
                by_task = {
                    task_id: ours.get(submission_id) or client.find_job(submission_id)
                    for task_id, submission_id in submitted.items()
                }
            except RayError as error:
                # Down, or answering nonsense: the jobs keep their last known state; the pool says why.
                mark_unreachable(cluster_id=cluster.pk, message=str(error))
                counts["unreachable"] += 1
                return counts
            mark_reachable(cluster_id=cluster.pk)
            counts += _apply_statuses(cluster, client, by_task, now=now)
            counts["logs"] += _fetch_logs(cluster, client, now=now)
            counts["stops"] += _repeat_stops(cluster, client)
    if resubmit:
        TrainingTask.objects.filter(pk__in=resubmit, status=TaskStatus.ASSIGNED).update(assigned_at=now)
        dispatch_submissions(resubmit)
        counts["resubmitted"] += len(resubmit)
    launches = ray_pool_schedule(pool_id=cluster.pool_id)
    if launches:
        transaction.on_commit(lambda: dispatch_submissions(launches))
        counts["submitted"] += len(launches)
    return counts


def _ms(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, tz=UTC) if value else None


def _apply_statuses(cluster: RayCluster, client: RayClient, by_task: dict[int, RayJob | None], *, now) -> Counter:
    """Ray's status → the task's, each update conditional on the status it expects."""
    counts: Counter = Counter()
    if not by_task:
        return counts
    rows = {
        t.pk: t
        for t in TrainingTask.objects.select_related("job").filter(pk__in=list(by_task), status__in=SUBMITTED_STATUSES)
    }
    touched: set[int] = set()
    unchanged: dict[str, list[int]] = defaultdict(list)
    pending_reasons: dict[str, list[int]] = defaultdict(list)
    deadline = timedelta(seconds=cluster.pending_deadline_seconds)
    for task_id, ray_job in by_task.items():
        task = rows.get(task_id)
        if task is None:
            continue
        mine = TrainingTask.objects.filter(pk=task.pk, status=task.status)
        if ray_job is None:
            message = _(
                "The Ray head of pool %(pool)s no longer knows job %(id)s: it restarted or dropped the job. "
                "Its log up to then is kept; run the job again."
            ) % {"pool": cluster.pool.name, "id": task.ray_submission_id}
            if mine.update(status=TaskStatus.LOST, message=message, finished_at=now, heartbeat_at=now):
                _event(task, EventKind.PROBLEM, message, now)
                counts["lost"] += 1
                touched.add(task.job_id)
            continue
        if ray_job.is_terminal:
            _fetch_task_log(client, task, now=now, final=True)
            status, message, exit_code = _outcome(task, ray_job)
            if mine.update(
                status=status,
                message=message[:10000],
                exit_code=exit_code,
                create_failed=ray_job.error_type == "RUNTIME_ENV_SETUP_FAILURE",
                finished_at=_ms(ray_job.end_time_ms) or now,
                heartbeat_at=now,
                ray_status=ray_job.status,
            ):
                _event(task, EventKind.TASK_EXIT, f"{task.name}: {message.splitlines()[0] if message else status}", now)
                counts[status] += 1
                touched.add(task.job_id)
            continue
        if ray_job.status == "RUNNING" and task.status == TaskStatus.STARTING:
            if mine.update(
                status=TaskStatus.RUNNING,
                running_at=_ms(ray_job.start_time_ms) or now,
                heartbeat_at=now,
                ray_status="RUNNING",
            ):
                counts["running"] += 1
                touched.add(task.job_id)
            continue
        if ray_job.status == "PENDING" and task.ray_submitted_at and now - task.ray_submitted_at > deadline:
            _stop_quietly(client, task.ray_submission_id)
            message = _("Ray did not start the job within %(seconds)s s (the pool's pending deadline): %(why)s") % {
                "seconds": cluster.pending_deadline_seconds,
                "why": ray_job.message or "PENDING",
            }
            if mine.update(status=TaskStatus.FAILED, create_failed=True, message=message, finished_at=now):
                _event(task, EventKind.TASK_EXIT, f"{task.name}: {message}", now)
                counts["pending_deadline"] += 1
                touched.add(task.job_id)
            continue
        unchanged[ray_job.status].append(task.pk)
        if ray_job.status == "PENDING":
            pending_reasons[_("Ray: %(message)s") % {"message": ray_job.message or "PENDING"}].append(task.job_id)
    # The common case, whatever the number of jobs: one UPDATE per Ray status and per PENDING reason.
    for status, ids in unchanged.items():
        TrainingTask.objects.filter(pk__in=ids).update(heartbeat_at=now, ray_status=status)
    # Ray's Jobs API reports no CPU, memory or GPU use per job: each cycle records that as −1,
    # the seed's "no data", so the metrics API and charts say so instead of staying silent.
    TaskMetricSample.objects.bulk_create(TaskMetricSample(task_id=pk, at=now) for pk in unchanged.get("RUNNING", []))
    for reason, job_ids in pending_reasons.items():
        TrainingJob.objects.filter(pk__in=job_ids, phase=Phase.PENDING).exclude(phase_reason=reason).update(
            phase_reason=reason
        )
    if touched:
        reconcile_jobs(job_ids=sorted(touched))
    return counts


def _outcome(task: TrainingTask, ray_job: RayJob) -> tuple[str, str, int | None]:
    first_line = (ray_job.message or "").splitlines()[0] if ray_job.message else ""
    if ray_job.status == "SUCCEEDED":
        return TaskStatus.SUCCEEDED, _("The training process exited with code 0."), 0
    if ray_job.status == "STOPPED":
        reason = task.stop_reason or _("Ray stopped the job: %(why)s") % {"why": first_line or "STOPPED"}
        return TaskStatus.TERMINATED, reason, None
    code = ray_job.exit_code
    if code is not None and first_line:
        message = _("The training process exited with code %(code)s. Ray: %(message)s") % {
            "code": code,
            "message": first_line,
        }
    elif code is not None:
        message = _("The training process exited with code %(code)s.") % {"code": code}
    elif first_line:
        message = _("Ray reports the job failed: %(message)s") % {"message": first_line}
    else:
        message = _("Ray reports the job failed.")
    return TaskStatus.FAILED, message, code


def _event(task: TrainingTask, kind: str, message: str, now) -> None:
    JobEvent.objects.create(job_id=task.job_id, at=now, kind=kind, message=message, task_name=task.name)


def _repeat_stops(cluster: RayCluster, client: RayClient) -> int:
    ids = list(
        TrainingTask.objects.filter(
            job__pool_id=cluster.pool_id, executor=Executor.RAY, status__in=SUBMITTED_STATUSES, stop_requested=True
        ).values_list("ray_submission_id", flat=True)
    )
    for submission_id in ids:
        _stop_quietly(client, submission_id)
    return len(ids)


# --- logs -----------------------------------------------------------------------------------------


def _fetch_logs(cluster: RayCluster, client: RayClient, *, now) -> int:
    """New log text of the running tasks that waited longest, at most RAY_LOG_JOBS_PER_CYCLE of them."""
    tasks = list(
        TrainingTask.objects.select_related("job")
        .filter(job__pool_id=cluster.pool_id, executor=Executor.RAY, status=TaskStatus.RUNNING, log_truncated=False)
        .order_by(F("ray_logs_at").asc(nulls_first=True))[: settings.RAY_LOG_JOBS_PER_CYCLE]
    )
    return sum(_fetch_task_log(client, task, now=now) for task in tasks)


def _fetch_task_log(client: RayClient, task: TrainingTask, *, now, final: bool = False) -> int:
    """Append what Ray's log has beyond the stored offset (bounded per cycle; all of it when final)."""
    if task.log_truncated:
        return 0
    try:
        text = client.logs(task.ray_submission_id)
    except RayError as error:
        logger.info("logs of Ray job %s: %s", task.ray_submission_id, error)
        return 0
    offset = task.ray_log_offset
    if len(text) < offset:
        offset = 0  # Ray's log began again (a resubmission under the same id cannot happen; be safe)
    budget = settings.TRAINING_LOG_CAP_BYTES - task.log_bytes
    piece = text[offset:] if final else text[offset : offset + settings.RAY_LOG_BYTES_PER_CYCLE]
    truncated = False
    if len(piece.encode()) > budget:
        piece = piece.encode()[: max(budget, 0)].decode("utf-8", "ignore")
        truncated = True
    # Whole lines only (unless final): a line Ray is still writing waits for the next cycle.
    if not final and not truncated and "\n" in piece:
        piece = piece[: piece.rindex("\n") + 1]
    elif not final and not truncated:
        piece = ""
    if not piece and not truncated:
        TrainingTask.objects.filter(pk=task.pk).update(ray_logs_at=now)
        return 0
    _store_metric_lines(task, piece)
    stored = mask_credentials(piece)
    for secret in secrets_of(task):
        stored = stored.replace(secret, "******")
    seq = task.log_seq + 1
    with transaction.atomic():
        if stored:
            TaskLogChunk.objects.create(task_id=task.pk, seq=seq, text=stored, at=now)
        TrainingTask.objects.filter(pk=task.pk).update(
            log_seq=seq if stored else task.log_seq,
            log_bytes=F("log_bytes") + len(stored.encode()),
            log_truncated=truncated,
            ray_log_offset=offset + len(piece),
            ray_logs_at=now,
        )
    task.log_seq, task.ray_log_offset = seq, offset + len(piece)
    return 1


def _store_metric_lines(task: TrainingTask, text: str) -> None:
    """``MA_METRIC {...}`` lines of the log become the job's scalars, as on the console's nodes
    (same reader, same caps: the job's points so far count against them)."""
    if METRIC_PREFIX not in text:
        return
    series = list(TaskScalarSeries.objects.filter(task__job_id=task.job_id).values("name", "points", "last_step"))
    reader = ScalarReader(prefix=METRIC_PREFIX, cap=scalar_cap(), name_cap=scalar_name_cap(), who=task.name)
    reader.names = {row["name"] for row in series}
    reader.accepted = sum(row["points"] for row in series)
    reader.last_step = max((row["last_step"] for row in series), default=-1)
    for line in text.splitlines():
        reader.feed_line(line)
    points, _problems = reader.drain()
    if points:
        scalars_store(task_id=task.pk, points=points)
