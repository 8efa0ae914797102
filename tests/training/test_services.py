"""Algorithm and job services: the rules, and that bad input writes nothing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from console.audit.models import AuditEntry
from console.nodepools.models import Pool
from console.training.models import Algorithm, JobEvent, TrainingJob, TrainingTask
from console.training.phases import Phase, TaskStatus
from console.training.services import (
    algorithm_create,
    algorithm_delete,
    algorithm_update,
    flavor_max_num,
    training_job_create,
    training_job_delete,
    training_job_stop,
)
from console.training.services.jobs import JobSpec
from tests.training.conftest import make_node


@pytest.fixture
def ctx(storage_project, member, examples_in_bucket, default_pool, flavors, local_engine, bucket_name):
    make_node(default_pool, "node-a", engine=local_engine, cores=2, memory_gb=16)
    make_node(default_pool, "node-b", engine=local_engine, cores=2, memory_gb=16)
    return {
        "project": storage_project,
        "actor": member,
        "bucket": bucket_name,
        "engine": local_engine,
        "pool": default_pool,
    }


def seed_algorithm(ctx, **overrides):
    b = ctx["bucket"]
    spec = {
        "name": "test-pytorch-cpu",
        "description": "test pytorch job in cpu in mode gloo",
        "code_dir": f"/{b}/code/gloo/",
        "boot_file": f"/{b}/code/gloo/test-pytorch.py",
        "engine_name": "PyTorch",
        "engine_version": ctx["engine"].engine_version,
        "inputs": [{"name": "data_url", "description": "数据来源1"}],
        "outputs": [{"name": "train_url", "description": "输出数据1"}],
        "parameters": [
            {"name": "dist", "value": "False", "constraint": {"type": "Boolean", "editable": True, "required": False, "sensitive": False, "valid_type": "None", "valid_range": []}},
            {"name": "world_size", "value": "1", "constraint": {"type": "Integer", "editable": True, "required": False, "sensitive": False, "valid_type": "None", "valid_range": []}},
        ],
        "parameters_customization": True,
    }  # fmt: skip
    spec.update(overrides)
    return algorithm_create(actor=ctx["actor"], project=ctx["project"], **spec)


def folders(seed_items) -> dict:
    """The seed's [{"name", "remote": {"obs": {"obs_url"}}}] (or [{"name", "obs_url"}]) as {name: folder}."""
    return {item["name"]: item.get("obs_url") or item["remote"]["obs"]["obs_url"] for item in seed_items}


def job_spec(ctx, algorithm, **overrides) -> JobSpec:
    b = ctx["bucket"]
    args = {
        "name": "job-1",
        "algorithm": algorithm,
        "parameters": [{"name": "dist", "value": "False"}, {"name": "world_size", "value": "1"}],
        "inputs": [{"name": "data_url", "remote": {"obs": {"obs_url": f"/{b}/data/"}}}],
        "outputs": [{"name": "train_url", "remote": {"obs": {"obs_url": f"/{b}/outputs/"}}}],
        "flavor_id": "modelarts.vm.cpu.2u",
        "node_count": 1,
        "log_export_path": f"/{b}/logs/",
    }
    args.update(overrides)
    return JobSpec(**{**args, "inputs": folders(args["inputs"]), "outputs": folders(args["outputs"])})


def create_job(ctx, algorithm, **overrides):
    return training_job_create(actor=ctx["actor"], project=ctx["project"], spec=job_spec(ctx, algorithm, **overrides))


# --- algorithms -----------------------------------------------------------------------------


