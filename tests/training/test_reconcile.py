"""The poller and the scheduler, on rows (no processes): transitions, races, constant cost, FIFO."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console.training.models import Algorithm, JobEvent, TrainingJob, TrainingTask
from console.training.phases import Phase, SecondaryPhase, TaskStatus
from console.training.services.reconcile import poll_cycle, reconcile_jobs
from console.training.services.scheduling import pool_schedule
from tests.training.conftest import make_node


@pytest.fixture
def world(storage_project, member, default_pool, flavors, local_engine):
    algorithm = Algorithm.objects.create(
        project=storage_project, name="algo", code_dir="/b/code/", boot_file="/b/code/train.py", engine=local_engine
    )
    return {"project": storage_project, "actor": member, "pool": default_pool, "engine": local_engine,
            "algorithm": algorithm, "flavor": flavors["test.cpu.1u"]}  # fmt: skip


def make_job(world, name="job", *, phase=Phase.CREATING, node_count=1, task_status=TaskStatus.WAITING, **fields):
    job = TrainingJob.objects.create(
        project=world["project"], name=name, created_by=world["actor"], algorithm=world["algorithm"],
        algorithm_spec={"name": "algo", "engine": world["engine"].snapshot(), "parameters": []},
        engine=world["engine"], flavor=world["flavor"], flavor_spec=world["flavor"].snapshot(),
        node_count=node_count, pool=world["pool"], phase=phase, **fields,
    )  # fmt: skip
    now = timezone.now()
    for index in range(node_count):
        TrainingTask.objects.create(
            job=job, index=index, name=f"worker-{index}", status=task_status,
            heartbeat_at=now if task_status in (TaskStatus.STARTING, TaskStatus.RUNNING) else None,
            running_at=now if task_status == TaskStatus.RUNNING else None,
        )  # fmt: skip
    return job


def refreshed(job):
    return TrainingJob.objects.get(pk=job.pk)


def test_all_tasks_running_makes_the_job_running_once(world):
    job = make_job(world, phase=Phase.PENDING, task_status=TaskStatus.RUNNING, nodes_assigned_at=timezone.now())
    reconcile_jobs()
    job = refreshed(job)
    assert (job.phase, job.secondary_phase) == (Phase.RUNNING, SecondaryPhase.RUNNING)
    assert job.start_time is not None
    reconcile_jobs()
    assert JobEvent.objects.filter(job=job, kind="running").count() == 1


def test_a_silent_runner_makes_the_job_abnormal_lost(world, settings):
    job = make_job(world, phase=Phase.RUNNING, task_status=TaskStatus.RUNNING, nodes_assigned_at=timezone.now())
    TrainingTask.objects.filter(job=job).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.TRAINING_RUNNER_TIMEOUT_SECONDS + 1),
        node_name="node-a",
    )
    counts = reconcile_jobs()
    job = refreshed(job)
    assert counts["lost"] == 1
    assert (job.phase, job.secondary_phase) == (Phase.ABNORMAL, SecondaryPhase.LOST)
    assert "node-a" in job.phase_reason and "stopped reporting" in job.phase_reason
    assert job.end_time is not None


def test_a_failed_task_fails_the_job_and_stops_its_siblings(world):
    job = make_job(
        world, phase=Phase.RUNNING, node_count=2, task_status=TaskStatus.RUNNING, nodes_assigned_at=timezone.now()
    )
    TrainingTask.objects.filter(job=job, index=1).update(
        status=TaskStatus.FAILED, exit_code=3, message="The training process exited with code 3."
    )
    reconcile_jobs()
    job = refreshed(job)
    assert (job.phase, job.exit_code) == (Phase.FAILED, 3)
    assert job.phase_reason == "worker-1: The training process exited with code 3."
    assert TrainingTask.objects.get(job=job, index=0).stop_requested


def test_a_download_failure_shows_create_failed(world):
    job = make_job(world, phase=Phase.PENDING, task_status=TaskStatus.FAILED, nodes_assigned_at=timezone.now())
    TrainingTask.objects.filter(job=job).update(create_failed=True, message="Could not download the code")
    reconcile_jobs()
    assert refreshed(job).secondary_phase == SecondaryPhase.CREATE_FAILED


def test_terminating_becomes_terminated_when_every_task_ended(world):
    job = make_job(world, phase=Phase.TERMINATING, task_status=TaskStatus.RUNNING, nodes_assigned_at=timezone.now())
    reconcile_jobs()
    assert refreshed(job).phase == Phase.TERMINATING
    TrainingTask.objects.filter(job=job).update(status=TaskStatus.TERMINATED)
    reconcile_jobs()
    assert refreshed(job).phase == Phase.TERMINATED


def test_a_terminal_phase_is_never_overwritten(world):
    job = make_job(world, phase=Phase.TERMINATED, task_status=TaskStatus.SUCCEEDED)
    reconcile_jobs()
    assert refreshed(job).phase == Phase.TERMINATED
    assert not JobEvent.objects.filter(job=job).exists()


def test_two_pollers_at_once_move_a_job_once(world):
    """The second poller decided on the same stale read; its conditional update finds nothing to move."""
    from console.training.services import reconcile as module
    from console.training.sql import update_returning

    job = make_job(world, phase=Phase.RUNNING, task_status=TaskStatus.SUCCEEDED, nodes_assigned_at=timezone.now())
    original = module.update_returning
    calls = []

    def racing(queryset, values, returning="pk"):
        if not calls:
            calls.append(1)
            reconcile_jobs()  # the "other" poller wins the race in between our read and our update
        return original(queryset, values, returning)

    module.update_returning = racing
    try:
        reconcile_jobs()
    finally:
        module.update_returning = original
    assert refreshed(job).phase == Phase.COMPLETED
    assert JobEvent.objects.filter(job=job, kind="finished").count() == 1
    assert update_returning  # imported for clarity of what is patched


def test_a_creating_job_nobody_picked_up_says_why(world, settings):
    job = make_job(world)
    TrainingJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=30))
    reconcile_jobs()
    job = refreshed(job)
    assert (job.phase, job.secondary_phase) == (Phase.PENDING, SecondaryPhase.QUEUING)
    assert "No node of pool default is online" in job.phase_reason


def test_deleted_jobs_are_purged_once_terminal(world):
    job = make_job(world, phase=Phase.TERMINATING, task_status=TaskStatus.TERMINATED, deleted_at=timezone.now())
    poll_cycle()
    assert not TrainingJob.objects.filter(pk=job.pk).exists()


def test_a_poll_cycle_costs_the_same_queries_for_5_or_60_jobs(world):
    def cycle_queries():
        with CaptureQueriesContext(connection) as captured:
            poll_cycle()
        return len(captured)

    for i in range(5):
        make_job(world, f"r{i}", phase=Phase.RUNNING, task_status=TaskStatus.RUNNING, nodes_assigned_at=timezone.now())
    small = cycle_queries()
    for i in range(55):
        make_job(world, f"s{i}", phase=Phase.RUNNING, task_status=TaskStatus.RUNNING, nodes_assigned_at=timezone.now())
    assert cycle_queries() == small
    # And when all of them change at once (every runner went silent), still a constant number.
    TrainingTask.objects.update(heartbeat_at=timezone.now() - timedelta(hours=1))
    with CaptureQueriesContext(connection) as captured:
        reconcile_jobs()
    assert TrainingJob.objects.filter(phase=Phase.ABNORMAL).count() == 60
    many = len(captured)
    for i in range(5):
        make_job(world, f"t{i}", phase=Phase.RUNNING, task_status=TaskStatus.RUNNING, nodes_assigned_at=timezone.now())
    TrainingTask.objects.filter(job__name__startswith="t").update(heartbeat_at=timezone.now() - timedelta(hours=1))
    with CaptureQueriesContext(connection) as captured:
        reconcile_jobs()
    assert len(captured) == many


# --- scheduling ------------------------------------------------------------------------------


def test_jobs_queue_first_come_first_served_with_reasons_and_positions(world):
    from console.training.selectors import job_queue_position

    node = make_node(world["pool"], "node-a", engine=world["engine"])
    first, second, third = make_job(world, "first"), make_job(world, "second"), make_job(world, "third")
    launches = pool_schedule(pool_id=world["pool"].pk)
    assert [(launch.node_name, TrainingTask.objects.get(pk=launch.task_id).job_id) for launch in launches] == [
        ("node-a", first.pk)
    ]
    first, second, third = refreshed(first), refreshed(second), refreshed(third)
    assert (first.phase, first.secondary_phase) == (Phase.PENDING, SecondaryPhase.CREATING)
    assert TrainingTask.objects.get(job=first).node == node
    assert (second.phase, second.secondary_phase) == (Phase.PENDING, SecondaryPhase.QUEUING)
    assert "Waiting for 1 free node(s)" in second.phase_reason and "0 free now, 1 busy" in second.phase_reason
    assert "Queued behind earlier jobs" in third.phase_reason
    assert (job_queue_position(second), job_queue_position(third)) == (1, 2)
    assert pool_schedule(pool_id=world["pool"].pk) == []  # nothing freed: nothing moves
    TrainingTask.objects.filter(job=first).update(status=TaskStatus.SUCCEEDED)
    launches = pool_schedule(pool_id=world["pool"].pk)
    assert [TrainingTask.objects.get(pk=launch.task_id).job_id for launch in launches] == [second.pk]


def test_a_multi_node_job_gets_all_its_nodes_at_once_or_waits(world):
    a = make_node(world["pool"], "node-a", engine=world["engine"])
    make_node(world["pool"], "node-b", engine=world["engine"])
    busy = make_job(
        world, "busy", phase=Phase.RUNNING, task_status=TaskStatus.RUNNING, nodes_assigned_at=timezone.now()
    )
    TrainingTask.objects.filter(job=busy).update(node=a)
    wide = make_job(world, "wide", node_count=2)
    assert pool_schedule(pool_id=world["pool"].pk) == []
    assert TrainingTask.objects.filter(job=wide, status=TaskStatus.WAITING).count() == 2  # none claimed alone
    TrainingTask.objects.filter(job=busy).update(status=TaskStatus.SUCCEEDED)
    launches = pool_schedule(pool_id=world["pool"].pk)
    assert sorted(launch.node_name for launch in launches) == ["node-a", "node-b"]


def test_the_scheduling_worker_prefers_its_own_node(world):
    make_node(world["pool"], "node-a", engine=world["engine"])
    make_node(world["pool"], "node-b", engine=world["engine"])
    make_job(world)
    launches = pool_schedule(pool_id=world["pool"].pk, local_node_name="node-b")
    assert [launch.node_name for launch in launches] == ["node-b"]


def test_nodes_without_the_engine_or_silent_ones_are_not_used(world, settings):
    make_node(world["pool"], "no-engine")
    silent = make_node(world["pool"], "silent", engine=world["engine"])
    from console.nodepools.models import Node

    Node.objects.filter(pk=silent.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.NODE_TIMEOUT_SECONDS + 5)
    )
    job = make_job(world)
    assert pool_schedule(pool_id=world["pool"].pk) == []
    assert "only 0 online node(s)" in refreshed(job).phase_reason
