"""A user changes their own password: their other sessions end, this one stays."""

from django.contrib.sessions.models import Session

from console.audit.models import AuditEntry

from .conftest import session_user_id

URL = "/accounts/password/"
NEW = "a-much-better-passphrase-42"


def test_it_renders_the_form(client_for, member):
    response = client_for(member).get(URL)
    assert response.status_code == 200
    assert b'name="old_password"' in response.content


def test_it_ends_the_other_sessions_and_keeps_this_one(new_client, member, password):
    here = new_client(member)
    laptop = new_client(member)
    phone = new_client(member)
    other_keys = [laptop.session.session_key, phone.session.session_key]

    response = here.post(URL, {"old_password": password, "new_password1": NEW, "new_password2": NEW})
    assert response.status_code == 302

    member.refresh_from_db()
    assert member.check_password(NEW)
    # The other sessions are gone from the store, not merely invalid.
    assert not Session.objects.filter(session_key__in=other_keys).exists()
    for other in (laptop, phone):
        response = other.get("/projects/")
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    # This browser is still signed in (its session was re-keyed, not ended).
    assert session_user_id(here) == str(member.pk)
    assert here.get("/projects/").status_code == 200
    page = here.get("/projects/", follow=False)
    assert page.status_code == 200
    assert AuditEntry.objects.filter(action="user.change_password", object_id=str(member.pk)).count() == 1


def test_it_does_not_touch_other_users_sessions(new_client, member, viewer, password):
    bystander = new_client(viewer)
    new_client(member).post(URL, {"old_password": password, "new_password1": NEW, "new_password2": NEW})
    assert bystander.get("/projects/").status_code == 200


def test_it_refuses_a_wrong_old_password_and_changes_nothing(new_client, member, password):
    here = new_client(member)
    laptop = new_client(member)
    response = here.post(URL, {"old_password": "not-it", "new_password1": NEW, "new_password2": NEW})
    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.content.decode()
    member.refresh_from_db()
    assert member.check_password(password)
    assert laptop.get("/projects/").status_code == 200
    assert not AuditEntry.objects.filter(action="user.change_password").exists()


def test_it_refuses_a_weak_or_mismatched_new_password(client_for, member, password):
    client = client_for(member)
    response = client.post(URL, {"old_password": password, "new_password1": "123", "new_password2": "123"})
    assert response.status_code == 200
    assert "This password is too short" in response.content.decode()
    response = client.post(URL, {"old_password": password, "new_password1": NEW, "new_password2": NEW + "x"})
    assert "The two password fields didn’t match." in response.content.decode()
    member.refresh_from_db()
    assert member.check_password(password)


def test_it_asks_an_anonymous_visitor_to_sign_in(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
