"""Fixtures for the foundation tests: more people, separate browsers (clients), HTMX requests."""

import pytest
from django.test import Client

from console.accounts.models import Organization
from tests.conftest import PASSWORD, make_user


@pytest.fixture
def other_org(db):
    return Organization.objects.create(name="globex")


@pytest.fixture
def outsider(other_org):
    """A user of another organisation."""
    return make_user(other_org, "olga")


@pytest.fixture
def new_client():
    """new_client(user=None) -> a separate Client (another browser), signed in when a user is given."""

    def make(user=None, **kwargs):
        c = Client(**kwargs)
        if user is not None:
            c.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return c

    return make


@pytest.fixture
def password():
    return PASSWORD


HX = {"HTTP_HX_REQUEST": "true"}


def is_full_page(response) -> bool:
    return b"<html" in response.content


def session_user_id(client) -> str | None:
    return client.session.get("_auth_user_id")
