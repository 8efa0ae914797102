"""Version pages: add (表3), detail with 任务记录, live status polling, failure on hover, deletes."""

import pytest
from django.urls import reverse

from console.core.models import WorkState
from console.mymodels.models import ModelStatus
from console.versions.models import ModelVersion, TaskKind, TaskRecord
from console.versions.services import task_record_create_for_training, task_record_finish
from tests.mymodels.fixtures import add_versions

HX = {"HTTP_HX_REQUEST": "true"}
DO_SAMPLE = (
    "The value of do_sample is not set to true in generation_config.json, which is inconsistent with the "
    "configured sampling parameters such as temperature, top_p, top_k etc."
)


def vurl(name, model, **kwargs):
    return reverse(f"versions:{name}", kwargs={"project_id": model.project.project_id, "model_id": model.pk, **kwargs})


def test_add_version_page_full_and_partial(client_for, member, make_model):
    model = make_model()
    client = client_for(member)
    full = client.get(vurl("version_create", model)).content.decode()
    assert "<html" in full and 'value="V2"' in full and "新增版本" in full
    assert "Qwen2.5-72B" in full and "Yi-6B" not in full  # the model's series only
    partial = client.get(vurl("version_create", model), **HX).content.decode()
    assert "<html" not in partial and 'id="version-form"' in partial


def test_add_version_creates_the_next_number(client_for, member, make_model, weights_folder):
    model = make_model()
    data = {"description": "second", "base_version": model.base_version_id, "weights_path": weights_folder}
    response = client_for(member).post(vurl("version_create", model), data)
    assert response.status_code == 302
    v2 = ModelVersion.objects.get(model=model, number=2)
    # The checkbox was not sent: validation off → created directly.
    assert (v2.description, v2.status, v2.validate_weights) == ("second", ModelStatus.CREATED, False)


def test_the_eleventh_version_is_refused_on_the_form(client_for, member, make_model, weights_folder):
    model = make_model()
    add_versions(model, 9, actor=member, path=weights_folder)
    client = client_for(member)
    page = client.get(vurl("version_create", model)).content.decode()
    assert "at most 10" in page and 'value="V11"' in page
    data = {"base_version": model.base_version_id, "weights_path": weights_folder}
    body = client.post(vurl("version_create", model), data, **HX).content.decode()
    assert "at most 10 versions" in body
    assert ModelVersion.objects.filter(model=model).count() == 10


def test_a_101_character_description_is_refused(client_for, member, make_model, weights_folder):
    model = make_model()
    data = {"description": "x" * 101, "base_version": model.base_version_id, "weights_path": weights_folder}
    body = client_for(member).post(vurl("version_create", model), data, **HX).content.decode()
    assert "at most 100" in body and ModelVersion.objects.filter(model=model).count() == 1


def test_viewer_cannot_add_versions(client_for, viewer, make_model, weights_folder):
    model = make_model()
    data = {"base_version": model.base_version_id, "weights_path": weights_folder}
    assert client_for(viewer).post(vurl("version_create", model), data).status_code == 403
    assert ModelVersion.objects.filter(model=model).count() == 1


def test_version_detail_full_and_partial(client_for, member, make_model):
    model = make_model(validate_weights=False)
    client = client_for(member)
    full = client.get(vurl("version_detail", model, number=1)).content.decode()
    assert "<html" in full and "任务记录" in full and "data-unchecked-warning" in full
    partial = client.get(vurl("version_detail", model, number=1), **HX)
    assert partial.status_code == 286  # terminal: stop polling
    assert partial.content.decode().strip().startswith('<section id="version-live"')


def test_a_creating_version_polls_until_it_is_done(client_for, member, make_model):
    model = make_model(validate_weights=True)
    client = client_for(member)
    full = client.get(vurl("version_detail", model, number=1)).content.decode()
    assert 'hx-trigger="load delay:500ms, every 2s"' in full
    assert client.get(vurl("version_detail", model, number=1), **HX).status_code == 200
    assert client.get(vurl("version_row", model, number=1), **HX).status_code == 200
    ModelVersion.objects.filter(model=model).update(status=ModelStatus.CREATED)
    TaskRecord.objects.update(state=WorkState.SUCCEEDED)
    done = client.get(vurl("version_detail", model, number=1), **HX)
    assert done.status_code == 286 and "hx-trigger" not in done.content.decode()
    row = client.get(vurl("version_row", model, number=1), **HX)
    assert row.status_code == 286 and "创建成功" in row.content.decode()


def fail_with_do_sample(version):
    from console.weightcheck import CheckReport

    report = CheckReport()
    report.fail("do_sample", ["generation_config.json: do_sample is false, temperature 0.7"])
    TaskRecord.objects.filter(version=version).update(
        state=WorkState.FAILED, report=report.to_dict(), failure_reason=report.message
    )
    ModelVersion.objects.filter(pk=version.pk).update(status=ModelStatus.FAILED, status_reason=report.message)