def test_it_creates_the_seeds_algorithm(ctx):
    algorithm = seed_algorithm(ctx)
    assert algorithm.engine == ctx["engine"]
    assert algorithm.code_dir.endswith("/code/gloo/") and algorithm.boot_file.endswith("/code/gloo/test-pytorch.py")
    assert algorithm.code_tree == {"name": "gloo/", "children": [{"name": "test-pytorch.py"}]}
    assert algorithm.code_size > 1000


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"name": "has space"}, "name", "is not a valid name"),
        ({"name": "n" * 65}, "name", "is not a valid name"),
        ({"engine_version": "tensorflow_9-cpu"}, "engine", "Unknown engine"),
        ({"boot_file": "/{b}/code/tiny/train.py"}, "boot_file", "directly inside the code directory"),
        ({"boot_file": "/{b}/code/gloo/sub/test.py"}, "boot_file", "directly inside the code directory"),
        ({"boot_file": "/{b}/code/gloo/missing.py"}, "boot_file", "There is no file"),
        ({"boot_file": "/{b}/code/gloo/"}, "boot_file", "must be a file"),
        ({"code_dir": "/{b}/code/nothing/"}, "code_dir", "does not exist"),
        ({"code_dir": "/{b}/code/../etc/"}, "code_dir", "leaves its bucket"),
        ({"code_dir": "/no-such-bucket/code/"}, "code_dir", "There is no bucket"),
        ({"inputs": [{"name": "a b"}]}, "inputs", "is not a valid name"),
        ({"outputs": [{"name": "train_url"}, {"name": "train_url"}]}, "outputs", "listed twice"),
        ({"outputs": [{"name": "train_url", "description": "d" * 257}]}, "outputs", "The description of train_url must be at most 256"),
        ({"description": "d" * 257}, "description", "The description may have at most 256"),
        ({"outputs": [{"name": "dist"}]}, "parameters", "used by more than one"),
        ({"parameters": [{"name": "x", "value": "1", "constraint": {"type": "Integer", "valid_type": "Range", "valid_range": [2, 3]}}]}, "parameters", "between 2 and 3"),
    ],
)  # fmt: skip
def test_it_refuses_a_broken_algorithm_and_writes_nothing(ctx, overrides, field, message):
    overrides = {k: (v.format(b=ctx["bucket"]) if isinstance(v, str) else v) for k, v in overrides.items()}
    with pytest.raises(ValidationError) as caught:
        seed_algorithm(ctx, **overrides)
    assert any(message in text for text in caught.value.message_dict[field]), caught.value.message_dict
    assert not Algorithm.objects.exists()


def test_algorithm_names_are_unique_in_a_project(ctx):
    seed_algorithm(ctx)
    with pytest.raises(ValidationError) as caught:
        seed_algorithm(ctx)
    assert "already exists" in caught.value.message_dict["name"][0]


def test_a_user_without_storage_authorization_is_refused(ctx):
    from console.authorizations.models import Authorization

    Authorization.objects.filter(project=ctx["project"]).delete()
    with pytest.raises(ValidationError) as caught:
        seed_algorithm(ctx)
    assert "若没有授权" in caught.value.message_dict["code_dir"][0]


def test_update_keeps_jobs_snapshot_and_delete_is_refused_while_a_job_is_active(ctx):
    algorithm = seed_algorithm(ctx)
    job = create_job(ctx, algorithm)
    updated = algorithm_update(actor=ctx["actor"], algorithm=algorithm, name="renamed", parameters=[])
    assert updated.name == "renamed" and updated.parameters == []
    job.refresh_from_db()
    assert job.algorithm_spec["name"] == "test-pytorch-cpu" and len(job.algorithm_spec["parameters"]) == 2
    with pytest.raises(ValidationError) as caught:
        algorithm_delete(actor=ctx["actor"], algorithm=updated)
    assert caught.value.code == "algorithm_in_use"
    TrainingJob.objects.filter(pk=job.pk).update(phase=Phase.COMPLETED)
    algorithm_delete(actor=ctx["actor"], algorithm=updated)
    assert not Algorithm.objects.exists()
    job.refresh_from_db()
    assert job.algorithm is None and job.algorithm_spec["name"] == "test-pytorch-cpu"


# --- jobs -------------------------------------------------------------------------------------


def test_it_creates_a_job_in_phase_creating_with_its_tasks(ctx):
    algorithm = seed_algorithm(ctx)
    job = create_job(ctx, algorithm, node_count=2)
    assert (job.phase, job.secondary_phase) == (Phase.CREATING, "Creating")
    assert list(job.tasks.values_list("name", "status")) == [
        ("worker-0", TaskStatus.WAITING),
        ("worker-1", TaskStatus.WAITING),
    ]
    assert job.inputs == [{"name": "data_url", "description": "数据来源1", "obs_url": f"/{ctx['bucket']}/data/"}]
    assert job.flavor_spec["flavor_id"] == "modelarts.vm.cpu.2u" and job.pool == ctx["pool"]
    assert JobEvent.objects.filter(job=job, kind="created").exists()


