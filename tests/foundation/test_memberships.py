"""Memberships: same organisation only, one project admin always kept, every change audited."""

import pytest
from django.core.exceptions import ValidationError

from console.accounts import services
from console.accounts.models import Membership, Role
from console.audit.models import AuditEntry
from tests.conftest import make_user

from .conftest import HX, is_full_page


@pytest.fixture
def pid(project):
    return project.project_id


@pytest.fixture
def nina(org):
    return make_user(org, "nina")


def test_it_adds_a_member_and_audits_it(client_for, project_admin, project, pid, nina):
    response = client_for(project_admin).post(f"/projects/{pid}/members/add/", {"user": nina.pk, "role": Role.VIEWER})
    assert response.status_code == 302
    membership = Membership.objects.get(project=project, user=nina)
    assert membership.role == Role.VIEWER
    entry = AuditEntry.objects.get(action="membership.add")
    assert entry.actor == project_admin and entry.project == project
    assert entry.before is None and entry.after == {"user": "nina", "role": "viewer"}


def test_it_answers_the_members_fragment_to_htmx(client_for, project_admin, pid, nina):
    response = client_for(project_admin).post(
        f"/projects/{pid}/members/add/", {"user": nina.pk, "role": "member"}, **HX
    )
    assert response.status_code == 200
    assert not is_full_page(response)
    assert response.content.lstrip().startswith(b'<section id="members">')
    assert b"nina" in response.content
    assert b"nina added." in response.content


def test_it_offers_only_users_of_the_projects_organisation(client_for, project_admin, pid, nina, outsider):
    html = client_for(project_admin).get(f"/projects/{pid}/").content.decode()
    assert f'<option value="{nina.pk}">nina</option>' in html
    assert "olga" not in html


def test_it_refuses_a_user_of_another_organisation(client_for, project_admin, project, pid, outsider):
    response = client_for(project_admin).post(
        f"/projects/{pid}/members/add/", {"user": outsider.pk, "role": Role.ADMIN}, **HX
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Membership.objects.filter(user=outsider).exists()
    assert not AuditEntry.objects.exists()
    # The rule lives in the service too, for the API.
    with pytest.raises(ValidationError) as error:
        services.membership_add(actor=project_admin, project=project, user=outsider, role=Role.MEMBER)
    assert error.value.message_dict == {"user": ["Only users of the project's organisation can join it."]}


def test_it_refuses_a_user_who_is_already_a_member(client_for, project_admin, project, pid, member):
    response = client_for(project_admin).post(f"/projects/{pid}/members/add/", {"user": member.pk, "role": "admin"})
    assert response.status_code == 302
    assert Membership.objects.get(user=member).role == Role.MEMBER
    with pytest.raises(ValidationError) as error:
        services.membership_add(actor=project_admin, project=project, user=member, role=Role.ADMIN)
    assert "This user is already a member of the project." in error.value.messages


def test_it_refuses_an_unknown_role(client_for, project_admin, pid, nina):
    response = client_for(project_admin).post(f"/projects/{pid}/members/add/", {"user": nina.pk, "role": "owner"}, **HX)
    assert "Select a valid choice. owner is not one of the available choices." in response.content.decode()
    assert not Membership.objects.filter(user=nina).exists()


def test_it_shows_the_error_after_a_plain_post_too(client_for, project_admin, pid, nina):
    response = client_for(project_admin).post(
        f"/projects/{pid}/members/add/", {"user": nina.pk, "role": "owner"}, follow=True
    )
    assert response.status_code == 200
    assert "Select a valid choice. owner is not one of the available choices." in response.content.decode()


def test_it_changes_a_role_and_audits_before_and_after(client_for, project_admin, pid, member):
    m = Membership.objects.get(user=member)
    response = client_for(project_admin).post(f"/projects/{pid}/members/{m.pk}/role/", {"role": Role.VIEWER}, **HX)
    assert response.status_code == 200
    assert response.content.lstrip().startswith(b'<section id="members">')
    m.refresh_from_db()
    assert m.role == Role.VIEWER
    entry = AuditEntry.objects.get(action="membership.change_role")
    assert (entry.before, entry.after) == ({"role": "member"}, {"role": "viewer"})


def test_it_keeps_the_last_project_admin_on_role_change(client_for, project_admin, pid):
    m = Membership.objects.get(user=project_admin)
    response = client_for(project_admin).post(f"/projects/{pid}/members/{m.pk}/role/", {"role": Role.MEMBER}, **HX)
    assert response.status_code == 200
    assert "A project keeps at least one project admin." in response.content.decode()
    m.refresh_from_db()
    assert m.role == Role.ADMIN
    assert not AuditEntry.objects.exists()


def test_it_keeps_the_last_project_admin_on_removal(client_for, project_admin, pid):
    m = Membership.objects.get(user=project_admin)
    response = client_for(project_admin).post(f"/projects/{pid}/members/{m.pk}/remove/", follow=True)
    assert "A project keeps at least one project admin." in response.content.decode()
    assert Membership.objects.filter(pk=m.pk).exists()
    assert not AuditEntry.objects.exists()


def test_it_lets_an_admin_step_down_when_another_admin_remains(client_for, project_admin, project, pid, make_member):
    make_member(project, "ada", Role.ADMIN)
    m = Membership.objects.get(user=project_admin)
    client_for(project_admin).post(f"/projects/{pid}/members/{m.pk}/role/", {"role": Role.MEMBER})
    m.refresh_from_db()
    assert m.role == Role.MEMBER


def test_it_removes_a_member_and_audits_what_was_there(client_for, project_admin, project, pid, viewer):
    m = Membership.objects.get(user=viewer)
    response = client_for(project_admin).post(f"/projects/{pid}/members/{m.pk}/remove/")
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=m.pk).exists()
    entry = AuditEntry.objects.get(action="membership.remove")
    assert entry.before == {"user": "vic", "role": "viewer"} and entry.after is None
    assert entry.project == project
    # The removed viewer no longer sees the project.
    assert client_for(viewer).get(f"/projects/{pid}/").status_code == 404


def test_it_refuses_an_invalid_role_change(client_for, project_admin, pid, member):
    m = Membership.objects.get(user=member)
    response = client_for(project_admin).post(f"/projects/{pid}/members/{m.pk}/role/", {"role": "god"}, follow=True)
    assert "Choose a valid role." in response.content.decode()
    m.refresh_from_db()
    assert m.role == Role.MEMBER


def test_it_lets_a_site_admin_manage_any_project(client_for, site_admin, project, pid, nina):
    response = client_for(site_admin).post(f"/projects/{pid}/members/add/", {"user": nina.pk, "role": Role.ADMIN})
    assert response.status_code == 302
    assert Membership.objects.get(user=nina).role == Role.ADMIN
