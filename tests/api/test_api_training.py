"""Training API (v2) over HTTP, with the seed's own bodies. No worker runs here: jobs are created
and read, stopped and deleted; running them for real is in test_api_flow.py."""

import copy
import time
from urllib.parse import parse_qs, urlparse

import pytest
from django.utils import timezone

from console.accounts.models import Membership, Role
from console.audit.models import AuditEntry
from console.authorizations.models import Authorization
from console.training.models import Algorithm, TaskLogChunk, TaskMetricSample, TrainingJob
from console.training.phases import Phase
from tests.training.conftest import make_node

from .conftest import ApiClient, assert_error

SEED_ALGORITHM = {
    "metadata": {"name": "test-pytorch-cpu", "description": "test pytorch job in cpu in mode gloo"},
    "job_config": {
        "boot_file": "/BUCKET/pytorch/fast_example/code/cpu/test-pytorch.py",
        "code_dir": "/BUCKET/pytorch/fast_example/code/cpu/",
        "engine": {"engine_name": "PyTorch", "engine_version": "ENGINE"},
        "inputs": [{"name": "data_url", "description": "数据来源1"}],
        "outputs": [{"name": "train_url", "description": "输出数据1"}],
        "parameters": [
            {
                "name": "dist",
                "description": "",
                "value": "False",
                "constraint": {
                    "editable": True,
                    "required": False,
                    "sensitive": False,
                    "type": "Boolean",
                    "valid_range": [],
                    "valid_type": "None",
                },
            },
            {
                "name": "world_size",
                "description": "",
                "value": "1",
                "constraint": {
                    "editable": True,
                    "required": False,
                    "sensitive": False,
                    "type": "Integer",
                    "valid_range": [],
                    "valid_type": "None",
                },
            },
        ],
        "parameters_customization": True,
    },
    "resource_requirements": [],
}

SEED_JOB = {
    "kind": "job",
    "metadata": {"name": "test-pytorch-cpu01", "description": "test pytorch work cpu in mode gloo"},
    "algorithm": {
        "id": "ALGORITHM",
        "parameters": [{"name": "dist", "value": "False"}, {"name": "world_size", "value": "1"}],
        "inputs": [{"name": "data_url", "remote": {"obs": {"obs_url": "/BUCKET/pytorch/fast_example/data/"}}}],
        "outputs": [{"name": "train_url", "remote": {"obs": {"obs_url": "/BUCKET/pytorch/fast_example/outputs/"}}}],
    },
    "spec": {
        "resource": {"flavor_id": "modelarts.vm.cpu.8u", "node_count": 1},
        "log_export_path": {"obs_url": "/BUCKET/pytorch/fast_example/log/"},
    },
}


def fill(template, bucket, **replacements):
    text = str(template)
    body = copy.deepcopy(template)

    def walk(value):
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            value = value.replace("BUCKET", bucket)
            for key, replacement in replacements.items():
                value = value.replace(key, replacement)
        return value

    del text
    return walk(body)


@pytest.fixture
def seed_storage(bucket_root):
    """The seed's prerequisites (前提条件): code, data, outputs and log folders in the bucket."""
    code = bucket_root / "pytorch" / "fast_example" / "code" / "cpu"
    code.mkdir(parents=True)
    (code / "test-pytorch.py").write_text("print('hello')\n")
    data = bucket_root / "pytorch" / "fast_example" / "data"
    data.mkdir(parents=True)
    (data / "train.csv").write_text("x,y\n1,2\n")
    return bucket_root


@pytest.fixture
def node(default_pool, local_engine):
    return make_node(default_pool, "node-a", engine=local_engine, cores=16, memory_gb=64)


@pytest.fixture
def member_api(api_as, member, storage_project):
    return api_as(member, storage_project)


@pytest.fixture
def algorithm_body(seed_storage, bucket_name, local_engine, flavors):
    return fill(SEED_ALGORITHM, bucket_name, ENGINE=local_engine.engine_version)


@pytest.fixture
def algorithm_id(member_api, storage_project, algorithm_body):
    response = member_api.post(f"/v2/{storage_project.project_id}/algorithms", algorithm_body)
    assert response.status_code == 200, response.content
    return response.json()["metadata"]["id"]


@pytest.fixture
def job_body(algorithm_id, bucket_name, node):
    return fill(SEED_JOB, bucket_name, ALGORITHM=algorithm_id)


