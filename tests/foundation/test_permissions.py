"""Who may open and change what: 403 for too little rights, 404 for other projects, CSRF. Nothing changes."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from console.accounts.models import Membership, Organization, Project, Role
from console.audit.models import AuditEntry

User = get_user_model()

ADMIN_PAGES = ["/users/", "/users/new/", "/organizations/", "/admin/audit/", "/admin/health/", "/projects/new/"]


def assert_forbidden_page(response):
    assert response.status_code == 403
    assert "errors/403.html" in [t.name for t in response.templates]
    assert "You are not allowed to do this." in response.content.decode()


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_it_answers_403_to_a_member_opening_an_admin_page(client_for, member, url):
    assert_forbidden_page(client_for(member).get(url))


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_it_answers_403_to_a_project_admin_opening_a_site_admin_page(client_for, project_admin, url):
    assert_forbidden_page(client_for(project_admin).get(url))


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_it_sends_anonymous_visitors_of_admin_pages_to_sign_in(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def test_it_does_not_let_a_member_create_users_organisations_or_projects(client_for, member, org):
    client = client_for(member)
    users, orgs, projects = User.objects.count(), Organization.objects.count(), Project.objects.count()
    assert_forbidden_page(client.post("/users/new/", {"username": "sneaky", "organization": org.pk}))
    assert_forbidden_page(client.post("/organizations/", {"name": "sneaky"}))
    assert_forbidden_page(client.post("/projects/new/", {"organization": org.pk, "name": "sneaky"}))
    assert (User.objects.count(), Organization.objects.count(), Project.objects.count()) == (users, orgs, projects)
    assert not AuditEntry.objects.exists()


def test_it_does_not_let_a_member_act_on_users(client_for, member, viewer):
    client = client_for(member)
    for action in ("deactivate", "reset-password", "grant-admin"):
        assert_forbidden_page(client.post(f"/users/{viewer.pk}/{action}/"))
    assert_forbidden_page(client.post(f"/users/{member.pk}/grant-admin/"))
    viewer.refresh_from_db()
    member.refresh_from_db()
    assert viewer.is_active and not viewer.is_staff and not member.is_staff
    assert not AuditEntry.objects.exists()


def test_it_answers_403_to_a_viewer_posting_to_admin_only_project_urls(client_for, project, viewer, member, org):
    from tests.conftest import make_user

    newcomer = make_user(org, "nina")
    client = client_for(viewer)
    pid = project.project_id
    viewer_membership = Membership.objects.get(user=viewer)
    member_membership = Membership.objects.get(user=member)

    assert_forbidden_page(client.post(f"/projects/{pid}/members/add/", {"user": newcomer.pk, "role": Role.ADMIN}))
    # ...not even to raise their own role.
    assert_forbidden_page(client.post(f"/projects/{pid}/members/{viewer_membership.pk}/role/", {"role": Role.ADMIN}))
    assert_forbidden_page(client.post(f"/projects/{pid}/members/{member_membership.pk}/remove/"))

    assert set(Membership.objects.values_list("user__username", "role")) == {
        ("vic", Role.VIEWER),
        ("mia", Role.MEMBER),
    }
    assert not AuditEntry.objects.exists()


def test_it_answers_403_to_a_member_posting_to_admin_only_project_urls(client_for, project, member, viewer):
    client = client_for(member)
    m = Membership.objects.get(user=viewer)
    assert_forbidden_page(client.post(f"/projects/{project.project_id}/members/{m.pk}/role/", {"role": Role.ADMIN}))
    m.refresh_from_db()
    assert m.role == Role.VIEWER


def test_it_answers_403_as_an_htmx_request_too(client_for, project, viewer):
    response = client_for(viewer).post(
        f"/projects/{project.project_id}/members/add/", {"role": Role.ADMIN}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 403


def test_it_answers_404_for_another_projects_page(client_for, member, other_project):
    response = client_for(member).get(f"/projects/{other_project.project_id}/")
    assert response.status_code == 404
    assert "errors/404.html" in [t.name for t in response.templates]
    assert "There is nothing here, or it is not yours to see." in response.content.decode()
    # The page does not say the project exists.
    assert other_project.name not in response.content.decode()


def test_it_answers_404_when_posting_into_another_project(client_for, member, other_project, make_member, org):
    from tests.conftest import make_user

    make_user(org, "nina")
    before = Membership.objects.count()
    response = client_for(member).post(
        f"/projects/{other_project.project_id}/members/add/", {"user": member.pk, "role": Role.ADMIN}
    )
    assert response.status_code == 404
    assert Membership.objects.count() == before
    response = client_for(member).post(f"/projects/{other_project.project_id}/switch/")
    assert response.status_code == 404
    member.profile.refresh_from_db()
    assert member.profile.current_project is None


def test_it_answers_404_for_an_unknown_project_id(client_for, member):
    assert client_for(member).get("/projects/0123456789abcdef0123456789abcdef/").status_code == 404
    assert client_for(member).get("/projects/not-even-hex/").status_code == 404


def test_it_answers_404_for_a_membership_of_another_project_through_my_project(
    client_for, project, project_admin, other_project, org
):
    from tests.conftest import make_user

    stranger = make_user(org, "stan")
    theirs = Membership.objects.create(project=other_project, user=stranger, role=Role.ADMIN)
    client = client_for(project_admin)
    pid = project.project_id
    assert client.post(f"/projects/{pid}/members/{theirs.pk}/role/", {"role": Role.VIEWER}).status_code == 404
    assert client.post(f"/projects/{pid}/members/{theirs.pk}/remove/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.role == Role.ADMIN


def test_it_lists_only_the_users_own_projects(client_for, member, project, other_project):
    response = client_for(member).get("/projects/")
    assert project.project_id.encode() in response.content
    assert other_project.project_id.encode() not in response.content
    # nor in the project switcher
    assert other_project.name.encode() not in response.content


def test_it_lets_a_site_admin_see_every_project(client_for, site_admin, project, other_project):
    response = client_for(site_admin).get("/projects/")
    assert project.project_id.encode() in response.content
    assert other_project.project_id.encode() in response.content
    assert client_for(site_admin).get(f"/projects/{other_project.project_id}/").status_code == 200


def test_it_refuses_a_post_without_csrf_token_and_changes_nothing(site_admin, org, member, project):
    client = Client(enforce_csrf_checks=True)
    client.force_login(site_admin, backend="django.contrib.auth.backends.ModelBackend")
    projects, orgs = Project.objects.count(), Organization.objects.count()

    response = client.post("/projects/new/", {"organization": org.pk, "name": "forged"})
    assert_forbidden_page(response)
    assert "CSRF verification failed." in response.content.decode()
    client.post("/organizations/", {"name": "forged"})
    client.post(f"/users/{member.pk}/deactivate/")
    client.post(f"/projects/{project.project_id}/members/add/", {"user": member.pk, "role": Role.ADMIN})
    client.post("/accounts/language/", {"language": "zh-hans"})

    assert (Project.objects.count(), Organization.objects.count()) == (projects, orgs)
    member.refresh_from_db()
    assert member.is_active
    site_admin.profile.refresh_from_db()
    assert site_admin.profile.language == "en"
    assert not AuditEntry.objects.exists()


def test_it_refuses_a_sign_in_without_csrf_token(member, password):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "mia", "password": password})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_it_accepts_a_post_with_the_csrf_header_htmx_sends(site_admin, org):
    """htmx sends the token from <body hx-headers> as X-CSRFToken."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(site_admin, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get("/projects/new/").content.decode()
    import re

    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)
    response = client.post(
        "/projects/new/", {"organization": org.pk, "name": "viahtmx"}, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/projects/")
    assert Project.objects.filter(name="viahtmx").exists()
