"""Projects: created by site administrators, named uniquely within an organisation, listed, switched."""

import re

import pytest

from console.accounts import services
from console.accounts.models import Project
from console.audit.models import AuditEntry

from .conftest import HX, is_full_page


def test_it_shows_the_create_form_with_the_admins_organisation_chosen(client_for, site_admin, org):
    response = client_for(site_admin).get("/projects/new/")
    assert response.status_code == 200
    assert re.search(rf'<option value="{org.pk}" selected>', response.content.decode())


def test_it_creates_a_project_and_audits_it(client_for, site_admin, org):
    response = client_for(site_admin).post(
        "/projects/new/", {"organization": org.pk, "name": "nlp", "description": "language models"}
    )
    project = Project.objects.get(name="nlp")
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.project_id}/"
    assert re.fullmatch(r"[0-9a-f]{32}", project.project_id)
    assert project.organization == org and project.description == "language models"
    entry = AuditEntry.objects.get(action="project.create")
    assert entry.actor == site_admin and entry.project == project
    assert entry.after == {"name": "nlp", "organization": "acme"}
    page = client_for(site_admin).get(response["Location"])
    assert "Project “nlp” created." in page.content.decode()


def test_it_gives_every_project_its_own_hex_id(site_admin, org):
    ids = {services.project_create(actor=site_admin, organization=org, name=f"p{i}").project_id for i in range(5)}
    assert len(ids) == 5


def test_it_refuses_a_name_already_used_in_the_organisation(client_for, site_admin, org, project):
    response = client_for(site_admin).post("/projects/new/", {"organization": org.pk, "name": "vision"})
    assert response.status_code == 200
    assert "This organisation already has a project with this name." in response.content.decode()
    assert Project.objects.filter(name="vision").count() == 1
    assert not AuditEntry.objects.exists()


def test_it_allows_the_same_name_in_another_organisation(client_for, site_admin, other_org, project):
    response = client_for(site_admin).post("/projects/new/", {"organization": other_org.pk, "name": "vision"})
    assert response.status_code == 302
    assert Project.objects.filter(name="vision").count() == 2


@pytest.mark.parametrize(
    "name, message",
    [
        ("1vision", "Use 1-64 letters, digits, '_', '-' or '.', starting with a letter."),
        ("has space", "Use 1-64 letters, digits, '_', '-' or '.', starting with a letter."),
        ("slash/name", "Use 1-64 letters, digits, '_', '-' or '.', starting with a letter."),
        ("", "This field is required."),
        ("a" * 65, "Ensure this value has at most 64 characters (it has 65)."),
    ],
)
def test_it_refuses_an_invalid_name_with_a_field_message(client_for, site_admin, org, name, message):
    response = client_for(site_admin).post("/projects/new/", {"organization": org.pk, "name": name})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<p class="error" id="id_name-error">{message}' in html.replace("&#x27;", "'")
    assert not Project.objects.exists()


def test_it_answers_the_form_fragment_with_errors_to_htmx(client_for, site_admin, org):
    response = client_for(site_admin).post("/projects/new/", {"organization": org.pk, "name": "1bad"}, **HX)
    assert response.status_code == 200
    assert not is_full_page(response)
    assert response.content.lstrip().startswith(b'<div class="card form-card" id="project-form">')
    assert b'id="id_name-error"' in response.content
    assert "HX-Request" in response["Vary"]


def test_it_redirects_htmx_on_the_client_after_creating(client_for, site_admin, org):
    response = client_for(site_admin).post("/projects/new/", {"organization": org.pk, "name": "speech"}, **HX)
    project = Project.objects.get(name="speech")
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/projects/{project.project_id}/"


def test_it_lists_projects_as_a_page_and_as_a_fragment(client_for, member, project):
    client = client_for(member)
    full = client.get("/projects/")
    assert full.status_code == 200 and is_full_page(full)
    part = client.get("/projects/", **HX)
    assert part.status_code == 200 and not is_full_page(part)
    assert part.content.lstrip().startswith(b'<div id="project-table">')
    assert b"vision" in part.content
    assert "HX-Request" in full["Vary"] and "HX-Request" in part["Vary"]


def test_it_paginates_the_project_list(client_for, site_admin, org):
    Project.objects.bulk_create([Project(organization=org, name=f"p{i:02d}") for i in range(25)])
    client = client_for(site_admin)
    first = client.get("/projects/").content.decode()
    assert "Page 1 of 2 (25 items)" in first
    second = client.get("/projects/", {"page": 2}).content.decode()
    assert "Page 2 of 2 (25 items)" in second
    assert client.get("/projects/", {"page": "nonsense"}).status_code == 200


def test_it_shows_a_viewer_the_project_read_only(client_for, viewer, member, project):
    html = client_for(viewer).get(f"/projects/{project.project_id}/").content.decode()
    assert "mia" in html and "vic" in html
    assert "Add a member" not in html
    assert "/members/add/" not in html
    assert ">Viewer</span>" in html  # "Your role", as a label
    assert "/remove/" not in html


def test_it_shows_a_project_admin_the_member_controls(client_for, project_admin, project):
    html = client_for(project_admin).get(f"/projects/{project.project_id}/").content.decode()
    assert "Add a member" in html
    assert f"/projects/{project.project_id}/members/add/" in html


def test_it_welcomes_a_user_without_projects(client_for, org, site_admin):
    from tests.conftest import make_user

    loner = make_user(org, "lone")
    response = client_for(loner).get("/")
    assert response.status_code == 200
    assert "You are not in any project yet" in response.content.decode()
    response = client_for(site_admin).get("/")
    assert "Create the first project" in response.content.decode()


def test_it_remembers_the_switched_project(client_for, make_member, project, other_project):
    from console.accounts.models import Role

    user = make_member(project, "sam", Role.MEMBER)
    from console.accounts.models import Membership

    Membership.objects.create(project=other_project, user=user, role=Role.VIEWER)
    client = client_for(user)
    response = client.post(f"/projects/{other_project.project_id}/switch/")
    assert response.status_code == 302
    user.profile.refresh_from_db()
    assert user.profile.current_project == other_project
    assert client.get("/")["Location"] == f"/projects/{other_project.project_id}/dashboard/"  # its landing page
    assert client.get(f"/projects/{other_project.project_id}/switch/").status_code == 405


def test_it_serves_a_site_admin_made_with_createsuperuser(client_for, org, db):
    """`manage.py createsuperuser` makes no Profile: the console pages must still work for them."""
    from django.contrib.auth import get_user_model

    su = get_user_model().objects.create_superuser("su", "su@example.com", "x-pass-1234")
    client = client_for(su)
    for url in ("/", "/projects/", "/projects/new/", "/users/", "/users/new/", "/organizations/"):
        assert client.get(url).status_code == 200, url
    response = client.post("/projects/new/", {"organization": org.pk, "name": "fromsu"})
    assert response.status_code == 302
    response = client.post("/accounts/language/", {"language": "zh-hans"})
    assert response.status_code == 302
