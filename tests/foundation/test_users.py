"""Site administrators manage users: create (password shown once), deactivate (sessions end), reset, rights."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session

from console.audit.models import AuditEntry

from .conftest import HX, is_full_page

User = get_user_model()


def action_url(user, action):
    return f"/users/{user.pk}/{action}/"


def test_it_lists_users_as_a_page_and_as_a_fragment(client_for, site_admin, member, viewer):
    client = client_for(site_admin)
    response = client.get("/users/")
    assert response.status_code == 200
    assert is_full_page(response)
    assert b"mia" in response.content and b"vic" in response.content
    response = client.get("/users/", {"q": "mi"}, **HX)
    assert response.status_code == 200
    assert not is_full_page(response)
    assert response.content.lstrip().startswith(b'<div id="user-table">')
    assert b"mia" in response.content and b"vic" not in response.content
    assert "HX-Request" in response["Vary"]


def test_it_filters_users_by_status(client_for, site_admin, member, viewer):
    viewer.is_active = False
    viewer.save()
    client = client_for(site_admin)
    inactive = client.get("/users/", {"status": "inactive"}, **HX).content
    assert b"vic" in inactive and b"mia" not in inactive
    active = client.get("/users/", {"status": "active"}, **HX).content
    assert b"mia" in active and b"vic" not in active


def test_it_creates_a_user_and_shows_the_generated_password_once(client_for, site_admin, org):
    client = client_for(site_admin)
    response = client.post("/users/new/", {"username": "nora", "email": "", "organization": org.pk})
    assert response.status_code == 200
    password = re.search(r'<code id="new-password">([^<]+)</code>', response.content.decode()).group(1)
    nora = User.objects.get(username="nora")
    assert nora.check_password(password)
    assert len(password) >= 16
    assert not nora.is_staff
    assert nora.profile.organization == org
    entry = AuditEntry.objects.get(action="user.create", object_id=str(nora.pk))
    assert entry.actor == site_admin
    assert entry.after["username"] == "nora"
    assert password not in str(entry.after)
    # A second user gets a different password: it is generated, never fixed.
    response = client.post("/users/new/", {"username": "otto", "email": "", "organization": org.pk})
    other = re.search(r'<code id="new-password">([^<]+)</code>', response.content.decode()).group(1)
    assert other != password


@pytest.mark.parametrize(
    "data, field_message",
    [
        ({"username": "mia"}, "A user with this username already exists."),
        ({"username": "MIA"}, "A user with this username already exists."),
        ({"username": "bad name!"}, "Enter a valid username"),
        ({"username": ""}, "This field is required."),
        ({"username": "ok", "email": "not-an-email"}, "Enter a valid email address."),
        ({"username": "ok", "organization": "999999"}, "Select a valid choice"),
    ],
)
def test_it_refuses_bad_user_input_with_a_field_message(client_for, site_admin, member, org, data, field_message):
    before = User.objects.count()
    payload = {"username": "", "email": "", "organization": org.pk, **data}
    response = client_for(site_admin).post("/users/new/", payload)
    assert response.status_code == 200
    assert field_message in response.content.decode()
    assert 'class="error"' in response.content.decode()
    assert User.objects.count() == before


def test_it_deactivates_a_user_and_ends_their_sessions(
    new_client, site_admin, member, django_capture_on_commit_callbacks
):
    admin = new_client(site_admin)
    victim = new_client(member)
    victim_key = victim.session.session_key
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(action_url(member, "deactivate"))
    assert response.status_code == 302
    member.refresh_from_db()
    assert not member.is_active
    assert not Session.objects.filter(session_key=victim_key).exists()
    response = victim.get("/projects/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    entry = AuditEntry.objects.get(action="user.deactivate")
    assert (entry.before, entry.after) == ({"is_active": True}, {"is_active": False})
    # The admin's own session is untouched.
    assert admin.get("/users/").status_code == 200


def test_it_reactivates_a_user(client_for, site_admin, member):
    member.is_active = False
    member.save()
    client_for(site_admin).post(action_url(member, "activate"))
    member.refresh_from_db()
    assert member.is_active
    assert AuditEntry.objects.filter(action="user.activate").count() == 1


def test_it_does_not_let_an_admin_deactivate_themselves(client_for, site_admin):
    response = client_for(site_admin).post(action_url(site_admin, "deactivate"), follow=True)
    assert "You cannot deactivate yourself." in response.content.decode()
    site_admin.refresh_from_db()
    assert site_admin.is_active


def test_it_resets_a_password_and_ends_the_users_sessions(new_client, site_admin, member, password):
    victim = new_client(member)
    response = new_client(site_admin).post(action_url(member, "reset-password"))
    assert response.status_code == 200
    new_password = re.search(r'<code id="new-password">([^<]+)</code>', response.content.decode()).group(1)
    member.refresh_from_db()
    assert member.check_password(new_password) and not member.check_password(password)
    assert victim.get("/projects/").status_code == 302
    assert AuditEntry.objects.filter(action="user.reset_password").count() == 1


def test_it_grants_and_revokes_site_admin_rights(client_for, site_admin, member):
    client = client_for(site_admin)
    client.post(action_url(member, "grant-admin"))
    member.refresh_from_db()
    assert member.is_staff
    client.post(action_url(member, "revoke-admin"))
    member.refresh_from_db()
    assert not member.is_staff
    entries = AuditEntry.objects.filter(action="user.site_admin").order_by("id")
    assert [(e.before, e.after) for e in entries] == [
        ({"site_admin": False}, {"site_admin": True}),
        ({"site_admin": True}, {"site_admin": False}),
    ]


def test_it_does_not_let_an_admin_remove_their_own_rights(client_for, site_admin):
    response = client_for(site_admin).post(action_url(site_admin, "revoke-admin"), follow=True)
    assert "You cannot remove your own site administrator rights." in response.content.decode()
    site_admin.refresh_from_db()
    assert site_admin.is_staff


def test_it_answers_an_unknown_action_with_a_message(client_for, site_admin, member):
    response = client_for(site_admin).post(action_url(member, "explode"), follow=True)
    assert response.status_code == 200
    assert "Unknown action." in response.content.decode()


def test_it_answers_404_for_an_unknown_user(client_for, site_admin):
    assert client_for(site_admin).post("/users/999999/deactivate/").status_code == 404


def test_it_rejects_get_on_user_actions(client_for, site_admin, member):
    assert client_for(site_admin).get(action_url(member, "deactivate")).status_code == 405
    member.refresh_from_db()
    assert member.is_active


def test_it_lists_and_creates_organisations(client_for, site_admin, org):
    client = client_for(site_admin)
    response = client.get("/organizations/")
    assert response.status_code == 200 and b"acme" in response.content
    response = client.post("/organizations/", {"name": "initech"})
    assert response.status_code == 302
    response = client.post("/organizations/", {"name": "ACME"})
    assert "An organisation with this name already exists." in response.content.decode()
    response = client.post("/organizations/", {"name": "   "})
    assert "This field is required." in response.content.decode()
    assert AuditEntry.objects.filter(action="organization.create").count() == 1
