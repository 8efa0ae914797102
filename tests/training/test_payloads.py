"""The seed's payload shapes (what the REST API returns), built from real rows."""

from __future__ import annotations

import pytest

from console.training import payloads, selectors
from console.training.services import algorithm_create, training_job_create
from console.training.services.jobs import JobSpec
from tests.training.conftest import make_node


@pytest.fixture
def job(storage_project, member, examples_in_bucket, default_pool, flavors, local_engine, bucket_name):
    make_node(default_pool, "node-a", engine=local_engine, cores=8, memory_gb=32)
    algorithm = algorithm_create(
        actor=member, project=storage_project, name="test-pytorch-cpu", description="test pytorch job in cpu in mode gloo",
        code_dir=f"/{bucket_name}/code/gloo/", boot_file=f"/{bucket_name}/code/gloo/test-pytorch.py",
        engine_name="PyTorch", engine_version=local_engine.engine_version,
        inputs=[{"name": "data_url", "description": "数据来源1"}], outputs=[{"name": "train_url", "description": "输出数据1"}],
        parameters=[
            {"name": "dist", "description": "", "value": "False", "constraint": {"editable": True, "required": False, "sensitive": False, "type": "Boolean", "valid_range": [], "valid_type": "None"}},
            {"name": "world_size", "description": "", "value": "1", "constraint": {"editable": True, "required": False, "sensitive": False, "type": "Integer", "valid_range": [], "valid_type": "None"}},
            {"name": "token", "value": "", "constraint": {"type": "String", "sensitive": True}},
        ],
        parameters_customization=True,
    )  # fmt: skip
    return training_job_create(actor=member, project=storage_project, spec=JobSpec(
        name="test-pytorch-cpu01", description="test pytorch work cpu in mode gloo",
        algorithm=algorithm,
        parameters=[{"name": "dist", "value": "False"}, {"name": "world_size", "value": "1"}, {"name": "token", "value": "hunter2-secret"}],
        inputs={"data_url": f"/{bucket_name}/data/"},
        outputs={"train_url": f"/{bucket_name}/outputs/"},
        flavor_id="modelarts.vm.cpu.8u", node_count=1, log_export_path=f"/{bucket_name}/logs/",
    ))  # fmt: skip


def test_flavor_list_has_the_seeds_shape(job):
    body = payloads.flavors_payload(selectors.flavor_list(flavor_type="CPU"))
    assert body["total_count"] == len(body["flavors"]) >= 2
    eight = next(f for f in body["flavors"] if f["flavor_id"] == "modelarts.vm.cpu.8u")
    assert eight == {
        "flavor_id": "modelarts.vm.cpu.8u", "flavor_name": "Computing CPU(8U) instance", "flavor_type": "CPU",
        "billing": {"code": "modelarts.vm.cpu.8u", "unit_num": 1},
        "flavor_info": {"max_num": 1, "cpu": {"arch": "x86", "core_num": 8}, "memory": {"size": 32, "unit": "GB"}, "disk": {"size": 50, "unit": "GB"}},
    }  # fmt: skip


def test_engine_list_has_the_seeds_shape(job, local_engine):
    body = payloads.engines_payload(selectors.engine_list())
    item = body["items"][0]
    assert body["total"] == 1
    assert set(item) >= {"engine_id", "engine_name", "engine_version", "v1_compatible", "run_user", "image_info"}
    assert item["engine_name"] == "PyTorch" and item["engine_version"] == item["engine_id"] == local_engine.engine_id


def test_algorithm_payload_has_the_seeds_shape(job):
    body = payloads.algorithm_payload(job.algorithm)
    assert set(body) == {"metadata", "share_info", "job_config", "resource_requirements", "advanced_config"}
    assert body["metadata"]["name"] == "test-pytorch-cpu" and body["metadata"]["source"] == "custom"
    config = body["job_config"]
    assert config["code_tree"] == {"name": "gloo/", "children": [{"name": "test-pytorch.py"}]}
    assert (
        config["parameters"][0]["constraint"]["type"] == "Boolean"
        and config["parameters"][0]["i18n_description"] is None
    )
    assert config["engine"]["engine_name"] == "PyTorch"


def test_job_payload_at_creation_is_the_seeds(job, settings):
    import console.settings as defaults

    assert defaults.TRAINING_OUTPUT_UPLOAD_PERIOD == 30  # the seed's period (tests run with a shorter one)
    body = payloads.job_payload(job)
    assert body["kind"] == "job"
    assert body["metadata"]["annotations"] == {"job_template": "Template DL", "key_task": "worker"}
    status = body["status"]
    assert (status["phase"], status["secondary_phase"], status["duration"], status["start_time"]) == (
        "Creating",
        "Creating",
        0,
        0,
    )
    assert status["node_count_metrics"] is None and status["tasks"] == ["worker-0"]
    output = body["algorithm"]["outputs"][0]
    assert output["mode"] == "upload_periodically" and output["period"] == settings.TRAINING_OUTPUT_UPLOAD_PERIOD
    assert output["local_dir"].endswith(f"/{job.uuid}/worker-0/outputs/train_url_0")
    assert body["algorithm"]["inputs"][0]["remote"] == {"obs": {"obs_url": job.inputs[0]["obs_url"]}}
    assert body["algorithm"]["engine"]["usage"] == "training"
    resource = body["spec"]["resource"]
    assert resource["flavor_id"] == "modelarts.vm.cpu.8u" and resource["flavor_name"] == "Computing CPU(8U) instance"
    assert resource["flavor_detail"]["flavor_info"]["cpu"] == {"arch": "x86", "core_num": 8}
    assert body["spec"]["is_hosted_log"] is True
    assert "hunter2-secret" not in str(body)
    token = next(p for p in body["algorithm"]["parameters"] if p["name"] == "token")
    assert token["value"] == "******"


def test_metrics_payload_uses_minus_one_where_there_is_no_data(job):
    from django.utils import timezone

    from console.training.models import TaskMetricSample

    task = job.tasks.get()
    TaskMetricSample.objects.create(task=task, at=timezone.now())
    TaskMetricSample.objects.create(task=task, at=timezone.now(), cpu_usage=28.622, mem_usage=0.544, mem_bytes=1)
    body = selectors.task_metrics(task)
    names = [m["metric"] for m in body["metrics"]]
    assert names == ["cpuUsage", "memUsage", "npuUtil", "npuMemUsage", "gpuUtil", "gpuMemUsage"]
    assert body["metrics"][0]["value"] == [-1, 28.622] and body["metrics"][4]["value"] == [-1, -1]
