"""My Models pages: list, create, base-model info, detail, delete — full page and HTMX partial."""

import re

import pytest
from django.urls import reverse

from console.audit.models import AuditEntry
from console.core.models import WorkState
from console.mymodels.models import ModelStatus, MyModel
from console.versions.models import ModelVersion, TaskKind, TaskRecord
from console.versions.services import task_record_create_for_training
from tests.mymodels.fixtures import make_folder

HX = {"HTTP_HX_REQUEST": "true"}


def url(name, project, **kwargs):
    return reverse(f"mymodels:{name}", kwargs={"project_id": project.project_id, **kwargs})


# --- list ------------------------------------------------------------------------------------


def test_empty_list_leads_to_create(client_for, member, project, catalog):
    body = client_for(member).get(url("model_list", project)).content.decode()
    assert "No models yet" in body and url("model_create", project) in body


def test_viewers_see_the_list_without_a_create_button(client_for, viewer, project, make_model):
    make_model(name="visible")
    body = client_for(viewer).get(url("model_list", project)).content.decode()
    assert "visible" in body and url("model_create", project) not in body


def test_list_shows_the_columns(client_for, member, project, make_model):
    make_model(name="alpha", description="first")
    body = client_for(member).get(url("model_list", project)).content.decode()
    for text in ["alpha", "Qwen2.5-7B", "创建成功", "Created", "mia"]:
        assert text in body


def test_list_partial_is_only_the_table(client_for, member, project, make_model):
    make_model(name="alpha")
    response = client_for(member).get(url("model_list", project), **HX)
    body = response.content.decode()
    assert "<html" not in body and body.strip().startswith('<div id="model-table">')
    assert "HX-Request" in response["Vary"]


def test_search_and_filters(client_for, member, project, make_model, catalog, weights_folder):
    from console.mymodels.models import BaseModelVersion

    make_model(name="alpha")
    make_model(name="beta", validate_weights=True)
    make_model(name="gamma", base_version=BaseModelVersion.objects.get(slug="yi-6b"))
    client = client_for(member)

    def names(**params):
        body = client.get(url("model_list", project), params, **HX).content.decode()
        return {n for n in ("alpha", "beta", "gamma") if f">{n}</a>" in body}

    assert names() == {"alpha", "beta", "gamma"}
    assert names(q="ALP") == {"alpha"}
    assert names(status="creating") == {"beta"}
    assert names(status="created") == {"alpha", "gamma"}
    assert names(series="yi") == {"gamma"}
    assert names(series="qwen2-5", status="created") == {"alpha"}
    assert "No model matches" in client.get(url("model_list", project), {"q": "zzz"}, **HX).content.decode()


def test_list_paginates_on_the_server(client_for, member, project, make_model):
    for i in range(23):
        make_model(name=f"m{i:02d}")
    client = client_for(member)
    first = client.get(url("model_list", project), **HX).content.decode()
    second = client.get(url("model_list", project), {"page": 2}, **HX).content.decode()
    assert first.count('<tr id="model-') == 20 and second.count('<tr id="model-') == 3
    assert "Page 2 of 2" in second


@pytest.mark.parametrize("rows", [10, 200])
def test_list_query_count_does_not_grow(
    client_for, member, project, qwen25_7b, weights_folder, rows, django_assert_max_num_queries
):
    from console.mymodels.models import MyModel
    from console.versions.models import ModelVersion

    models = MyModel.objects.bulk_create(
        MyModel(project=project, name=f"bulk{i}", base_version=qwen25_7b, created_by=member, version_counter=2)
        for i in range(rows)
    )
    ModelVersion.objects.bulk_create(
        ModelVersion(model=m, number=n, base_version=qwen25_7b, weights_path=weights_folder, status=status)
        for m in models
        for n, status in ((1, ModelStatus.FAILED), (2, ModelStatus.CREATED))
    )
    client = client_for(member)
    with django_assert_max_num_queries(12) as captured:
        response = client.get(url("model_list", project))
    assert response.status_code == 200 and response.content.decode().count('<tr id="model-') == min(rows, 20)
    print(f"model list with {rows} models: {len(captured)} queries")


# --- create ---------------------------------------------------------------------------------


def test_create_page_full_and_partial(client_for, member, project, catalog):
    client = client_for(member)
    full = client.get(url("model_create", project)).content.decode()
    assert "<html" in full and 'id="base-model-dialog"' in full and "通义千问2.5" in full
    partial = client.get(url("model_create", project), **HX).content.decode()
    assert "<html" not in partial and 'id="model-form"' in partial


