"""Register a completed job's output as a model version; the link shown both ways on both pages."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from console.core.models import WorkState
from console.mymodels.models import ModelStatus, MyModel
from console.training.models import JobOutputVersion
from console.training.phases import Phase
from console.training.services.lineage import job_version_register
from console.versions.models import ModelVersion, TaskKind
from tests.mymodels.fixtures import add_versions, catalog, tiny_base  # noqa: F401 - fixtures
from tests.training.compare_fixtures import lab, make_job, url  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def done(lab, bucket_root):
    job = make_job(lab, "ft-1")
    (bucket_root / "outputs" / "ft-1" / "checkpoint").mkdir(parents=True)
    (bucket_root / "outputs" / "ft-1" / "checkpoint" / "config.json").write_text("{}")
    return job


def version_url(project, version):
    return reverse(
        "versions:version_detail",
        kwargs={"project_id": project.project_id, "model_id": version.model_id, "number": version.number},
    )


def test_register_creates_a_new_model_whose_check_starts(lab, done, tiny_base, client_for, member):
    client = client_for(member)
    page = url("job_register_version", lab["project"], job_id=done.uuid)
    assert client.get(page).status_code == 200
    response = client.post(
        page,
        {"output": "train_url", "subfolder": "checkpoint/", "model": "", "new_model_name": "tiny-ft",
         "base_version": tiny_base.pk, "validate_weights": "on"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    version = ModelVersion.objects.get(model__name="tiny-ft")
    assert response["Location"] == version_url(lab["project"], version)
    assert version.weights_path == f"obs://{lab['bucket']}/outputs/ft-1/checkpoint/"
    assert version.status == ModelStatus.CREATING and version.base_version == tiny_base
    check = version.task_records.get(kind=TaskKind.WEIGHT_VALIDATION)
    assert check.state == WorkState.PENDING  # the check is queued as for any version
    link = JobOutputVersion.objects.get(version=version)
    assert link.job == done and link.output_name == "train_url"
    # Both pages say it: the version "produced by" the job, the job lists the version it produced.
    version_page = client.get(version_url(lab["project"], version)).content.decode()
    assert 'id="produced-by"' in version_page and "ft-1" in version_page
    assert url("job_detail", lab["project"], job_id=done.uuid) in version_page
    job_page = client.get(url("job_detail", lab["project"], job_id=done.uuid)).content.decode()
    assert 'id="produced-versions"' in job_page and "tiny-ft V1" in job_page
    assert "Register as model version" in job_page


def test_register_adds_a_version_to_an_existing_model_and_the_cap_holds(lab, done, tiny_base, member):
    from console.versions.services import model_create

    model = model_create(
        actor=member, project=lab["project"], name="tiny-ft", base_version=tiny_base,
        weights_path=f"obs://{lab['bucket']}/data/", validate_weights=False,
    )  # fmt: skip
    version = job_version_register(actor=member, job=done, output_name="train_url", model=model, validate_weights=False)
    assert version.label == "V2" and version.weights_path == f"obs://{lab['bucket']}/outputs/ft-1/"
    add_versions(model, 8, actor=member, path=f"obs://{lab['bucket']}/data/")
    with pytest.raises(ValidationError) as refused:
        job_version_register(actor=member, job=done, output_name="train_url", model=model)
    assert "at most 10 versions" in refused.value.messages[0]
    assert ModelVersion.objects.filter(model=model).count() == 10
    assert JobOutputVersion.objects.count() == 1  # nothing written by the refused one


@pytest.mark.parametrize(
    "args, field, message",
    [
        ({"output_name": "nope"}, "output", "The job has no output named nope."),
        ({"output_name": "train_url", "subfolder": "../../data"}, "subfolder", "no “..”"),
        ({"output_name": "train_url", "subfolder": "a/../../b"}, "subfolder", "no “..”"),
        ({"output_name": "train_url", "subfolder": "missing/", "new_model_name": "m"}, "weights_path", "missing"),
        ({"output_name": "train_url"}, "new_model_name", "Choose a model, or name the new model"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(lab, done, member, tiny_base, args, field, message):
    with pytest.raises(ValidationError) as refused:
        job_version_register(actor=member, job=done, base_version=tiny_base, **args)
    assert field in refused.value.message_dict and message in " ".join(refused.value.message_dict[field])
    codes = {"output": "unknown_output", "subfolder": "invalid_path", "new_model_name": "unknown_model"}
    if field in codes:
        assert refused.value.error_dict[field][0].code == codes[field]
    assert not MyModel.objects.exists() and not JobOutputVersion.objects.exists()


def test_only_a_completed_job_can_be_registered(lab, tiny_base, member, client_for):
    running = make_job(lab, "ft-2", phase=Phase.RUNNING)
    with pytest.raises(ValidationError) as refused:
        job_version_register(
            actor=member, job=running, output_name="train_url", new_model_name="x", base_version=tiny_base
        )
    assert refused.value.code == "phase"
    assert client_for(member).get(url("job_register_version", lab["project"], job_id=running.uuid)).status_code == 404


def test_a_version_used_as_input_shows_the_job_both_ways(lab, done, tiny_base, member, client_for):
    version = job_version_register(
        actor=member, job=done, output_name="train_url", new_model_name="tiny-ft", base_version=tiny_base,
        validate_weights=False,
    )  # fmt: skip
    assert version.status == ModelStatus.CREATED
    second = make_job(lab, "ft-2", model_version=version)
    client = client_for(member)
    version_page = client.get(version_url(lab["project"], version)).content.decode()
    assert 'id="used-by"' in version_page and "ft-2" in version_page
    job_page = client.get(url("job_detail", lab["project"], job_id=second.uuid)).content.decode()
    assert 'id="input-version"' in job_page and version_url(lab["project"], version) in job_page
