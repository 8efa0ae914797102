"""Training jobs: create (every rule checked before anything is written), stop, delete.

Starting is enqueued on commit through the pool's queue (console.training.tasks.schedule_pool);
nothing waits for a beat cycle. Stop and delete are audited.
"""

from __future__ import annotations

import logging
import uuid as uuid_module

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from console.audit.services import audit_record
from console.nodepools.models import Node, Pool
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
    Phase,
    SecondaryPhase,
    TaskStatus,
)
from console.training.services.catalog import flavor_max_num
from console.training.services.scheduling import schedule_pool_soon
from console.training.sql import update_returning

logger = logging.getLogger(__name__)

DESCRIPTION_MAX = 256
MAX_NODE_COUNT = 64
def _algorithm_lookup(project, algorithm, algorithm_id) -> Algorithm | None:
    if isinstance(algorithm, Algorithm):
        return algorithm if algorithm.project_id == project.pk else None
    try:
        key = uuid_module.UUID(str(algorithm_id))
    except (TypeError, ValueError):
        return None
    return Algorithm.objects.select_related("engine").filter(project=project, uuid=key).first()


def _pool_lookup(pool, pool_name: str) -> Pool | None:
    if isinstance(pool, Pool):
        return pool
    if pool_name:
        return Pool.objects.filter(name=pool_name).first()
    return default_pool()


def _folder_for(*, actor, project, path, access: str, field: str, create: bool = False) -> tuple[str | None, dict]:
    """A storage folder in its API form (/bucket/key/), after the gate's checks; or the error for ``field``."""
    try:
        if create:
            backend, obs_path = gate.storage_for(user=actor, project=project, path=path or "", access=access)
            folder = ObsPath(obs_path.bucket, folder_key(obs_path.key))
            entry = backend.stat(folder.key.rstrip("/")) if folder.key else None
            if entry is not None and not entry.is_dir:
                return None, {field: [_("%(path)s is a file; choose a folder.") % {"path": folder.uri}]}
            return folder.api, {}
        _backend, folder = gate.folder_check(user=actor, project=project, path=path or "", access=access)
        return folder.api, {}
    except gate.StorageRefused as refusal:
        return None, {field: [refusal.message]}
    except (PathError, StorageError) as error:
        return None, {field: [str(error)]}


def _io_values(raw, field: str) -> dict[str, str]:
    """The seed's [{"name", "remote": {"obs": {"obs_url"}}}] or the form's {name: path} → {name: path}."""
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return {str(k): v for k, v in raw.items()}
    if not isinstance(raw, list):
        raise ValidationError({field: _("%(field)s must be a list.") % {"field": field}})
    result = {}
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValidationError({field: _("Each entry of %(field)s needs a name.") % {"field": field}})
        url = item.get("obs_url")
        if url is None:
            url = ((item.get("remote") or {}).get("obs") or {}).get("obs_url")
        result[item["name"]] = url
    return result


