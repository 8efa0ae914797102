"""Rules of seed 表1 (创建模型) and 删除我的模型, at the service level."""

import pytest
from django.core.exceptions import ValidationError

from console.audit.models import AuditEntry
from console.core.models import WorkState
from console.mymodels.models import ModelStatus, MyModel
from console.mymodels.selectors import model_list
from console.mymodels.services import model_name_errors
from console.versions.models import ModelVersion, TaskKind, TaskRecord
from console.versions.services import (
    DeleteBlocked,
    model_create,
    model_delete,
    task_record_create_for_training,
    task_record_finish,
)
from tests.mymodels.fixtures import make_folder


def errors_of(excinfo):
    return excinfo.value.message_dict


@pytest.mark.parametrize("name", ["a", "Qwen2.5-7B_ft-v1", "模型一号", "我的model_1.0", "Z" * 64, "中" * 64])
def test_good_names_pass(name):
    assert model_name_errors(name) == []


@pytest.mark.parametrize(
    "name, rule",
    [
        ("", "1–64"),
        ("a" * 65, "at most 64"),
        ("_model", "start with a Chinese character or a letter"),
        ("1model", "start with a Chinese character or a letter"),
        ("-model", "start with a Chinese character or a letter"),
        (".model", "start with a Chinese character or a letter"),
        ("my model", "“ ”"),
        ("my/model", "“/”"),
        ("model!", "“!”"),
        ("模型😀", "“😀”"),
    ],
)
def test_bad_names_name_the_rule(name, rule):
    assert any(rule in error for error in model_name_errors(name))


