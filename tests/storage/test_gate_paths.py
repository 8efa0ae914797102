"""Path tricks sent through the pages: each is refused with the rule's message, never a 500,
and nothing is read or written outside the bucket."""

import html
import os

import pytest
from django.urls import reverse

from tests.storage.django_support import *  # noqa: F403

pytestmark = pytest.mark.django_db

ESCAPE = "The path leaves its bucket"
ENCODED = "percent-encoded sequence"
NUL = "may not contain NUL characters"
DOUBLE = "no doubled slashes"
BACKSLASH = "may not contain backslashes"


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def outside(tmp_path):
    """A folder next to the buckets with a secret in it."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("TOP SECRET")
    return folder


def raw_query(client, project, name, query):
    # Sent as typed in the address bar: the server decodes it once, as Django does.
    return client.get(reverse(name, kwargs={"project_id": project.project_id}) + "?" + query)


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("path=obs://{b}/../outside/", 400, ESCAPE),
        ("path=obs://{b}/models/../../outside/", 400, ESCAPE),
        ("path=obs://{b}/%2e%2e/outside/", 400, ESCAPE),  # decoded once: ".."
        ("path=obs://{b}/%252e%252e/outside/", 400, ENCODED),  # "%2e%2e" after decoding
        ("path=obs://{b}/a%252fb/", 400, ENCODED),
        ("path=obs://{b}/a%00b/", 400, NUL),
        ("path=obs://{b}//etc/passwd", 400, DOUBLE),
        ("path=obs://{b}/a%5C..%5Cb", 400, BACKSLASH),
        ("path=/etc/passwd", 404, 'There is no bucket "etc"'),
        ("path=file:///etc/passwd", 400, "The path must start with obs://"),
        ("path=obs://{b}/%E2%80%AEtxt.exe", 400, "control characters"),
        # Overlong UTF-8 for "..": Django decodes it to U+FFFD, a harmless name that is not there.
        ("path=obs://{b}/%C0%AE%C0%AE/", 404, "does not exist"),
    ],
)
def test_the_browser_refuses_path_tricks(client_for, member, project, bucket, outside, query, status, message):
    response = raw_query(client_for(member), project, "storage:browser", query.format(b=bucket.name))
    assert response.status_code == status, text(response)[:400]
    assert message in text(response)
    assert "TOP SECRET" not in text(response) and "secret.txt" not in text(response)


def test_a_partial_shows_the_refusal_with_200_so_htmx_swaps_it(client_for, member, project, bucket):
    response = client_for(member).get(
        reverse("storage:browser", kwargs={"project_id": project.project_id}),
        {"path": f"obs://{bucket.name}/../x"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert ESCAPE in text(response)


def test_a_symlink_out_of_a_local_bucket_is_hidden_and_refused(client_for, member, project, bucket, outside):
    os.symlink(outside, bucket.local_path() / "escape")
    os.symlink(outside / "secret.txt", bucket.local_path() / "secret-link.txt")
    client = client_for(member)
    listing = client.get(reverse("storage:browser", kwargs={"project_id": project.project_id}), {"path": bucket.uri})
    assert listing.status_code == 200
    assert "escape" not in text(listing) and "secret-link" not in text(listing)
    for path in (f"obs://{bucket.name}/escape/", f"obs://{bucket.name}/escape/secret.txt"):
        response = client.get(reverse("storage:browser", kwargs={"project_id": project.project_id}), {"path": path})
        assert response.status_code == 400
        assert ESCAPE in text(response)
    download = client.get(
        reverse("storage:download", kwargs={"project_id": project.project_id}),
        {"path": f"obs://{bucket.name}/secret-link.txt"},
        follow=True,
    )
    assert b"TOP SECRET" not in download.content
    assert ESCAPE in text(download)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../evil.txt", ESCAPE),
        ("a/../../evil.txt", ESCAPE),
        ("%2e%2e/evil.txt", ENCODED),
        ("/abs.txt", "is not a single file or folder name"),
        ("a\x00.txt", NUL),
        ("a//b.txt", DOUBLE),
        ("", "is not a single file or folder name"),
    ],
)
def test_an_upload_name_cannot_leave_the_folder(client_for, member, project, bucket, outside, tmp_path, name, message):
    response = client_for(member).post(
        reverse("storage:upload", kwargs={"project_id": project.project_id})
        + "?"
        + __import__("urllib.parse").parse.urlencode({"path": f"obs://{bucket.name}/models/", "name": name}),
        data=b"EVIL",
        content_type="application/octet-stream",
        HTTP_X_REQUESTED_WITH="XMLHttpRequest",  # as storage.js sends it
    )
    assert response.status_code == 400
    assert message in response.json()["error"]
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.read_bytes() == b"EVIL"]
    assert written == []


def test_an_upload_into_a_symlinked_folder_outside_is_refused(client_for, member, project, bucket, outside):
    os.symlink(outside, bucket.local_path() / "escape")
    response = client_for(member).post(
        reverse("storage:upload", kwargs={"project_id": project.project_id})
        + f"?path=obs://{bucket.name}/escape/&name=planted.txt",
        data=b"EVIL",
        content_type="application/octet-stream",
    )
    assert response.status_code == 400
    assert ESCAPE in response.json()["error"]
    assert not (outside / "planted.txt").exists()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("obs://{b}/../outside/", ESCAPE),
        ("obs://{b}/%2e%2e/", ENCODED),
        ("/etc/", 'There is no bucket "etc"'),
        ("obs://{b}/a\x00/", NUL),
    ],
)
def test_delete_refuses_path_tricks(client_for, member, project, bucket, outside, path, message):
    response = client_for(member).post(
        reverse("storage:delete", kwargs={"project_id": project.project_id}),
        {"path": path.format(b=bucket.name), "confirm": "DELETE"},
        HTTP_HX_REQUEST="true",
    )
    # A NUL is refused before the view (console.core.hostile_input) with a 400 naming the field.
    assert response.status_code == (400 if "\x00" in path else 200)
    assert message in text(response)
    assert (outside / "secret.txt").exists()


def test_a_symlink_to_outside_is_deleted_as_a_link_only(client_for, member, project, bucket, outside):
    os.symlink(outside, bucket.local_path() / "escape")
    response = client_for(member).post(
        reverse("storage:delete", kwargs={"project_id": project.project_id}),
        {"path": f"obs://{bucket.name}/escape/", "confirm": "DELETE"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert (outside / "secret.txt").read_text() == "TOP SECRET"


@pytest.mark.parametrize("query", ["path=obs://{b}/../x", "path=obs://{b}/%252e%252e/", "path=obs://{b}/a%00"])
def test_the_picker_and_download_refuse_path_tricks(client_for, member, project, bucket, query):
    client = client_for(member)
    picker = raw_query(client, project, "storage:picker", query.format(b=bucket.name) + "&field=id_weights")
    assert picker.status_code == 400
    assert "The path" in text(picker) or f"“path” {NUL}" in text(picker)
    download = raw_query(client, project, "storage:download", query.format(b=bucket.name))
    # A NUL is refused before the view (console.core.hostile_input): a 400 page, not a redirect.
    assert download.status_code == (400 if "%00" in query else 302)