def training_job_create(
    *,
    actor,
    project,
    name: str,
    algorithm: Algorithm | None = None,
    algorithm_id: str = "",
    parameters: list | None = None,
    inputs=None,
    outputs=None,
    flavor_id: str = "",
    node_count: int = 1,
    description: str = "",
    log_export_path: str = "",
    pool: Pool | None = None,
    pool_name: str = "",
    model_version=None,
    model_version_input: str = "",
) -> TrainingJob:
    """Create a job (phase Creating) and enqueue its start. Raises ValidationError (field → messages); nothing is written then.

    Error codes (``error.code`` / field names) the API maps: name, algorithm (unknown_algorithm), parameters,
    inputs, outputs, flavor (unknown_flavor), node_count (no_capacity when max_num is 0), log_export_path,
    pool, model_version.
    """
    errors: dict[str, list[str]] = {}
    name = name.strip() if isinstance(name, str) else name
    problem = params.name_error(name)
    if problem:
        errors["name"] = [problem]
    description = description or ""
    if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
        errors["description"] = [_("The description may have at most %(max)s characters.") % {"max": DESCRIPTION_MAX}]

    algo = _algorithm_lookup(project, algorithm, algorithm_id)
    if algo is None:
        errors["algorithm"] = [_("Unknown algorithm %(id)s: choose an algorithm of this project.") % {"id": algorithm_id or "?"}]
    engine = algo.engine if algo else None
    if algo is not None and (engine is None or not engine.enabled):
        errors["algorithm"] = [_("The algorithm's engine is no longer offered; edit the algorithm to choose another.")]

    values: list[dict] = []
    if algo is not None:
        try:
            values = params.resolve_values(algo.parameters, parameters, customization=algo.parameters_customization)
        except params.ParameterErrors as error:
            errors.update(error.errors)

    # Inputs: a storage folder each, or the chosen model version's weights folder.
    version = None
    if model_version is not None:
        from console.versions.models import ModelVersion

        version = model_version if isinstance(model_version, ModelVersion) else ModelVersion.objects.filter(pk=model_version).first()
        if version is None or version.model.project_id != project.pk:
            errors["model_version"] = [_("Unknown model version: choose a version of one of this project's models.")]
            version = None
    job_inputs, job_outputs = [], []
    if algo is not None:
        try:
            given_inputs = _io_values(inputs, "inputs")
            given_outputs = _io_values(outputs, "outputs")
        except ValidationError as error:
            errors.update(error.message_dict)
            given_inputs, given_outputs = {}, {}
        input_names = [i["name"] for i in algo.inputs]
        if version is not None:
            target = model_version_input or (input_names[0] if input_names else "")
            if target not in input_names:
                errors["model_version"] = [_("The algorithm has no input named %(name)s to take the model version.") % {"name": target or "?"}]
            else:
                model_version_input = target
                given_inputs[target] = version.weights_path
        for unknown in sorted(set(given_inputs) - set(input_names)):
            errors.setdefault("inputs", []).append(_("The algorithm has no input named %(name)s.") % {"name": unknown})
        for definition in algo.inputs:
            path = given_inputs.get(definition["name"])
            field = f"input:{definition['name']}"
            if not path:
                errors[field] = [_("Choose the storage folder for input %(name)s.") % {"name": definition["name"]}]
                continue
            folder, problem = _folder_for(actor=actor, project=project, path=path, access=gate.READ, field=field)
            errors.update(problem)
            if folder:
                job_inputs.append({"name": definition["name"], "description": definition.get("description", ""), "obs_url": folder})
        output_names = [o["name"] for o in algo.outputs]
        for unknown in sorted(set(given_outputs) - set(output_names)):
            errors.setdefault("outputs", []).append(_("The algorithm has no output named %(name)s.") % {"name": unknown})
        for definition in algo.outputs:
            path = given_outputs.get(definition["name"])
            field = f"output:{definition['name']}"
            if not path:
                errors[field] = [_("Choose the storage folder for output %(name)s.") % {"name": definition["name"]}]
                continue
            folder, problem = _folder_for(actor=actor, project=project, path=path, access=gate.WRITE, field=field, create=True)
            errors.update(problem)
            if folder:
                job_outputs.append({"name": definition["name"], "description": definition.get("description", ""), "obs_url": folder})

    log_folder = ""
    if log_export_path:
        log_folder, problem = _folder_for(actor=actor, project=project, path=log_export_path, access=gate.WRITE, field="log_export_path", create=True)
        errors.update(problem)

    chosen_pool = _pool_lookup(pool, pool_name)
    if chosen_pool is None:
        errors["pool"] = [_("Unknown node pool %(pool)s.") % {"pool": pool_name or "?"} if pool_name else _("There is no node pool yet: an administrator must create one.")]
    flavor = Flavor.objects.filter(flavor_id=flavor_id or "", enabled=True).first()
    if flavor is None:
        errors["flavor"] = [_("Unknown flavor %(flavor)s: choose one of the flavors the console lists (公共规格).") % {"flavor": flavor_id or "?"}]
    try:
        node_count = int(node_count)
        if node_count < 1 or node_count > MAX_NODE_COUNT:
            raise ValueError
    except (TypeError, ValueError):
        errors["node_count"] = [_("The node count must be a whole number from 1 to %(max)s.") % {"max": MAX_NODE_COUNT}]
        node_count = None
    if flavor is not None and chosen_pool is not None and node_count is not None and engine is not None:
        max_num = flavor_max_num(flavor, pool=chosen_pool, engine=engine)
        if max_num == 0:
            errors["node_count"] = [
                _(
                    "No online node of pool %(pool)s can run flavor %(flavor)s with engine %(engine)s (max_num is 0), "
                    "so the job cannot run. Choose a smaller flavor, or ask an administrator to add a node."
                )
                % {"pool": chosen_pool.name, "flavor": flavor.flavor_id, "engine": engine.engine_id}
            ]
        elif node_count > max_num:
            errors["node_count"] = [
                _("Flavor %(flavor)s can use at most %(max)s node(s) in pool %(pool)s (max_num); %(count)s were asked for.")
                % {"flavor": flavor.flavor_id, "max": max_num, "pool": chosen_pool.name, "count": node_count}
            ]
    if errors:
        code = "invalid_job"
        if "node_count" in errors and len(errors) == 1:
            code = "no_capacity"
        raise ValidationError(errors, code=code)

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
            model_version_input=model_version_input if version else "",
        )
        TrainingTask.objects.bulk_create(
            [TrainingTask(job=job, index=i, name=f"worker-{i}") for i in range(node_count)]
        )
        JobEvent.objects.create(
            job=job, at=job.created_at, kind=EventKind.CREATED,
            message=_("Created by %(user)s: %(count)s × %(flavor)s in pool %(pool)s.")
            % {"user": job.user_name or "?", "count": node_count, "flavor": flavor.flavor_id, "pool": chosen_pool.name},
            running_nodes=0,
        )
        if version is not None:
            from console.versions.services import task_record_create_for_training

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
                actor=actor, action="training_job.stop", obj=locked, project=locked.project,
                before={"phase": locked.phase}, after={"phase": Phase.TERMINATING, "reason": reason},
            )
        job_id = locked.pk
        transaction.on_commit(lambda: _reconcile_now(job_id))
    locked.refresh_from_db()
    return locked


def _reconcile_now(job_id: int) -> None:
    from console.training.services.reconcile import reconcile_jobs

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
            record = locked.task_record
            locked.delete()
            if record is not None:
                _finish_deleted_record(record)
            return
        TrainingJob.objects.filter(pk=locked.pk).update(deleted_at=timezone.now())
    if locked.phase in STOPPABLE_PHASES:
        who = getattr(actor, "username", "") or _("the system")
        try:
            training_job_stop(actor=actor, job=job, reason=_("Deleted by %(user)s.") % {"user": who})
        except ValidationError:
            pass  # it ended meanwhile; the poller purges it


def _finish_deleted_record(record) -> None:
    from console.versions.services import task_record_finish

    try:
        task_record_finish(record=record, succeeded=False, reason="The training job was deleted.")
    except Exception:
        logger.exception("could not finish task record %s", record.pk)


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