@pytest.mark.parametrize(
    "overrides, field, entry, code, message",
    [
        ({"name": "bad/name"}, "name", None, "invalid_name", "is not a valid name"),
        ({"description": "d" * 257}, "description", None, "description_too_long", "at most 256 characters"),
        ({"algorithm": "another project's"}, "algorithm", None, "unknown_algorithm", "Unknown algorithm"),
        ({"flavor_id": "modelarts.vm.cpu.99u"}, "flavor", None, "unknown_flavor", "Unknown flavor"),
        ({"node_count": 3}, "node_count", None, "over_capacity", "at most 2 node(s)"),
        ({"node_count": 0}, "node_count", None, "invalid_node_count", "from 1 to"),
        ({"node_count": "two"}, "node_count", None, "invalid_node_count", "from 1 to"),
        ({"flavor_id": "modelarts.vm.cpu.8u"}, "node_count", None, "no_capacity", "max_num is 0"),
        ({"parameters": [{"name": "world_size", "value": "two"}]}, "parameters", None, "invalid_parameter", "must be an integer"),
        ({"parameters": [{"name": "dist", "value": "sometimes"}]}, "parameters", None, "invalid_parameter", "True or False"),
        ({"inputs": []}, "inputs", "data_url", "input_missing", "Choose the storage folder"),
        ({"inputs": [{"name": "data_url", "remote": {"obs": {"obs_url": "/{b}/../secret/"}}}]}, "inputs", "data_url", "path_escape", "leaves its bucket"),
        ({"inputs": [{"name": "data_url", "remote": {"obs": {"obs_url": "/{b}/nope/"}}}]}, "inputs", "data_url", "no_folder", "does not exist"),
        ({"inputs": [{"name": "data_url", "obs_url": "/{b}/data/"}, {"name": "other", "obs_url": "/{b}/data/"}]}, "inputs", "other", "unknown_input", "no input named other"),
        ({"outputs": []}, "outputs", "train_url", "output_missing", "Choose the storage folder for output"),
        ({"outputs": [{"name": "train_url", "obs_url": "/{b}/outputs/"}, {"name": "extra", "obs_url": "/{b}/outputs/"}]}, "outputs", "extra", "unknown_output", "no output named extra"),
        ({"outputs": [{"name": "train_url", "obs_url": "/{b}/code/gloo/test-pytorch.py"}]}, "outputs", "train_url", "not_folder", "is a file"),
        ({"outputs": [{"name": "train_url", "obs_url": "relative/path"}]}, "outputs", "train_url", "path_form", "must start with obs://"),
        ({"log_export_path": "/other-bucket-x/logs/"}, "log_export_path", None, "no_bucket", "There is no bucket"),
    ],
)  # fmt: skip
def test_it_refuses_a_bad_job_and_writes_nothing(ctx, other_project, overrides, field, entry, code, message):
    algorithm = seed_algorithm(ctx)
    b = ctx["bucket"]

    def fill(value):
        if isinstance(value, str):
            return value.replace("{b}", b)
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    overrides = fill(overrides)
    if overrides.pop("algorithm", None):
        algorithm = Algorithm.objects.create(
            project=other_project,
            name="theirs",
            engine=ctx["engine"],
            code_dir=algorithm.code_dir,
            boot_file=algorithm.boot_file,
        )
    with pytest.raises(ValidationError) as caught:
        create_job(ctx, algorithm, **overrides)
    errors = caught.value.message_dict
    assert any(message in text for text in errors.get(field, [])), errors
    # Each refusal has its own code; one about an input or output names it (no "input:x" field).
    refusals = [(item.code, (item.params or {}).get("name")) for item in caught.value.error_dict[field]]
    assert (code, entry) in refusals, refusals
    assert not any(":" in key for key in errors), errors
    assert not TrainingJob.objects.filter(name="job-1").exists() and not TrainingTask.objects.exists()


