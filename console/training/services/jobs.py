"""Training jobs: create (every rule checked before anything is written), stop, delete.

The page and the API turn what they received into one JobSpec (ids already resolved to
objects); training_job_create checks it and refuses with a ValidationError keyed by field,
each refusal with its own stable ``code`` (listed on training_job_create) that the API maps
to its error codes. Starting is enqueued on commit through the pool's queue
(console.training.tasks.schedule_pool); nothing waits for a beat cycle. Stop and delete are audited.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from console.audit.services import audit_record
from console.nodepools.models import Node, Pool, RayCluster
from console.nodepools.raycluster.services import flavor_never_fits
from console.nodepools.services import default_pool
from console.storage import gate
from console.storage.backends import StorageError
from console.storage.paths import ObsPath, PathError, folder_key
from console.training import params
from console.training.models import Algorithm, EventKind, Flavor, JobEvent, TrainingJob, TrainingTask
from console.training.phases import (
    HEARTBEATING_STATUSES,
    OCCUPYING_STATUSES,
    STOPPABLE_PHASES,
    TERMINAL_PHASES,
    Executor,
    Phase,
    SecondaryPhase,
    TaskStatus,
)
from console.training.services.catalog import flavor_max_num
from console.training.services.ray_jobs import ray_stop_soon
from console.training.services.reconcile import reconcile_jobs
from console.training.services.scheduling import schedule_pool_soon
from console.training.sql import update_returning
from console.versions.models import ModelVersion
from console.versions.services import task_record_create_for_training, task_records_remove_for_deleted_jobs

logger = logging.getLogger(__name__)

MAX_NODE_COUNT = 64


@dataclass(frozen=True)
class JobSpec:
    """One training job as a page or the API asks for it, every id already resolved to its object.

    ``inputs`` / ``outputs`` map the algorithm's input / output names to storage folders
    (obs://bucket/path/ or /bucket/path/); ``parameters`` is the seed's [{"name", "value"}].
    """

    name: str
    algorithm: Algorithm
    flavor_id: str
    node_count: int = 1
    description: str = ""
    parameters: Sequence[Mapping] = ()
    inputs: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, str] = field(default_factory=dict)
    log_export_path: str = ""
    pool: Pool | None = None  # None: the default pool
    model_version: ModelVersion | None = None
    model_version_input: str = ""  # the input the version's weights feed; empty: the algorithm's first input


class _Refusals(dict):
    """field → [ValidationError], each with its code; an entry's name travels in params["name"]."""

    def add(self, field_name: str, template: str, code: str, **message_params) -> None:
        self.setdefault(field_name, []).append(ValidationError(template, code=code, params=message_params or None))

    def add_refusal(self, field_name: str, refusal: tuple[str, str], **message_params) -> None:
        # The storage's text may hold "%" (a path): it goes in as a parameter, never as the template.
        message, code = refusal
        self.add(field_name, "%(message)s", code, message=message, **message_params)


def _folder_for(
    *, actor, project, path, access: str, create: bool = False
) -> tuple[str | None, tuple[str, str] | None]:
    """A storage folder in its API form (/bucket/key/) after the gate's checks, or the refusal (message, code).

    ``create``: the folder may not exist yet (outputs and logs are uploaded into it), but it may not be a file.
    """
    try:
        if create:
            backend, obs_path = gate.storage_for(user=actor, project=project, path=path or "", access=access)
            folder = ObsPath(obs_path.bucket, folder_key(obs_path.key))
            entry = backend.stat(folder.key.rstrip("/")) if folder.key else None
            if entry is not None and not entry.is_dir:
                return None, (_("%(path)s is a file; choose a folder.") % {"path": folder.uri}, "not_folder")
            return folder.api, None
        _backend, folder = gate.folder_check(user=actor, project=project, path=path or "", access=access)
        return folder.api, None
    except gate.StorageRefused as refusal:
        return None, (refusal.message, refusal.code)
    except PathError as error:
        return None, (str(error), getattr(error, "code", "") or "invalid_path")
    except StorageError as error:
        return None, (str(error), "storage_error")


@dataclass(frozen=True)
class _FolderKind:
    field: str  # the ValidationError field: "inputs" or "outputs"
    access: str
    create: bool
    unknown: str  # message templates (translated when used), with %(name)s
    missing: str


_INPUTS = _FolderKind(
    "inputs", gate.READ, False,
    gettext_noop("The algorithm has no input named %(name)s."),
    gettext_noop("Choose the storage folder for input %(name)s."),
)  # fmt: skip
_OUTPUTS = _FolderKind(
    "outputs", gate.WRITE, True,
    gettext_noop("The algorithm has no output named %(name)s."),
    gettext_noop("Choose the storage folder for output %(name)s."),
)  # fmt: skip


def _job_folders(
    *, actor, project, kind: _FolderKind, definitions: list[dict], given: Mapping[str, str], errors: _Refusals
) -> list[dict]:
    """One storage folder per input (or output) the algorithm defines, each checked by the gate."""
    defined = {definition["name"] for definition in definitions}
    for unknown in sorted(set(given) - defined):
        errors.add(kind.field, _(kind.unknown), f"unknown_{kind.field[:-1]}", name=unknown)
    folders = []
    for definition in definitions:
        name = definition["name"]
        path = given.get(name)
        if not path:
            errors.add(kind.field, _(kind.missing), f"{kind.field[:-1]}_missing", name=name)
            continue
        folder, refusal = _folder_for(actor=actor, project=project, path=path, access=kind.access, create=kind.create)
        if refusal:
            errors.add_refusal(kind.field, refusal, name=name)
        else:
            folders.append({"name": name, "description": definition.get("description", ""), "obs_url": folder})
    return folders


def training_job_create(*, actor, project, spec: JobSpec) -> TrainingJob:
    """Create a job (phase Creating) and enqueue its start. Nothing is written when a rule is broken.

    Raises ValidationError keyed by field (name, description, algorithm, parameters, model_version,
    inputs, outputs, log_export_path, pool, flavor, node_count); each refusal has its own code:
    invalid_name, description_too_long, unknown_algorithm, engine_unavailable, invalid_parameter,
    unknown_model_version, no_model_input, unknown_input / unknown_output, input_missing /
    output_missing, not_folder, invalid_path, storage_error, no_pool, unknown_flavor,
    invalid_node_count, no_capacity (max_num is 0), over_capacity (more nodes than max_num), and the
    storage gate's own codes (no_authorization, read_only, bucket_not_covered, no_bucket, no_folder, …).
    Refusals about one input or output carry its name in ``params["name"]``.
    """
    errors = _Refusals()
    name = spec.name.strip() if isinstance(spec.name, str) else spec.name
    problem = params.name_error(name)
    if problem:
        errors.add("name", problem, "invalid_name")
    description = spec.description or ""
    problem = params.description_error(description)
    if problem:
        errors.add("description", problem, "description_too_long")

    algo = spec.algorithm
    engine = algo.engine if algo is not None else None
    if algo is None or algo.project_id != project.pk:
        errors.add(
            "algorithm",
            _("Unknown algorithm %(id)s: choose an algorithm of this project.")
            % {"id": getattr(algo, "uuid", None) or "?"},
            "unknown_algorithm",
        )
        algo = engine = None
    elif engine is None or not engine.enabled:
        errors.add(
            "algorithm",
            _("The algorithm's engine is no longer offered; edit the algorithm to choose another."),
            "engine_unavailable",
        )
    else:
        # The job's nodes fetch the code as this user: it must be theirs to read.
        try:
            gate.storage_for(user=actor, project=project, path=algo.code_dir, access=gate.READ)
        except gate.StorageRefused as refusal:
            errors.add_refusal("algorithm", (refusal.message, refusal.code))

    values: list[dict] = []
    if algo is not None:
        given = list(spec.parameters) if isinstance(spec.parameters, (list, tuple)) else spec.parameters
        try:
            values = params.resolve_values(algo.parameters, given, customization=algo.parameters_customization)
        except params.ParameterErrors as error:
            for field_name, messages in error.errors.items():
                for message in messages:
                    errors.add(field_name, message, "invalid_parameter")

    # Inputs: a storage folder each, or the chosen model version's weights folder.
    version = spec.model_version
    if version is not None and version.model.project_id != project.pk:
        errors.add(
            "model_version",
            _("Unknown model version: choose a version of one of this project's models."),
            "unknown_model_version",
        )
        version = None
    version_input = ""
    job_inputs, job_outputs = [], []
    if algo is not None:
        given_inputs = dict(spec.inputs)
        if version is not None:
            input_names = [i["name"] for i in algo.inputs]
            version_input = spec.model_version_input or (input_names[0] if input_names else "")
            if version_input not in input_names:
                errors.add(
                    "model_version",
                    _("The algorithm has no input named %(name)s to take the model version.")
                    % {"name": version_input or "?"},
                    "no_model_input",
                )
            else:
                given_inputs[version_input] = version.weights_path
        job_inputs = _job_folders(
            actor=actor, project=project, kind=_INPUTS, definitions=algo.inputs, given=given_inputs, errors=errors
        )
        job_outputs = _job_folders(
            actor=actor, project=project, kind=_OUTPUTS, definitions=algo.outputs, given=spec.outputs, errors=errors
        )

    log_folder = ""
    if spec.log_export_path:
        log_folder, refusal = _folder_for(
            actor=actor, project=project, path=spec.log_export_path, access=gate.WRITE, create=True
        )
        if refusal:
            errors.add_refusal("log_export_path", refusal)

    chosen_pool = spec.pool or default_pool()
    if chosen_pool is None:
        errors.add("pool", _("There is no node pool yet: an administrator must create one."), "no_pool")
    flavor = Flavor.objects.filter(flavor_id=spec.flavor_id or "", enabled=True).first()
    if flavor is None:
        errors.add(
            "flavor",
            _("Unknown flavor %(flavor)s: choose one of the flavors the console lists (公共规格).")
            % {"flavor": spec.flavor_id or "?"},
            "unknown_flavor",
        )
    try:
        node_count = int(spec.node_count)
        if node_count < 1 or node_count > MAX_NODE_COUNT:
            raise ValueError
    except (TypeError, ValueError):
        errors.add(
            "node_count",
            _("The node count must be a whole number from 1 to %(max)s.") % {"max": MAX_NODE_COUNT},
            "invalid_node_count",
        )
        node_count = None
    if flavor is not None and chosen_pool is not None and node_count is not None and chosen_pool.is_ray:
        _check_ray_pool(chosen_pool, flavor, node_count, errors)
    elif flavor is not None and chosen_pool is not None and node_count is not None and engine is not None:
        max_num = flavor_max_num(flavor, pool=chosen_pool, engine=engine)
        if max_num == 0:
            errors.add(
                "node_count",
                _(
                    "No online node of pool %(pool)s can run flavor %(flavor)s with engine %(engine)s (max_num is 0), "
                    "so the job cannot run. Choose a smaller flavor, or ask an administrator to add a node."
                )
                % {"pool": chosen_pool.name, "flavor": flavor.flavor_id, "engine": engine.engine_id},
                "no_capacity",
            )
        elif node_count > max_num:
            errors.add(
                "node_count",
                _(
                    "Flavor %(flavor)s can use at most %(max)s node(s) in pool %(pool)s (max_num); %(count)s were asked for."
                )
                % {"flavor": flavor.flavor_id, "max": max_num, "pool": chosen_pool.name, "count": node_count},
                "over_capacity",
            )
    if errors:
        raise ValidationError(dict(errors))

    with transaction.atomic():
        job = TrainingJob.objects.create(
            project=project,
            name=name,
            description=description,
            created_by=actor,
            user_name=getattr(actor, "username", ""),
            algorithm=algo,
            algorithm_spec=_algorithm_snapshot(algo),
            engine=engine,
            parameters=values,
            inputs=job_inputs,
            outputs=job_outputs,
            flavor=flavor,
            flavor_spec=flavor.snapshot(),
            node_count=node_count,
            pool=chosen_pool,
            log_export_path=log_folder or "",
            model_version=version,
            model_version_input=version_input if version else "",
        )
        executor = Executor.RAY if chosen_pool.is_ray else Executor.NODE
        TrainingTask.objects.bulk_create(
            [TrainingTask(job=job, index=i, name=f"worker-{i}", executor=executor) for i in range(node_count)]
        )
        JobEvent.objects.create(
            job=job,
            at=job.created_at,
            kind=EventKind.CREATED,
            message=_("Created by %(user)s: %(count)s × %(flavor)s in pool %(pool)s.")
            % {"user": job.user_name or "?", "count": node_count, "flavor": flavor.flavor_id, "pool": chosen_pool.name},
            running_nodes=0,
        )
        if version is not None:
            record = task_record_create_for_training(
                version=version,
                job_name=job.name,
                job_url=reverse("training:job_detail", kwargs={"project_id": project.project_id, "job_id": job.uuid}),
                actor=actor,
            )
            TrainingJob.objects.filter(pk=job.pk).update(task_record=record)
            job.task_record = record
        schedule_pool_soon(chosen_pool.pk, job_id=job.pk)
    return job


def _check_ray_pool(pool, flavor: Flavor, node_count: int, errors: _Refusals) -> None:
    """A Ray pool runs one-node jobs whose flavor fits one of its nodes; a down head only delays."""
    if node_count > 1:
        errors.add(
            "node_count",
            _(
                "Pool %(pool)s is a Ray cluster: multi-node jobs are not supported there yet. "
                "Set the node count to 1, or choose a pool of registered nodes."
            )
            % {"pool": pool.name},
            "ray_multi_node",
        )
    cluster = RayCluster.objects.filter(pool=pool).first()
    if cluster is None:
        errors.add("pool", _("Pool %(pool)s has no Ray cluster configured.") % {"pool": pool.name}, "no_pool")
        return
    problem = flavor_never_fits(cluster, flavor.snapshot())
    if problem:
        errors.add("flavor", problem, "no_capacity")


def _algorithm_snapshot(algo: Algorithm) -> dict:
    return {
        "id": str(algo.uuid),
        "name": algo.name,
        "code_dir": algo.code_dir,
        "boot_file": algo.boot_file,
        "parameters": algo.parameters,
        "parameters_customization": algo.parameters_customization,
        "inputs": algo.inputs,
        "outputs": algo.outputs,
        "engine": algo.engine.snapshot(),
    }


def training_job_stop(*, actor, job: TrainingJob, reason: str = "") -> TrainingJob:
    """Stop a Creating/Pending/Running job (→ Terminating → Terminated). Stopping a stopping or stopped job changes nothing.

    Raises ValidationError (code "phase") for a job that already ended otherwise.
    """
    with transaction.atomic():
        locked = TrainingJob.objects.select_for_update().filter(pk=job.pk).first()
        if locked is None:
            raise ValidationError(_("This training job was deleted."), code="job_gone")
        if locked.phase in (Phase.TERMINATING, Phase.TERMINATED):
            return locked
        if locked.phase not in STOPPABLE_PHASES:
            raise ValidationError(
                _("Only a job that is Creating, Pending or Running can be stopped; this job is %(phase)s.")
                % {"phase": locked.get_phase_display()},
                code="phase",
            )
        now = timezone.now()
        who = getattr(actor, "username", "") or _("the system")
        reason = reason or _("Stopped by %(user)s.") % {"user": who}
        moved = update_returning(
            TrainingJob.objects.filter(pk=locked.pk, phase=locked.phase),
            {
                "phase": Phase.TERMINATING,
                "secondary_phase": SecondaryPhase.TERMINATING,
                "phase_reason": reason,
                "stop_requested_at": now,
            },
        )
        if moved:
            # Not started yet: nothing to kill. Started: the runner kills its process group.
            TrainingTask.objects.filter(job=locked, status__in=(TaskStatus.WAITING, TaskStatus.ASSIGNED)).update(
                status=TaskStatus.TERMINATED, finished_at=now, message=reason
            )
            TrainingTask.objects.filter(job=locked, status__in=HEARTBEATING_STATUSES).update(
                stop_requested=True, stop_reason=reason[:255]
            )
            JobEvent.objects.create(job=locked, at=now, kind=EventKind.STOP, message=reason)
            audit_record(
                actor=actor,
                action="training_job.stop",
                obj=locked,
                project=locked.project,
                before={"phase": locked.phase},
                after={"phase": Phase.TERMINATING, "reason": reason},
            )
        job_id = locked.pk
        transaction.on_commit(lambda: _reconcile_now(job_id))
        # A Ray pool's job has no runner to hear the stop: Ray is asked at once.
        transaction.on_commit(lambda: ray_stop_soon(job_id))
    locked.refresh_from_db()
    return locked


def _reconcile_now(job_id: int) -> None:
    try:
        reconcile_jobs(job_ids=[job_id])
    except Exception:  # beat catches up on the next cycle
        logger.exception("reconcile of job %s failed", job_id)


def training_job_delete(*, actor, job: TrainingJob) -> None:
    """Delete a job: stopped first if it still runs; its record, logs and metrics go, its outputs in storage stay."""
    with transaction.atomic():
        locked = TrainingJob.objects.select_for_update().filter(pk=job.pk, deleted_at__isnull=True).first()
        if locked is None:
            raise ValidationError(_("This training job was already deleted."), code="job_gone")
        audit_record(
            actor=actor, action="training_job.delete", obj=locked, project=locked.project,
            before={"name": locked.name, "uuid": str(locked.uuid), "phase": locked.phase,
                    "outputs": [o["obs_url"] for o in locked.outputs]},
        )  # fmt: skip
        running = locked.phase not in TERMINAL_PHASES or locked.tasks.filter(status__in=OCCUPYING_STATUSES).exists()
        if not running:
            record_id = locked.task_record_id
            locked.delete()
            # Its record on the input version goes too: it would link to this deleted page
            # and keep blocking the model's delete.
            task_records_remove_for_deleted_jobs(record_ids=[record_id])
            return
        TrainingJob.objects.filter(pk=locked.pk).update(deleted_at=timezone.now())
    if locked.phase in STOPPABLE_PHASES:
        who = getattr(actor, "username", "") or _("the system")
        try:
            training_job_stop(actor=actor, job=job, reason=_("Deleted by %(user)s.") % {"user": who})
        except ValidationError:
            pass  # it ended meanwhile; the poller purges it


def training_jobs_stop_on_node(*, actor, node: Node, reason: str) -> list[TrainingJob]:
    """For the node-pools actions: stop every job with a task on ``node``, marked with ``reason``."""
    job_ids = set(
        TrainingTask.objects.filter(node=node, status__in=OCCUPYING_STATUSES).values_list("job_id", flat=True)
    )
    stopped = []
    for job in TrainingJob.objects.filter(pk__in=job_ids, phase__in=STOPPABLE_PHASES):
        try:
            stopped.append(training_job_stop(actor=actor, job=job, reason=reason))
        except ValidationError:
            continue
    return stopped
