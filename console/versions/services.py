"""Writes for versions (seed 表3) and task records (任务记录), the weight-check run, and
what needs a model together with its versions: create a model with its V1, delete a
model guarded by its versions' task records (seed 创建我的模型, 删除我的模型).

Every write inside a model first locks its MyModel row (see console.mymodels.services):
whoever holds it decides alone, so "at most 10 versions" and "one delete wins" hold
under concurrency.

For other apps (training, inference):

    record = task_record_create_for_training(version=v, job_name="job-1", job_url="/…/jobs/7/", actor=user)
    ...
    task_record_finish(record=record, succeeded=True)            # or succeeded=False, reason="…"

Any task record (weight checks included) blocks deleting its version and model until
the user deletes it (possible once it is finished), as the seed's 删除我的模型 says. A job
that is deleted takes its record with it (``task_records_remove_for_deleted_jobs``).
"""

from __future__ import annotations

import logging
import os
import time

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from console.audit.services import audit_record
from console.core.confirm import require_typed_delete
from console.core.models import WorkState
from console.core.work import heartbeating, work_claim, work_enqueue, work_finish
from console.mymodels.models import BaseModelVersion, ModelStatus, MyModel, WeightSetting
from console.mymodels.services import (
    description_errors,
    model_input_errors,
    model_insert_locked,
    model_locked,
    name_taken_error,
    raise_if_errors,
)
from console.storage.gate import StorageRefused, folder_check, folder_reader_for_task
from console.versions.models import MAX_VERSIONS_PER_MODEL, ModelVersion, TaskKind, TaskRecord
from console.versions.selectors import blocking_records

# console.weightcheck imports torch/transformers only inside the functions that load
# weights, so importing it here keeps them out of the web process (see its docstring).
from console.weightcheck import CheckReport, check_folder

logger = logging.getLogger(__name__)

# Test-only: seconds the check waits (heartbeating) before reading the folder, so a
# test can kill a worker while a record is running. Unset in any real deployment.
SLOW_CHECK_ENV = "CONSOLE_TEST_WEIGHT_CHECK_DELAY"
LOG_MAX_CHARS = 64_000


# --- input rules -------------------------------------------------------------------------


def version_input_errors(*, base_version: BaseModelVersion | None, validate_weights: bool) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if base_version is None or not base_version.active:
        errors["base_version"] = [_("Select a base model version from the catalog.")]
    elif validate_weights and not base_version.validation_supported:
        errors["validate_weights"] = [
            _("Weight validation is not supported for %(name)s (部分模型暂不支持权重校验); turn it off.")
            % {"name": base_version.name}
        ]
    return errors


def weights_folder_check(*, actor, project, path: str) -> str:
    """The weights path as a folder URI (obs://bucket/folder/), checked through the storage
    gate for ``actor``: syntax, never leaving the bucket, membership, authorization, and
    that it is an existing folder (seed: 必须选择到模型文件夹)."""
    if not (path or "").strip():
        raise ValidationError({"weights_path": [_("Select the folder that holds the model weights.")]})
    try:
        _backend, folder = folder_check(user=actor, project=project, path=path)
    except StorageRefused as refusal:
        raise ValidationError({"weights_path": [refusal.message]}) from None
    return folder.uri


def _model_locked(model: MyModel) -> MyModel:
    locked = model_locked(model)
    if locked is None:
        raise ValidationError(_("This model was deleted."))
    return locked


# --- models with their versions --------------------------------------------------------


