"""The shell every page shares: request ids, Vary on HX-Request, friendly error pages, navigation."""

import re

import pytest
from django.test import RequestFactory

from console.core.views import error_500

from .conftest import HX


@pytest.mark.parametrize(
    "url, signed_in, status",
    [
        ("/accounts/login/", False, 200),
        ("/projects/", False, 302),
        ("/projects/", True, 200),
        ("/no/such/page/", True, 404),
        ("/users/", True, 403),
        ("/accounts/logout/", True, 405),
        ("/static/css/console.css", False, 200),
    ],
)
def test_it_sends_a_request_id_on_every_response(client_for, client, member, url, signed_in, status):
    c = client_for(member) if signed_in else client
    response = c.get(url)
    assert response.status_code == status
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-Id"])


def test_it_keeps_a_sane_incoming_request_id_and_replaces_a_bad_one(client, db):
    assert client.get("/accounts/login/", HTTP_X_REQUEST_ID="abc-123.x_y")["X-Request-Id"] == "abc-123.x_y"
    for bad in ("<script>", "a" * 65, "with space", "new\nline"):
        got = client.get("/accounts/login/", HTTP_X_REQUEST_ID=bad)["X-Request-Id"]
        assert got != bad and re.fullmatch(r"[0-9a-f]{32}", got)


def test_it_gives_each_request_its_own_id(client, db):
    assert client.get("/accounts/login/")["X-Request-Id"] != client.get("/accounts/login/")["X-Request-Id"]


@pytest.mark.parametrize("url", ["/projects/", "/accounts/login/", "/no/such/page/"])
def test_it_varies_on_hx_request(client_for, member, url):
    for headers in ({}, HX):
        assert "HX-Request" in client_for(member).get(url, **headers)["Vary"]


def test_it_renders_the_friendly_404_inside_the_shell(client_for, member):
    response = client_for(member).get("/no/such/page/")
    html = response.content.decode()
    assert "errors/404.html" in [t.name for t in response.templates]
    assert "There is nothing here, or it is not yours to see." in html
    assert 'class="sidebar"' in html and "Back to the console" in html


def test_it_renders_the_friendly_404_to_anonymous_visitors(client, db):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "There is nothing here" in html and 'href="/accounts/login/"' in html
    assert 'class="sidebar"' not in html


def test_it_renders_the_friendly_403_with_the_reason(client_for, member):
    html = client_for(member).get("/users/").content.decode()
    assert "You are not allowed to do this." in html
    assert "Only site administrators may do this." in html


def test_it_renders_the_500_page_without_touching_the_database(db, django_assert_num_queries):
    request = RequestFactory().get("/")
    request.request_id = "req-42"
    with django_assert_num_queries(0):
        response = error_500(request)
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side." in html and "req-42" in html


def test_it_serves_htmx_from_the_local_copy(client, db):
    html = client.get("/accounts/login/").content.decode()
    src = re.search(r'<script src="([^"]*htmx[^"]*)"', html).group(1)
    assert src.startswith("/static/")
    assert client.get(src).status_code == 200


def test_it_puts_the_csrf_token_on_the_body_for_htmx(client_for, member):
    html = client_for(member).get("/projects/").content.decode()
    assert re.search(r'<body hx-headers=\'\{"X-CSRFToken": "[A-Za-z0-9]{32,}"\}\'>', html)


def test_it_shows_administration_links_only_to_site_admins(client_for, member, site_admin, project):
    member_html = client_for(member).get("/projects/").content.decode()
    for href in ('href="/users/"', 'href="/admin/audit/"', 'href="/admin/health/"', 'href="/organizations/"'):
        assert href not in member_html
    admin_html = client_for(site_admin).get("/projects/").content.decode()
    for href in ('href="/users/"', 'href="/admin/audit/"', 'href="/admin/health/"', 'href="/organizations/"'):
        assert href in admin_html


def test_it_shows_the_project_switcher_with_the_users_projects(client_for, member, project):
    html = client_for(member).get("/projects/").content.decode()
    assert f'<option value="/projects/{project.project_id}/switch/"' in html
    assert f'href="/projects/{project.project_id}/"' in html
