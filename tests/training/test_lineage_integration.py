"""Lineage for real: a node worker runs the shipped tiny fine-tuning script, its checkpoint is registered
as a version of a model whose base the site administrator added (with the tiny model's reference
config), and the weight check on a real worker ends 创建成功."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from console.core.models import WorkState
from console.mymodels.models import STATUS_SEED_LABELS, BaseModelVersion, ModelStatus, site_templates_dir
from console.training.models import JobOutputVersion, TrainingJob
from console.training.phases import Phase
from console.training.services import algorithm_create, training_job_create
from console.training.services.jobs import JobSpec
from console.versions.models import ModelVersion, TaskKind
from examples.tiny_finetune.tiny_model import reference_config
from tests.mymodels.fixtures import catalog  # noqa: F401 - fixture
from tests.training.conftest import EXAMPLES, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SLUG = "tiny-llama-ft-test"


@pytest.fixture
def site_template():
    yield
    shutil.rmtree(site_templates_dir() / SLUG, ignore_errors=True)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def add_tiny_base_as_site_admin(site_admin) -> BaseModelVersion:
    from console.mymodels.models import BaseModelSeries

    config = io.BytesIO(json.dumps(reference_config()).encode())
    config.name = "config.json"
    response = signed_in(site_admin).post(
        reverse("mymodels:base_version_admin"),
        {"series": BaseModelSeries.objects.get(slug="llama2").pk, "name": "Tiny-Llama", "slug": SLUG, "config": config},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    base = BaseModelVersion.objects.get(slug=SLUG)
    assert base.validation_supported and (base.template_dir / "config.json").is_file()
    return base


def test_fine_tune_register_check_created(
    catalog,  # noqa: F811
    site_template,
    site_admin,
    storage_project,
    member,
    bucket_root,
    bucket_name,
    default_pool,
    flavors,
    local_engine,
    node_worker,
):
    base = add_tiny_base_as_site_admin(site_admin)
    shutil.copytree(EXAMPLES / "tiny_finetune", bucket_root / "code" / "finetune")
    (bucket_root / "data").mkdir()
    (bucket_root / "data" / "corpus.txt").write_text("A little text to fine-tune on.\nAnd a second line of it.\n")
    node_worker("node-a", beat=True)
    algorithm = algorithm_create(
        actor=member, project=storage_project, name="tiny-finetune", engine=local_engine,
        code_dir=f"obs://{bucket_name}/code/finetune/", boot_file=f"obs://{bucket_name}/code/finetune/train.py",
        inputs=[{"name": "data_url"}], outputs=[{"name": "train_url"}],
        parameters=[{"name": "steps", "value": "3", "constraint": {"type": "Integer"}}],
    )  # fmt: skip
    job = training_job_create(
        actor=member, project=storage_project,
        spec=JobSpec(name="ft-1", algorithm=algorithm, flavor_id="test.cpu.1u",
                     inputs={"data_url": f"obs://{bucket_name}/data/"},
                     outputs={"train_url": f"obs://{bucket_name}/outputs/ft-1/"}),
    )  # fmt: skip
    wait_for(
        lambda: TrainingJob.objects.get(pk=job.pk).phase in (Phase.COMPLETED, Phase.FAILED, Phase.ABNORMAL),
        timeout=240, message="the fine-tuning job to end",
    )  # fmt: skip
    job.refresh_from_db()
    assert job.phase == Phase.COMPLETED, job.phase_reason
    checkpoint = bucket_root / "outputs" / "ft-1"
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in checkpoint.iterdir()}

    client = signed_in(member)
    response = client.post(
        reverse("training:job_register_version", kwargs={"project_id": storage_project.project_id, "job_id": job.uuid}),
        {"output": "train_url", "subfolder": "", "model": "", "new_model_name": "tiny-ft", "base_version": base.pk,
         "validate_weights": "on"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    version = ModelVersion.objects.get(model__name="tiny-ft")
    assert JobOutputVersion.objects.get(version=version).job_id == job.pk
    record = version.task_records.get(kind=TaskKind.WEIGHT_VALIDATION)
    wait_for(lambda: ModelVersion.objects.get(pk=version.pk).status != ModelStatus.CREATING, timeout=180,
             message="the weight check to decide")  # fmt: skip
    version.refresh_from_db()
    record.refresh_from_db()
    assert record.state == WorkState.SUCCEEDED, record.report
    assert version.status == ModelStatus.CREATED and STATUS_SEED_LABELS[version.status] == "创建成功"
    page = client.get(
        reverse("versions:version_detail", kwargs={"project_id": storage_project.project_id, "model_id": version.model_id,
                                                    "number": version.number})
    ).content.decode()  # fmt: skip
    assert 'id="produced-by"' in page and "ft-1" in page
    assert Path(version.weights_path.replace(f"obs://{bucket_name}/", str(bucket_root) + "/")).is_dir()