def model_create(
    *,
    actor,
    project,
    name: str,
    description: str = "",
    base_version: BaseModelVersion,
    weights_path: str,
    validate_weights: bool = True,
    weight_setting: str = WeightSetting.CUSTOM,
) -> MyModel:
    """Create a model and its V1 (seed: 创建模型). V1 is validated when validation is on."""
    name = (name or "").strip()
    description = description or ""
    raise_if_errors(
        {
            **model_input_errors(name=name, description=description, weight_setting=weight_setting),
            **version_input_errors(base_version=base_version, validate_weights=validate_weights),
        }
    )
    if MyModel.objects.filter(project=project, name=name).exists():
        raise name_taken_error(name)
    # Storage is reached before the transaction: a slow bucket must not hold a lock.
    folder = weights_folder_check(actor=actor, project=project, path=weights_path)
    try:
        with transaction.atomic():
            model = model_insert_locked(
                actor=actor,
                project=project,
                name=name,
                description=description,
                base_version=base_version,
                weight_setting=weight_setting,
            )
            version_add_locked(
                actor=actor,
                model=model,
                description=description,
                base_version=base_version,
                weights_path=folder,
                validate_weights=validate_weights,
            )
            audit_record(
                actor=actor,
                action="model.create",
                obj=model,
                project=project,
                after={"name": name, "base_model": base_version.name, "weights_path": folder,
                       "weight_validation": validate_weights},
            )  # fmt: skip
    except IntegrityError:
        # Someone took the name between our check and our insert.
        raise name_taken_error(name) from None
    return model


class DeleteBlocked(ValidationError):
    """Refused because task records still use the model or version; ``records`` lists them."""

    def __init__(self, message: str, records: list):
        super().__init__({"confirm": [message]})
        self.records = records


def model_delete(*, actor, model: MyModel, confirm: str) -> None:
    """Delete a model with all its versions (seed 删除我的模型).

    Refused, changing nothing, unless ``confirm`` is exactly DELETE, and while any
    version has any task record, finished weight checks included (当模型存在任务记录会删除失败):
    the user deletes the finished records on the version pages first. Weight files in
    storage are the user's and are left alone.
    """
    require_typed_delete(confirm, field="confirm")
    with transaction.atomic():
        locked = model_locked(model)
        if locked is None:
            raise ValidationError({"confirm": [_("This model was already deleted.")]})
        blockers = blocking_records(model=locked)
        if blockers:
            raise DeleteBlocked(
                _(
                    "The model cannot be deleted: its versions have %(n)d task record(s). Delete each "
                    "finished record on its version page first (a running task must finish before)."
                )
                % {"n": len(blockers)},
                blockers,
            )
        versions = list(ModelVersion.objects.filter(model=locked).values_list("number", "status", "weights_path"))
        audit_record(
            actor=actor,
            action="model.delete",
            obj=locked,
            project=locked.project,
            before={
                "name": locked.name,
                "base_model": locked.base_version.name,
                "versions": [{"number": f"V{n}", "status": s, "weights_path": p} for n, s, p in versions],
            },
        )
        locked.delete()


# --- versions ----------------------------------------------------------------------------


def version_limit_error() -> ValidationError:
    return ValidationError(
        _(
            "A model can have at most %(max)d versions (一个模型最多支持创建10个版本), failed ones included. "
            "Delete a version to add another."
        )
        % {"max": MAX_VERSIONS_PER_MODEL},
        code="version_limit",
    )


def version_add_locked(
    *,
    actor,
    model: MyModel,
    description: str,
    base_version: BaseModelVersion,
    weights_path: str,
    validate_weights: bool,
) -> ModelVersion:
    """Add the next version to a model whose row the caller holds locked (in a transaction)."""
    if ModelVersion.objects.filter(model=model).count() >= MAX_VERSIONS_PER_MODEL:
        raise version_limit_error()
    model.version_counter += 1
    model.save(update_fields=["version_counter"])
    version = ModelVersion.objects.create(
        model=model,
        number=model.version_counter,
        description=description,
        base_version=base_version,
        weights_path=weights_path,
        validate_weights=validate_weights,
        # Validation off: no check, the version is created directly (the seed warns it may fail later).
        status=ModelStatus.CREATING if validate_weights else ModelStatus.CREATED,
        created_by=actor,
    )
    if validate_weights:
        _validation_record_create(actor=actor, version=version)
    return version


