"""Seed 表3 (新增模型版本): numbering, the 10-version limit, deleting versions, task records."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from console.audit.models import AuditEntry
from console.core.models import WorkState
from console.core.work import sweep_stale_work
from console.mymodels.models import ModelStatus, MyModel
from console.versions.models import ModelVersion, TaskKind, TaskRecord
from console.versions.services import (
    DeleteBlocked,
    task_record_create_for_inference,
    task_record_create_for_training,
    task_record_delete,
    task_record_finish,
    version_create,
    version_delete,
    weight_validation_rerun,
)
from tests.mymodels.fixtures import add_versions


def numbers(model):
    return list(ModelVersion.objects.filter(model=model).order_by("number").values_list("number", flat=True))


def test_numbers_are_assigned_in_order_and_never_reused(make_model, member, weights_folder):
    model = make_model()
    v2, v3 = add_versions(model, 2, actor=member, path=weights_folder)
    assert numbers(model) == [1, 2, 3]
    version_delete(actor=member, version=v3, confirm="DELETE")
    (v4,) = add_versions(model, 1, actor=member, path=weights_folder)
    assert v4.label == "V4" and numbers(model) == [1, 2, 4]
    assert MyModel.objects.get(pk=model.pk).version_counter == 4
    assert AuditEntry.objects.filter(action="version.delete").count() == 1


def test_the_eleventh_version_is_refused_failed_ones_included(make_model, member, weights_folder):
    model = make_model()
    add_versions(model, 9, actor=member, path=weights_folder)
    ModelVersion.objects.filter(model=model, number__in=[2, 3]).update(status=ModelStatus.FAILED)
    with pytest.raises(ValidationError) as excinfo:
        add_versions(model, 1, actor=member, path=weights_folder)
    assert "at most 10 versions" in excinfo.value.messages[0]
    assert ModelVersion.objects.filter(model=model).count() == 10
    assert MyModel.objects.get(pk=model.pk).version_counter == 10


def test_deleting_a_version_frees_a_slot(make_model, member, weights_folder):
    model = make_model()
    versions = add_versions(model, 9, actor=member, path=weights_folder)
    version_delete(actor=member, version=versions[0], confirm="DELETE")
    (new,) = add_versions(model, 1, actor=member, path=weights_folder)
    assert new.number == 11 and ModelVersion.objects.filter(model=model).count() == 10


def test_the_last_version_goes_only_with_its_model(make_model, member):
    model = make_model()
    with pytest.raises(ValidationError) as excinfo:
        version_delete(actor=member, version=model.versions.get(), confirm="DELETE")
    assert "last version" in excinfo.value.message_dict["confirm"][0]
    assert ModelVersion.objects.filter(model=model).count() == 1


def test_version_delete_needs_exactly_DELETE(make_model, member, weights_folder):
    model = make_model()
    (v2,) = add_versions(model, 1, actor=member, path=weights_folder)
    with pytest.raises(ValidationError) as excinfo:
        version_delete(actor=member, version=v2, confirm="delete")
    assert excinfo.value.message_dict == {"confirm": ["Type DELETE (in capitals) to confirm."]}
    assert ModelVersion.objects.filter(pk=v2.pk).exists()


def test_version_delete_is_blocked_by_its_own_task_records_only(make_model, member, weights_folder):
    model = make_model()
    v2, v3 = add_versions(model, 2, actor=member, path=weights_folder)
    record = task_record_create_for_inference(version=v2, job_name="svc-1", actor=member)
    with pytest.raises(DeleteBlocked) as excinfo:
        version_delete(actor=member, version=v2, confirm="DELETE")
    assert excinfo.value.records == [record]
    version_delete(actor=member, version=v3, confirm="DELETE")  # V3 is free


def test_version_description_and_validation_rules(make_model, member, weights_folder, qwen25_72b):
    model = make_model()
    with pytest.raises(ValidationError) as excinfo:
        version_create(actor=member, model=model, description="x" * 101, base_version=model.base_version,
                       weights_path=weights_folder)  # fmt: skip
    assert "at most 100" in excinfo.value.message_dict["description"][0]
    with pytest.raises(ValidationError) as excinfo:
        version_create(actor=member, model=model, base_version=qwen25_72b, weights_path=weights_folder)
    assert "validate_weights" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        version_create(actor=member, model=model, base_version=model.base_version, weights_path="obs://nope/x/")
    assert "weights_path" in excinfo.value.message_dict
    assert numbers(model) == [1]


def test_a_version_with_validation_gets_a_pending_record(
    make_model, member, weights_folder, django_capture_on_commit_callbacks
):
    model = make_model()
    with django_capture_on_commit_callbacks() as callbacks:
        (v2,) = add_versions(model, 1, actor=member, path=weights_folder, validate_weights=True)
    assert v2.status == ModelStatus.CREATING
    assert v2.task_records.get().state == WorkState.PENDING
    assert len(callbacks) == 1


# --- re-running a failed check -----------------------------------------------------------


def failed_check(version):
    ModelVersion.objects.filter(pk=version.pk).update(status=ModelStatus.FAILED, status_reason="x")
    TaskRecord.objects.filter(version=version).update(state=WorkState.FAILED, finished_at=timezone.now())


def test_a_failed_check_can_run_again_and_keeps_history(make_model, member):
    model = make_model(validate_weights=True)
    v1 = model.versions.get()
    failed_check(v1)
    record = weight_validation_rerun(actor=member, version=v1)
    v1.refresh_from_db()
    assert v1.status == ModelStatus.CREATING and v1.status_reason == ""
    assert record.state == WorkState.PENDING
    assert list(v1.task_records.order_by("pk").values_list("state", flat=True)) == [WorkState.FAILED, WorkState.PENDING]


def test_only_failed_versions_are_checked_again(make_model, member):
    model = make_model(validate_weights=True)
    with pytest.raises(ValidationError, match="Only a version whose check failed"):
        weight_validation_rerun(actor=member, version=model.versions.get())
    unchecked = make_model(name="unchecked", validate_weights=False)
    with pytest.raises(ValidationError, match="without weight validation"):
        weight_validation_rerun(actor=member, version=unchecked.versions.get())


# --- task records of other apps --------------------------------------------------------------


def test_training_records_are_finished_once(make_model, member):
    version = make_model().versions.get()
    record = task_record_create_for_training(version=version, job_name="sft", job_url="/j/1/", actor=member)
    assert (record.kind, record.state, record.link_url) == (TaskKind.TRAINING, WorkState.RUNNING, "/j/1/")
    assert task_record_finish(record=record, succeeded=False, reason="OOM") is True
    assert task_record_finish(record=record, succeeded=True) is False
    record.refresh_from_db()
    assert (record.state, record.failure_reason) == (WorkState.FAILED, "OOM")


def test_the_sweep_never_touches_training_records(make_model, member, settings):
    version = make_model().versions.get()
    record = task_record_create_for_training(version=version, job_name="sft", actor=member)
    TaskRecord.objects.filter(pk=record.pk).update(started_at=timezone.now() - timedelta(hours=5))
    assert sweep_stale_work() == {"requeued": 0, "failed": 0}
    record.refresh_from_db()
    assert record.state == WorkState.RUNNING


def test_unfinished_records_cannot_be_deleted(make_model, member):
    version = make_model().versions.get()
    record = task_record_create_for_training(version=version, job_name="sft", actor=member)
    with pytest.raises(ValidationError, match="only after its task has finished"):
        task_record_delete(actor=member, record=record)
    task_record_finish(record=record, succeeded=True)
    task_record_delete(actor=member, record=record)
    assert not TaskRecord.objects.exists()
    assert AuditEntry.objects.filter(action="taskrecord.delete").exists()


def test_records_cannot_be_added_to_a_deleted_version(make_model, member, weights_folder):
    model = make_model()
    (v2,) = add_versions(model, 1, actor=member, path=weights_folder)
    version_delete(actor=member, version=v2, confirm="DELETE")
    with pytest.raises(ValidationError):
        task_record_create_for_training(version=v2, job_name="late", actor=member)


def test_versions_usable_lists_created_versions_of_the_project(make_model, member, project, weights_folder):
    from console.versions.selectors import versions_usable

    model = make_model()
    (v2,) = add_versions(model, 1, actor=member, path=weights_folder, validate_weights=True)
    assert list(versions_usable(project=project)) == [model.versions.get(number=1)]