def test_without_a_node_pool_a_job_is_refused(ctx):
    algorithm = seed_algorithm(ctx)
    Pool.objects.update(is_default=False)
    with pytest.raises(ValidationError) as caught:
        create_job(ctx, algorithm)
    assert [item.code for item in caught.value.error_dict["pool"]] == ["no_pool"]
    assert "There is no node pool yet" in caught.value.message_dict["pool"][0]
    assert not TrainingJob.objects.exists()


def test_a_job_in_a_named_pool_runs_there(ctx):
    algorithm = seed_algorithm(ctx)
    other = Pool.objects.create(name="other")
    with pytest.raises(ValidationError) as caught:
        create_job(ctx, algorithm, pool=other)  # no node in it
    assert [item.code for item in caught.value.error_dict["node_count"]] == ["no_capacity"]
    assert "pool other" in caught.value.message_dict["node_count"][0]


def test_the_code_folder_must_be_readable_by_the_user(ctx):
    from console.authorizations.models import Authorization

    algorithm = seed_algorithm(ctx)
    Authorization.objects.filter(project=ctx["project"]).delete()
    with pytest.raises(ValidationError) as caught:
        create_job(ctx, algorithm, inputs=[], outputs=[], log_export_path="")
    assert "no_authorization" in [item.code for item in caught.value.error_dict["algorithm"]]
    assert not TrainingJob.objects.exists()


def test_max_num_counts_live_nodes_that_fit(ctx, flavors):
    assert flavor_max_num(flavors["modelarts.vm.cpu.2u"], pool=ctx["pool"]) == 2
    assert flavor_max_num(flavors["modelarts.vm.cpu.8u"], pool=ctx["pool"]) == 0  # nodes have 2 cores
    assert flavor_max_num(flavors["modelarts.vm.gpu.t4"], pool=ctx["pool"]) == 0
    other = Pool.objects.create(name="other")
    assert flavor_max_num(flavors["modelarts.vm.cpu.2u"], pool=other) == 0


def test_a_model_version_as_input_adds_a_training_task_record(ctx):
    from console.mymodels.models import BaseModelSeries, BaseModelVersion, ModelStatus, MyModel
    from console.versions.models import ModelVersion, TaskKind

    series = BaseModelSeries.objects.create(
        slug="qwen2-5", name="通义千问2.5", name_en="Qwen2.5", type_zh="文本生成", type_en="Text generation"
    )
    base = BaseModelVersion.objects.create(series=series, slug="qwen2-5-7b", name="Qwen2.5-7B")
    model = MyModel.objects.create(project=ctx["project"], name="m1", base_version=base)
    version = ModelVersion.objects.create(
        model=model,
        number=1,
        base_version=base,
        weights_path=f"obs://{ctx['bucket']}/data/",
        status=ModelStatus.CREATED,
    )
    algorithm = seed_algorithm(ctx)
    job = create_job(ctx, algorithm, inputs=[], model_version=version)
    assert job.inputs[0]["obs_url"] == f"/{ctx['bucket']}/data/" and job.model_version_input == "data_url"
    assert job.task_record.kind == TaskKind.TRAINING and job.task_record.version == version
    assert str(job.uuid) in job.task_record.link_url
    assert job.task_record.blocks_delete


def test_stop_is_idempotent_and_refused_for_finished_jobs(ctx):
    algorithm = seed_algorithm(ctx)
    job = create_job(ctx, algorithm)
    stopped = training_job_stop(actor=ctx["actor"], job=job)
    assert stopped.phase == Phase.TERMINATING
    assert job.tasks.get().status == TaskStatus.TERMINATED
    assert training_job_stop(actor=ctx["actor"], job=job).phase == Phase.TERMINATING
    assert AuditEntry.objects.filter(action="training_job.stop").count() == 1
    other = create_job(ctx, algorithm, name="done")
    TrainingJob.objects.filter(pk=other.pk).update(phase=Phase.COMPLETED)
    with pytest.raises(ValidationError) as caught:
        training_job_stop(actor=ctx["actor"], job=other)
    assert caught.value.code == "phase" and "Completed" in caught.value.messages[0]


