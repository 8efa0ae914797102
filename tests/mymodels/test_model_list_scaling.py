"""Issue 15 §5: My Models costs the same number of queries at 5 models and at 60 (page, partial,
page 2, last page, search, status filter), and its search finds substrings in any case."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.mymodels.models import ModelStatus, MyModel

pytestmark = pytest.mark.django_db


def _count(call) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = call()
    assert response.status_code == 200, response.content[:500]
    return len(queries)


def _make(project, member, base_version, first, n):
    MyModel.objects.bulk_create(
        MyModel(
            project=project,
            name=f"Model-{i:03d}",
            description=f"model {i}",
            base_version=base_version,
            created_by=member,
        )  # fmt: skip
        for i in range(first, first + n)
    )


def test_model_list_queries_are_constant_in_rows(client_for, member, project, qwen25_7b):
    client = client_for(member)
    url = f"/projects/{project.project_id}/models/"
    partial = {"HTTP_HX_REQUEST": "true"}

    def counts():
        return {
            "page": _count(lambda: client.get(url)),
            "partial": _count(lambda: client.get(url, **partial)),
            "page 2": _count(lambda: client.get(url, {"page": 2}, **partial)),
            "last": _count(lambda: client.get(url, {"page": "last"}, **partial)),
            "search": _count(lambda: client.get(url, {"q": "odel-00"}, **partial)),
            "status": _count(lambda: client.get(url, {"status": ModelStatus.FAILED}, **partial)),
        }

    client.get(url)
    _make(project, member, qwen25_7b, 0, 5)
    small = counts()
    _make(project, member, qwen25_7b, 5, 55)
    assert counts() == small


@pytest.mark.parametrize("query", ["model-01", "MODEL-01", "l-0", "m", "01"])
def test_model_search_finds_substrings_in_any_case(client_for, member, project, qwen25_7b, query):
    _make(project, member, qwen25_7b, 0, 25)
    page = client_for(member).get(f"/projects/{project.project_id}/models/", {"q": query}).context["page"]
    expected = sorted((f"Model-{i:03d}" for i in range(25) if query.lower() in f"model-{i:03d}"), reverse=True)
    assert page.paginator.count == len(expected)
    assert [m.name for m in page.object_list] == expected[:20]
