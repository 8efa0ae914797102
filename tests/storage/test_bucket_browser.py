"""The storage pages: bucket list, folder listing, create folder, delete, bucket admin."""

import html

import pytest
from django.urls import reverse

from console.audit.models import AuditEntry
from console.storage.models import Bucket
from tests.storage.django_support import *  # noqa: F403

pytestmark = pytest.mark.django_db


def url(project, name="storage:browser", **kwargs):
    return reverse(name, kwargs={"project_id": project.project_id, **kwargs})


def browse(client, project, path=None, **extra):
    return client.get(url(project), {"path": path} if path else {}, **extra)


def test_it_lists_the_projects_buckets_only(client_for, member, project, bucket, other_bucket):
    response = browse(client_for(member), project)
    assert response.status_code == 200
    body = response.content.decode()
    assert bucket.name in body
    assert other_bucket.name not in body
    assert "Create bucket" not in body  # members don't manage buckets


def test_it_shows_a_folder_with_sizes_and_breadcrumbs(client_for, member, project, bucket, bucket_backend):
    put_file(bucket_backend, "models/qwen/config.json", b"x" * 2048)
    bucket_backend.mkdir("models/qwen/tokenizer/")
    response = browse(client_for(member), project, f"obs://{bucket.name}/models/qwen/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "config.json" in body and "2.0\xa0KiB" in body  # binary, labelled as such (issue 15)
    assert "tokenizer/" in body
    assert f"?path=obs://{bucket.name}/models/" in body  # breadcrumb back to models
    assert 'data-current-folder="obs://%s/models/qwen/"' % bucket.name in body
    assert "Upload files" in body and "New folder" in body


def test_the_folder_is_a_partial_for_htmx(client_for, member, project, bucket, bucket_backend):
    put_file(bucket_backend, "a/b.txt")
    response = browse(client_for(member), project, f"obs://{bucket.name}/a/", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="storage-page"')
    assert "<html" not in body
    assert response["Vary"] and "HX-Request" in response["Vary"]
    table = client_for(member).get(
        url(project), {"path": f"obs://{bucket.name}/a/", "fragment": "storage-table"}, HTTP_HX_REQUEST="true"
    )
    assert table.content.decode().lstrip().startswith('<section id="storage-table"')


def test_viewers_browse_read_only(client_for, viewer, project, bucket, bucket_backend):
    put_file(bucket_backend, "a/b.txt")
    body = browse(client_for(viewer), project, f"obs://{bucket.name}/a/").content.decode()
    assert "b.txt" in body
    assert "Upload files" not in body and "New folder" not in body and "Delete" not in body
    response = client_for(viewer).post(
        url(project, "storage:folder_create"), {"path": f"obs://{bucket.name}/", "name": "x"}
    )
    assert response.status_code == 403
    assert not bucket_backend.exists("x/")


def test_non_members_get_404(client_for, org, project, bucket):
    from tests.conftest import make_user

    assert browse(client_for(make_user(org, "stranger")), project).status_code == 404


def test_a_missing_folder_says_so(client_for, member, project, bucket):
    response = browse(client_for(member), project, f"obs://{bucket.name}/nope/")
    assert response.status_code == 404
    assert f"The folder obs://{bucket.name}/nope/ does not exist." in response.content.decode()


def test_without_authorization_the_page_says_how_to_get_one(client_for, member, project, bucket):
    from console.authorizations.models import Authorization

    Authorization.objects.filter(project=project).delete()
    response = browse(client_for(member), project, f"obs://{bucket.name}/")
    assert response.status_code == 403
    assert "若没有授权" in response.content.decode()


def test_a_member_creates_a_folder(client_for, member, project, bucket, bucket_backend):
    client = client_for(member)
    response = client.post(
        url(project, "storage:folder_create"),
        {"path": f"obs://{bucket.name}/", "name": "models"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="storage-table"')
    assert f"Folder obs://{bucket.name}/models/ created." in body
    assert bucket_backend.is_dir("models/")


@pytest.mark.parametrize(
    ("name", "message"),
    [("a/b", "may not contain '/'"), ("..", "leaves its bucket"), ("", "This field is required.")],
)
def test_a_bad_folder_name_is_refused(client_for, member, project, bucket, bucket_backend, name, message):
    response = client_for(member).post(
        url(project, "storage:folder_create"), {"path": f"obs://{bucket.name}/", "name": name}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert message in html.unescape(response.content.decode())
    assert bucket_backend.list_dir("") == []


def test_deleting_a_folder_needs_the_typed_word(client_for, member, project, bucket, bucket_backend):
    put_file(bucket_backend, "models/qwen/config.json")
    client = client_for(member)
    path = f"obs://{bucket.name}/models/qwen/"
    response = client.post(url(project, "storage:delete"), {"path": path, "confirm": "delete"}, HTTP_HX_REQUEST="true")
    assert "Type DELETE (in capitals) to confirm." in response.content.decode()
    assert bucket_backend.exists("models/qwen/config.json")
    response = client.post(url(project, "storage:delete"), {"path": path, "confirm": "DELETE"}, HTTP_HX_REQUEST="true")
    assert f"Folder {path} deleted (1 files)." in response.content.decode()
    assert not bucket_backend.exists("models/qwen/")
    assert bucket_backend.is_dir("models/")
    entry = AuditEntry.objects.get(action="storage.delete")
    assert entry.before == {"path": path, "folder": True, "files": 1}


def test_deleting_a_file(client_for, member, project, bucket, bucket_backend):
    put_file(bucket_backend, "a.txt")
    response = client_for(member).post(url(project, "storage:delete"), {"path": f"obs://{bucket.name}/a.txt"})
    assert response.status_code == 302
    assert response["Location"].endswith(f"?path=obs://{bucket.name}/")
    assert not bucket_backend.exists("a.txt")


def test_the_bucket_root_cannot_be_deleted_from_the_page(client_for, member, project, bucket, bucket_backend):
    put_file(bucket_backend, "a.txt")
    response = client_for(member).post(
        url(project, "storage:delete"), {"path": f"obs://{bucket.name}/", "confirm": "DELETE"}, HTTP_HX_REQUEST="true"
    )
    assert "cannot be emptied" in response.content.decode()
    assert bucket_backend.exists("a.txt")


def test_download_streams_the_file(client_for, viewer, project, bucket, bucket_backend):
    put_file(bucket_backend, "dir/w.bin", b"\x00\x01" * 1000)
    response = client_for(viewer).get(url(project, "storage:download"), {"path": f"obs://{bucket.name}/dir/w.bin"})
    assert response.status_code == 200
    assert response.streaming
    assert b"".join(response.streaming_content) == b"\x00\x01" * 1000
    assert response["Content-Length"] == "2000"
    assert 'attachment; filename="w.bin"' == response["Content-Disposition"]


# --- bucket administration ------------------------------------------------------------


def test_the_bucket_form_is_for_project_admins(client_for, member, project_admin, project, storage_root):
    assert client_for(member).get(url(project, "storage:bucket_create")).status_code == 403
    response = client_for(project_admin).get(url(project, "storage:bucket_create"))
    assert response.status_code == 200
    partial = client_for(project_admin).get(url(project, "storage:bucket_create"), HTTP_HX_REQUEST="true")
    assert partial.content.decode().lstrip().startswith('<div class="card form-card" id="bucket-form"')


def test_an_admin_creates_a_local_bucket(client_for, project_admin, project, storage_root):
    response = client_for(project_admin).post(
        url(project, "storage:bucket_create"), {"name": "training-data", "kind": "local", "description": "data"}
    )
    assert response.status_code == 302
    bucket = Bucket.objects.get(name="training-data")
    assert bucket.project == project and bucket.created_by == project_admin
    assert AuditEntry.objects.filter(action="bucket.create", object_repr="training-data").exists()


def test_a_bad_bucket_is_refused_on_the_field(client_for, project_admin, project, storage_root):
    response = client_for(project_admin).post(
        url(project, "storage:bucket_create"), {"name": "Bad_Name", "kind": "local"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "3 to 63 characters" in response.content.decode()
    assert not Bucket.objects.exists()


def test_the_secret_key_is_never_rendered_back(client_for, project_admin, project, storage_root):
    response = client_for(project_admin).post(
        url(project, "storage:bucket_create"),
        {
            "name": "remote",
            "kind": "s3",
            "endpoint_url": "http://127.0.0.1:9",
            "access_key": "AK",
            "secret_key": "TOPSECRET",
        },
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert "could not be reached" in body
    assert "TOPSECRET" not in body


def test_an_admin_deletes_an_empty_bucket_with_its_name_typed(
    client_for, project_admin, project, bucket, bucket_backend
):
    client = client_for(project_admin)
    delete_url = url(project, "storage:bucket_delete", bucket_name=bucket.name)
    put_file(bucket_backend, "x.txt")
    client.post(delete_url, {"confirm": bucket.name})
    assert Bucket.objects.filter(pk=bucket.pk).exists()  # not empty
    bucket_backend.delete("x.txt")
    client.post(delete_url, {"confirm": "wrong"})
    assert Bucket.objects.filter(pk=bucket.pk).exists()
    response = client.post(delete_url, {"confirm": bucket.name}, follow=True)
    assert not Bucket.objects.filter(pk=bucket.pk).exists()
    assert f"Bucket {bucket.name} deleted." in response.content.decode()


def test_another_projects_bucket_cannot_be_deleted(client_for, project_admin, project, bucket, other_bucket):
    client_for(project_admin).post(
        url(project, "storage:bucket_delete", bucket_name=other_bucket.name), {"confirm": other_bucket.name}
    )
    assert Bucket.objects.filter(pk=other_bucket.pk).exists()


@pytest.fixture
def dead_s3_bucket(project_admin, project, bucket):
    """An S3 bucket whose endpoint does not answer (nothing listens on port 9)."""
    from console.storage.services import bucket_create

    return bucket_create(
        actor=project_admin,
        project=project,
        name="dead-remote",
        kind="s3",
        endpoint_url="http://127.0.0.1:9",
        access_key="a",
        secret_key="b",
        check_connection=False,
    )


def test_an_unreachable_s3_bucket_is_a_message_not_a_500(client_for, member, project, dead_s3_bucket):
    client = client_for(member)
    response = browse(client, project, "obs://dead-remote/models/")
    assert response.status_code == 403
    assert "The storage could not be read" in html.unescape(response.content.decode())
    upload = client.post(
        url(project, "storage:upload") + "?path=obs://dead-remote/&name=a.txt",
        data=b"x",
        content_type="application/octet-stream",
    )
    assert upload.status_code == 400
    assert "The storage refused the operation" in upload.json()["error"]
    download = client.get(url(project, "storage:download"), {"path": "obs://dead-remote/a.txt"}, follow=True)
    assert "The storage could not be read" in html.unescape(download.content.decode())
    picker = client.get(url(project, "storage:picker"), {"path": "obs://dead-remote/", "field": "f"})
    assert "The storage could not be read" in html.unescape(picker.content.decode())


def test_an_unreachable_s3_bucket_can_still_be_deleted(client_for, project_admin, project, dead_s3_bucket):
    client_for(project_admin).post(
        url(project, "storage:bucket_delete", bucket_name="dead-remote"), {"confirm": "dead-remote"}
    )
    assert not Bucket.objects.filter(name="dead-remote").exists()


def test_a_history_restore_gets_the_whole_page(client_for, member, project, bucket):
    response = browse(
        client_for(member), project, bucket.uri, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in response.content.decode()


def test_deleting_a_file_asks_for_confirmation_once(client_for, member, project, bucket, bucket_backend):
    # Issue 15 §6.4: hx-confirm and data-confirm on one form asked twice (and a "Cancel" on the
    # second dialog came after htmx had already sent the request).
    import re

    put_file(bucket_backend, "a/b.txt")
    body = browse(client_for(member), project, f"obs://{bucket.name}/a/").content.decode()
    forms = re.findall(r"<form\b[^>]*>", body)
    deletes = [form for form in forms if "storage/delete" in form or "/delete/" in form]
    assert deletes
    for form in forms:
        assert not ("hx-confirm=" in form and "data-confirm=" in form), form