def v2(project, path):
    return f"/v2/{project.project_id}/{path}"


# --- flavors and engines --------------------------------------------------------------------


def test_it_lists_the_seeds_flavors(member_api, storage_project, flavors, node):
    response = member_api.get(v2(storage_project, "training-job-flavors"), flavor_type="CPU")
    assert response.status_code == 200
    body = response.json()
    by_id = {f["flavor_id"]: f for f in body["flavors"]}
    assert body["total_count"] == len(body["flavors"]) >= 2
    assert by_id["modelarts.vm.cpu.8u"] == {
        "flavor_id": "modelarts.vm.cpu.8u",
        "flavor_name": "Computing CPU(8U) instance",
        "flavor_type": "CPU",
        "billing": {"code": "modelarts.vm.cpu.8u", "unit_num": 1},
        "flavor_info": {
            "max_num": 1,
            "cpu": {"arch": "x86", "core_num": 8},
            "memory": {"size": 32, "unit": "GB"},
            "disk": {"size": 50, "unit": "GB"},
        },
    }
    assert all(f["flavor_type"] == "CPU" for f in body["flavors"])


def test_max_num_is_zero_without_nodes(member_api, storage_project, flavors, default_pool):
    body = member_api.get(v2(storage_project, "training-job-flavors")).json()
    assert {f["flavor_info"]["max_num"] for f in body["flavors"]} == {0}
    gpu = [f for f in body["flavors"] if f["flavor_type"] == "GPU"]
    assert (
        gpu and gpu[0]["flavor_info"]["gpu"]["unit_num"] == 1 and gpu[0]["flavor_info"]["gpu"]["product_name"] == "T4"
    )


def test_flavor_type_must_be_known(member_api, storage_project, flavors):
    assert_error(
        member_api.get(v2(storage_project, "training-job-flavors"), flavor_type="TPU"),
        400,
        "ModelArts.0202",
        "query parameter flavor_type",
    )


def test_it_lists_engines_as_the_seed_shows(member_api, storage_project, local_engine):
    body = member_api.get(v2(storage_project, "job/training-job-engines")).json()
    assert body["total"] == len(body["items"]) == 1
    item = body["items"][0]
    # tags only when the engine has some, as in the seed's list
    assert set(item) - {"tags"} == {
        "engine_id",
        "engine_name",
        "engine_version",
        "v1_compatible",
        "run_user",
        "image_info",
    }
    assert item["engine_id"] == local_engine.engine_id and item["engine_name"] == local_engine.engine_name
    assert {"cpu_image_url", "gpu_image_url", "image_version"} <= set(item["image_info"])


def test_engine_bodies_carry_true_run_user_image_info_and_tags(member_api, client_for, site_admin, storage_project,
                                                               default_pool):  # fmt: skip
    # Issue 15 §6.10: run_user and image_info were empty and tags never set.
    import getpass
    import sys

    from django.urls import reverse

    from console.nodepools.models import Node, NodeState
    from console.training.models import Engine
    from console.training.services import engines_sync_for_node
    from console.training.workload import engine_probe

    node = Node.objects.create(pool=default_pool, name="node-probe", hostname="h", cpu_cores=2,
                               memory_bytes=4 * 1024**3, state=NodeState.AVAILABLE)  # fmt: skip
    # What a node does when it registers: probe its interpreters, report them.
    engines_sync_for_node(node=node, identities=engine_probe().facts("cpu"))
    engine = Engine.objects.get()
    admin = client_for(site_admin)
    response = admin.post(reverse("training:engine_tags", kwargs={"pk": engine.pk}), {"tags": "team=nlp\nstage = prod"})
    assert response.status_code == 302
    refused = admin.post(reverse("training:engine_tags", kwargs={"pk": engine.pk}), {"tags": "no-equals-sign"})
    assert refused.status_code == 302 and Engine.objects.get().tags == [
        {"key": "team", "value": "nlp"}, {"key": "stage", "value": "prod"}
    ]  # fmt: skip
    item = member_api.get(v2(storage_project, "job/training-job-engines")).json()["items"][0]
    assert item["run_user"] == getpass.getuser()
    info = item["image_info"]
    assert info["python_path"] == sys.executable
    assert info["python_version"] == "%d.%d" % sys.version_info[:2]
    import torch  # noqa: F401 — the test venv's framework: its version names the engine

    assert info["framework_version"] == torch.__version__.split("+")[0]
    assert item["tags"] == [{"key": "team", "value": "nlp"}, {"key": "stage", "value": "prod"}]


