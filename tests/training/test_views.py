"""Pages: each as a full page and as its HTMX fragment, permissions, and the live endpoints."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from console.accounts.models import Role
from console.training.models import TaskLogChunk, TaskMetricSample, TrainingJob
from console.training.phases import Phase, TaskStatus
from console.training.services import algorithm_create, training_job_create
from console.training.services.jobs import JobSpec
from tests.training.conftest import make_node

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def setup(storage_project, member, examples_in_bucket, default_pool, flavors, local_engine, bucket_name):
    node = make_node(default_pool, "node-a", engine=local_engine)
    algorithm = algorithm_create(
        actor=member, project=storage_project, name="tiny", code_dir=f"obs://{bucket_name}/code/tiny/",
        boot_file=f"obs://{bucket_name}/code/tiny/train.py", engine=local_engine,
        inputs=[{"name": "data_url"}], outputs=[{"name": "train_url"}],
        parameters=[
            {"name": "epochs", "value": "3", "constraint": {"type": "Integer", "valid_type": "Range", "valid_range": [1, 10]}},
            {"name": "api_key", "value": "default-secret", "constraint": {"type": "String", "sensitive": True}},
        ],
    )  # fmt: skip
    job = training_job_create(actor=member, project=storage_project, spec=JobSpec(
        name="job-1", algorithm=algorithm,
        parameters=[{"name": "api_key", "value": "top-secret-123"}],
        inputs={"data_url": f"obs://{bucket_name}/data/"}, outputs={"train_url": f"obs://{bucket_name}/outputs/job-1/"},
        flavor_id="test.cpu.1u",
    ))  # fmt: skip
    return {"project": storage_project, "algorithm": algorithm, "job": job, "node": node, "bucket": bucket_name}


def url(name, project, **kwargs):
    return reverse(f"training:{name}", kwargs={"project_id": project.project_id, **kwargs})


def test_job_list_full_page_and_fragment(setup, client_for, member):
    client = client_for(member)
    page = client.get(url("job_list", setup["project"]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "job-1" in body and "<html" in body and "Create training job" in body
    assert 'hx-trigger="every 2s"' in body  # a non-terminal row refreshes itself
    fragment = client.get(url("job_list", setup["project"]) + "?q=job", **HX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.content.decode() and 'id="job-table"' in fragment.content.decode()
    assert "job-1" not in client.get(url("job_list", setup["project"]) + "?q=nothing", **HX).content.decode()
    assert page["Vary"] and "HX-Request" in page["Vary"]


def test_job_row_stops_polling_when_terminal(setup, client_for, member):
    client = client_for(member)
    job = setup["job"]
    response = client.get(url("job_row", setup["project"], job_id=job.uuid), **HX)
    assert response.status_code == 200 and "every 2s" in response.content.decode()
    TrainingJob.objects.filter(pk=job.pk).update(phase=Phase.COMPLETED, end_time=timezone.now())
    response = client.get(url("job_row", setup["project"], job_id=job.uuid), **HX)
    assert response.status_code == 286
    assert "every 2s" not in response.content.decode() and "Completed" in response.content.decode()


def test_job_detail_shows_overview_timeline_logs_and_masks_secrets(setup, client_for, member):
    job = setup["job"]
    task = job.tasks.get()
    TaskLogChunk.objects.create(task=task, seq=1, text="epoch 1/3 loss 0.5\n", at=timezone.now())
    task.log_seq = 1
    task.save()
    body = client_for(member).get(url("job_detail", setup["project"], job_id=job.uuid)).content.decode()
    assert "Overview" in body and "Timeline" in body and "epoch 1/3 loss 0.5" in body
    assert "top-secret-123" not in body and "default-secret" not in body and "******" in body
    assert url("task_log", setup["project"], job_id=job.uuid, task_name="worker-0") in body
    assert "delete-dialog" in body and 'data-confirm-word="DELETE"' in body


def test_job_status_fragment_polls_until_terminal(setup, client_for, member):
    job = setup["job"]
    client = client_for(member)
    response = client.get(url("job_status", setup["project"], job_id=job.uuid), **HX)
    assert response.status_code == 200 and 'id="job-status"' in response.content.decode()
    TrainingJob.objects.filter(pk=job.pk).update(phase=Phase.FAILED, phase_reason="worker-0: exited with code 3")
    response = client.get(url("job_status", setup["project"], job_id=job.uuid), **HX)
    assert response.status_code == 286 and "exited with code 3" in response.content.decode()


def test_task_log_endpoint_returns_new_text_after_a_chunk(setup, client_for, member):
    job = setup["job"]
    task = job.tasks.get()
    for seq, text in enumerate(["a\n", "b\n", "c\n"], start=1):
        TaskLogChunk.objects.create(task=task, seq=seq, text=text, at=timezone.now())
    client = client_for(member)
    data = client.get(url("task_log", setup["project"], job_id=job.uuid, task_name="worker-0") + "?after=1").json()
    assert data["text"] == "b\nc\n" and data["next"] == 3 and data["done"] is False
    download = client.get(url("task_log_download", setup["project"], job_id=job.uuid, task_name="worker-0"))
    assert b"".join(download.streaming_content) == b"a\nb\nc\n"
    assert client.get(url("task_log", setup["project"], job_id=job.uuid, task_name="worker-9")).status_code == 404


def test_task_metrics_fragment_is_a_chart_spec_for_charts_js(setup, client_for, member):
    job = setup["job"]
    task = job.tasks.get()
    now = timezone.now()
    TaskMetricSample.objects.create(task=task, at=now)
    for i in range(1, 5):
        TaskMetricSample.objects.create(
            task=task,
            at=now + timezone.timedelta(seconds=i),
            cpu_usage=20.0 * i,
            mem_usage=1.0,
            mem_bytes=200 * 1024**2,
        )
    body = (
        client_for(member)
        .get(url("task_metrics", setup["project"], job_id=job.uuid, task_name="worker-0"), **HX)
        .content.decode()
    )
    assert body.count("data-chart=") == 2 and 'id="cpu-worker-0"' in body and 'data-has-data="1"' in body
    assert "80.0 %" in body and "flavor limit" in body


def test_viewer_sees_but_cannot_stop_or_create(setup, client_for, project, make_member):
    viewer = make_member(project, "vera", Role.VIEWER)
    client = client_for(viewer)
    job = setup["job"]
    assert client.get(url("job_detail", setup["project"], job_id=job.uuid)).status_code == 200
    assert client.post(url("job_stop", setup["project"], job_id=job.uuid)).status_code == 403
    assert client.get(url("job_create", setup["project"])).status_code == 403
    assert TrainingJob.objects.get(pk=job.pk).phase == Phase.CREATING


def test_another_projects_job_is_404(setup, client_for, other_project, make_member):
    outsider = make_member(other_project, "olga", Role.ADMIN)
    client = client_for(outsider)
    job = setup["job"]
    assert (
        client.get(
            reverse("training:job_detail", kwargs={"project_id": setup["project"].project_id, "job_id": job.uuid})
        ).status_code
        == 404
    )
    assert (
        client.get(
            reverse("training:job_detail", kwargs={"project_id": other_project.project_id, "job_id": job.uuid})
        ).status_code
        == 404
    )


def test_stop_and_delete_views(setup, client_for, member):
    job = setup["job"]
    client = client_for(member)
    response = client.post(url("job_stop", setup["project"], job_id=job.uuid))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.phase == Phase.TERMINATING
    assert job.tasks.get().status == TaskStatus.TERMINATED  # never started: nothing to kill
    response = client.post(url("job_delete", setup["project"], job_id=job.uuid), {"confirm": "delete"})
    assert TrainingJob.objects.filter(pk=job.pk, deleted_at__isnull=True).exists()  # wrong word: nothing happens
    response = client.post(url("job_delete", setup["project"], job_id=job.uuid), {"confirm": "DELETE"})
    assert response.status_code == 302
    assert not TrainingJob.objects.filter(pk=job.pk, deleted_at__isnull=True).exists()


def test_job_create_page_generates_the_parameter_form(setup, client_for, member):
    client = client_for(member)
    algorithm = setup["algorithm"]
    body = client.get(url("job_create", setup["project"]) + f"?algorithm={algorithm.uuid}").content.decode()
    assert 'name="param__epochs"' in body and 'name="input__data_url"' in body and 'name="output__train_url"' in body
    assert 'type="password"' in body and "default-secret" not in body
    assert "free now" in body or "will queue" in body
    fragment = client.get(
        url("job_algorithm_fields", setup["project"]) + f"?algorithm={algorithm.uuid}", **HX
    ).content.decode()
    assert 'id="algorithm-fields"' in fragment and "param__epochs" in fragment


def test_job_create_form_puts_rule_errors_on_fields_and_creates_nothing(setup, client_for, member):
    client = client_for(member)
    algorithm = setup["algorithm"]
    before = TrainingJob.objects.count()
    data = {
        "name": "bad name!", "algorithm": str(algorithm.uuid), "flavor": "test.cpu.1u", "node_count": "5",
        "param__epochs": "11", "input__data_url": f"obs://{setup['bucket']}/nope/", "output__train_url": f"obs://{setup['bucket']}/out/",
    }  # fmt: skip
    response = client.post(url("job_create", setup["project"]), data)
    assert response.status_code == 200
    body = response.content.decode()
    assert "is not a valid name" in body
    assert "must be between 1 and 10" in body
    assert "does not exist" in body
    assert "at most 1 node(s)" in body
    assert TrainingJob.objects.count() == before


def test_job_create_form_creates_a_job(setup, client_for, member):
    client = client_for(member)
    algorithm = setup["algorithm"]
    data = {
        "name": "from-form", "algorithm": str(algorithm.uuid), "flavor": "test.cpu.1u", "node_count": "1",
        "param__epochs": "2", "param__api_key": "", "input__data_url": f"obs://{setup['bucket']}/data/",
        "output__train_url": f"obs://{setup['bucket']}/outputs/from-form/", "log_export_path": f"obs://{setup['bucket']}/logs/",
    }  # fmt: skip
    response = client.post(url("job_create", setup["project"]), data)
    job = TrainingJob.objects.get(name="from-form")
    assert response.status_code == 302 and str(job.uuid) in response["Location"]
    assert {"name": "epochs", "value": "2"} in job.parameters
    assert {"name": "api_key", "value": "default-secret"} in job.parameters  # empty sensitive field keeps the default
    assert job.log_export_path == f"/{setup['bucket']}/logs/"


def test_algorithm_pages(setup, client_for, member):
    client = client_for(member)
    project = setup["project"]
    assert "tiny" in client.get(url("algorithm_list", project)).content.decode()
    assert 'id="algorithm-table"' in client.get(url("algorithm_list", project), **HX).content.decode()
    detail = client.get(url("algorithm_detail", project, algorithm_id=setup["algorithm"].uuid)).content.decode()
    assert "train.py" in detail and "default-secret" not in detail
    form = client.get(url("algorithm_create", project)).content.decode()
    assert "parameters-empty" in form and "data_url" in form


def test_algorithm_create_form_with_formsets(setup, client_for, member):
    client = client_for(member)
    bucket = setup["bucket"]
    data = {
        "name": "gloo", "engine": setup["algorithm"].engine.engine_id, "code_dir": f"obs://{bucket}/code/gloo/",
        "boot_file": f"obs://{bucket}/code/gloo/test-pytorch.py", "parameters_customization": "on",
        "inputs-TOTAL_FORMS": "1", "inputs-INITIAL_FORMS": "0", "inputs-0-name": "data_url", "inputs-0-description": "数据来源1",
        "outputs-TOTAL_FORMS": "1", "outputs-INITIAL_FORMS": "0", "outputs-0-name": "train_url",
        "parameters-TOTAL_FORMS": "2", "parameters-INITIAL_FORMS": "0",
        "parameters-0-name": "dist", "parameters-0-value": "False", "parameters-0-type": "Boolean", "parameters-0-valid_type": "None", "parameters-0-editable": "on",
        "parameters-1-name": "world_size", "parameters-1-value": "1", "parameters-1-type": "Integer", "parameters-1-valid_type": "None", "parameters-1-editable": "on",
    }  # fmt: skip
    response = client.post(url("algorithm_create", setup["project"]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    from console.training.models import Algorithm

    algorithm = Algorithm.objects.get(name="gloo")
    assert [p["name"] for p in algorithm.parameters] == ["dist", "world_size"]
    assert algorithm.boot_file == f"/{bucket}/code/gloo/test-pytorch.py"
    data["name"] = "gloo2"
    data["boot_file"] = f"obs://{bucket}/code/tiny/train.py"
    data["parameters-1-name"] = "world size"
    response = client.post(url("algorithm_create", setup["project"]), data)
    body = response.content.decode()
    assert response.status_code == 200
    assert "directly inside the code directory" in body and "is not a valid name" in body
    assert not Algorithm.objects.filter(name="gloo2").exists()


def test_admin_pages_are_for_site_admins(setup, client_for, member, site_admin):
    for name in ("flavor_list", "engine_list", "node_list"):
        assert client_for(member).get(reverse(f"training:{name}")).status_code == 403
    client = client_for(site_admin)
    flavors = client.get(reverse("training:flavor_list")).content.decode()
    assert "modelarts.vm.cpu.8u" in flavors and "modelarts.vm.cpu.2u" in flavors
    engines = client.get(reverse("training:engine_list")).content.decode()
    assert setup["algorithm"].engine.engine_id in engines and "node-a" in engines
    assert "node-a" in client.get(reverse("training:node_list")).content.decode()


def test_site_admins_create_and_refuse_flavors(client_for, site_admin, flavors):
    client = client_for(site_admin)
    data = {"flavor_id": "modelarts.vm.cpu.1u", "flavor_name": "Computing CPU(1U) instance", "flavor_type": "CPU",
            "cpu_arch": "x86", "cpu_cores": "1", "memory_gb": "4", "disk_gb": "20", "gpu_count": "0", "gpu_type": "",
            "billing_code": "", "billing_unit_num": "1", "enabled": "on"}  # fmt: skip
    response = client.post(reverse("training:flavor_create"), data)
    assert response.status_code == 302
    from console.training.models import Flavor

    flavor = Flavor.objects.get(flavor_id="modelarts.vm.cpu.1u")
    assert flavor.billing_code == "modelarts.vm.cpu.1u"
    response = client.post(reverse("training:flavor_create"), {**data, "flavor_id": "Bad Flavor!", "cpu_cores": "0"})
    assert response.status_code == 200 and "lowercase letters" in response.content.decode()
    from console.audit.models import AuditEntry

    assert AuditEntry.objects.filter(action="flavor.create").count() == 1


def test_site_admins_register_an_interpreter_as_an_engine(client_for, site_admin, db):
    import sys

    from console.training.models import Engine, EngineSource

    client = client_for(site_admin)
    response = client.post(reverse("training:engine_list"), {"python_path": sys.executable})
    assert response.status_code == 302
    engine = Engine.objects.get()
    assert engine.source == EngineSource.ADMIN and engine.python_path == sys.executable
    assert engine.engine_id.startswith("pytorch_") and engine.engine_name == "PyTorch"
    again = client.post(reverse("training:engine_list"), {"python_path": sys.executable})
    assert "already registered" in again.content.decode()
    elsewhere = client.post(reverse("training:engine_list"), {"python_path": "/opt/venvs/tf/bin/python"})
    assert "enter the engine name and ID yourself" in elsewhere.content.decode()
    response = client.post(
        reverse("training:engine_list"),
        {
            "python_path": "/opt/venvs/tf/bin/python",
            "engine_name": "TensorFlow",
            "engine_id": "tensorflow_2.16.1-cpu-py_3.12-debian_12-x86_64",
        },
    )
    assert response.status_code == 302 and Engine.objects.count() == 2
    assert client.post(reverse("training:engine_list"), {"python_path": "relative/python"}).status_code == 200


def test_selectors_show_a_projects_jobs_and_algorithms_only_to_its_members(
    setup, make_member, other_project, site_admin
):
    from django.http import Http404

    from console.training import selectors

    project, job, algorithm = setup["project"], setup["job"], setup["algorithm"]
    outsider = make_member(other_project, "olga")
    assert not selectors.job_list(user=outsider, project=project).exists()
    assert not selectors.algorithm_list(user=outsider, project=project).exists()
    with pytest.raises(Http404):
        selectors.job_get(user=outsider, project=project, job_id=job.uuid)
    with pytest.raises(Http404):
        selectors.algorithm_get(user=outsider, project=project, algorithm_id=algorithm.uuid)
    for reader in (setup["job"].created_by, site_admin):
        assert list(selectors.job_list(user=reader, project=project)) == [job]
        assert selectors.algorithm_get(user=reader, project=project, algorithm_id=algorithm.uuid) == algorithm


def test_job_form_offers_only_usable_model_versions_and_puts_refusals_beside_their_input(setup, client_for, member):
    from console.mymodels.models import BaseModelSeries, BaseModelVersion, ModelStatus, MyModel
    from console.versions.models import ModelVersion

    series = BaseModelSeries.objects.create(
        slug="qwen2-5", name="通义千问2.5", name_en="Qwen2.5", type_zh="文本生成", type_en="Text generation"
    )
    base = BaseModelVersion.objects.create(series=series, slug="qwen2-5-7b", name="Qwen2.5-7B")
    model = MyModel.objects.create(project=setup["project"], name="m1", base_version=base)
    bucket = setup["bucket"]
    usable = ModelVersion.objects.create(
        model=model, number=1, base_version=base, weights_path=f"obs://{bucket}/nope/", status=ModelStatus.CREATED
    )
    failed = ModelVersion.objects.create(
        model=model, number=2, base_version=base, weights_path=f"obs://{bucket}/data/", status=ModelStatus.FAILED
    )
    client = client_for(member)
    algorithm = setup["algorithm"]
    page = client.get(url("job_create", setup["project"]) + f"?algorithm={algorithm.uuid}")
    offered = [value for value, _label in page.context["form"].fields["model_version"].choices]
    assert offered == ["", str(usable.pk)], offered
    assert "m1 V1" in page.content.decode()
    data = {
        "name": "from-version", "algorithm": str(algorithm.uuid), "flavor": "test.cpu.1u", "node_count": "1",
        "param__epochs": "2", "model_version": str(usable.pk), "output__train_url": f"obs://{bucket}/outputs/v/",
    }  # fmt: skip
    response = client.post(url("job_create", setup["project"]), data)
    assert response.status_code == 200 and not TrainingJob.objects.filter(name="from-version").exists()
    form = response.context["form"]
    # The version's weights folder does not exist: said beside the input it feeds, not as an "input:x" key.
    assert any("does not exist" in text for text in form.errors["input__data_url"]), form.errors
    response = client.post(url("job_create", setup["project"]), {**data, "model_version": str(failed.pk)})
    assert "model_version" in response.context["form"].errors


def test_the_outputs_panel_refreshes_while_the_job_runs_and_stops_once_it_ended(setup, client_for, member, bucket_root):
    # Issue 15 §6.3: "Nothing uploaded here yet" stayed after the job completed with uploads, until a reload.
    client = client_for(member)
    job = setup["job"]
    outputs = url("job_outputs", setup["project"], job_id=job.uuid)
    running = client.get(outputs + "?output=train_url", **HX).content.decode()
    panel = running.split('id="job-outputs"', 1)[1].split(">", 1)[0]
    assert "Nothing uploaded here yet." in running
    assert 'hx-trigger="every 5s"' in panel and "output=train_url" in panel
    (bucket_root / "outputs" / "job-1").mkdir(parents=True, exist_ok=True)
    (bucket_root / "outputs" / "job-1" / "model.pt").write_bytes(b"weights")
    TrainingJob.objects.filter(pk=job.pk).update(phase=Phase.COMPLETED)
    ended = client.get(outputs + "?output=train_url", **HX).content.decode()
    assert "model.pt" in ended and "Nothing uploaded here yet." not in ended
    assert "hx-trigger" not in ended.split('id="job-outputs"', 1)[1].split(">", 1)[0]


def test_the_output_name_placeholder_is_train_url(setup, client_for, member):
    # Issue 15 §6.7: the output row suggested "data_url", the name of an input.
    import re

    body = client_for(member).get(url("algorithm_create", setup["project"])).content.decode()
    output = re.search(r'<input[^>]*name="outputs-__prefix__-name"[^>]*>', body).group(0)
    inputs = re.search(r'<input[^>]*name="inputs-__prefix__-name"[^>]*>', body).group(0)
    assert 'placeholder="train_url"' in output and 'placeholder="data_url"' in inputs
