"""Create a similar job: the job form prefilled from a job, sensitive values never prefilled."""

from __future__ import annotations

import re

import pytest

from console.accounts.models import Role
from console.training.models import TrainingJob
from tests.training.compare_fixtures import lab, make_job, url  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def value_of(body: str, name: str) -> str | None:
    tag = re.search(rf'<(?:input|textarea)[^>]*name="{re.escape(name)}"[^>]*>(?:(.*?)</textarea>)?', body, re.S)
    assert tag, f"no field {name}"
    if tag.group(0).startswith("<textarea"):
        return tag.group(1).strip()
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return value.group(1) if value else None


def selected(body: str, name: str) -> str:
    select = re.search(rf'<select[^>]*name="{name}".*?</select>', body, re.S).group(0)
    return re.search(r'<option value="([^"]*)"[^>]*selected', select).group(1)


def test_the_form_is_prefilled_from_the_job(lab, client_for, member):
    job = make_job(lab, "run-a", lr="0.05", extra=[{"name": "warmup", "value": "7"}], node_count=1)
    body = client_for(member).get(url("job_rerun", lab["project"], job_id=job.uuid)).content.decode()
    assert value_of(body, "name") == "run-a-rerun"
    assert selected(body, "algorithm") == str(lab["algorithm"].uuid)
    assert value_of(body, "param__lr") == "0.05" and value_of(body, "param__epochs") == "3"
    assert value_of(body, "custom_parameters") == "warmup=7"
    assert value_of(body, "input__data_url") == f"obs://{lab['bucket']}/data/"
    assert value_of(body, "output__train_url") == f"obs://{lab['bucket']}/outputs/run-a/"
    assert selected(body, "flavor") == "test.cpu.1u"
    assert value_of(body, "node_count") == "1"
    assert selected(body, "pool") == job.pool.name == "default"
    # The stored-secret rule: the sensitive value is never sent back, not even the job's own.
    assert value_of(body, "param__api_key") is None
    assert "top-secret-123" not in body and "default-secret" not in body
    assert f'action="{url("job_create", lab["project"])}"' in body


def test_submitting_the_prefilled_form_creates_the_similar_job(lab, client_for, member):
    job = make_job(lab, "run-a", lr="0.05")
    client = client_for(member)
    response = client.post(
        url("job_create", lab["project"]),
        {"name": "run-a-rerun", "algorithm": lab["algorithm"].uuid, "param__lr": "0.02", "param__epochs": "3",
         "param__api_key": "", "input__data_url": f"obs://{lab['bucket']}/data/",
         "output__train_url": f"obs://{lab['bucket']}/outputs/run-a-rerun/", "flavor": "test.cpu.1u", "node_count": "1", "pool": "default"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    rerun = TrainingJob.objects.get(name="run-a-rerun")
    values = {p["name"]: p["value"] for p in rerun.parameters}
    # Left empty, the sensitive parameter takes the algorithm's stored value.
    assert values == {"lr": "0.02", "epochs": "3", "api_key": "default-secret"}
    assert rerun.algorithm_id == job.algorithm_id and rerun.flavor_spec["flavor_id"] == "test.cpu.1u"
    assert rerun.pool_id == job.pool_id


def test_an_unknown_pool_is_refused(lab, client_for, member):
    response = client_for(member).post(
        url("job_create", lab["project"]),
        {"name": "x", "algorithm": lab["algorithm"].uuid, "param__epochs": "3", "flavor": "test.cpu.1u",
         "node_count": "1", "pool": "no-such-pool", "input__data_url": f"obs://{lab['bucket']}/data/",
         "output__train_url": f"obs://{lab['bucket']}/outputs/x/"},
    )  # fmt: skip
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not TrainingJob.objects.filter(name="x").exists()


def test_viewers_and_other_projects_cannot_rerun(lab, client_for, make_member, other_project):
    job = make_job(lab, "run-a")
    viewer = make_member(lab["project"], "vera", Role.VIEWER)
    assert client_for(viewer).get(url("job_rerun", lab["project"], job_id=job.uuid)).status_code == 403
    outsider = make_member(other_project, "olga", Role.MEMBER)
    assert client_for(outsider).get(url("job_rerun", lab["project"], job_id=job.uuid)).status_code == 404


def test_the_job_page_offers_it(lab, client_for, member):
    job = make_job(lab, "run-a")
    body = client_for(member).get(url("job_detail", lab["project"], job_id=job.uuid)).content.decode()
    assert url("job_rerun", lab["project"], job_id=job.uuid) in body and "Create a similar job" in body