def test_viewers_read_the_catalog(api_as, viewer, storage_project, flavors):
    assert api_as(viewer, storage_project).get(v2(storage_project, "training-job-flavors")).status_code == 200


# --- algorithms ----------------------------------------------------------------------------


def test_it_creates_the_seeds_algorithm(member_api, storage_project, algorithm_body, bucket_name, local_engine, org):
    response = member_api.post(v2(storage_project, "algorithms"), algorithm_body)
    assert response.status_code == 200
    body = response.json()
    metadata = body["metadata"]
    assert metadata["name"] == "test-pytorch-cpu" and len(metadata["id"]) == 36
    assert metadata["workspace_id"] == "0" and metadata["ai_project"] == "default-ai-project"
    assert metadata["domain_id"] == org.domain_id and metadata["source"] == "custom" and metadata["is_valid"] is True
    assert metadata["size"] == len("print('hello')\n") and isinstance(metadata["update_time"], int)
    assert metadata["tags"] is None and metadata["attr_list"] is None
    assert body["share_info"] == {} and body["advanced_config"] == {} and body["resource_requirements"] == []
    config = body["job_config"]
    assert config["code_dir"] == f"/{bucket_name}/pytorch/fast_example/code/cpu/"
    assert config["boot_file"] == f"/{bucket_name}/pytorch/fast_example/code/cpu/test-pytorch.py"
    assert config["code_tree"] == {"name": "cpu/", "children": [{"name": "test-pytorch.py"}]}
    assert config["inputs"] == [{"name": "data_url", "description": "数据来源1"}]
    assert config["parameters"][0] == {
        "name": "dist",
        "description": "",
        "i18n_description": None,
        "value": "False",
        "constraint": {
            "type": "Boolean",
            "editable": True,
            "required": False,
            "sensitive": False,
            "valid_type": "None",
            "valid_range": [],
        },
    }
    assert config["engine"]["engine_id"] == local_engine.engine_id
    assert Algorithm.objects.filter(project=storage_project, name="test-pytorch-cpu").exists()


def test_an_unknown_engine_is_refused(member_api, storage_project, algorithm_body):
    algorithm_body["job_config"]["engine"] = {
        "engine_name": "PyTorch",
        "engine_version": "pytorch_1.8.0-cuda_10.2-py_3.7-ubuntu_18.04-x86_64",
    }
    assert_error(member_api.post(v2(storage_project, "algorithms"), algorithm_body), 400, "ModelArts.1002", "engine")
    assert not Algorithm.objects.exists()


def test_a_duplicate_name_is_a_conflict(member_api, storage_project, algorithm_body, algorithm_id):
    assert_error(member_api.post(v2(storage_project, "algorithms"), algorithm_body), 409, "ModelArts.1004")


def test_a_boot_file_outside_the_code_dir_is_refused(member_api, storage_project, algorithm_body, bucket_name):
    algorithm_body["job_config"]["boot_file"] = f"/{bucket_name}/pytorch/other.py"
    assert_error(member_api.post(v2(storage_project, "algorithms"), algorithm_body), 400, "ModelArts.0202", "boot_file")


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda b: b["job_config"].pop("code_dir"), "job_config.code_dir: is required"),
        (lambda b: b["metadata"].update(tags=[]), "metadata.tags: is not a known field"),
        (
            lambda b: b["job_config"].update(parameters_customization="true"),
            "job_config.parameters_customization: input should be a valid boolean",
        ),
        (
            lambda b: b["job_config"]["parameters"][0]["constraint"].update(type="Bool"),
            "job_config.parameters[0].constraint.type",
        ),
        (
            lambda b: b.update(resource_requirements=[{"key": "flavor_type", "operator": "in", "values": ["CPU"]}]),
            "resource_requirements",
        ),
        (lambda b: b["metadata"].update(name="bad name!"), "name"),
    ],
)
def test_bad_algorithms_are_refused_precisely(member_api, storage_project, algorithm_body, mutate, fragment):
    mutate(algorithm_body)
    assert_error(member_api.post(v2(storage_project, "algorithms"), algorithm_body), 400, "ModelArts.0202", fragment)
    assert not Algorithm.objects.exists()