def test_a_failed_status_shows_the_seed_message_on_hover_and_on_tap(client_for, member, make_model):
    model = make_model(validate_weights=True)
    fail_with_do_sample(model.versions.get())
    client = client_for(member)
    for page in (
        client.get(vurl("version_detail", model, number=1)).content.decode(),
        client.get(
            reverse("mymodels:model_detail", kwargs={"project_id": model.project.project_id, "model_id": model.pk})
        ).content.decode(),
    ):
        assert f'title="{DO_SAMPLE}' in page  # hover
        assert "<details" in page and f"data-failure-message>{DO_SAMPLE}<" in page  # tap / focus
        assert "将“generation_config.json”文件中的“do_sample”的值设置为“true”。" in page
    assert "Check again" in client.get(vurl("version_detail", model, number=1)).content.decode()


def test_the_record_page_shows_the_full_report(client_for, member, make_model):
    model = make_model(validate_weights=True)
    version = model.versions.get()
    fail_with_do_sample(version)
    record = version.task_records.get()
    TaskRecord.objects.filter(pk=record.pk).update(
        report={**TaskRecord.objects.get(pk=record.pk).report, "custom_code_present": True,
                "steps": [{"name": "user_config", "status": "passed", "ok": True, "seconds": 0.01},
                          {"name": "generation_config", "status": "failed", "ok": False}]}
    )  # fmt: skip
    client = client_for(member)
    full = client.get(vurl("record_detail", model, number=1, record_id=record.pk)).content.decode()
    for text in [DO_SAMPLE, "generation_config", "user_config", "data-custom-code", "do_sample is false"]:
        assert text in full
    partial = client.get(vurl("record_detail", model, number=1, record_id=record.pk), **HX)
    assert partial.status_code == 286 and "<html" not in partial.content.decode()


def test_check_again_from_the_page(client_for, member, make_model):
    model = make_model(validate_weights=True)
    fail_with_do_sample(model.versions.get())
    response = client_for(member).post(vurl("version_revalidate", model, number=1))
    assert response.status_code == 302
    assert ModelVersion.objects.get(model=model).status == ModelStatus.CREATING
    assert TaskRecord.objects.filter(state=WorkState.PENDING).count() == 1


def test_delete_a_finished_record_from_the_version_page(client_for, member, make_model):
    model = make_model()
    record = task_record_create_for_training(
        version=model.versions.get(), job_name="sft-3", job_url="/jobs/3/", actor=member
    )
    client = client_for(member)
    page = client.get(vurl("version_detail", model, number=1)).content.decode()
    assert "sft-3" in page and 'href="/jobs/3/"' in page
    delete_url = vurl("record_delete", model, number=1, record_id=record.pk)
    assert delete_url not in page  # still running: no delete button
    client.post(delete_url)
    assert TaskRecord.objects.filter(pk=record.pk).exists()
    task_record_finish(record=record, succeeded=True)
    assert delete_url in client.get(vurl("version_detail", model, number=1)).content.decode()
    client.post(delete_url)
    assert not TaskRecord.objects.filter(pk=record.pk).exists()


def test_version_delete_wrong_word_then_DELETE(client_for, member, make_model, weights_folder):
    model = make_model()
    add_versions(model, 1, actor=member, path=weights_folder)
    client = client_for(member)
    body = client.post(vurl("version_delete", model, number=2), {"confirm": "delete"}, **HX).content.decode()
    assert (
        body.strip().startswith('<div id="version-delete-dialog-body"')
        and "Type DELETE (in capitals) to confirm." in body
    )
    assert ModelVersion.objects.filter(model=model, number=2).exists()
    response = client.post(vurl("version_delete", model, number=2), {"confirm": "DELETE"})
    assert response.status_code == 302 and not ModelVersion.objects.filter(model=model, number=2).exists()


def test_the_last_version_has_no_delete_button(client_for, member, make_model):
    model = make_model()
    page = client_for(member).get(vurl("version_detail", model, number=1)).content.decode()
    assert "version-delete-dialog" not in page


@pytest.mark.parametrize("name, method, kwargs", [
    ("version_delete", "post", {"number": 1}), ("version_revalidate", "post", {"number": 1}),
    ("version_create", "post", {}),
])  # fmt: skip
def test_viewers_get_403_on_writes(client_for, viewer, make_model, name, method, kwargs):
    model = make_model()
    response = getattr(client_for(viewer), method)(vurl(name, model, **kwargs), {"confirm": "DELETE"})
    assert response.status_code == 403


def test_other_projects_versions_are_404(client_for, member, make_model, other_project, make_member, other_bucket):
    from tests.mymodels.fixtures import make_folder

    outsider = make_member(other_project, "otto")
    theirs = make_model(name="theirs", actor=outsider, project=other_project, path=make_folder(other_bucket, "w"))
    client = client_for(member)
    own_project_id = member.memberships.get().project.project_id
    for name in ("version_detail", "version_row"):
        assert (
            client.get(
                reverse(f"versions:{name}", kwargs={"project_id": own_project_id, "model_id": theirs.pk, "number": 1})
            ).status_code
            == 404
        )
        assert client.get(vurl(name, theirs, number=1)).status_code == 404
    record = TaskRecord.objects.create(version=theirs.versions.get(), kind=TaskKind.WEIGHT_VALIDATION)
    assert client.get(vurl("record_detail", theirs, number=1, record_id=record.pk)).status_code == 404


