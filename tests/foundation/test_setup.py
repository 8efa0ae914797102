"""First administrator and `manage.py setup_console`: idempotent, password generated and shown once."""

import re
from io import StringIO

from django.contrib.auth import get_user_model
from django.core.management import call_command

from console.accounts.models import Organization
from console.accounts.services import ensure_first_admin
from console.audit.models import AuditEntry

User = get_user_model()


def test_it_creates_the_first_admin_once_with_a_random_password(db):
    created = ensure_first_admin()
    assert created is not None
    admin, password = created
    assert admin.username == "admin" and admin.is_staff and admin.is_superuser and admin.is_active
    assert admin.check_password(password)
    assert len(password) >= 16
    assert admin.profile.organization.name == "default"
    assert AuditEntry.objects.filter(action="user.create", object_id=str(admin.pk)).count() == 1
    # Once: an active site administrator exists now.
    assert ensure_first_admin() is None
    assert User.objects.count() == 1


def test_it_does_nothing_when_a_site_admin_exists(site_admin):
    assert ensure_first_admin() is None
    assert list(User.objects.values_list("username", flat=True)) == ["root"]


def test_it_creates_an_admin_when_the_only_one_was_deactivated(db):
    """A deactivated "admin" must not make set-up crash on the taken username."""
    admin, first_password = ensure_first_admin()
    admin.is_active = False
    admin.save()
    created = ensure_first_admin()
    assert created is not None
    new_admin, password = created
    assert new_admin.pk != admin.pk and new_admin.is_active and new_admin.check_password(password)
    assert new_admin.username == "admin2"
    # Generated, never fixed: the two passwords differ.
    assert not new_admin.check_password(first_password)


def run_setup(**kwargs) -> str:
    out = StringIO()
    call_command("setup_console", stdout=out, **kwargs)
    return out.getvalue()


def test_it_sets_up_twice_without_changing_anything_the_second_time(db, settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    first = run_setup()
    password = re.search(r"password: (\S+)", first).group(1)
    assert "First administrator created" in first
    assert (tmp_path / "static" / "css" / "console.css").exists()
    counts = (User.objects.count(), Organization.objects.count(), AuditEntry.objects.count())

    second = run_setup()
    assert "First administrator created" not in second and "password" not in second
    assert (User.objects.count(), Organization.objects.count(), AuditEntry.objects.count()) == counts
    assert User.objects.get(username="admin").check_password(password)


def test_it_names_the_database_and_broker_it_uses(db):
    out = run_setup(no_static=True)
    assert re.search(r"Database: \w+; broker: \w+", out)