def test_viewers_cannot_create_algorithms(api_as, viewer, storage_project, algorithm_body):
    response = api_as(viewer, storage_project).post(v2(storage_project, "algorithms"), algorithm_body)
    assert_error(response, 403, "ModelArts.0107")


def test_it_gets_lists_updates_and_deletes_an_algorithm(
    member_api, storage_project, algorithm_body, algorithm_id, member
):
    path = v2(storage_project, f"algorithms/{algorithm_id}")
    assert member_api.get(path).json()["metadata"]["id"] == algorithm_id
    listing = member_api.get(v2(storage_project, "algorithms"), searches="pytorch").json()
    assert listing["total"] == 1 and listing["items"][0]["metadata"]["id"] == algorithm_id
    assert member_api.get(v2(storage_project, "algorithms"), searches="nomatch").json()["total"] == 0

    algorithm_body["metadata"]["description"] = "changed"
    updated = member_api.put(path, algorithm_body)
    assert updated.status_code == 200 and updated.json()["metadata"]["description"] == "changed"

    response = member_api.delete(path)
    assert response.status_code == 202 and response.content == b""
    assert AuditEntry.objects.filter(action="algorithm.delete", actor=member).exists()
    assert_error(member_api.get(path), 404, "ModelArts.1003")


def test_another_projects_algorithm_is_not_found(api_as, make_member, other_project, storage_project, algorithm_id):
    stranger = make_member(other_project, "sam")
    api = api_as(stranger, other_project)
    assert_error(api.get(v2(other_project, f"algorithms/{algorithm_id}")), 404, "ModelArts.1003")
    assert_error(api.delete(v2(other_project, f"algorithms/{algorithm_id}")), 404, "ModelArts.1003")
    assert Algorithm.objects.filter(uuid=algorithm_id).exists()


def test_an_algorithm_id_that_is_not_a_uuid_is_not_found(member_api, storage_project):
    assert_error(member_api.get(v2(storage_project, "algorithms/nope")), 404, "ModelArts.1003")


# --- training jobs ------------------------------------------------------------------------------


def test_it_creates_the_seeds_job(member_api, storage_project, job_body, algorithm_id, bucket_name, member, settings):
    response = member_api.post(v2(storage_project, "training-jobs"), job_body)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "job"
    assert body["metadata"]["name"] == "test-pytorch-cpu01"
    assert body["metadata"]["annotations"] == {"job_template": "Template DL", "key_task": "worker"}
    assert body["metadata"]["user_name"] == "mia"
    status = body["status"]
    assert status["phase"] == "Creating" and status["secondary_phase"] == "Creating"
    assert status["duration"] == 0 and status["start_time"] == 0 and status["tasks"] == ["worker-0"]
    algorithm = body["algorithm"]
    assert algorithm["id"] == algorithm_id and algorithm["name"] == "test-pytorch-cpu"
    job_id = body["metadata"]["id"]
    assert algorithm["inputs"] == [
        {
            "name": "data_url",
            "description": "数据来源1",
            "local_dir": f"{settings.TRAINING_WORK_DIR}/{job_id}/worker-0/inputs/data_url_0",
            "remote": {"obs": {"obs_url": f"/{bucket_name}/pytorch/fast_example/data/"}},
        }
    ]
    output = algorithm["outputs"][0]
    assert output["mode"] == "upload_periodically" and output["period"] == settings.TRAINING_OUTPUT_UPLOAD_PERIOD
    assert output["local_dir"].endswith("/outputs/train_url_0")
    assert [p["value"] for p in algorithm["parameters"]] == ["False", "1"]
    assert algorithm["engine"]["usage"] == "training" and algorithm["engine"]["support_groups"] == "public"
    resource = body["spec"]["resource"]
    assert resource["flavor_id"] == "modelarts.vm.cpu.8u" and resource["flavor_name"] == "Computing CPU(8U) instance"
    assert resource["node_count"] == 1
    assert resource["flavor_detail"] == {
        "flavor_type": "CPU",
        "billing": {"code": "modelarts.vm.cpu.8u", "unit_num": 1},
        "flavor_info": {
            "cpu": {"arch": "x86", "core_num": 8},
            "memory": {"size": 32, "unit": "GB"},
            "disk": {"size": 50, "unit": "GB"},
        },
    }
    assert body["spec"]["log_export_path"] == {"obs_url": f"/{bucket_name}/pytorch/fast_example/log/"}
    assert body["spec"]["is_hosted_log"] is True
    assert TrainingJob.objects.get(uuid=job_id).created_by == member