def test_it_creates_a_model_and_its_v1_with_validation_on(
    member, project, qwen25_7b, weights_folder, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        model = model_create(
            actor=member, project=project, name="qwen-ft", description="fine-tuned",
            base_version=qwen25_7b, weights_path=weights_folder,
        )  # fmt: skip
    v1 = model.versions.get()
    assert (v1.number, v1.status, v1.weights_path, v1.validate_weights) == (
        1,
        ModelStatus.CREATING,
        weights_folder,
        True,
    )
    record = v1.task_records.get()
    assert (record.kind, record.state, record.created_by) == (TaskKind.WEIGHT_VALIDATION, WorkState.PENDING, member)
    assert len(callbacks) == 1  # the task is sent only once the transaction commits
    assert MyModel.objects.get(pk=model.pk).version_counter == 1
    assert AuditEntry.objects.filter(action="model.create", object_id=str(model.pk)).exists()
    assert model_list(project=project).get().status == ModelStatus.CREATING


def test_validation_off_creates_the_version_directly(make_model):
    model = make_model(validate_weights=False)
    v1 = model.versions.get()
    assert v1.status == ModelStatus.CREATED
    assert not TaskRecord.objects.exists()


def test_validation_on_is_refused_where_not_supported(member, project, qwen25_72b, weights_folder):
    with pytest.raises(ValidationError) as excinfo:
        model_create(actor=member, project=project, name="big", base_version=qwen25_72b,
                     weights_path=weights_folder, validate_weights=True)  # fmt: skip
    assert "部分模型暂不支持权重校验" in errors_of(excinfo)["validate_weights"][0]
    assert not MyModel.objects.exists()
    model = model_create(actor=member, project=project, name="big", base_version=qwen25_72b,
                         weights_path=weights_folder, validate_weights=False)  # fmt: skip
    assert model.versions.get().status == ModelStatus.CREATED


@pytest.mark.parametrize(
    "field, kwargs, message",
    [
        ("name", {"name": "a" * 65}, "at most 64"),
        ("name", {"name": "_lead"}, "start with a Chinese character or a letter"),
        ("description", {"description": "d" * 101}, "at most 100"),
    ],
)
def test_bad_input_writes_nothing(member, project, qwen25_7b, weights_folder, field, kwargs, message):
    arguments = {"name": "ok", "base_version": qwen25_7b, "weights_path": weights_folder, **kwargs}
    with pytest.raises(ValidationError) as excinfo:
        model_create(actor=member, project=project, **arguments)
    assert message in " ".join(errors_of(excinfo)[field])
    assert not MyModel.objects.exists() and not ModelVersion.objects.exists()


def test_a_description_of_100_characters_is_fine(make_model):
    assert make_model(description="d" * 100).description == "d" * 100


def test_names_are_unique_in_a_project_only(make_model, other_project, make_member, other_bucket):
    make_model(name="same")
    with pytest.raises(ValidationError) as excinfo:
        make_model(name="same")
    assert "already exists" in errors_of(excinfo)["name"][0]
    outsider = make_member(other_project, "otto")
    folder = make_folder(other_bucket, "w")
    assert make_model(name="same", actor=outsider, project=other_project, path=folder).name == "same"


def test_a_file_is_refused_as_weights_path(make_model, bucket):
    make_folder(bucket, "models/x", {"config.json": "{}"})
    with pytest.raises(ValidationError) as excinfo:
        make_model(path=f"obs://{bucket.name}/models/x/config.json")
    assert "必须选择到模型文件夹" in errors_of(excinfo)["weights_path"][0]
    assert not MyModel.objects.exists()


@pytest.mark.parametrize(
    "path", ["obs://{b}/models/../../etc/", "obs://{b}/a/%2e%2e/b/", "/{b}/a//b/", "relative/path/"]
)
def test_paths_that_leave_the_bucket_are_refused(make_model, bucket, path):
    with pytest.raises(ValidationError) as excinfo:
        make_model(path=path.format(b=bucket.name))
    assert errors_of(excinfo)["weights_path"]
    assert not MyModel.objects.exists()


def test_another_projects_bucket_is_refused(make_model, other_bucket):
    folder = make_folder(other_bucket, "theirs")
    with pytest.raises(ValidationError) as excinfo:
        make_model(path=folder)
    assert other_bucket.name in errors_of(excinfo)["weights_path"][0]


def test_a_missing_folder_is_refused(make_model, bucket):
    with pytest.raises(ValidationError) as excinfo:
        make_model(path=f"obs://{bucket.name}/nothing/here/")
    assert "does not exist" in errors_of(excinfo)["weights_path"][0]


def test_without_authorization_the_gate_refuses(make_model, project):
    from console.authorizations.models import Authorization

    Authorization.objects.filter(project=project).delete()
    with pytest.raises(ValidationError) as excinfo:
        make_model()
    assert "authorization" in errors_of(excinfo)["weights_path"][0]


# --- delete ---------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["delete", "Delete", "DELETE ", " DELETE", "", "DELET"])
def test_delete_needs_exactly_DELETE(make_model, member, word):
    model = make_model()
    with pytest.raises(ValidationError) as excinfo:
        model_delete(actor=member, model=model, confirm=word)
    assert errors_of(excinfo)["confirm"] == ["Type DELETE (in capitals) to confirm."]
    assert MyModel.objects.filter(pk=model.pk).exists()
    assert not AuditEntry.objects.filter(action="model.delete").exists()


def test_a_finished_weight_check_record_blocks_delete_until_it_is_deleted(make_model, member, bucket):
    # Seed 删除我的模型: 当模型存在任务记录会删除失败 — any record, a finished check included.
    from console.versions.services import task_record_delete

    model = make_model(validate_weights=False)
    record = TaskRecord.objects.create(version=model.versions.get(), kind=TaskKind.WEIGHT_VALIDATION,
                                       state=WorkState.FAILED, created_by=member)  # fmt: skip
    with pytest.raises(DeleteBlocked) as excinfo:
        model_delete(actor=member, model=model, confirm="DELETE")
    assert excinfo.value.records == [record]
    assert MyModel.objects.filter(pk=model.pk).exists()
    task_record_delete(actor=member, record=record)
    model_delete(actor=member, model=model, confirm="DELETE")
    assert not MyModel.objects.exists()


def test_delete_removes_versions_but_not_files(make_model, member, weights_folder, bucket):
    model = make_model(validate_weights=False)
    model_delete(actor=member, model=model, confirm="DELETE")
    assert not MyModel.objects.exists() and not ModelVersion.objects.exists() and not TaskRecord.objects.exists()
    entry = AuditEntry.objects.get(action="model.delete")
    assert entry.before["name"] == "my-model" and entry.before["versions"][0]["number"] == "V1"
    assert (bucket.local_path() / "models" / "qwen" / "config.json").exists()


def test_a_training_record_blocks_delete_until_it_is_deleted(make_model, member):
    from console.versions.services import task_record_delete

    model = make_model()
    record = task_record_create_for_training(
        version=model.versions.get(), job_name="sft-1", job_url="/jobs/1/", actor=member
    )
    with pytest.raises(DeleteBlocked) as excinfo:
        model_delete(actor=member, model=model, confirm="DELETE")
    assert excinfo.value.records == [record]
    assert MyModel.objects.filter(pk=model.pk).exists()
    # Finished, it still blocks (the seed: delete the tasks first) — until the user deletes it.
    assert task_record_finish(record=record, succeeded=True)
    with pytest.raises(DeleteBlocked):
        model_delete(actor=member, model=model, confirm="DELETE")
    task_record_delete(actor=member, record=record)
    model_delete(actor=member, model=model, confirm="DELETE")
    assert not MyModel.objects.exists()


@pytest.mark.parametrize("state", [WorkState.PENDING, WorkState.RUNNING])
def test_a_running_check_blocks_delete(make_model, member, state):
    model = make_model()
    TaskRecord.objects.create(version=model.versions.get(), kind=TaskKind.WEIGHT_VALIDATION, state=state)
    with pytest.raises(DeleteBlocked) as excinfo:
        model_delete(actor=member, model=model, confirm="DELETE")
    assert len(excinfo.value.records) == 1
    assert MyModel.objects.filter(pk=model.pk).exists()


def test_deleting_twice_says_it_is_gone(make_model, member):
    model = make_model()
    model_delete(actor=member, model=model, confirm="DELETE")
    with pytest.raises(ValidationError) as excinfo:
        model_delete(actor=member, model=model, confirm="DELETE")
    assert "already deleted" in errors_of(excinfo)["confirm"][0]


def test_model_status_is_derived_from_versions(make_model, member, weights_folder):
    from tests.mymodels.fixtures import add_versions

    model = make_model()
    v1 = model.versions.get()
    (v2,) = add_versions(model, 1, actor=member, path=weights_folder)

    def status():
        return model_list(project=model.project).get(pk=model.pk).status

    ModelVersion.objects.filter(pk=v1.pk).update(status=ModelStatus.FAILED)
    assert status() == ModelStatus.CREATED  # V2 is usable
    ModelVersion.objects.filter(pk=v2.pk).update(status=ModelStatus.CREATING)
    assert status() == ModelStatus.CREATING
    ModelVersion.objects.filter(pk=v2.pk).update(status=ModelStatus.FAILED)
    assert status() == ModelStatus.FAILED