def test_create_page_preselects_from_the_catalog(client_for, member, project, qwen25_7b):
    body = client_for(member).get(url("model_create", project), {"base_version": qwen25_7b.pk}).content.decode()
    assert "data-chosen-base-model>Qwen2.5-7B<" in body


def form_data(chosen, path, **extra):
    data = {"base_version": chosen.pk, "name": "qwen-ft", "description": "", "weight_setting": "custom",
            "weights_path": path, "validate_weights": "on"}  # fmt: skip
    data.update(extra)
    return {k: v for k, v in data.items() if v is not None}


def test_create_redirects_to_the_new_model(client_for, member, project, qwen25_7b, weights_folder):
    response = client_for(member).post(url("model_create", project), form_data(qwen25_7b, weights_folder))
    model = MyModel.objects.get()
    assert response.status_code == 302 and response["Location"] == url("model_detail", project, model_id=model.pk)
    assert model.versions.get().status == ModelStatus.CREATING


def test_htmx_create_answers_with_a_client_redirect(client_for, member, project, qwen25_7b, weights_folder):
    response = client_for(member).post(url("model_create", project), form_data(qwen25_7b, weights_folder), **HX)
    assert response.status_code == 200 and response["HX-Redirect"].endswith(f"/models/{MyModel.objects.get().pk}/")


@pytest.mark.parametrize(
    "changes, field_error",
    [
        ({"name": "a" * 65}, "at most 64"),
        ({"name": "_model"}, "start with a Chinese character or a letter"),
        ({"name": ""}, "Enter a model name"),
        ({"description": "d" * 101}, "at most 100"),
        ({"base_version": None}, "Select a source base model"),
        ({"weights_path": "obs://{b}/models/qwen/config.json"}, "必须选择到模型文件夹"),
        ({"weights_path": "obs://{b}/models/../../../etc/"}, "leaves its bucket"),
        ({"weights_path": "obs://elsewhere-bucket/x/"}, "There is no bucket"),
        ({"weights_path": ""}, "Select the folder that holds the model weights"),
    ],
)
def test_bad_input_shows_on_the_form_and_writes_nothing(
    client_for, member, project, qwen25_7b, weights_folder, bucket, changes, field_error
):
    changes = {k: v.format(b=bucket.name) if isinstance(v, str) else v for k, v in changes.items()}
    data = form_data(qwen25_7b, weights_folder, **changes)
    response = client_for(member).post(url("model_create", project), data, **HX)
    body = response.content.decode()
    assert response.status_code == 200 and "has-error" in body, body[:2000]
    assert field_error in body
    assert not MyModel.objects.exists() and not ModelVersion.objects.exists()


def test_unsupported_base_model_disables_the_toggle(client_for, member, project, qwen25_72b, weights_folder):
    client = client_for(member)
    info = client.get(url("base_version_info", project), {"base_version": qwen25_72b.pk}, **HX).content.decode()
    checkbox = re.search(r"<input[^>]*id=\"id_validate_weights\"[^>]*>", info).group(0)
    assert "disabled" in checkbox and "checked" not in checkbox
    assert "data-unsupported-note" in info and 'hx-swap-oob="true"' in info
    # Even if a crafted request says "on", the version is created without a check.
    client.post(url("model_create", project), form_data(qwen25_72b, weights_folder))
    assert MyModel.objects.get().versions.get().status == ModelStatus.CREATED
    assert not TaskRecord.objects.exists()


@pytest.mark.parametrize("slug, shown", [("llama2-70b", True), ("chatglm3-6b", True), ("qwen2-5-7b", False)])
def test_the_constraint_note_shows_for_the_seed_models(client_for, member, project, catalog, slug, shown):
    from console.mymodels.models import BaseModelVersion

    chosen = BaseModelVersion.objects.get(slug=slug)
    body = client_for(member).get(url("base_version_info", project), {"base_version": chosen.pk}, **HX).content.decode()
    assert ("data-constraint-note" in body) is shown
    if shown:
        assert "修改权重配置" in body


def test_viewer_cannot_create(client_for, viewer, project, qwen25_7b, weights_folder):
    client = client_for(viewer)
    assert client.post(url("model_create", project), form_data(qwen25_7b, weights_folder)).status_code == 403
    assert client.get(url("model_create", project)).status_code == 403
    assert not MyModel.objects.exists()


def test_non_members_get_404(client_for, other_project, make_member, project, qwen25_7b, weights_folder):
    outsider = make_member(other_project, "olga")
    client = client_for(outsider)
    assert client.get(url("model_list", project)).status_code == 404
    assert client.post(url("model_create", project), form_data(qwen25_7b, weights_folder)).status_code == 404