def _validation_record_create(*, actor, version: ModelVersion) -> TaskRecord:
    record = TaskRecord.objects.create(
        version=version, kind=TaskKind.WEIGHT_VALIDATION, name="weight_validation", created_by=actor
    )
    work_enqueue(record)
    return record


def version_create(
    *,
    actor,
    model: MyModel,
    description: str = "",
    base_version: BaseModelVersion,
    weights_path: str,
    validate_weights: bool = True,
) -> ModelVersion:
    """新增版本: number assigned by the system, at most 10 per model (enforced under the model row lock)."""
    description = description or ""
    raise_if_errors(
        {
            "description": description_errors(description),
            **version_input_errors(base_version=base_version, validate_weights=validate_weights),
        }
    )
    # Cheap early answer before touching storage; the count under the lock is the one that holds.
    if ModelVersion.objects.filter(model=model).count() >= MAX_VERSIONS_PER_MODEL:
        raise version_limit_error()
    folder = weights_folder_check(actor=actor, project=model.project, path=weights_path)
    with transaction.atomic():
        locked = _model_locked(model)
        version = version_add_locked(
            actor=actor,
            model=locked,
            description=description,
            base_version=base_version,
            weights_path=folder,
            validate_weights=validate_weights,
        )
        audit_record(
            actor=actor,
            action="version.create",
            obj=version,
            project=locked.project,
            after={"model": locked.name, "number": version.label, "base_model": base_version.name,
                   "weights_path": folder, "weight_validation": validate_weights},
        )  # fmt: skip
    return version


def version_delete(*, actor, version: ModelVersion, confirm: str) -> None:
    """Delete one version to free a slot. Same guard and typed DELETE as the model; the last
    version goes only with its model; its number is never handed out again."""
    require_typed_delete(confirm, field="confirm")
    with transaction.atomic():
        model = _model_locked(version.model)
        current = ModelVersion.objects.filter(pk=version.pk, model=model).first()
        if current is None:
            raise ValidationError({"confirm": [_("This version was already deleted.")]})
        if ModelVersion.objects.filter(model=model).count() <= 1:
            raise ValidationError(
                {"confirm": [_("%(v)s is the model's last version: it can only be deleted with the model.")
                             % {"v": current.label}]}
            )  # fmt: skip
        blockers = blocking_records(model=model, version=current)
        if blockers:
            raise DeleteBlocked(
                _(
                    "%(v)s cannot be deleted: it has %(n)d task record(s). Delete each finished record "
                    "on this page first (a running task must finish before)."
                )
                % {"v": current.label, "n": len(blockers)},
                blockers,
            )
        audit_record(
            actor=actor,
            action="version.delete",
            obj=current,
            project=model.project,
            before={"model": model.name, "number": current.label, "status": current.status,
                    "weights_path": current.weights_path},
        )  # fmt: skip
        current.delete()


def weight_validation_rerun(*, actor, version: ModelVersion) -> TaskRecord:
    """Run the check again after the user fixed the files. A new record keeps the old ones as history."""
    with transaction.atomic():
        model = _model_locked(version.model)
        current = ModelVersion.objects.filter(pk=version.pk, model=model).first()
        if current is None:
            raise ValidationError(_("This version was deleted."))
        if not current.validate_weights or not current.base_version.validation_supported:
            raise ValidationError(_("This version was created without weight validation."))
        if current.status != ModelStatus.FAILED:
            raise ValidationError(_("Only a version whose check failed can be checked again."))
        if current.task_records.filter(
            kind=TaskKind.WEIGHT_VALIDATION, state__in=[WorkState.PENDING, WorkState.RUNNING]
        ).exists():
            raise ValidationError(_("A weight check of this version is already running."))
        ModelVersion.objects.filter(pk=current.pk).update(
            status=ModelStatus.CREATING, status_reason="", updated_at=timezone.now()
        )
        record = _validation_record_create(actor=actor, version=current)
        audit_record(
            actor=actor, action="version.revalidate", obj=current, project=model.project,
            after={"model": model.name, "number": current.label, "record": record.pk},
        )  # fmt: skip
    return record


