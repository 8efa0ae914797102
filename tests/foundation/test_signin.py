"""Sign-in, throttling of repeated failures (django-axes), sign-out."""

import pytest
from axes.models import AccessAttempt
from django.conf import settings

from tests.conftest import make_user

from .conftest import session_user_id

LOGIN = "/accounts/login/"
WRONG = "Wrong username or password, or the account is inactive."


def post_login(client, username, password, **extra):
    return client.post(LOGIN, {"username": username, "password": password, **extra})


@pytest.mark.django_db
def test_it_shows_the_sign_in_form(client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b'name="password"' in response.content
    assert b"csrfmiddlewaretoken" in response.content


def test_it_signs_in_and_lands_on_the_console(client, member, project, password):
    response = post_login(client, "mia", password)
    assert response.status_code == 302
    assert session_user_id(client) == str(member.pk)
    # home sends the user to their project's dashboard
    response = client.get(response["Location"])
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.project_id}/dashboard/"


def test_it_rejects_a_wrong_password_with_a_message(client, member):
    response = post_login(client, "mia", "not-the-password")
    assert response.status_code == 200
    assert WRONG in response.content.decode()
    assert session_user_id(client) is None


def test_it_rejects_an_unknown_user_with_the_same_message(client, db):
    response = post_login(client, "nobody", "whatever-123")
    assert response.status_code == 200
    assert WRONG in response.content.decode()
    assert session_user_id(client) is None


def test_it_rejects_an_inactive_user_with_a_message(client, org, password):
    user = make_user(org, "gone")
    user.is_active = False
    user.save()
    response = post_login(client, "gone", password)
    assert response.status_code == 200
    assert WRONG in response.content.decode()
    assert session_user_id(client) is None


def test_it_rejects_an_empty_form_with_field_messages(client, db):
    response = post_login(client, "", "")
    assert response.status_code == 200
    assert response.content.decode().count("This field is required.") == 2


def test_it_ignores_an_off_site_next_url(client, member, password):
    response = post_login(client, "mia", password, next="https://evil.example/steal")
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


def test_it_sends_a_signed_in_user_away_from_the_sign_in_page(client_for, member):
    response = client_for(member).get(LOGIN)
    assert response.status_code == 302


def test_it_locks_out_after_the_failure_limit_with_429(client, member, password):
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        assert post_login(client, "mia", "wrong-guess").status_code == 200
    response = post_login(client, "mia", "wrong-guess")
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "accounts/locked_out.html" in [t.name for t in response.templates]
    # Locked means locked: even the right password is refused, and nobody is signed in.
    response = post_login(client, "mia", password)
    assert response.status_code == 429
    assert session_user_id(client) is None
    assert AccessAttempt.objects.filter(username="mia").exists()


def test_it_locks_only_that_username_from_that_address(client, member, viewer, password):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        post_login(client, "mia", "wrong-guess")
    assert post_login(client, "mia", password).status_code == 429
    # Another account from the same address still signs in.
    response = post_login(client, "vic", password)
    assert response.status_code == 302
    assert session_user_id(client) == str(viewer.pk)


def test_it_forgets_failures_after_a_successful_sign_in(client, member, password):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        post_login(client, "mia", "wrong-guess")
    assert post_login(client, "mia", password).status_code == 302
    client.post("/accounts/logout/")
    # The counter started again: limit-1 more failures do not lock.
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert post_login(client, "mia", "wrong-guess").status_code == 200
    assert post_login(client, "mia", password).status_code == 302


def test_it_signs_out_only_by_post(client_for, member):
    from django.contrib.sessions.models import Session

    client = client_for(member)
    session_key = client.session.session_key
    assert client.get("/accounts/logout/").status_code == 405
    assert session_user_id(client) == str(member.pk)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert session_user_id(client) is None
    assert not Session.objects.filter(session_key=session_key).exists()
    # The next page asks for sign-in again.
    response = client.get("/projects/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
