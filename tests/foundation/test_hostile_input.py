"""NUL characters, lone surrogates and path tricks in request data: a 400 naming where, never a 500
(issue 15 §2). One middleware (console.core.hostile_input) answers for the path, the query, form
fields and API bodies; the job outputs browser catches its own path refusal."""

import html

import pytest
from django.urls import reverse

from console.accounts.models import Role
from tests.foundation.test_fuzz_urls import world  # noqa: F401 — the fixture project with one object of each kind
from tests.mymodels.fixtures import catalog  # noqa: F401
from tests.training.conftest import (  # noqa: F401
    _fast_training,
    bucket_name,
    bucket_root,
    default_pool,
    examples_in_bucket,
    flavors,
    storage_project,
)

NUL = "may not contain NUL characters"


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def ids(world):
    return world["values"]


@pytest.mark.parametrize(
    "name, query",
    [
        ("training:job_list", "q"),
        ("training:algorithm_list", "q"),
        ("authorizations:list", "q"),
        ("mymodels:catalog", "series"),
        ("mymodels:catalog", "type"),
        ("mymodels:catalog", "language"),
        ("mymodels:catalog", "scenario"),
    ],
)
def test_nul_in_a_project_pages_query_is_a_400_naming_the_parameter(client_for, world, ids, name, query):
    address = reverse(name, kwargs={"project_id": ids["project_id"]})
    for htmx in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = client_for(world["member"]).get(f"{address}?{query}=a%00b", **htmx)
        assert response.status_code == 400, (name, query, response.status_code)
        assert f"The query parameter “{query}” {NUL}" in text(response)


@pytest.mark.parametrize("address", ["/admin/audit/?q=a%00b", "/users/?q=%00", "/admin/audit/?actor=%00"])
def test_nul_in_an_admin_lists_query_is_a_400(client_for, world, address):
    response = client_for(world["admin"]).get(address)
    assert response.status_code == 400
    assert NUL in text(response)


@pytest.mark.parametrize(
    "address",
    [
        "/projects/a%00b/models/",
        "/projects/%00/",
        "/projects/a%00b/training/jobs/",
        "/projects/a%00b/storage/",
        "/projects/{project_id}/training/jobs/{job_id}/tasks/%00/log/",
        "/projects/{project_id}/training/jobs/{job_id}/tasks/%00/log/download/",
        "/projects/{project_id}/training/jobs/{job_id}/tasks/%00/metrics/",
    ],
)
def test_nul_in_a_path_segment_is_a_400(client_for, world, ids, address):
    response = client_for(world["member"]).get(address.format(**ids))
    assert response.status_code == 400
    assert "The address may not contain NUL characters." in text(response)
    # The error page is the console's own page, for the signed-in user.
    assert "mia" in text(response)


def test_nul_in_a_form_field_is_a_400_naming_the_field(client_for, world, ids):
    address = reverse("training:algorithm_create", kwargs={"project_id": ids["project_id"]})
    response = client_for(world["member"]).post(address, {"name": "a\x00b"})
    assert response.status_code == 400
    assert f"The field “name” {NUL}" in text(response)


def test_a_session_cookie_holding_a_nul_is_dropped_not_a_500(client, world):
    client.cookies["sessionid"] = '"abcdefgh\\000ijk"'  # an octal escape: Django decodes it to NUL
    response = client.get("/projects/")
    assert response.status_code == 302  # to the sign-in page: there is no session
    assert "/accounts/login/" in response["Location"]


@pytest.mark.parametrize(
    "path",
    ["../../etc/passwd", "/etc/passwd/../..", "..%2f..%2fetc", "\\..\\..", "model.pt/../../..", "a%00b"],
)
def test_the_job_outputs_browser_refuses_path_tricks_with_a_message(client_for, world, ids, path):
    from urllib.parse import quote

    address = reverse("training:job_outputs", kwargs={"project_id": ids["project_id"], "job_id": ids["job_id"]})
    response = client_for(world["member"]).get(f"{address}?path={quote(path, safe='%')}", HTTP_HX_REQUEST="true")
    assert response.status_code in (400, 404), response.status_code
    assert "root:" not in text(response)
    assert "The path" in text(response) or "may not contain" in text(response) or response.status_code == 404


def test_the_job_outputs_browser_shows_the_rule_for_a_dot_dot_path(client_for, world, ids):
    address = reverse("training:job_outputs", kwargs={"project_id": ids["project_id"], "job_id": ids["job_id"]})
    response = client_for(world["member"]).get(address, {"path": "../../etc/passwd"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "The path leaves its bucket" in text(response)


def test_a_viewer_gets_the_same_refusal(client_for, world, ids, make_member):
    viewer = make_member(world["project"], "vic", Role.VIEWER)
    response = client_for(viewer).get(f"/projects/{ids['project_id']}/training/jobs/?q=%00")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "target", ["abc", "99999999999999999999", "\ufffd", "//evil.example/x", "https://evil.example/"]
)
def test_the_language_switch_sends_a_bad_next_home(client_for, world, target):
    response = client_for(world["member"]).post("/accounts/language/", {"language": "en", "next": target})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_model_create_names_the_rule_for_a_too_long_folder_name(client_for, world, ids):
    response = client_for(world["member"]).post(
        f"/projects/{ids['project_id']}/models/create/",
        {"name": "long-path", "weights_path": f"obs://{ids['bucket_name']}/{'a' * 300}/"},
    )
    assert response.status_code == 200
    assert "a file or folder name may have at most 255 bytes" in text(response)
