"""Issue 15 §5: the job and algorithm lists cost the same number of queries at 5 rows and at 60, and
in the API's ``limit``; search finds substrings in any case; the list indexes exist on PostgreSQL."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.seed import seed_jobs
from console.training.models import Algorithm, TrainingJob
from console.training.phases import Phase
from tests.api.conftest import token_body

pytestmark = pytest.mark.django_db


def _count(call) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = call()
    assert response.status_code == 200, response.content[:500]
    return len(queries)


@pytest.fixture
def token(client, member, project):
    response = client.post(
        "/v3/auth/tokens", data=json.dumps(token_body(member.username)), content_type="application/json"
    )
    assert response.status_code == 201, response.content
    return response["X-Subject-Token"]


def _job_list_queries(client, project, token) -> dict[str, int]:
    url = f"/projects/{project.project_id}/training/jobs/"
    api = f"/v2/{project.project_id}/training-job-searches"
    partial = {"HTTP_HX_REQUEST": "true"}

    def search(limit):
        body = json.dumps({"limit": limit, "offset": 0})
        return client.post(api, data=body, content_type="application/json", HTTP_X_AUTH_TOKEN=token)

    return {
        "page": _count(lambda: client.get(url)),
        "partial": _count(lambda: client.get(url, **partial)),
        "page 2": _count(lambda: client.get(url, {"page": 2}, **partial)),
        "search": _count(lambda: client.get(url, {"q": "00000"}, **partial)),
        "phase": _count(lambda: client.get(url, {"phase": Phase.COMPLETED}, **partial)),
        "api 10": _count(lambda: search(10)),
        "api 50": _count(lambda: search(50)),
    }


def _seed(project, member, n, *, seed):
    seed_jobs(project, n, user=member, seed=seed)
    # Every request below has rows to show at both sizes (a list with no rows skips its prefetches).
    TrainingJob.objects.filter(pk=TrainingJob.objects.filter(project=project).latest("created_at").pk).update(
        phase=Phase.COMPLETED
    )


def test_job_list_queries_are_constant_in_rows_and_limit(client_for, member, project, token):
    client = client_for(member)
    client.get(f"/projects/{project.project_id}/training/jobs/")  # session, caches: not what we count
    _seed(project, member, 5, seed=1)
    small = _job_list_queries(client, project, token)
    _seed(project, member, 55, seed=2)
    assert TrainingJob.objects.filter(project=project).count() == 60
    large = _job_list_queries(client, project, token)
    assert large == small
    # And in limit: 10 and 50 items cost the same.
    assert large["api 10"] == large["api 50"]


def test_the_last_page_and_api_offsets_return_the_same_rows_as_a_plain_slice(client_for, member, project, token):
    seed_jobs(project, 45, user=member)
    expected = list(TrainingJob.objects.filter(project=project).values_list("name", flat=True))
    client = client_for(member)
    page3 = client.get(f"/projects/{project.project_id}/training/jobs/", {"page": 3})
    assert page3.status_code == 200
    page = page3.context["page"]
    assert page.number == 3 and page.paginator.count == 45
    assert [job.name for job in page.object_list] == expected[40:45]
    too_far = client.get(f"/projects/{project.project_id}/training/jobs/", {"page": 99}).context["page"]
    assert too_far.number == 3  # Django's get_page: out of range → the last page
    api = f"/v2/{project.project_id}/training-job-searches"
    for offset, limit in ((0, 10), (7, 13), (40, 50), (45, 5), (100, 10)):
        body = client.post(api, data=json.dumps({"offset": offset, "limit": limit}), content_type="application/json",
                           HTTP_X_AUTH_TOKEN=token).json()  # fmt: skip
        assert body["total"] == 45
        assert [item["metadata"]["name"] for item in body["items"]] == expected[offset : offset + limit]
    # Deep offsets are read backward (from the end of the order): the same rows, in any order asked.
    by_name = sorted(expected)
    for offset, limit in ((0, 10), (30, 10), (40, 10)):
        body = client.post(api, data=json.dumps({"offset": offset, "limit": limit, "sort_by": "name", "order": "asc"}),
                           content_type="application/json", HTTP_X_AUTH_TOKEN=token).json()  # fmt: skip
        assert [item["metadata"]["name"] for item in body["items"]] == by_name[offset : offset + limit]


def test_api_items_keep_their_tasks_and_node_count_metrics(client_for, member, project, token):
    seed_jobs(project, 30, user=member)
    api = f"/v2/{project.project_id}/training-job-searches"
    client = client_for(member)
    body = client.post(api, data=json.dumps({"limit": 30}), content_type="application/json",
                       HTTP_X_AUTH_TOKEN=token).json()  # fmt: skip
    for item in body["items"]:
        job = TrainingJob.objects.get(uuid=item["metadata"]["id"])
        assert item["status"]["tasks"] == [t.name for t in job.tasks.order_by("index")]
        events = job.events.filter(running_nodes__isnull=False).order_by("at", "id")
        if job.phase not in (Phase.CREATING, Phase.RUNNING):
            expected = [[int(e.at.timestamp() * 1000), e.running_nodes] for e in events]
            assert item["status"]["node_count_metrics"] == expected
    assert any(item["status"]["tasks"] for item in body["items"])


def _job(project, name, description=""):
    return TrainingJob.objects.create(project=project, name=name, description=description, algorithm_spec={})


@pytest.mark.parametrize(
    "query",
    ["vision", "VISION", "ViSiOn-RuN", "ha-v", "a", "Al", "n-r", "Nightly", "GHTL", "y m"],
)
def test_search_finds_substrings_of_name_or_description_in_any_case(client_for, member, project, query):
    wanted = {_job(project, "Alpha-Vision-Run").name, _job(project, "other", "A nightly ResNet").name}
    _job(project, "zzz", "qqq")
    client = client_for(member)
    page = client.get(f"/projects/{project.project_id}/training/jobs/", {"q": query}).context["page"]
    found = {job.name for job in page.object_list}
    haystack = {"Alpha-Vision-Run": "alpha-vision-run", "other": "other a nightly resnet"}
    assert found == {name for name in wanted if query.lower() in haystack[name]}
    assert "zzz" not in found


def test_algorithm_list_queries_are_constant_in_rows(client_for, member, project, local_engine):
    client = client_for(member)
    url = f"/projects/{project.project_id}/training/algorithms/"

    def make(first, n):
        Algorithm.objects.bulk_create(
            Algorithm(
                project=project,
                name=f"algo-{i:03d}",
                description=f"Trains model {i}",
                code_dir="/b/c/",
                boot_file="/b/c/train.py",
                engine=local_engine,
                created_by=member,
            )  # fmt: skip
            for i in range(first, first + n)
        )

    def counts():
        return {
            "page": _count(lambda: client.get(url)),
            "page 2": _count(lambda: client.get(url, {"page": 2}, HTTP_HX_REQUEST="true")),
            "search": _count(lambda: client.get(url, {"q": "ALGO-00"}, HTTP_HX_REQUEST="true")),
        }

    client.get(url)
    make(0, 5)
    small = counts()
    make(5, 55)
    assert counts() == small


@pytest.mark.skipif(connection.vendor != "postgresql", reason="indexes of PostgreSQL")
def test_the_migration_made_the_list_and_trigram_indexes():
    # (Plans are checked at 100,000 rows by bench/lists.py: on a test's few rows the planner scans.)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        assert cursor.fetchone(), "the migration creates pg_trgm where the database allows it (it does here)"
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename LIKE ANY (%s)",
                       [["training_%", "mymodels_%", "audit_%"]])  # fmt: skip
        definitions = dict(cursor.fetchall())
    assert "(project_id, created_at DESC, id DESC) WHERE (deleted_at IS NULL)" in definitions["trainingjob_live_list"]
    for name, expression in [
        ("training_trainingjob_name_trgm", "upper((name)::text) gin_trgm_ops"),
        ("training_trainingjob_description_trgm", "upper((description)::text) gin_trgm_ops"),
        ("training_algorithm_name_trgm", "upper((name)::text) gin_trgm_ops"),
        ("mymodels_mymodel_name_trgm", "upper((name)::text) gin_trgm_ops"),
        ("audit_auditentry_actor_name_trgm", "upper((actor_name)::text) gin_trgm_ops"),
    ]:
        assert "USING gin" in definitions[name] and expression in definitions[name], definitions.get(name)
    assert "project_id, created_at DESC, id DESC" in definitions["mymodel_project_list"]
    assert "at DESC, id DESC" in definitions["auditentry_list"]


def test_a_refused_pg_trgm_only_warns(monkeypatch):
    """Where CREATE EXTENSION is refused, the migration goes on (search stays correct, slower)."""
    from django.db import DatabaseError

    from console.core import trigram

    class Refusing:
        vendor = "postgresql"
        alias = connection.alias

        def cursor(self):
            real = connection.cursor()

            class Cursor:
                def __enter__(self):
                    return self

                def __exit__(self, *exc):
                    real.close()

                def execute(self, sql, params=None):
                    if sql.startswith("CREATE EXTENSION"):
                        raise DatabaseError('permission denied to create extension "pg_trgm"')
                    return real.execute("SELECT 1 WHERE false")

                def fetchone(self):
                    return real.fetchone()

            return Cursor()

    with pytest.warns(RuntimeWarning, match="pg_trgm could not be created"):
        assert trigram.trigram_available(Refusing()) is False