def test_delete_removes_a_finished_job_at_once_and_hides_a_running_one(ctx, bucket_root):
    algorithm = seed_algorithm(ctx)
    finished = create_job(ctx, algorithm, name="finished")
    TrainingJob.objects.filter(pk=finished.pk).update(phase=Phase.COMPLETED)
    TrainingTask.objects.filter(job=finished).update(status=TaskStatus.SUCCEEDED)
    (bucket_root / "outputs" / "model.pt").write_bytes(b"weights")
    training_job_delete(actor=ctx["actor"], job=TrainingJob.objects.get(pk=finished.pk))
    assert not TrainingJob.objects.filter(pk=finished.pk).exists()
    assert (bucket_root / "outputs" / "model.pt").exists()  # outputs stay
    running = create_job(ctx, algorithm, name="running")
    TrainingJob.objects.filter(pk=running.pk).update(phase=Phase.RUNNING)
    TrainingTask.objects.filter(job=running).update(status=TaskStatus.RUNNING)
    training_job_delete(actor=ctx["actor"], job=TrainingJob.objects.get(pk=running.pk))
    running.refresh_from_db()
    assert running.deleted_at is not None and running.phase == Phase.TERMINATING
    assert running.tasks.get().stop_requested
    assert AuditEntry.objects.filter(action="training_job.delete").count() == 2
    with pytest.raises(ValidationError):
        training_job_delete(actor=ctx["actor"], job=running)


def _version_for(ctx):
    from console.mymodels.models import BaseModelSeries, BaseModelVersion, ModelStatus, MyModel
    from console.versions.models import ModelVersion

    series = BaseModelSeries.objects.create(
        slug="qwen2-5", name="通义千问2.5", name_en="Qwen2.5", type_zh="文本生成", type_en="Text generation"
    )
    base = BaseModelVersion.objects.create(series=series, slug="qwen2-5-7b", name="Qwen2.5-7B")
    model = MyModel.objects.create(project=ctx["project"], name="m1", base_version=base)
    return ModelVersion.objects.create(
        model=model, number=1, base_version=base, weights_path=f"obs://{ctx['bucket']}/data/",
        status=ModelStatus.CREATED,
    )  # fmt: skip


def test_deleting_a_finished_job_removes_its_task_record(ctx):
    # Issue 15 §6.2: the record would link to a 404 and keep blocking the model's delete.
    from console.versions.models import TaskRecord
    from console.versions.services import model_delete

    version = _version_for(ctx)
    job = create_job(ctx, seed_algorithm(ctx), inputs=[], model_version=version)
    record_id = job.task_record_id
    TrainingJob.objects.filter(pk=job.pk).update(phase=Phase.COMPLETED)
    TrainingTask.objects.filter(job=job).update(status=TaskStatus.SUCCEEDED)
    training_job_delete(actor=ctx["actor"], job=TrainingJob.objects.get(pk=job.pk))
    assert not TaskRecord.objects.filter(pk=record_id).exists()
    model_delete(actor=ctx["actor"], model=version.model, confirm="DELETE")


def test_a_running_job_deleted_takes_its_record_when_it_is_purged(ctx):
    from console.training.services.reconcile import poll_cycle
    from console.versions.models import TaskRecord

    version = _version_for(ctx)
    job = create_job(ctx, seed_algorithm(ctx), inputs=[], model_version=version)
    record_id = job.task_record_id
    TrainingJob.objects.filter(pk=job.pk).update(phase=Phase.RUNNING)
    TrainingTask.objects.filter(job=job).update(status=TaskStatus.RUNNING)
    training_job_delete(actor=ctx["actor"], job=TrainingJob.objects.get(pk=job.pk))
    assert TaskRecord.objects.filter(pk=record_id).exists()  # the job still stops
    TrainingTask.objects.filter(job=job).update(status=TaskStatus.TERMINATED)
    TrainingJob.objects.filter(pk=job.pk).update(phase=Phase.TERMINATED)
    poll_cycle()
    assert not TrainingJob.objects.filter(pk=job.pk).exists()
    assert not TaskRecord.objects.filter(pk=record_id).exists()
