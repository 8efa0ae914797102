"""Issue 15 §5: the audit log costs the same number of queries at 5 entries and at 60 (page,
partial, page 2, an actor search, an action filter); the actor search is a case-insensitive substring."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.audit.models import AuditEntry

pytestmark = pytest.mark.django_db


def _count(call) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = call()
    assert response.status_code == 200, response.content[:500]
    return len(queries)


def _entries(project, actor, first, n):
    AuditEntry.objects.bulk_create(
        AuditEntry(
            actor=actor,
            actor_name=f"Person-{i % 7}",
            action=("job.delete", "model.create")[i % 2],
            object_type="training_job",
            object_id=str(i),
            object_repr=f"job {i}",
            project=project,
            project_name=project.name,
        )  # fmt: skip
        for i in range(first, first + n)
    )


def test_audit_list_queries_are_constant_in_rows(client_for, site_admin, project):
    client = client_for(site_admin)
    url = "/admin/audit/"
    partial = {"HTTP_HX_REQUEST": "true"}

    def counts():
        return {
            "page": _count(lambda: client.get(url)),
            "partial": _count(lambda: client.get(url, **partial)),
            "page 2": _count(lambda: client.get(url, {"page": 2}, **partial)),
            "actor": _count(lambda: client.get(url, {"actor": "ERSON-1"}, **partial)),
            "action": _count(lambda: client.get(url, {"action": "job.delete"}, **partial)),
        }

    client.get(url)
    _entries(project, site_admin, 0, 5)
    small = counts()
    _entries(project, site_admin, 5, 55)
    assert counts() == small


def test_audit_actor_search_is_a_case_insensitive_substring(client_for, site_admin, project):
    _entries(project, site_admin, 0, 14)
    page = client_for(site_admin).get("/admin/audit/", {"actor": "rson-3"}).context["page"]
    assert sorted(int(e.object_id) for e in page.object_list) == [3, 10]
