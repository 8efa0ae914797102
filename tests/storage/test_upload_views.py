"""Browser uploads: one file per request, the body streamed to the bucket, 5 GB limit."""

import hashlib
import html
import os
from urllib.parse import urlencode

import pytest
from django.http import HttpRequest
from django.urls import reverse

from console.storage.forms import DEFAULT_MAX_BROWSER_UPLOAD, max_browser_upload
from tests.storage.django_support import *  # noqa: F403

pytestmark = pytest.mark.django_db

MiB = 1024 * 1024


def upload(client, project, folder, name, data, content_type="application/octet-stream"):
    url = reverse("storage:upload", kwargs={"project_id": project.project_id})
    return client.post(url + "?" + urlencode({"path": folder, "name": name}), data=data, content_type=content_type)


@pytest.fixture
def never_whole_body(monkeypatch):
    """Fail if anything loads the request body into memory; record each read's size."""
    reads = []
    original_read = HttpRequest.read

    def body(self):
        raise AssertionError("the upload body was read into memory")

    def read(self, *args, **kwargs):
        data = original_read(self, *args, **kwargs)
        reads.append(len(data))
        return data

    monkeypatch.setattr(HttpRequest, "body", property(body))
    monkeypatch.setattr(HttpRequest, "read", read)
    return reads


def test_it_streams_a_file_bigger_than_the_chunk_size(
    client_for, member, project, bucket, bucket_backend, never_whole_body
):
    from console.storage.backends.base import COPY_CHUNK

    data = os.urandom(3 * COPY_CHUNK + 321)
    response = upload(client_for(member), project, f"obs://{bucket.name}/models/qwen/", "model.safetensors", data)
    assert response.status_code == 200, response.content
    assert response.json() == {"path": f"obs://{bucket.name}/models/qwen/model.safetensors", "size": len(data)}
    stored = bucket_backend.read_range("models/qwen/model.safetensors", 0)
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    # Read in chunks no larger than the copy chunk: never the whole body at once.
    assert len(never_whole_body) >= 4 and max(never_whole_body) <= COPY_CHUNK


def test_a_folder_upload_keeps_its_structure(client_for, member, project, bucket, bucket_backend):
    client = client_for(member)
    for name, data in [("qwen/config.json", b"{}"), ("qwen/tokenizer/vocab.txt", b"a b c")]:
        assert upload(client, project, f"obs://{bucket.name}/models/", name, data).status_code == 200
    assert bucket_backend.read_range("models/qwen/tokenizer/vocab.txt", 0) == b"a b c"
    assert [e.name for e in bucket_backend.list_dir("models/qwen/")] == ["tokenizer", "config.json"]


def test_it_replaces_a_file_of_the_same_name(client_for, member, project, bucket, bucket_backend):
    client = client_for(member)
    upload(client, project, bucket.uri, "a.txt", b"old")
    upload(client, project, bucket.uri, "a.txt", b"new!")
    assert bucket_backend.read_range("a.txt", 0) == b"new!"


def test_a_folder_in_the_way_is_refused(client_for, member, project, bucket, bucket_backend):
    bucket_backend.mkdir("a.txt/")
    response = upload(client_for(member), project, bucket.uri, "a.txt", b"x")
    assert response.status_code == 400
    assert "A folder named a.txt already exists here." in response.json()["error"]


def test_the_default_limit_is_5_gb(settings):
    if hasattr(settings, "STORAGE_MAX_BROWSER_UPLOAD"):
        del settings.STORAGE_MAX_BROWSER_UPLOAD
    assert max_browser_upload() == DEFAULT_MAX_BROWSER_UPLOAD == 5 * 1024**3