def test_an_unknown_flavor_is_refused(member_api, storage_project, job_body):
    job_body["spec"]["resource"]["flavor_id"] = "modelarts.vm.cpu.64u"
    assert_error(
        member_api.post(v2(storage_project, "training-jobs"), job_body), 400, "ModelArts.1001", "modelarts.vm.cpu.64u"
    )
    assert not TrainingJob.objects.exists()


def test_no_node_that_fits_is_a_conflict_with_the_reason(member_api, storage_project, job_body, node):
    node.delete()
    response = member_api.post(v2(storage_project, "training-jobs"), job_body)
    assert_error(response, 409, "ModelArts.1012", "max_num is 0")
    assert not TrainingJob.objects.exists()


def test_an_unknown_algorithm_is_refused(member_api, storage_project, job_body):
    job_body["algorithm"]["id"] = "01c399ae-8593-4ef5-9e4d-085950aacde1"
    assert_error(member_api.post(v2(storage_project, "training-jobs"), job_body), 400, "ModelArts.1011", "algorithm")


def test_an_algorithm_id_that_is_not_a_uuid_is_refused(member_api, storage_project, job_body):
    job_body["algorithm"]["id"] = "not-a-uuid"
    assert_error(
        member_api.post(v2(storage_project, "training-jobs"), job_body),
        400,
        "ModelArts.1011",
        "algorithm.id",
        "not-a-uuid",
    )
    assert not TrainingJob.objects.exists()


def test_a_missing_authorization_outranks_every_other_refusal(member_api, storage_project, job_body):
    Authorization.objects.filter(project=storage_project).delete()
    job_body["spec"]["resource"]["flavor_id"] = "modelarts.vm.cpu.64u"
    job_body["metadata"]["name"] = "bad name!"
    body = assert_error(
        member_api.post(v2(storage_project, "training-jobs"), job_body), 403, "ModelArts.2007", "若没有授权"
    )
    assert "flavor" not in body["error_msg"]  # the authorization's own message, alone
    assert not TrainingJob.objects.exists()


def test_the_service_chooses_the_error_code_of_an_algorithm(member_api, storage_project, algorithm_body, algorithm_id):
    # A taken name is a conflict even when the storage would refuse too; without the name clash, the storage speaks.
    Authorization.objects.filter(project=storage_project).delete()
    assert_error(
        member_api.post(v2(storage_project, "algorithms"), algorithm_body), 409, "ModelArts.1004", "already exists"
    )
    algorithm_body["metadata"]["name"] = "another-name"
    assert_error(
        member_api.post(v2(storage_project, "algorithms"), algorithm_body), 403, "ModelArts.2007", "若没有授权"
    )


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (
            lambda b: b["spec"]["resource"].update(node_count="1"),
            "spec.resource.node_count: input should be a valid integer",
        ),
        (lambda b: b["spec"]["resource"].update(node_count=0), "spec.resource.node_count"),
        (lambda b: b.update(kind="hetero_job"), "kind"),
        (
            lambda b: b["algorithm"]["parameters"][0].update(value=False),
            "algorithm.parameters[0].value: input should be a valid string",
        ),
        (lambda b: b["algorithm"]["parameters"][1].update(value="one"), "world_size"),
        (lambda b: b["algorithm"].pop("id"), "algorithm.id: is required"),
        (lambda b: b["spec"].update(schedule_policy={}), "spec.schedule_policy: is not a known field"),
        (lambda b: b["algorithm"]["inputs"][0]["remote"]["obs"].update(obs_url="/../etc/"), "inputs[data_url]"),
    ],
)
def test_bad_jobs_are_refused_precisely_and_nothing_is_written(member_api, storage_project, job_body, mutate, fragment):
    mutate(job_body)
    assert_error(member_api.post(v2(storage_project, "training-jobs"), job_body), 400, "ModelArts.0202", fragment)
    assert not TrainingJob.objects.exists()


def test_a_user_without_authorization_is_refused_with_the_seeds_message(member_api, storage_project, job_body):
    Authorization.objects.filter(project=storage_project).delete()
    response = member_api.post(v2(storage_project, "training-jobs"), job_body)
    assert_error(response, 403, "ModelArts.2007", "若没有授权", "Ask a project administrator")
    assert not TrainingJob.objects.exists()