# --- task records ------------------------------------------------------------------------


def task_record_create_external(
    *, version: ModelVersion, kind: str, job_name: str, job_url: str = "", actor=None
) -> TaskRecord:
    """A training / inference task that uses ``version`` (it blocks deleting the version and
    model until the record is deleted). Created running; finish it with ``task_record_finish``."""
    if kind not in (TaskKind.TRAINING, TaskKind.INFERENCE):
        raise ValueError(f"kind must be training or inference, not {kind!r}")
    with transaction.atomic():
        model = _model_locked(version.model)
        if not ModelVersion.objects.filter(pk=version.pk, model=model).exists():
            raise ValidationError(_("This model version was deleted."))
        now = timezone.now()
        # enqueued_at / heartbeat_at stay empty: the sweep never selects such a row.
        return TaskRecord.objects.create(
            version=version,
            kind=kind,
            name=job_name[:128],
            link_url=job_url[:500],
            created_by=actor,
            state=WorkState.RUNNING,
            started_at=now,
        )


def task_record_create_for_training(
    *, version: ModelVersion, job_name: str, job_url: str = "", actor=None
) -> TaskRecord:
    return task_record_create_external(
        version=version, kind=TaskKind.TRAINING, job_name=job_name, job_url=job_url, actor=actor
    )


def task_record_create_for_inference(
    *, version: ModelVersion, job_name: str, job_url: str = "", actor=None
) -> TaskRecord:
    return task_record_create_external(
        version=version, kind=TaskKind.INFERENCE, job_name=job_name, job_url=job_url, actor=actor
    )


def task_record_finish(*, record: TaskRecord, succeeded: bool, reason: str = "", report: dict | None = None) -> bool:
    """Finish a training / inference record once (compare-and-set). False if it was already finished."""
    if record.kind == TaskKind.WEIGHT_VALIDATION:
        raise ValueError("weight-validation records are finished by their own task")
    fields = {
        "state": WorkState.SUCCEEDED if succeeded else WorkState.FAILED,
        "finished_at": timezone.now(),
        "failure_reason": "" if succeeded else reason,
    }
    if report is not None:
        fields["report"] = report
    return (
        TaskRecord.objects.filter(pk=record.pk, state__in=[WorkState.PENDING, WorkState.RUNNING])
        .exclude(kind=TaskKind.WEIGHT_VALIDATION)
        .update(**fields)
        == 1
    )


def task_record_delete(*, actor, record: TaskRecord) -> None:
    """Delete a finished task record from its version page (seed: 先删除所有任务)."""
    with transaction.atomic():
        model = _model_locked(record.version.model)
        current = TaskRecord.objects.filter(pk=record.pk, version__model=model).select_related("version").first()
        if current is None:
            raise ValidationError(_("This task record was already deleted."))
        if not current.is_finished:
            raise ValidationError(_("A task record can be deleted only after its task has finished."))
        audit_record(
            actor=actor, action="taskrecord.delete", obj=current, project=model.project,
            before={"model": model.name, "version": current.version.label, "kind": current.kind,
                    "name": current.name, "state": current.state},
        )  # fmt: skip
        current.delete()


def task_records_remove_for_deleted_jobs(*, record_ids) -> int:
    """The training / inference tasks these records stand for were deleted: their records go
    too, so no record links to a page that is gone and none keeps blocking the model's delete.

    The caller deleting the job audits it. Weight-check records are never removed this way.
    """
    ids = [pk for pk in record_ids if pk is not None]
    if not ids:
        return 0
    deleted, _per_model = TaskRecord.objects.filter(pk__in=ids).exclude(kind=TaskKind.WEIGHT_VALIDATION).delete()
    return deleted


# --- the weight check (run by console.versions.tasks.validate_weights) ---------------------


class _RecordLog(logging.Handler):
    """Keeps what the check logs for one record, to store beside its report."""

    def __init__(self, reference: str):
        super().__init__(logging.INFO)
        self.reference = reference
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record):
        if sum(len(line) for line in self.lines) < LOG_MAX_CHARS:
            self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)[:LOG_MAX_CHARS]


