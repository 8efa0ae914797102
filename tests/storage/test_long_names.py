"""A file or folder name over 255 bytes (ENAMETOOLONG in a local bucket) is refused by the path
rules, with the rule named, on every storage page; an upload says the real reason (issue 15 §2)."""

import html
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from tests.storage.django_support import *  # noqa: F403

pytestmark = pytest.mark.django_db

LONG = "a" * 300
RULE = "a file or folder name may have at most 255 bytes"


def url(project, route, **params):
    return reverse(route, kwargs={"project_id": project.project_id}) + ("?" + urlencode(params) if params else "")


def text(response) -> str:
    return html.unescape(response.content.decode())


def test_browse_picker_and_delete_name_the_rule(client_for, member, project, bucket):
    client = client_for(member)
    path = f"obs://{bucket.name}/{LONG}/"
    browse = client.get(url(project, "storage:browser", path=path))
    assert browse.status_code == 400 and RULE in text(browse)
    picker = client.get(url(project, "storage:picker", path=path, field="id_weights"))
    assert picker.status_code == 400 and RULE in text(picker)
    delete = client.post(url(project, "storage:delete"), {"path": path, "confirm": "DELETE"}, HTTP_HX_REQUEST="true")
    assert delete.status_code < 500 and RULE in text(delete)


def test_download_names_the_rule(client_for, member, project, bucket):
    client = client_for(member)
    response = client.get(url(project, "storage:download", path=f"obs://{bucket.name}/{LONG}.bin"), follow=True)
    assert response.status_code == 200
    assert RULE in text(response)


def test_an_upload_of_a_long_name_says_why(client_for, member, project, bucket):
    response = client_for(member).post(
        url(project, "storage:upload", path=f"obs://{bucket.name}/", name=f"{LONG}.bin"),
        data=b"x",
        content_type="application/octet-stream",
    )
    assert response.status_code == 400
    assert RULE in response.json()["error"]
    assert "interrupted" not in response.json()["error"]


def test_an_upload_the_disk_refuses_says_why(client_for, member, project, bucket, monkeypatch):
    from console.storage.backends import local

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(local.LocalBackend, "write_stream", full)
    response = client_for(member).post(
        url(project, "storage:upload", path=f"obs://{bucket.name}/", name="w.bin"),
        data=b"x",
        content_type="application/octet-stream",
    )
    assert response.status_code == 400
    assert "No space left on device" in response.json()["error"]
    assert "interrupted" not in response.json()["error"]


def test_a_folder_of_255_bytes_is_still_fine(client_for, member, project, bucket):
    name = "é" * 127 + "a"  # 255 bytes in UTF-8
    response = client_for(member).post(
        url(project, "storage:folder_create"), {"path": f"obs://{bucket.name}/", "name": name}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code < 400, text(response)[:500]
    assert (bucket.local_path() / name).is_dir()