# --- detail and delete -------------------------------------------------------------------------


def test_detail_full_and_partial(client_for, member, project, make_model):
    model = make_model(name="detail-me", description="about")
    client = client_for(member)
    full = client.get(url("model_detail", project, model_id=model.pk)).content.decode()
    for text in ["detail-me", "about", "我的版本", "V1", "Add version", 'id="model-delete-dialog"', "DELETE"]:
        assert text in full
    assert "are not deleted" in full and "cannot be undone" in full
    partial = client.get(url("model_detail", project, model_id=model.pk), **HX).content.decode()
    assert "<html" not in partial and partial.strip().startswith('<section id="versions-section">')


def test_a_model_of_another_project_is_404(
    client_for, member, project, other_project, make_model, make_member, other_bucket
):
    outsider = make_member(other_project, "otto")
    theirs = make_model(name="theirs", actor=outsider, project=other_project, path=make_folder(other_bucket, "w"))
    assert client_for(member).get(url("model_detail", project, model_id=theirs.pk)).status_code == 404
    assert (
        client_for(member).post(url("model_delete", project, model_id=theirs.pk), {"confirm": "DELETE"}).status_code
        == 404
    )
    assert MyModel.objects.filter(pk=theirs.pk).exists()


def test_delete_with_the_wrong_word_changes_nothing(client_for, member, project, make_model):
    model = make_model()
    response = client_for(member).post(url("model_delete", project, model_id=model.pk), {"confirm": "delete"}, **HX)
    body = response.content.decode()
    assert response.status_code == 200 and body.strip().startswith('<div id="model-delete-dialog-body"')
    assert "Type DELETE (in capitals) to confirm." in body
    assert MyModel.objects.filter(pk=model.pk).exists()


def test_delete_refusal_lists_blocking_records_with_links(client_for, member, project, make_model):
    model = make_model()
    version = model.versions.get()
    record = task_record_create_for_training(version=version, job_name="sft-7", job_url="/jobs/7/", actor=member)
    running = TaskRecord.objects.create(version=version, kind=TaskKind.WEIGHT_VALIDATION, state=WorkState.RUNNING)
    body = (
        client_for(member).post(url("model_delete", project, model_id=model.pk), {"confirm": "DELETE"}).content.decode()
    )
    assert "<html" in body and "data-blockers" in body
    for r in (record, running):
        assert reverse("versions:record_detail", kwargs={"project_id": project.project_id, "model_id": model.pk,
                                                        "number": 1, "record_id": r.pk}) in body  # fmt: skip
    assert "sft-7" in body
    assert MyModel.objects.filter(pk=model.pk).exists()


def test_delete_with_DELETE_goes_back_to_the_list(client_for, member, project, make_model):
    model = make_model()
    response = client_for(member).post(url("model_delete", project, model_id=model.pk), {"confirm": "DELETE"}, **HX)
    assert response["HX-Redirect"] == url("model_list", project)
    assert not MyModel.objects.exists()
    assert AuditEntry.objects.filter(action="model.delete", actor=member).exists()


def test_viewer_cannot_delete(client_for, viewer, project, make_model):
    model = make_model()
    client = client_for(viewer)
    assert "model-delete-dialog" not in client.get(url("model_detail", project, model_id=model.pk)).content.decode()
    assert client.post(url("model_delete", project, model_id=model.pk), {"confirm": "DELETE"}).status_code == 403
    assert MyModel.objects.filter(pk=model.pk).exists()


def test_delete_needs_post(client_for, member, project, make_model):
    model = make_model()
    assert client_for(member).get(url("model_delete", project, model_id=model.pk)).status_code == 405


def test_nav_links_to_my_models(client_for, member, project, catalog):
    body = client_for(member).get(url("catalog", project)).content.decode()
    assert url("model_list", project) in body


def test_a_supported_base_model_has_validation_on_by_default(client_for, member, project, qwen25_7b):
    info = (
        client_for(member).get(url("base_version_info", project), {"base_version": qwen25_7b.pk}, **HX).content.decode()
    )
    checkbox = re.search(r"<input[^>]*id=\"id_validate_weights\"[^>]*>", info).group(0)
    assert "checked" in checkbox and "disabled" not in checkbox


def test_an_unknown_base_model_is_refused(client_for, member, project, qwen25_7b, weights_folder):
    body = (
        client_for(member)
        .post(url("model_create", project), form_data(qwen25_7b, weights_folder, base_version=999999), **HX)
        .content.decode()
    )
    assert "Select a base model version from the catalog" in body
    assert not MyModel.objects.exists()
