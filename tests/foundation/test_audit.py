"""The audit log: append-only, and a filterable page for site administrators."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from console.accounts import services
from console.accounts.models import Role
from console.audit.models import AppendOnlyError, AuditEntry
from console.audit.services import audit_record

from .conftest import HX, is_full_page

User = get_user_model()


@pytest.fixture
def entry(site_admin, project):
    return audit_record(actor=site_admin, action="project.create", obj=project, project=project, after={"name": "x"})


def test_it_refuses_to_change_an_entry(entry):
    entry.action = "something.else"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="something.else")
    # bulk_update runs in an atomic block of its own; keep the failure inside a savepoint.
    with pytest.raises(AppendOnlyError), transaction.atomic():
        AuditEntry.objects.bulk_update([entry], ["action"])
    assert AuditEntry.objects.get(pk=entry.pk).action == "project.create"


def test_it_refuses_to_delete_an_entry(entry):
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_it_keeps_entries_when_the_actor_and_project_are_deleted(entry, site_admin, project):
    project.delete()
    site_admin.delete()
    entry = AuditEntry.objects.get(pk=entry.pk)
    assert entry.actor is None and entry.project is None
    assert entry.actor_name == "root" and entry.project_name == "vision"


def test_it_records_the_request_id_and_address(client_for, site_admin, org):
    client_for(site_admin).post(
        "/projects/new/", {"organization": org.pk, "name": "traced"}, HTTP_X_REQUEST_ID="trace-123"
    )
    entry = AuditEntry.objects.get(action="project.create")
    assert entry.request_id == "trace-123"
    assert entry.ip_address == "127.0.0.1"


def test_it_names_the_system_when_no_one_acted(db):
    entry = audit_record(actor=None, action="user.create", object_type="user", object_id="1")
    assert entry.actor_name == "system" and entry.request_id == ""


@pytest.fixture
def history(site_admin, project, other_project, make_member, org):
    """A few real administrative actions to browse."""
    alice = make_member(project, "alice", Role.MEMBER)
    services.membership_change_role(actor=site_admin, membership=alice.memberships.get(), role=Role.VIEWER)
    bob = services.user_create(actor=site_admin, username="bob", email="", organization=org, password="x-pass-1234")
    services.membership_add(actor=site_admin, project=other_project, user=bob, role=Role.ADMIN)
    services.user_set_site_admin(actor=bob, user=alice, site_admin=True)
    return {"alice": alice, "bob": bob}


def rows(response) -> int:
    return response.content.decode().count("<tr>") - 1  # minus the header row


def test_it_shows_every_entry_to_a_site_admin(client_for, site_admin, history):
    response = client_for(site_admin).get("/admin/audit/")
    assert response.status_code == 200
    assert is_full_page(response)
    assert rows(response) == 4
    html = response.content.decode()
    assert "membership.change_role" in html
    # Keys and data values are marked as not for translation; a stored sentence of ours is shown translated.
    assert '<div><span class="key" translate="no">role:</span> <span translate="no">member</span></div>' in html


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"actor": "ROO"}, 3),
        ({"actor": "bob"}, 1),
        ({"action": "membership.add"}, 1),
        ({"object_type": "user"}, 2),
        ({"object_type": "membership", "actor": "root"}, 2),
        ({"action": "no.such.action"}, 0),
    ],
)
def test_it_filters_entries(client_for, site_admin, history, query, expected):
    response = client_for(site_admin).get("/admin/audit/", query, **HX)
    assert response.status_code == 200
    assert not is_full_page(response)
    assert response.content.lstrip().startswith(b'<div id="audit-table">')
    if expected:
        assert rows(response) == expected
    else:
        assert "No entries match." in response.content.decode()


def test_it_filters_by_project(client_for, site_admin, history, other_project):
    response = client_for(site_admin).get("/admin/audit/", {"project_id": other_project.project_id}, **HX)
    assert rows(response) == 1
    assert "membership.add" in response.content.decode()


def test_it_offers_the_recorded_actions_and_object_types_as_filters(client_for, site_admin, history):
    html = client_for(site_admin).get("/admin/audit/", {"action": "user.create"}).content.decode()
    assert re.search(r'<option value="user.create"\s+selected>', html)
    assert re.search(r'<option value="membership"\s*>', html)


def test_it_sends_vary_hx_request(client_for, site_admin, history):
    assert "HX-Request" in client_for(site_admin).get("/admin/audit/")["Vary"]
