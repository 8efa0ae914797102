"""Compare 2–5 jobs: curves overlaid, parameters and final/best metrics with differences marked; scoped to the project."""

from __future__ import annotations

import json
import re

import pytest

from console.accounts.models import Role
from tests.training.compare_fixtures import lab, log_scalars, make_job, url  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def three(lab):
    jobs = [make_job(lab, "run-a", lr="0.1"), make_job(lab, "run-b", lr="0.01"), make_job(lab, "run-c", lr="0.1")]
    log_scalars(jobs[0], "loss", [2.0, 1.5, 1.2])
    log_scalars(jobs[1], "loss", [2.0, 1.0, 0.6, 0.4])  # lowest final loss, one step more
    log_scalars(jobs[2], "loss", [2.5, 2.2])
    log_scalars(jobs[0], "accuracy", [0.5, 0.7, 0.8])
    log_scalars(jobs[1], "accuracy", [0.5, 0.9, 0.95, 0.93])  # best 0.95, final 0.93
    return jobs


def compare_url(lab, jobs):
    return url("job_compare", lab["project"]) + "?" + "&".join(f"jobs={job.uuid}" for job in jobs)


def row(body: str, attribute: str, name: str) -> str:
    match = re.search(rf'<tr {attribute}="{re.escape(name)}"[^>]*>.*?</tr>', body, re.S)
    assert match, f"no row {name}"
    return match.group(0)


def test_three_jobs_side_by_side(lab, three, client_for, member):
    response = client_for(member).get(compare_url(lab, three))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Compare 3 jobs" in body
    for job in three:
        assert job.name in body
    # Parameters: lr differs (highlighted), epochs is the same; secrets never shown.
    assert 'class="differs"' in row(body, "data-parameter", "lr")
    assert "differs" not in row(body, "data-parameter", "epochs")
    assert "top-secret-123" not in body and "default-secret" not in body
    assert "******" in row(body, "data-parameter", "api_key")
    # Metrics: final · best per job; the lowest final loss and the highest final accuracy win.
    loss = row(body, "data-metric", "loss")
    assert re.search(r'class="mono differs winner">0\.4 · 0\.4', loss), loss
    accuracy = row(body, "data-metric", "accuracy")
    assert re.search(r'winner">0\.93 · 0\.95', accuracy), accuracy
    assert accuracy.count("—") == 1  # run-c logged no accuracy
    # Facts: flavor and duration are there.
    assert "test.cpu.1u" in body and "00:03:00" in body
    # One chart per metric, one series per job, on shared (aligned) steps.
    charts = json.loads(re.search(r'<script id="compare-data" type="application/json">(.*?)</script>', body, re.S)[1])
    assert [chart["name"] for chart in charts] == ["accuracy", "loss"]
    loss_chart = charts[1]
    assert loss_chart["labels"] == ["run-a", "run-b", "run-c"]
    xs, a, b, c = loss_chart["data"]
    assert xs == [1, 2, 3, 4]
    assert a == [2.0, 1.5, 1.2, None] and b == [2.0, 1.0, 0.6, 0.4] and c == [2.5, 2.2, None, None]


@pytest.mark.parametrize("count", [0, 1, 6])
def test_fewer_than_two_or_more_than_five_are_refused(lab, client_for, member, count):
    jobs = [make_job(lab, f"job-{i}") for i in range(max(count, 1))][:count]
    response = client_for(member).get(compare_url(lab, jobs), follow=True)
    assert response.redirect_chain[-1][0] == url("job_list", lab["project"])
    assert f"Select from 2 to 5 jobs to compare; {count} were selected." in response.content.decode()


def test_compare_is_scoped_to_the_project(lab, three, client_for, make_member, other_project, member):
    outsider = make_member(other_project, "olga", Role.MEMBER)
    assert client_for(outsider).get(compare_url(lab, three)).status_code == 404
    # A job of another project is refused on this project's page.
    response = client_for(member).get(
        compare_url(lab, three[:1]) + "&jobs=00000000-0000-0000-0000-000000000000", follow=True
    )
    assert "A selected job is not a job of this project" in response.content.decode()


def test_viewers_may_compare_and_the_list_offers_it(lab, three, client_for, make_member):
    viewer = make_member(lab["project"], "vera", Role.VIEWER)
    client = client_for(viewer)
    assert client.get(compare_url(lab, three[:2])).status_code == 200
    listing = client.get(url("job_list", lab["project"])).content.decode()
    assert 'id="compare-form"' in listing and listing.count('form="compare-form" name="jobs"') == 3
