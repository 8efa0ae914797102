"""Two real Celery workers registered as nodes of a pay-per-use pool: deleting one stops its job with the
reason and its worker stops consuming the pool's queue (checked by Celery's own inspect), while the
other keeps working; the deleted node's worker does not rejoin when it restarts."""

from __future__ import annotations

import pytest

from console.celery import app
from console.nodepools import actions
from console.nodepools.models import Node, NodeState, Pool
from console.training.models import TaskLogChunk, TrainingJob, TrainingTask
from console.training.phases import Phase, TaskStatus
from console.training.services import algorithm_create, training_job_create
from console.training.services.jobs import JobSpec

# The training fixtures: project with storage, flavors, the probe script in a bucket, node env, fast intervals.
from tests.training.conftest import (  # noqa: F401
    _fast_training,
    bucket_name,
    bucket_root,
    examples_in_bucket,
    flavors,
    node_env,
    probe_in_bucket,
    storage_project,
    wait_for,
)

pytestmark = pytest.mark.integration

TERMINAL = (Phase.COMPLETED, Phase.FAILED, Phase.TERMINATED, Phase.ABNORMAL)
REASON = "node released by an administrator"


def phase_of(job):
    return TrainingJob.objects.filter(pk=job.pk).values_list("phase", flat=True).first()


def wait_phase(job, phases, timeout=90):
    phases = (phases,) if isinstance(phases, str) else phases
    try:
        wait_for(lambda: phase_of(job) in phases, timeout=timeout, message=f"job {job.name} to reach {phases}")
    except AssertionError as error:
        raise AssertionError(
            f"{error}; it is {phase_of(job)}: {TrainingJob.objects.get(pk=job.pk).phase_reason}"
        ) from None
    return TrainingJob.objects.get(pk=job.pk)


def log_text(task) -> str:
    return "".join(TaskLogChunk.objects.filter(task=task).order_by("seq").values_list("text", flat=True))


def active_queues(*workers) -> dict[str, set[str]]:
    """What each worker consumes, as the worker itself answers Celery's inspect."""
    replies = app.control.inspect(destination=list(workers), timeout=3).active_queues() or {}
    return {worker: {q["name"] for q in queues} for worker, queues in replies.items()}


def start_node(celery_worker_process, node_env, name, pool, *, beat=False):
    worker = celery_worker_process(queues="platform", name=name, beat=beat, extra_env=node_env(name, pool=pool))
    return worker, wait_for(lambda: Node.objects.filter(name=name).first(), timeout=30, message=f"{name} to register")


def submit(project, actor, algorithm, bucket, pool, name, sleep):
    return training_job_create(
        actor=actor,
        project=project,
        spec=JobSpec(
            name=name,
            algorithm=algorithm,
            parameters=[{"name": "sleep", "value": str(sleep)}],
            inputs={"data_url": f"obs://{bucket}/data/"},
            outputs={"train_url": f"obs://{bucket}/outputs/{name}/"},
            flavor_id="test.cpu.1u",
            log_export_path=f"obs://{bucket}/logs/",
            pool=pool,
        ),
    )


def test_deleting_a_node_stops_its_job_and_its_worker_leaves_the_pool_queue_while_the_other_works(
    celery_worker_process, node_env, storage_project, member, site_admin, probe_in_bucket, flavors, bucket_name
):
    pool = Pool.objects.create(name="ondemand", billing_mode="pay_per_use", hourly_price="1.0000", is_default=True)
    worker_a, node_a = start_node(celery_worker_process, node_env, "node-a", "ondemand", beat=True)
    worker_b, node_b = start_node(celery_worker_process, node_env, "node-b", "ondemand")
    queues = active_queues(node_a.worker_name, node_b.worker_name)
    assert queues[node_a.worker_name] >= {"platform", "pool.ondemand", "node.node-a"}
    assert queues[node_b.worker_name] >= {"platform", "pool.ondemand", "node.node-b"}

    algorithm = algorithm_create(
        actor=member,
        project=storage_project,
        name="probe",
        code_dir=f"obs://{bucket_name}/code/probe/",
        boot_file=f"obs://{bucket_name}/code/probe/probe.py",
        engine=node_a.engines.get(),
        inputs=[{"name": "data_url"}],
        outputs=[{"name": "train_url"}],
        parameters=[{"name": "sleep", "value": "0", "constraint": {"type": "Float"}}],
        parameters_customization=True,
    )
    long_job = submit(storage_project, member, algorithm, bucket_name, pool, "long-run", 300)
    wait_phase(long_job, Phase.RUNNING)
    task = TrainingTask.objects.get(job=long_job)
    victim = Node.objects.get(pk=task.node_id)
    survivor = node_b if victim.pk == node_a.pk else node_a
    wait_for(lambda: "tick" in log_text(task), message="the script to print")

    # The administrator deletes the node running the job (row action, typed DELETE).
    left = actions.nodes_leave_pool(
        actor=site_admin, pool=pool, action="delete", scope="single", node_ids=[victim.pk], confirmation="DELETE"
    )
    assert [n.name for n in left] == [victim.name]

    # Its job stops, marked with the reason; its history stays.
    long_job = wait_phase(long_job, TERMINAL, timeout=40)
    assert long_job.phase == Phase.TERMINATED, long_job.phase_reason
    assert REASON in long_job.phase_reason
    task.refresh_from_db()
    assert task.status == TaskStatus.TERMINATED and task.node_name == victim.name

    # Its worker no longer consumes the pool's queue (nor its node queue); the platform queue keeps running.
    def victim_left():
        q = active_queues(victim.worker_name)
        return q.get(victim.worker_name) is not None and "pool.ondemand" not in q[victim.worker_name] and q

    consumed = wait_for(victim_left, timeout=20, message="the deleted node's worker to stop consuming pool.ondemand")
    assert "node." + victim.name not in consumed[victim.worker_name]
    assert "platform" in consumed[victim.worker_name]
    assert "pool.ondemand" in active_queues(survivor.worker_name)[survivor.worker_name]
    # The platform's finish task saw the tasks end and completed the removal.
    wait_for(
        lambda: Node.objects.get(pk=victim.pk).state == NodeState.DELETED, timeout=30, message="the node to be Deleted"
    )

    # The other node keeps working: the next job of the pool runs there and completes.
    next_job = submit(storage_project, member, algorithm, bucket_name, pool, "after-delete", 0.5)
    next_job = wait_phase(next_job, TERMINAL, timeout=60)
    assert next_job.phase == Phase.COMPLETED, next_job.phase_reason
    assert TrainingTask.objects.get(job=next_job).node_name == survivor.name

    # Restarting the deleted node's worker does not bring it back.
    restarted = worker_a if victim.pk == node_a.pk else worker_b
    restarted.stop()
    again = celery_worker_process(
        queues="platform", name=victim.name, beat=False, extra_env=node_env(victim.name, pool="ondemand")
    )
    wait_for(lambda: "does not rejoin by itself" in again.log_path.read_text(), timeout=30, message="the refusal")
    consumed = active_queues(victim.worker_name)[victim.worker_name]
    assert "pool.ondemand" not in consumed and "platform" in consumed
    assert Node.objects.get(pk=victim.pk).state == NodeState.DELETED
