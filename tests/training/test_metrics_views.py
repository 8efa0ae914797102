"""The chart endpoint of logged scalars and the API's: downsampled on the server, permission-checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from console.training import metrics
from console.training.models import TaskScalar, TaskScalarSeries, TrainingJob, TrainingTask

pytestmark = pytest.mark.django_db


def curve_job(project, user, points):
    job = TrainingJob.objects.create(project=project, name="curve", created_by=user)
    task = TrainingTask.objects.create(job=job, index=0, name="worker-0")
    start = datetime.now(UTC)
    values = [1.0 / (1 + i) for i in range(points)]
    values[points // 3] = 50.0  # a spike the chart must keep
    TaskScalar.objects.bulk_create(
        (TaskScalar(task=task, name="loss", step=i, wall_time=start + timedelta(milliseconds=i), value=v)
         for i, v in enumerate(values)),
        batch_size=20000,
    )  # fmt: skip
    TaskScalarSeries.objects.create(
        task=task, name="loss", points=points, last_step=points - 1, last_value=values[-1],
        last_wall_time=start, min_value=min(values), max_value=max(values),
    )  # fmt: skip
    return job


def test_the_chart_endpoint_downsamples_100000_points(project, member, client_for):
    job = curve_job(project, member, 100_000)
    url = reverse("training:job_scalars", kwargs={"project_id": project.project_id, "job_id": job.uuid})
    body = client_for(member).get(url, {"max_points": 2000}).json()
    curve = body["curves"]["loss"]
    task = curve["tasks"][0]
    assert curve["downsampled"] and task["points"] == 100_000
    assert 2000 <= task["shown"] <= 2002 and len(task["xs"]) == len(task["ys"]) == task["shown"]
    assert 50.0 in task["ys"] and task["xs"][0] == 0 and task["xs"][-1] == 99_999
    by_time = client_for(member).get(url, {"max_points": 500, "x": "time"}).json()["curves"]["loss"]["tasks"][0]
    assert by_time["shown"] <= 502 and by_time["xs"] == sorted(by_time["xs"]) and by_time["xs"][0] > 1.7e9
    summary = metrics.scalar_summary([job.pk])[job.pk]["loss"]
    assert summary["best"] == summary["min"] and summary["max"] == 50.0


def test_another_projects_member_cannot_read_the_curves(project, other_project, member, make_member, client_for):
    job = curve_job(project, member, 10)
    stranger = make_member(other_project, "sam")
    url = reverse("training:job_scalars", kwargs={"project_id": project.project_id, "job_id": job.uuid})
    assert client_for(stranger).get(url).status_code in (403, 404)


def test_the_scalars_endpoint_is_documented_in_openapi():
    from console.api.api import api

    schema = api.get_openapi_schema()
    operation = schema["paths"]["/v2/{project_id}/training-jobs/{training_job_id}/scalars"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"name", "x", "max_points"}


def test_the_page_and_the_endpoint_say_when_the_cap_was_reached(project, member, client_for, settings):
    settings.TRAINING_SCALAR_CAP = 100
    job = curve_job(project, member, 100)
    client = client_for(member)
    kwargs = {"project_id": project.project_id, "job_id": job.uuid}
    usage = client.get(reverse("training:job_scalars", kwargs=kwargs)).json()["usage"]
    assert usage["capped"] and usage["cap"] == 100 and usage["points"] == 100
    page = client.get(reverse("training:job_detail", kwargs=kwargs)).content.decode()
    assert "reached its cap of %(cap)s stored metric points (TRAINING_SCALAR_CAP)" in page  # filled in by charts.js
    assert 'data-scalars-url="' + reverse("training:job_scalars", kwargs=kwargs) in page


def test_a_curve_downloads_as_csv_and_json_with_every_point(project, member, client_for):
    job = curve_job(project, member, 3000)
    client = client_for(member)
    url = reverse("training:job_scalars_download", kwargs={"project_id": project.project_id, "job_id": job.uuid})
    csv = b"".join(client.get(url, {"name": "loss"}).streaming_content).decode()
    assert csv.splitlines()[0] == "task,name,step,wall_time,value" and len(csv.splitlines()) == 3001
    body = client.get(url, {"name": "loss", "format": "json"}).json()
    assert len(body["points"]) == 3000 and body["points"][1]["value"] == 0.5