def test_the_authorization_api_switches_job_creation_off_and_on(
    api_as, project_admin, member_api, storage_project, job_body, member
):
    admin = api_as(project_admin, storage_project)
    assert admin.delete(v2(storage_project, "authorizations"), user_id="all-users").status_code == 200
    assert_error(member_api.post(v2(storage_project, "training-jobs"), job_body), 403, "ModelArts.2007")
    admin.post(
        v2(storage_project, "authorizations"),
        {"user_id": member.profile.user_id_hex, "type": "agency", "content": "modelarts_agency"},
    )
    assert member_api.post(v2(storage_project, "training-jobs"), job_body).status_code == 201


def test_viewers_cannot_create_jobs(api_as, viewer, storage_project, job_body):
    assert_error(
        api_as(viewer, storage_project).post(v2(storage_project, "training-jobs"), job_body), 403, "ModelArts.0107"
    )


@pytest.fixture
def job_id(member_api, storage_project, job_body):
    response = member_api.post(v2(storage_project, "training-jobs"), job_body)
    assert response.status_code == 201, response.content
    return response.json()["metadata"]["id"]


def test_viewers_read_a_job_as_the_seed_shows(member_api, storage_project, job_id, api_as, viewer):
    body = api_as(viewer, storage_project).get(v2(storage_project, f"training-jobs/{job_id}")).json()
    assert body["metadata"]["id"] == job_id
    # As in the seed's creation response: null until the job got nodes.
    assert body["status"]["node_count_metrics"] is None
    assert body["status"]["task_statuses"] == [{"task": "worker-0", "exit_code": -1, "message": ""}]


def test_it_searches_jobs(member_api, storage_project, job_id, job_body):
    job_body["metadata"]["name"] = "second-job"
    member_api.post(v2(storage_project, "training-jobs"), job_body)
    path = v2(storage_project, "training-job-searches")
    body = member_api.post(path, {}).json()
    assert body["total"] == 2 and [j["metadata"]["name"] for j in body["items"]] == ["second-job", "test-pytorch-cpu01"]
    body = member_api.post(path, {"filters": [{"key": "name", "operator": "like", "value": ["cpu01"]}]}).json()
    assert [j["metadata"]["id"] for j in body["items"]] == [job_id]
    body = member_api.post(path, {"filters": [{"key": "phase", "value": ["Running"]}]}).json()
    assert body["total"] == 0
    body = member_api.post(path, {"limit": 1, "offset": 1, "order": "asc", "sort_by": "name"}).json()
    assert body["count"] == 1 and body["items"][0]["metadata"]["name"] == "test-pytorch-cpu01"
    assert_error(
        member_api.post(path, {"filters": [{"key": "phase", "value": ["Sleeping"]}]}), 400, "ModelArts.0202", "Sleeping"
    )
    assert_error(member_api.post(path, {"limit": "10"}), 400, "ModelArts.0202", "limit")


def test_jobs_of_another_project_are_invisible(api_as, make_member, other_project, job_id):
    api = api_as(make_member(other_project, "sam"), other_project)
    assert_error(api.get(v2(other_project, f"training-jobs/{job_id}")), 404, "ModelArts.1006")
    assert_error(api.delete(v2(other_project, f"training-jobs/{job_id}")), 404, "ModelArts.1006")
    assert api.post(v2(other_project, "training-job-searches"), {}).json()["total"] == 0
    assert TrainingJob.objects.filter(uuid=job_id, deleted_at__isnull=True).exists()


def test_it_terminates_a_job_and_audits_it(member_api, storage_project, job_id, member):
    path = v2(storage_project, f"training-jobs/{job_id}/actions")
    response = member_api.post(path, {"action_type": "terminate"})
    assert response.status_code == 202
    assert response.json()["status"]["phase"] in ("Terminating", "Terminated")
    assert AuditEntry.objects.filter(action="training_job.stop", actor=member).exists()
    assert_error(member_api.post(path, {"action_type": "pause"}), 400, "ModelArts.0202", "action_type")


def test_a_finished_job_cannot_be_terminated(member_api, storage_project, job_id):
    TrainingJob.objects.filter(uuid=job_id).update(phase=Phase.COMPLETED, secondary_phase="Completed")
    response = member_api.post(v2(storage_project, f"training-jobs/{job_id}/actions"), {"action_type": "terminate"})
    assert_error(response, 409, "ModelArts.1008", "Completed")