def _unknown_report(details: list[str], reference: str) -> dict:
    report = CheckReport()
    report.fail("unknown", details)
    report.log_reference = reference
    return report.to_dict()


def weight_validation_run(*, record_id: int) -> str:
    """Claim the record, check the version's folder, finish the record and the version once.

    Returns what happened ("not_claimed", "succeeded", "failed", "lost_claim"): a
    redelivered message for a finished or live-claimed record does nothing.
    """
    record = TaskRecord.objects.filter(pk=record_id).only("kind").first()
    if record is None or record.kind != TaskKind.WEIGHT_VALIDATION:
        return "not_claimed"
    token = work_claim(TaskRecord, record_id)
    if token is None:
        return "not_claimed"
    record = TaskRecord.objects.select_related("version__model__project", "version__base_version", "created_by").get(
        pk=record_id
    )
    version = record.version
    reference = f"weightcheck record={record.pk} attempt={record.attempts}"
    capture = _RecordLog(reference)
    loggers = [logging.getLogger("console.weightcheck"), logger]
    for each in loggers:
        each.addHandler(capture)
    try:
        with heartbeating(TaskRecord, record.pk, token):
            logger.info("%s: checking %s for %s", reference, version.weights_path, version)
            delay = float(os.environ.get(SLOW_CHECK_ENV) or 0)
            if delay:
                time.sleep(delay)
            report = _check(record=record, version=version, reference=reference)
    finally:
        for each in loggers:
            each.removeHandler(capture)
    ok = bool(report.get("ok"))
    logger.info("%s: %s %s", reference, "passed" if ok else "failed", report.get("message") or "")
    with transaction.atomic():
        finished = work_finish(
            TaskRecord,
            record.pk,
            token,
            state=WorkState.SUCCEEDED if ok else WorkState.FAILED,
            report=report,
            failure_reason="" if ok else (report.get("message") or ""),
            log_reference=report.get("log_reference") or reference,
            log=capture.text(),
        )
        if not finished:
            # The sweep gave our claim away (we looked dead): the new owner decides.
            return "lost_claim"
        ModelVersion.objects.filter(pk=version.pk, status=ModelStatus.CREATING).update(
            status=ModelStatus.CREATED if ok else ModelStatus.FAILED,
            status_reason="" if ok else (report.get("message") or ""),
            updated_at=timezone.now(),
        )
    return "succeeded" if ok else "failed"


def _check(*, record: TaskRecord, version: ModelVersion, reference: str) -> dict:
    try:
        reader = folder_reader_for_task(
            owner=record.created_by, project=version.model.project, path=version.weights_path
        )
    except StorageRefused as refusal:
        # The folder went away or the authorization was withdrawn since the version was created.
        logger.warning("%s: storage refused: %s", reference, refusal.message)
        return _unknown_report([refusal.message], reference)
    try:
        return check_folder(reader, version.base_version.template_dir).to_dict()
    except Exception:  # check_folder promises not to raise; a bug must still end the record
        logger.exception("%s: the check raised", reference)
        return _unknown_report([f"log reference {reference}"], reference)


def weight_validation_gave_up(*, record_id: int) -> None:
    """The sweep failed a record after too many lost attempts: fail its version with that reason."""
    record = TaskRecord.objects.filter(pk=record_id, kind=TaskKind.WEIGHT_VALIDATION).first()
    if record is None:
        return
    reference = f"weightcheck record={record.pk} attempt={record.attempts}"
    report = _unknown_report([record.failure_reason], reference)
    with transaction.atomic():
        TaskRecord.objects.filter(pk=record.pk, state=WorkState.FAILED).update(report=report, log_reference=reference)
        ModelVersion.objects.filter(pk=record.version_id, status=ModelStatus.CREATING).update(
            status=ModelStatus.FAILED, status_reason=report["message"], updated_at=timezone.now()
        )
