"""A job of mine that finishes or fails shows a notice on my console pages, once; one query per ask."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from console.accounts.models import Role
from console.training.models import TrainingJob
from console.training.phases import Phase
from tests.training.compare_fixtures import lab, make_job, url  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db
NOTICES = reverse("training:job_notices")


def end(job, phase, reason=""):
    TrainingJob.objects.filter(pk=job.pk).update(phase=phase, end_time=timezone.now(), phase_reason=reason)


def test_every_console_page_asks_for_notices(lab, client_for, member):
    models_page = reverse("mymodels:model_list", kwargs={"project_id": lab["project"].project_id})
    body = client_for(member).get(models_page).content.decode()
    assert f'hx-get="{NOTICES}" hx-trigger="load, every 30s"' in body


def test_an_ended_job_is_announced_once(lab, client_for, member):
    ok = make_job(lab, "good-run", phase=None)
    bad = make_job(lab, "bad-run", phase=None)
    client = client_for(member)
    assert client.get(NOTICES).status_code == 204  # the session starts looking now: nothing old is announced
    end(ok, Phase.COMPLETED)
    end(bad, Phase.FAILED, "worker-0: exited with code 3")
    response = client.get(NOTICES, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Training job good-run (vision) completed." in body
    assert "Training job bad-run (vision) ended: Failed." in body and "exited with code 3" in body
    assert url("job_detail", lab["project"], job_id=bad.uuid) in body
    assert client.get(NOTICES).status_code == 204  # seen


def test_only_the_owners_jobs_and_only_endings(lab, client_for, make_member):
    other = make_member(lab["project"], "otto", Role.MEMBER)
    job = make_job(lab, "mias-run", phase=None)  # created by mia
    client = client_for(other)
    client.get(NOTICES)
    end(job, Phase.COMPLETED)
    assert client.get(NOTICES).status_code == 204
    stopped = make_job(lab, "stopped", phase=None)
    mia = client_for(lab["actor"])
    mia.get(NOTICES)
    end(stopped, Phase.TERMINATED)
    assert mia.get(NOTICES).status_code == 204


def test_one_query_per_ask_and_none_for_pages(lab, client_for, member):
    client = client_for(member)
    client.get(NOTICES)
    with CaptureQueriesContext(connection) as queries:
        client.get(NOTICES)
    assert sum('"training_trainingjob"' in q["sql"] for q in queries.captured_queries) == 1
    with CaptureQueriesContext(connection) as queries:
        client.get(url("algorithm_list", lab["project"]))
    assert not any("end_time" in q["sql"] and "created_by" in q["sql"] for q in queries.captured_queries)


def test_signed_out_nothing(client):
    assert client.get(NOTICES).status_code == 302