def test_viewers_cannot_stop_or_delete(api_as, viewer, storage_project, job_id):
    api = api_as(viewer, storage_project)
    assert_error(
        api.post(v2(storage_project, f"training-jobs/{job_id}/actions"), {"action_type": "terminate"}),
        403,
        "ModelArts.0107",
    )
    assert_error(api.delete(v2(storage_project, f"training-jobs/{job_id}")), 403, "ModelArts.0107")
    assert TrainingJob.objects.get(uuid=job_id).phase == Phase.CREATING


def test_it_deletes_a_job_with_202_and_audits_it(member_api, storage_project, job_id, member):
    response = member_api.delete(v2(storage_project, f"training-jobs/{job_id}"))
    assert response.status_code == 202 and response.content == b""
    assert AuditEntry.objects.filter(action="training_job.delete", actor=member).exists()
    assert_error(member_api.get(v2(storage_project, f"training-jobs/{job_id}")), 404, "ModelArts.1006")


# --- logs and metrics ------------------------------------------------------------------------


@pytest.fixture
def started_task(job_id):
    task = TrainingJob.objects.get(uuid=job_id).tasks.get()
    task.started_at = timezone.now()
    task.save(update_fields=["started_at"])
    TaskLogChunk.objects.create(task=task, seq=1, text="epoch 1/2 loss 0.5\n", at=timezone.now())
    TaskLogChunk.objects.create(task=task, seq=2, text="epoch 2/2 loss 0.1\n", at=timezone.now())
    return task


def test_no_log_before_the_task_starts(member_api, storage_project, job_id):
    response = member_api.get(v2(storage_project, f"training-jobs/{job_id}/tasks/worker-0/logs/url"))
    assert_error(response, 404, "ModelArts.1009", "worker-0")


def test_an_unknown_task_is_named(member_api, storage_project, job_id):
    response = member_api.get(v2(storage_project, f"training-jobs/{job_id}/tasks/work-0/logs/url"))
    assert_error(response, 404, "ModelArts.1007", "work-0", "worker-0")


def log_url(api, project, job_id, content_type):
    path = v2(project, f"training-jobs/{job_id}/tasks/worker-0/logs/url")
    response = api.client.get(path, HTTP_X_AUTH_TOKEN=api.token, CONTENT_TYPE=content_type)
    assert response.status_code == 200, response.content
    return response.json()["obs_url"]


def test_text_plain_gives_a_preview_link_that_works_without_a_token(
    member_api, storage_project, job_id, started_task, client
):
    url = log_url(member_api, storage_project, job_id, "text/plain")
    parsed = urlparse(url)
    assert parsed.path.endswith(f"/{job_id}/worker-0/modelarts-job-{job_id}-worker-0.log")
    query = parse_qs(parsed.query)
    assert int(query["Expires"][0]) - time.time() == pytest.approx(300, abs=5)
    client.logout()
    response = client.get(f"{parsed.path}?{parsed.query}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"].startswith("inline;")
    assert b"".join(response.streaming_content) == b"epoch 1/2 loss 0.5\nepoch 2/2 loss 0.1\n"


def test_octet_stream_gives_a_download_link(member_api, storage_project, job_id, started_task, client):
    url = urlparse(log_url(member_api, storage_project, job_id, "application/octet-stream"))
    response = client.get(f"{url.path}?{url.query}")
    assert response["Content-Disposition"] == f'attachment; filename="modelarts-job-{job_id}-worker-0.log"'


def test_other_content_types_are_refused(member_api, storage_project, job_id, started_task):
    path = v2(storage_project, f"training-jobs/{job_id}/tasks/worker-0/logs/url")
    response = member_api.client.get(path, HTTP_X_AUTH_TOKEN=member_api.token, CONTENT_TYPE="application/json")
    assert_error(response, 400, "ModelArts.0202", "text/plain", "application/octet-stream")


def test_a_link_expires_after_five_minutes(member_api, storage_project, job_id, started_task, client, monkeypatch):
    url = urlparse(log_url(member_api, storage_project, job_id, "text/plain"))
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 301)
    assert_error(client.get(f"{url.path}?{url.query}"), 403, "ModelArts.1010", "expired")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda path, q: (path, q.replace("disposition=inline", "disposition=attachment")),
        lambda path, q: (path, q.replace("Expires=", "Expires=9")),
        lambda path, q: (path.replace("worker-0", "worker-1"), q),
        lambda path, q: (path, q.split("&Signature")[0]),
    ],
    ids=["disposition", "expiry", "other-task", "no-signature"],
)
def test_a_link_opens_only_its_own_log(member_api, storage_project, job_id, started_task, client, tamper):
    url = urlparse(log_url(member_api, storage_project, job_id, "text/plain"))
    path, query = tamper(url.path, url.query)
    assert_error(client.get(f"{path}?{query}"), 403, "ModelArts.1010")


