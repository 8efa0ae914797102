"""The folder picker: its HTMX tree (full page and partial), the widget and ObsFolderField."""

import html

import pytest
from django import forms
from django.urls import reverse

from console.storage.forms import ObsFolderField
from console.storage.widgets import FolderPickerWidget
from tests.storage.django_support import *  # noqa: F403

pytestmark = pytest.mark.django_db

FOLDER_MESSAGE = "Select a folder: the weights path must be the model folder itself (必须选择到模型文件夹)"


def picker(client, project, **params):
    return client.get(
        reverse("storage:picker", kwargs={"project_id": project.project_id}), params, **params.pop("extra", {})
    )


def text(response):
    return html.unescape(response.content.decode())


def test_it_starts_with_the_projects_buckets(client_for, member, project, bucket, other_bucket):
    response = picker(client_for(member), project, field="id_weights_path")
    assert response.status_code == 200
    body = text(response)
    assert "<html" in body  # full page without HX-Request
    assert f'data-picker-folder="{bucket.name}"' in body
    assert other_bucket.name not in body
    assert "Open a bucket to choose a folder in it." in body


def test_it_answers_a_partial_to_htmx(client_for, member, project, bucket, bucket_backend):
    bucket_backend.mkdir("models/qwen/")
    put_file(bucket_backend, "models/readme.md", b"hi")
    response = client_for(member).get(
        reverse("storage:picker", kwargs={"project_id": project.project_id}),
        {"field": "id_weights_path", "path": f"obs://{bucket.name}/models/"},
        HTTP_HX_REQUEST="true",
    )
    body = text(response)
    assert response.status_code == 200
    assert body.lstrip().startswith('<div class="picker-body" id="picker-body">')
    assert "<html" not in body
    assert 'data-picker-folder="qwen"' in body
    assert "readme.md" in body and 'data-picker-folder="readme.md"' not in body  # files show, can't be opened
    assert f'data-picker-select="obs://{bucket.name}/models/"' in body
    assert 'data-picker-field="id_weights_path"' in body
    assert "HX-Request" in response["Vary"]


def test_choosing_a_file_is_refused_with_the_folder_message(client_for, member, project, bucket, bucket_backend):
    put_file(bucket_backend, "models/qwen/config.json", b"{}")
    client = client_for(member)
    response = client.get(
        reverse("storage:picker", kwargs={"project_id": project.project_id}),
        {"field": "f", "path": f"obs://{bucket.name}/models/qwen/config.json"},
        HTTP_HX_REQUEST="true",
    )
    body = text(response)
    assert FOLDER_MESSAGE in body
    # It shows the folder the file is in, so the right choice is one click away.
    assert f'data-picker-select="obs://{bucket.name}/models/qwen/"' in body
    full = picker(client, project, field="f", path=f"obs://{bucket.name}/models/qwen/config.json")
    assert full.status_code == 400


def test_another_projects_bucket_is_not_found(client_for, member, project, bucket, other_bucket):
    response = picker(client_for(member), project, field="f", path=other_bucket.uri)
    assert response.status_code == 404
    assert f'There is no bucket "{other_bucket.name}"' in text(response)
    assert f'data-picker-folder="{bucket.name}"' in text(response)  # back to the bucket list


def test_the_field_id_is_sanitised(client_for, member, project, bucket):
    response = picker(client_for(member), project, field='x" onmouseover="alert(1)', path=bucket.uri)
    assert 'onmouseover="alert' not in response.content.decode()
    assert "data-picker-select" not in response.content.decode()  # no field: nothing to fill


def test_viewers_may_pick_and_strangers_may_not(client_for, viewer, org, project, bucket):
    from tests.conftest import make_user

    assert picker(client_for(viewer), project, field="f", path=bucket.uri).status_code == 200
    assert picker(client_for(make_user(org, "stranger")), project, field="f").status_code == 404


# --- widget and field ----------------------------------------------------------------------


class WeightsForm(forms.Form):
    weights_path = ObsFolderField(label="Custom weight storage path")

    def __init__(self, *args, project, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["weights_path"].bind(project=project, user=user)


def test_the_widget_renders_the_input_the_button_and_the_dialog(project):
    rendered = str(WeightsForm(project=project)["weights_path"])
    picker_url = reverse("storage:picker", kwargs={"project_id": project.project_id})
    assert 'name="weights_path"' in rendered and 'id="id_weights_path"' in rendered
    assert f'data-picker-url="{picker_url}"' in rendered
    assert 'data-picker-open="id_weights_path"' in rendered
    assert '<dialog class="picker-dialog" id="id_weights_path-picker"' in rendered
    assert 'id="id_weights_path-picker-slot"' in rendered
    assert "storage/storage.js" in rendered


def test_binding_is_per_form_instance(project, other_project):
    first = WeightsForm(project=project)
    second = WeightsForm(project=other_project)
    assert first.fields["weights_path"].widget.project == project
    assert second.fields["weights_path"].widget.project == other_project
    assert WeightsForm.base_fields["weights_path"].project is None


def test_a_widget_without_a_project_is_a_plain_input():
    rendered = FolderPickerWidget().render("p", "obs://b/x/", attrs={"id": "id_p"})
    assert 'value="obs://b/x/"' in rendered
    assert "data-picker-open" not in rendered


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("models/qwen", "The path must start with obs://"),
        ("obs://bkt/../x", "The path leaves its bucket"),
        ("obs://bucket/a%2fb/", "percent-encoded sequence %2f"),
        ("obs://Bad/x", 'The bucket name "Bad" is invalid'),
    ],
)
def test_the_field_checks_syntax(project, value, message):
    form = WeightsForm({"weights_path": value}, project=project)
    assert not form.is_valid()
    assert message in form.errors["weights_path"][0]


def test_the_field_normalises_the_api_form(project):
    form = WeightsForm({"weights_path": " /bucket/models/qwen/ "}, project=project)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["weights_path"] == "obs://bucket/models/qwen/"


def test_a_field_bound_to_a_user_asks_the_gate(member, project, bucket, bucket_backend):
    put_file(bucket_backend, "models/qwen/config.json", b"{}")
    ok = WeightsForm({"weights_path": f"obs://{bucket.name}/models/qwen"}, project=project, user=member)
    assert ok.is_valid(), ok.errors
    assert ok.cleaned_data["weights_path"] == f"obs://{bucket.name}/models/qwen/"
    a_file = WeightsForm({"weights_path": f"obs://{bucket.name}/models/qwen/config.json"}, project=project, user=member)
    assert not a_file.is_valid()
    assert FOLDER_MESSAGE in a_file.errors["weights_path"][0]
    missing = WeightsForm({"weights_path": f"obs://{bucket.name}/nothing/"}, project=project, user=member)
    assert not missing.is_valid()
    assert "does not exist" in missing.errors["weights_path"][0]