def test_an_upload_over_the_limit_is_refused_before_reading(
    client_for, member, project, bucket, bucket_backend, settings, never_whole_body
):
    settings.STORAGE_MAX_BROWSER_UPLOAD = 1000
    response = upload(client_for(member), project, bucket.uri, "big.bin", b"x" * 1001)
    assert response.status_code == 413
    error = response.json()["error"]
    assert "big.bin is 1001\xa0bytes: a browser upload is limited to 1000\xa0bytes" in error
    assert "单次上传本地文件到OBS的总大小不能超过5GB" in error
    assert f"python manage.py storage_upload <file> {bucket.uri} --user mia --project {project.project_id}" in error
    assert never_whole_body == []  # not a byte read
    assert bucket_backend.list_dir("") == []


def test_the_page_refuses_big_files_before_sending(client_for, member, project, bucket, settings):
    settings.STORAGE_MAX_BROWSER_UPLOAD = 5 * 1024**3
    response = client_for(member).get(
        reverse("storage:browser", kwargs={"project_id": project.project_id}), {"path": bucket.uri}
    )
    body = html.unescape(response.content.decode())
    assert f'data-max-upload="{5 * 1024**3}"' in body
    assert "__NAME__ is __SIZE__: a browser upload is limited to 5.0\xa0GiB" in body
    assert "storage_upload" in body


def test_viewers_cannot_upload(client_for, viewer, project, bucket, bucket_backend):
    response = upload(client_for(viewer), project, bucket.uri, "a.txt", b"x")
    assert response.status_code == 403
    assert bucket_backend.list_dir("") == []


def test_without_authorization_the_upload_says_why(client_for, member, project, bucket, bucket_backend):
    from console.authorizations.models import Authorization

    Authorization.objects.filter(project=project).delete()
    response = upload(client_for(member), project, bucket.uri, "a.txt", b"x")
    assert response.status_code == 403
    assert "若没有授权" in response.json()["error"]
    assert bucket_backend.list_dir("") == []


def test_another_projects_bucket_is_not_found(client_for, member, project, bucket, other_bucket):
    response = upload(client_for(member), project, other_bucket.uri, "a.txt", b"x")
    assert response.status_code == 404
    assert not (other_bucket.local_path() / "a.txt").exists()


def test_a_form_encoded_body_is_refused(client_for, member, project, bucket, bucket_backend):
    response = upload(
        client_for(member), project, bucket.uri, "a.txt", b"a=b", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert bucket_backend.list_dir("") == []


def test_it_needs_csrf(member, project, bucket, bucket_backend):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(member, backend="django.contrib.auth.backends.ModelBackend")
    assert upload(client, project, bucket.uri, "a.txt", b"x").status_code == 403
    assert bucket_backend.list_dir("") == []


def test_get_is_not_allowed(client_for, member, project, bucket):
    assert (
        client_for(member).get(reverse("storage:upload", kwargs={"project_id": project.project_id})).status_code == 405
    )


def test_it_uploads_in_parts_to_s3(client_for, member, project, project_admin, s3_config, settings, never_whole_body):
    import boto3

    from console.storage.services import bucket_create, project_storage_defaults_apply

    settings.STORAGE_UPLOAD_PART_SIZE = 5 * MiB
    bucket_create(
        actor=project_admin,
        project=project,
        name="remote",
        kind="s3",
        endpoint_url=s3_config["endpoint_url"],
        region=s3_config["region"],
        s3_bucket=s3_config["bucket"],
        access_key=s3_config["access_key"],
        secret_key=s3_config["secret_key"],
    )
    project_storage_defaults_apply(project=project)
    data = os.urandom(11 * MiB + 7)
    response = upload(client_for(member), project, "obs://remote/models/", "w.bin", data)
    assert response.status_code == 200, response.content
    raw = boto3.client(
        "s3",
        endpoint_url=s3_config["endpoint_url"],
        aws_access_key_id=s3_config["access_key"],
        aws_secret_access_key=s3_config["secret_key"],
        region_name=s3_config["region"],
    )
    stored = raw.get_object(Bucket=s3_config["bucket"], Key="models/w.bin")
    assert stored["Body"].read() == data
    assert "-" in stored["ETag"]  # a multipart ETag: "<md5>-<parts>"
    assert max(never_whole_body) <= 5 * MiB