def test_a_deleted_jobs_link_is_dead(member_api, storage_project, job_id, started_task, client):
    url = urlparse(log_url(member_api, storage_project, job_id, "text/plain"))
    TrainingJob.objects.filter(uuid=job_id).update(deleted_at=timezone.now())
    assert_error(client.get(f"{url.path}?{url.query}"), 404, "ModelArts.1006")


def test_metrics_are_the_seeds_six_series_with_minus_one_for_no_data(member_api, storage_project, job_id, started_task):
    now = timezone.now()
    TaskMetricSample.objects.create(task=started_task, at=now)
    TaskMetricSample.objects.create(
        task=started_task, at=now + timezone.timedelta(seconds=2), cpu_usage=28.6224, mem_usage=0.5441, mem_bytes=10
    )
    response = member_api.get(v2(storage_project, f"training-jobs/{job_id}/metrics/worker-0"))
    assert response.status_code == 200
    assert response.json() == {
        "metrics": [
            {"metric": "cpuUsage", "value": [-1, 28.622]},
            {"metric": "memUsage", "value": [-1, 0.544]},
            {"metric": "npuUtil", "value": [-1, -1]},
            {"metric": "npuMemUsage", "value": [-1, -1]},
            {"metric": "gpuUtil", "value": [-1, -1]},
            {"metric": "gpuMemUsage", "value": [-1, -1]},
        ]
    }


def test_metrics_of_an_unknown_task_are_404(member_api, storage_project, job_id):
    assert_error(member_api.get(v2(storage_project, f"training-jobs/{job_id}/metrics/worker-9")), 404, "ModelArts.1007")


def test_removed_members_lose_the_jobs_at_once(member_api, storage_project, job_id, member):
    Membership.objects.filter(user=member, project=storage_project).delete()
    assert_error(member_api.get(v2(storage_project, f"training-jobs/{job_id}")), 403, "ModelArts.0106")


def test_a_site_admin_token_reaches_the_project(api_as, site_admin, storage_project, job_id):
    api = api_as(site_admin, storage_project)
    assert api.get(v2(storage_project, f"training-jobs/{job_id}")).status_code == 200


def test_an_api_client_without_token_gets_nothing(client, storage_project, job_id):
    assert_error(ApiClient(client).get(v2(storage_project, f"training-jobs/{job_id}")), 401, "ModelArts.0101")
    assert Role.MEMBER  # roles come from the membership, read on every call


def test_an_unknown_pool_is_refused(member_api, storage_project, job_body):
    job_body["spec"]["resource"]["pool_id"] = "gpu-pool"
    assert_error(member_api.post(v2(storage_project, "training-jobs"), job_body), 400, "ModelArts.1011", "gpu-pool")
    assert not TrainingJob.objects.exists()


def test_a_job_names_a_ray_pool_by_pool_id_and_a_multi_node_one_is_refused(
    member_api, storage_project, job_body, site_admin
):
    from console.nodepools.raycluster.services import ray_pool_create
    from console.training.phases import Executor
    from tests.fake_ray import FakeRay

    fake = FakeRay(cpus=16, memory_gb=64)
    try:
        ray_pool_create(actor=site_admin, name="ray-api", address=fake.address, interpreter="/opt/venv/bin/python",
                        console_url="http://console.example:8000")  # fmt: skip
        job_body["spec"]["resource"]["pool_id"] = "ray-api"
        job_body["spec"]["resource"]["node_count"] = 2
        assert_error(member_api.post(v2(storage_project, "training-jobs"), job_body), 409, "ModelArts.1012", "Ray")
        assert not TrainingJob.objects.exists()
        job_body["spec"]["resource"]["node_count"] = 1
        response = member_api.post(v2(storage_project, "training-jobs"), job_body)
        assert response.status_code == 201, response.content
        job = TrainingJob.objects.get()
        assert job.pool.name == "ray-api" and job.tasks.get().executor == Executor.RAY
    finally:
        fake.close()