def test_a_base_model_of_another_series_is_refused(client_for, member, make_model, weights_folder, catalog):
    from console.mymodels.models import BaseModelVersion

    model = make_model()
    yi = BaseModelVersion.objects.get(slug="yi-6b")
    data = {"base_version": yi.pk, "weights_path": weights_folder}
    body = client_for(member).post(vurl("version_create", model), data, **HX).content.decode()
    assert "Select a base model version from the catalog" in body
    assert ModelVersion.objects.filter(model=model).count() == 1


# --- issue 15 §6.1: every record blocks delete; finished ones are deleted from the version page ---


@pytest.mark.parametrize("state", [WorkState.SUCCEEDED, WorkState.FAILED])
def test_a_finished_check_blocks_delete_and_is_deleted_from_the_version_page(client_for, member, make_model, state):
    from console.audit.models import AuditEntry

    model = make_model()
    check = TaskRecord.objects.create(version=model.versions.get(), kind=TaskKind.WEIGHT_VALIDATION, state=state)
    client = client_for(member)
    refusal = client.post(
        reverse("mymodels:model_delete", kwargs={"project_id": model.project.project_id, "model_id": model.pk}),
        {"confirm": "DELETE"},
    ).content.decode()
    record_url = vurl("record_detail", model, number=1, record_id=check.pk)
    assert "data-blockers" in refusal and record_url in refusal
    page = client.get(vurl("version_detail", model, number=1)).content.decode()
    delete_url = vurl("record_delete", model, number=1, record_id=check.pk)
    assert delete_url in page and "data-confirm=" in page
    client.post(delete_url)
    assert not TaskRecord.objects.filter(pk=check.pk).exists()
    assert AuditEntry.objects.filter(action="taskrecord.delete", actor=member).exists()
    assert (
        client.post(
            reverse("mymodels:model_delete", kwargs={"project_id": model.project.project_id, "model_id": model.pk}),
            {"confirm": "DELETE"},
        ).status_code
        == 302
    )


@pytest.mark.parametrize("state", [WorkState.PENDING, WorkState.RUNNING])
def test_a_live_check_record_cannot_be_deleted(client_for, member, make_model, state):
    model = make_model()
    check = TaskRecord.objects.create(version=model.versions.get(), kind=TaskKind.WEIGHT_VALIDATION, state=state)
    client = client_for(member)
    delete_url = vurl("record_delete", model, number=1, record_id=check.pk)
    assert delete_url not in client.get(vurl("version_detail", model, number=1)).content.decode()
    client.post(delete_url)
    assert TaskRecord.objects.filter(pk=check.pk).exists()


def test_record_delete_is_scoped_to_the_project_and_needs_a_member(
    client_for, member, viewer, make_model, other_project, make_member
):
    model = make_model()
    check = TaskRecord.objects.create(version=model.versions.get(), kind=TaskKind.WEIGHT_VALIDATION,
                                      state=WorkState.SUCCEEDED)  # fmt: skip
    delete_url = vurl("record_delete", model, number=1, record_id=check.pk)
    assert client_for(viewer).post(delete_url).status_code == 403
    outsider = make_member(other_project, "outsider")
    foreign = reverse("versions:record_delete", kwargs={"project_id": other_project.project_id, "model_id": model.pk,
                                                        "number": 1, "record_id": check.pk})  # fmt: skip
    assert client_for(outsider).post(foreign).status_code == 404
    assert TaskRecord.objects.filter(pk=check.pk).exists()


def test_training_records_show_no_attempts(client_for, member, make_model):
    model = make_model()
    record = task_record_create_for_training(version=model.versions.get(), job_name="sft-9", actor=member)
    client = client_for(member)
    page = client.get(vurl("version_detail", model, number=1)).content.decode()
    row = page.split(f'id="record-{record.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "<td>0</td>" not in row
    detail = client.get(vurl("record_detail", model, number=1, record_id=record.pk)).content.decode()
    assert "Attempts" not in detail


def test_add_version_is_disabled_at_the_limit_with_the_reason(client_for, member, make_model, weights_folder):
    model = make_model()
    add_versions(model, 9, actor=member, path=weights_folder)
    body = (
        client_for(member)
        .get(reverse("mymodels:model_detail", kwargs={"project_id": model.project.project_id, "model_id": model.pk}))
        .content.decode()
    )
    button = body.split('id="add-version"', 1)[1].split(">", 1)[0]
    assert "disabled" in button
    assert vurl("version_create", model) not in body
    assert "a model can have at most 10" in body
