"""The job list's metric columns: chosen metrics' last / best value, sorting by them, one query for the values."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.training.phases import Phase
from tests.training.compare_fixtures import lab, log_scalars, make_job, url  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(lab):
    jobs = {name: make_job(lab, name) for name in ("a", "b", "c", "none")}
    log_scalars(jobs["a"], "loss", [3.0, 0.5, 0.9])  # last 0.9, best 0.5
    log_scalars(jobs["b"], "loss", [2.0, 0.7])  # last 0.7, best 0.7
    log_scalars(jobs["c"], "loss", [1.0, 0.8])  # last 0.8, best 0.8
    log_scalars(jobs["a"], "accuracy", [0.2, 0.6])
    return jobs


def order(body: str) -> list[str]:
    return re.findall(r'class="job-name" href="[^"]+">([^<]+)</a>', body)


def test_columns_show_last_and_best_and_sort(lab, runs, client_for, member):
    client = client_for(member)
    base = url("job_list", lab["project"]) + "?metric=loss,accuracy"
    body = client.get(base).content.decode()
    assert 'data-metric-column="loss"' in body and 'data-metric-column="accuracy"' in body
    row_a = re.search(r'<tr id="job-' + str(runs["a"].uuid) + r'".*?</tr>', body, re.S).group(0)
    assert "0.9" in row_a and "best 0.5" in row_a and "0.6" in row_a
    assert '<option value="loss">' in body  # offered as a column
    assert order(client.get(base + "&sort=loss:last").content.decode()) == ["b", "c", "a", "none"]
    assert order(client.get(base + "&sort=-loss:last").content.decode()) == ["a", "c", "b", "none"]
    assert order(client.get(base + "&sort=loss:best").content.decode()) == ["a", "b", "c", "none"]
    # A sort on a column that is not chosen, or nonsense, keeps the newest-first order.
    assert order(client.get(url("job_list", lab["project"]) + "?sort=loss:last").content.decode())[0] == "none"
    assert client.get(base + "&sort=-zzz:nothing").status_code == 200


def test_values_cost_one_query_whatever_the_columns(lab, runs, client_for, member):
    # One query reads the page's summaries (the values and the names offered as columns), chosen columns or not.
    client = client_for(member)
    counts = []
    for query in ("", "?metric=loss", "?metric=loss,accuracy"):
        with CaptureQueriesContext(connection) as queries:
            client.get(url("job_list", lab["project"]) + query)
        counts.append(len(queries))
        assert sum("training_taskscalarseries" in q["sql"] for q in queries.captured_queries) == 1
    assert len(set(counts)) == 1, counts


def test_a_polled_row_keeps_its_columns(lab, runs, client_for, member):
    running = make_job(lab, "live", phase=Phase.RUNNING)
    log_scalars(running, "loss", [1.5])
    client = client_for(member)
    body = client.get(url("job_list", lab["project"]) + "?metric=loss").content.decode()
    row_url = url("job_row", lab["project"], job_id=running.uuid) + "?metric=loss"
    assert f'hx-get="{row_url}"' in body
    row = client.get(row_url, HTTP_HX_REQUEST="true").content.decode()
    assert "data-metric-cell" in row and "1.5" in row
