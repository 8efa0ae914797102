"""Jobs run for real: a node worker (a real `celery worker` with CONSOLE_NODE_POOL) takes them,
a detached runner runs the shipped examples, beat's poller reconciles."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from console.nodepools.models import Node
from console.training.models import JobEvent, TaskLogChunk, TaskMetricSample, TrainingJob, TrainingTask
from console.training.phases import Phase, SecondaryPhase, TaskStatus
from console.training.services import algorithm_create, training_job_create, training_job_delete, training_job_stop
from console.training.services.jobs import JobSpec
from tests.training.conftest import runner_processes, task_processes, wait_for

pytestmark = pytest.mark.integration

TERMINAL = (Phase.COMPLETED, Phase.FAILED, Phase.TERMINATED, Phase.ABNORMAL)


def start_node(node_worker, name="node-a", *, beat=True):
    worker = node_worker(name, beat=beat)
    return worker, Node.objects.get(name=name)


def tiny_algorithm(project, actor, bucket, engine, **overrides):
    spec = {
        "name": "tiny",
        "code_dir": f"obs://{bucket}/code/tiny/",
        "boot_file": f"obs://{bucket}/code/tiny/train.py",
        "engine": engine,
        "inputs": [{"name": "data_url", "description": "data"}],
        "outputs": [{"name": "train_url", "description": "checkpoint"}],
        "parameters": [
            {
                "name": "epochs",
                "value": "3",
                "constraint": {"type": "Integer", "valid_type": "Range", "valid_range": [1, 100]},
            },
            {"name": "epoch_seconds", "value": "0", "constraint": {"type": "Float"}},
            {"name": "fail_at_epoch", "value": "0", "constraint": {"type": "Integer"}},
            {"name": "message", "value": "", "constraint": {"type": "String"}},
        ],
    }
    spec.update(overrides)
    return algorithm_create(actor=actor, project=project, **spec)


def submit(project, actor, algorithm, bucket, name, parameters=(), **extra):
    return training_job_create(
        actor=actor,
        project=project,
        spec=JobSpec(
            name=name,
            algorithm=algorithm,
            parameters=list(parameters),
            inputs={"data_url": f"obs://{bucket}/data/"},
            outputs={"train_url": f"obs://{bucket}/outputs/{name}/"},
            flavor_id=extra.pop("flavor_id", "test.cpu.1u"),
            log_export_path=f"obs://{bucket}/logs/",
            **extra,
        ),
    )


def phase_of(job):
    return TrainingJob.objects.filter(pk=job.pk).values_list("phase", flat=True).first()


def wait_phase(job, phases, timeout=90):
    phases = (phases,) if isinstance(phases, str) else phases
    try:
        wait_for(lambda: phase_of(job) in phases, timeout=timeout, message=f"job {job.name} to reach {phases}")
    except AssertionError as error:
        raise AssertionError(f"{error}; it is {phase_of(job)}") from None
    return TrainingJob.objects.get(pk=job.pk)


def log_text(task) -> str:
    return "".join(TaskLogChunk.objects.filter(task=task).order_by("seq").values_list("text", flat=True))


def test_it_runs_a_job_to_completed_with_logs_metrics_and_checkpoint(
    node_worker, storage_project, member, examples_in_bucket, default_pool, flavors, bucket_name
):
    _worker, node = start_node(node_worker)
    engine = node.engines.get()
    assert engine.engine_id.startswith("pytorch_2.") and "-cpu-py_3." in engine.engine_id
    algorithm = tiny_algorithm(storage_project, member, bucket_name, engine)
    job = submit(
        storage_project,
        member,
        algorithm,
        bucket_name,
        "tiny-1",
        [{"name": "epochs", "value": "4"}, {"name": "epoch_seconds", "value": "0.3"}],
    )
    assert job.phase == Phase.CREATING
    job = wait_phase(job, TERMINAL)
    task = job.tasks.get()
    assert job.phase == Phase.COMPLETED, (job.phase_reason, log_text(task))
    assert job.secondary_phase == SecondaryPhase.COMPLETED
    assert task.status == TaskStatus.SUCCEEDED and task.exit_code == 0
    assert task.node_name == "node-a"
    assert job.start_time and job.end_time and job.duration_ms > 0
    text = log_text(task)
    assert "epoch 4/4 loss" in text
    assert "checkpoint written to" in text
    samples = TaskMetricSample.objects.filter(task=task)
    assert samples.filter(cpu_usage__gte=0).exists() and samples.filter(mem_bytes__gt=0).exists()
    assert samples.filter(cpu_usage=-1).exists()  # the "no data yet" sample before the process started
    assert (examples_in_bucket / "outputs" / "tiny-1" / "model.pt").stat().st_size > 0
    assert (examples_in_bucket / "outputs" / "tiny-1" / "metrics.json").exists()
    exported = examples_in_bucket / "logs" / f"modelarts-job-{job.uuid}-worker-0.log"
    assert "epoch 4/4" in exported.read_text()
    kinds = list(JobEvent.objects.filter(job=job).values_list("kind", flat=True))
    for kind in ("created", "queued", "assigned", "download", "running", "upload", "log_export", "finished"):
        assert kind in kinds, kinds
    assert not Path(task.local_dir).exists()  # local copies removed
    assert task_processes(task.pk) == []


def probe_algorithm(project, actor, bucket, engine, name="probe", parameters=None, customization=True):
    return algorithm_create(
        actor=actor,
        project=project,
        name=name,
        code_dir=f"obs://{bucket}/code/probe/",
        boot_file=f"obs://{bucket}/code/probe/probe.py",
        engine=engine,
        inputs=[{"name": "data_url"}],
        outputs=[{"name": "train_url"}],
        parameters=parameters
        or [
            {"name": "sleep", "value": "0", "constraint": {"type": "Float"}},
            {"name": "exit_code", "value": "0", "constraint": {"type": "Integer"}},
            {"name": "token", "value": "", "constraint": {"type": "String", "sensitive": True}},
        ],
        parameters_customization=customization,
    )


def test_it_passes_hostile_values_literally_and_masks_sensitive_ones(
    node_worker, storage_project, member, probe_in_bucket, default_pool, flavors, bucket_name, tmp_path
):
    import json

    _worker, node = start_node(node_worker)
    algorithm = probe_algorithm(storage_project, member, bucket_name, node.engines.get())
    marker = tmp_path / "pwned"
    hostile = {
        "semi": "a; touch " + str(marker),
        "subst": "$(touch " + str(marker) + ")",
        "backticks": "`touch " + str(marker) + "`",
        "newline": "first line\nsecond line",
        "quotes": 'it\'s "quoted" & <b>',
    }
    job = submit(
        storage_project,
        member,
        algorithm,
        bucket_name,
        "hostile",
        [{"name": "token", "value": "s3cr3t-VALUE-42"}, *({"name": k, "value": v} for k, v in hostile.items())],
    )
    job = wait_phase(job, TERMINAL)
    task = job.tasks.get()
    assert job.phase == Phase.COMPLETED, job.phase_reason
    received = json.loads((probe_in_bucket / "outputs" / "hostile" / "args.json").read_text())
    for key, value in hostile.items():
        assert f"--{key}={value}" in received
    assert "--token=s3cr3t-VALUE-42" in received  # the script gets the real value...
    assert not marker.exists()  # ...and no shell ever saw any of them
    text = log_text(task)
    assert "s3cr3t-VALUE-42" not in text and "arg: --token=******" in text  # ...but the log never shows it
    assert "s3cr3t-VALUE-42" not in (probe_in_bucket / "logs" / f"modelarts-job-{job.uuid}-worker-0.log").read_text()
    env = json.loads((probe_in_bucket / "outputs" / "hostile" / "env.json").read_text())
    assert env["RANK"] == "0" and env["WORLD_SIZE"] == "1" and env["MASTER_PORT"]
    assert env["DATABASE_URL"] is None and env["SECRET_KEY"] is None  # the console's secrets stay out
    assert len(env["affinity"]) == 1  # held to the flavor's 1 core


def test_a_failing_script_fails_the_job_with_its_exit_code_and_last_lines(
    node_worker, storage_project, member, examples_in_bucket, default_pool, flavors, bucket_name
):
    _worker, node = start_node(node_worker)
    algorithm = tiny_algorithm(storage_project, member, bucket_name, node.engines.get())
    job = submit(storage_project, member, algorithm, bucket_name, "fails", [{"name": "fail_at_epoch", "value": "2"}])
    job = wait_phase(job, TERMINAL)
    task = job.tasks.get()
    assert job.phase == Phase.FAILED and job.secondary_phase == SecondaryPhase.FAILED
    assert job.exit_code == 3 and task.exit_code == 3
    assert "exited with code 3" in job.phase_reason
    assert "failing on purpose at epoch 2" in job.phase_reason  # the last log lines
    assert "epoch 2/3" in log_text(task)
    assert task_processes(task.pk) == []


def test_stop_mid_run_terminates_the_job_and_leaves_no_process(
    node_worker, storage_project, member, probe_in_bucket, default_pool, flavors, bucket_name
):
    _worker, node = start_node(node_worker)
    algorithm = probe_algorithm(storage_project, member, bucket_name, node.engines.get())
    job = submit(storage_project, member, algorithm, bucket_name, "stopped", [{"name": "sleep", "value": "120"}])
    wait_phase(job, Phase.RUNNING)
    task = job.tasks.get()
    wait_for(lambda: "tick 2" in log_text(task), message="the script to print")
    assert task_processes(task.pk)
    stopped = training_job_stop(actor=member, job=job)
    assert stopped.phase == Phase.TERMINATING
    again = training_job_stop(actor=member, job=job)  # stop twice: same outcome, no error
    assert again.phase in (Phase.TERMINATING, Phase.TERMINATED)
    job = wait_phase(job, TERMINAL, timeout=30)
    assert job.phase == Phase.TERMINATED and job.secondary_phase == SecondaryPhase.TERMINATED
    assert "Stopped by mia" in job.phase_reason
    task.refresh_from_db()
    assert task.status == TaskStatus.TERMINATED
    wait_for(
        lambda: not task_processes(task.pk) and not runner_processes(task.pk), timeout=10, message="no processes left"
    )
    assert training_job_stop(actor=member, job=job).phase == Phase.TERMINATED
    from console.audit.models import AuditEntry

    assert AuditEntry.objects.filter(action="training_job.stop", object_id=str(job.pk)).count() == 1


def test_kill_9_of_the_runner_makes_the_job_abnormal_lost_within_the_timeout(
    node_worker, storage_project, member, probe_in_bucket, default_pool, flavors, bucket_name
):
    _worker, node = start_node(node_worker)
    algorithm = probe_algorithm(storage_project, member, bucket_name, node.engines.get())
    job = submit(storage_project, member, algorithm, bucket_name, "lost", [{"name": "sleep", "value": "120"}])
    wait_phase(job, Phase.RUNNING)
    task = TrainingTask.objects.get(job=job)
    killed_at = time.monotonic()
    os.kill(task.runner_pid, signal.SIGKILL)
    job = wait_phase(job, TERMINAL, timeout=30)
    elapsed = time.monotonic() - killed_at
    assert job.phase == Phase.ABNORMAL and job.secondary_phase == SecondaryPhase.LOST
    assert "stopped reporting" in job.phase_reason
    # One heartbeat timeout (3 s in tests) plus a poll cycle, with slack for a busy machine.
    assert elapsed < 3 + 0.5 + 6
    wait_for(lambda: not task_processes(task.pk), timeout=10, message="the orphaned script to die with its runner")
    task.refresh_from_db()
    wait_for(
        lambda: not Path(task.local_dir).exists(), timeout=10, message="the node to remove the lost task's local copies"
    )


def test_kill_9_of_the_script_fails_the_job_with_the_reason(
    node_worker, storage_project, member, probe_in_bucket, default_pool, flavors, bucket_name
):
    _worker, node = start_node(node_worker)
    algorithm = probe_algorithm(storage_project, member, bucket_name, node.engines.get())
    job = submit(storage_project, member, algorithm, bucket_name, "killed", [{"name": "sleep", "value": "120"}])
    wait_phase(job, Phase.RUNNING)
    task = TrainingTask.objects.get(job=job)
    wait_for(lambda: "tick 1" in log_text(task), message="the script to run")
    os.kill(task.process_pid, signal.SIGKILL)
    job = wait_phase(job, TERMINAL, timeout=30)
    assert job.phase == Phase.FAILED
    assert job.exit_code == 137
    assert "killed by SIGKILL (exit code 137)" in job.phase_reason


def test_a_two_node_gloo_job_runs_across_two_workers(
    node_worker, storage_project, member, examples_in_bucket, default_pool, flavors, bucket_name
):
    _a, node_a = start_node(node_worker, "node-a")
    _b, node_b = start_node(node_worker, "node-b", beat=False)
    engine = node_a.engines.get()
    algorithm = algorithm_create(
        actor=member, project=storage_project, name="test-pytorch-cpu", description="test pytorch job in cpu in mode gloo",
        code_dir=f"obs://{bucket_name}/code/gloo/", boot_file=f"obs://{bucket_name}/code/gloo/test-pytorch.py",
        engine_name="PyTorch", engine_version=engine.engine_version,
        inputs=[{"name": "data_url", "description": "数据来源1"}], outputs=[{"name": "train_url", "description": "输出数据1"}],
        parameters=[
            {"name": "dist", "description": "", "value": "False", "constraint": {"editable": True, "required": False, "sensitive": False, "type": "Boolean", "valid_range": [], "valid_type": "None"}},
            {"name": "world_size", "description": "", "value": "1", "constraint": {"editable": True, "required": False, "sensitive": False, "type": "Integer", "valid_range": [], "valid_type": "None"}},
        ],
        parameters_customization=True,
    )  # fmt: skip
    job = submit(
        storage_project,
        member,
        algorithm,
        bucket_name,
        "gloo-2",
        [{"name": "dist", "value": "True"}, {"name": "world_size", "value": "2"}],
        node_count=2,
    )
    job = wait_phase(job, TERMINAL, timeout=120)
    tasks = list(job.tasks.order_by("index"))
    assert job.phase == Phase.COMPLETED, (job.phase_reason, [log_text(t) for t in tasks])
    assert [t.name for t in tasks] == ["worker-0", "worker-1"]
    assert {t.node_name for t in tasks} == {"node-a", "node-b"}
    for rank, task in enumerate(tasks):
        text = log_text(task)
        assert f"rank {rank}: all_reduce of ranks+1 = 3 (expected 3)" in text
        assert f"rank {rank}: done" in text
    assert (examples_in_bucket / "outputs" / "gloo-2" / "model.pt").exists()
    metrics = JobEvent.objects.filter(job=job, running_nodes__isnull=False).values_list("running_nodes", flat=True)
    assert 2 in list(metrics)


def test_a_killed_worker_leaves_its_job_running_and_reporting(
    node_worker, storage_project, member, probe_in_bucket, default_pool, flavors, bucket_name
):
    worker, node = start_node(node_worker)
    algorithm = probe_algorithm(storage_project, member, bucket_name, node.engines.get())
    job = submit(storage_project, member, algorithm, bucket_name, "survivor", [{"name": "sleep", "value": "5"}])
    wait_phase(job, Phase.RUNNING)
    task = TrainingTask.objects.get(job=job)
    worker.stop(signal.SIGKILL)  # the Celery worker (and its beat) die; the runner is in its own session
    assert runner_processes(task.pk)
    before = TrainingTask.objects.get(pk=task.pk).heartbeat_at
    wait_for(
        lambda: TrainingTask.objects.get(pk=task.pk).heartbeat_at > before, timeout=10, message="heartbeats to go on"
    )
    # Outputs are uploaded while it runs (every TRAINING_OUTPUT_UPLOAD_PERIOD; 2 s in tests), not only at the end.
    wait_for(
        lambda: (probe_in_bucket / "outputs" / "survivor" / "args.json").exists(),
        timeout=10,
        message="a periodic upload",
    )
    assert phase_of(job) == Phase.RUNNING
    job = wait_phase(job, TERMINAL, timeout=60)
    assert job.phase == Phase.COMPLETED, job.phase_reason
    assert "probe done" in log_text(task)


def test_a_pending_job_says_why_and_starts_when_the_node_frees_up(
    node_worker, storage_project, member, probe_in_bucket, default_pool, flavors, bucket_name
):
    from console.training.selectors import job_queue_position

    _worker, node = start_node(node_worker)
    algorithm = probe_algorithm(storage_project, member, bucket_name, node.engines.get())
    first = submit(storage_project, member, algorithm, bucket_name, "first", [{"name": "sleep", "value": "3"}])
    wait_phase(first, Phase.RUNNING)
    second = submit(storage_project, member, algorithm, bucket_name, "second")
    second = wait_phase(second, Phase.PENDING)
    assert "Waiting for 1 free node(s)" in second.phase_reason and job_queue_position(second) == 1
    first = wait_phase(first, TERMINAL)
    finished_at = time.monotonic()
    second = wait_phase(second, TERMINAL, timeout=60)
    assert first.phase == Phase.COMPLETED and second.phase == Phase.COMPLETED
    assert second.start_time >= first.end_time
    assert time.monotonic() - finished_at < 30


def test_a_task_over_its_flavors_memory_is_stopped_with_that_reason(
    node_worker, storage_project, member, probe_in_bucket, default_pool, flavors, bucket_name
):
    from console.training.models import Flavor

    Flavor.objects.create(flavor_id="test.mem.1g", flavor_name="Test 1 GB", cpu_cores=1, memory_gb=1, disk_gb=1)
    _worker, node = start_node(node_worker)
    algorithm = probe_algorithm(storage_project, member, bucket_name, node.engines.get())
    job = submit(
        storage_project,
        member,
        algorithm,
        bucket_name,
        "hog",
        [{"name": "hog_mb", "value": "1500"}, {"name": "sleep", "value": "30"}],
        flavor_id="test.mem.1g",
    )
    job = wait_phase(job, TERMINAL, timeout=60)
    assert job.phase == Phase.FAILED
    assert "more than the 1 GiB of flavor test.mem.1g" in job.phase_reason


def test_deleting_a_running_job_stops_it_and_its_records_go_but_outputs_stay(
    node_worker, storage_project, member, probe_in_bucket, default_pool, flavors, bucket_name
):
    _worker, node = start_node(node_worker)
    algorithm = probe_algorithm(storage_project, member, bucket_name, node.engines.get())
    job = submit(storage_project, member, algorithm, bucket_name, "doomed", [{"name": "sleep", "value": "60"}])
    wait_phase(job, Phase.RUNNING)
    task = TrainingTask.objects.get(job=job)
    training_job_delete(actor=member, job=job)
    wait_for(
        lambda: not TrainingJob.objects.filter(pk=job.pk).exists(), timeout=30, message="the job's rows to be purged"
    )
    assert not TaskLogChunk.objects.filter(task_id=task.pk).exists()
    wait_for(
        lambda: not task_processes(task.pk) and not runner_processes(task.pk), timeout=10, message="no processes left"
    )
    assert (probe_in_bucket / "outputs" / "doomed" / "args.json").exists()  # outputs in storage stay


def test_beat_catches_up_and_a_removed_node_does_not_rejoin(
    node_worker, storage_project, member, probe_in_bucket, default_pool, flavors, bucket_name
):
    from django.utils import timezone

    from console.nodepools.models import NodeState

    worker, node = start_node(node_worker, beat=False)  # no poller running
    algorithm = probe_algorithm(storage_project, member, bucket_name, node.engines.get())
    job = submit(storage_project, member, algorithm, bucket_name, "orphan", [{"name": "sleep", "value": "60"}])
    wait_phase(job, Phase.RUNNING)
    task = TrainingTask.objects.get(job=job)
    os.kill(task.runner_pid, signal.SIGKILL)
    wait_for(lambda: not runner_processes(task.pk), timeout=10, message="the runner to die")
    time.sleep(3.5)  # longer than the heartbeat timeout: without beat nobody has noticed yet
    assert phase_of(job) == Phase.RUNNING
    node_worker("platform", beat=True, node=False)
    job = wait_phase(job, TERMINAL, timeout=20)  # beat is back: the next cycle catches up
    assert (job.phase, job.secondary_phase) == (Phase.ABNORMAL, SecondaryPhase.LOST)

    worker.stop()
    Node.objects.filter(pk=node.pk).update(
        state=NodeState.DELETED, removed_at=timezone.now(), removed_reason="deleted by an administrator"
    )
    again = node_worker("node-a", beat=False)
    log = again.log_path.read_text()
    assert "does not rejoin by itself" in log
    assert "Started consuming from pool.default" not in log
    assert Node.objects.get(pk=node.pk).state == NodeState.DELETED
