"""How logged scalars reach the database: the reporter flushes the reader, the training kind stores them."""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime

import pytest

from console.nodepools.workloads.logbuffer import LogBuffer
from console.nodepools.workloads.reporter import Reporter
from console.nodepools.workloads.scalars import ScalarReader
from console.training import metrics
from console.training.models import TaskScalar, TaskScalarSeries, TrainingJob, TrainingTask
from console.training.workload import TrainingTaskRun


class ScalarRun:
    """A WorkloadRun that records what the reporter writes; ``fail`` makes store_scalars fail once."""

    def __init__(self, fail=False):
        self.stored: list[dict] = []
        self.events: list[tuple[str, str]] = []
        self.threads: set[str] = set()
        self.fail = fail

    def store_log(self, **kwargs):
        pass

    def store_samples(self, samples):
        pass

    def store_scalars(self, points):
        self.threads.add(threading.current_thread().name)
        if self.fail:
            self.fail = False
            raise RuntimeError("database away")
        self.stored += points

    def event(self, kind, message):
        self.events.append((kind, message))


def reporter_for(run, scalars):
    reporter = Reporter(
        run=run,
        log=LogBuffer(log_file=io.StringIO(), cap_bytes=1 << 20),
        sample=lambda: None,
        on_heartbeat=lambda answer: None,
        flush_seconds=0.05,
        heartbeat_seconds=10,
        sample_seconds=10,
    )
    reporter.scalars = scalars
    return reporter


@pytest.mark.parametrize("fail", [False, True])
def test_the_reporter_stores_scalars_and_problems_on_its_thread_and_retries_a_failed_write(fail):
    run = ScalarRun(fail=fail)
    scalars = ScalarReader(prefix="MA_METRIC ", cap=100, name_cap=5, who="worker-0")
    reporter = reporter_for(run, scalars)
    reporter.start()
    scalars.feed_line('MA_METRIC {"step": 1, "loss": 0.5}\n')
    scalars.feed_line("MA_METRIC {oops\n")
    scalars.feed_line('MA_METRIC {"step": 2, "loss": 0.25}\n')
    reporter.stop(timeout=10)
    assert [(p["step"], p["value"]) for p in run.stored] == [(1, 0.5), (2, 0.25)]
    assert run.threads == {"reporter"}
    assert [kind for kind, _m in run.events] == ["problem"]
    assert "not a JSON object" in run.events[0][1]


@pytest.mark.django_db
def test_store_scalars_writes_points_and_keeps_each_names_summary(project, member):
    job = TrainingJob.objects.create(project=project, name="j", created_by=member)
    task = TrainingTask.objects.create(job=job, index=0, name="worker-0")
    run = TrainingTaskRun(task)
    now = datetime.now(UTC)
    run.store_scalars([
        {"name": "loss", "step": 1, "wall_time": now, "value": 0.9},
        {"name": "loss", "step": 2, "wall_time": now, "value": 0.5},
        {"name": "acc", "step": 2, "wall_time": now, "value": 0.6},
    ])  # fmt: skip
    run.store_scalars([
        {"name": "loss", "step": 3, "wall_time": now, "value": 0.7},
        {"name": "acc", "step": 1, "wall_time": now, "value": 0.9},  # late, lower step: not the last value
    ])  # fmt: skip
    assert TaskScalar.objects.filter(task=task).count() == 5
    loss = TaskScalarSeries.objects.get(task=task, name="loss")
    assert (loss.points, loss.last_step, loss.last_value, loss.min_value, loss.max_value) == (3, 3, 0.7, 0.5, 0.9)
    acc = TaskScalarSeries.objects.get(task=task, name="acc")
    assert (acc.points, acc.last_step, acc.last_value, acc.max_value) == (2, 2, 0.6, 0.9)
    assert metrics.scalar_names(job) == ["acc", "loss"]
    summary = metrics.scalar_summary([job.pk])[job.pk]
    assert summary["loss"] == {"last": 0.7, "step": 3, "min": 0.5, "max": 0.9, "points": 3, "best": 0.5}
    assert summary["acc"]["best"] == 0.9
    assert metrics.latest_scalars([job.pk]) == {
        job.pk: [{"name": "acc", "value": 0.6, "step": 2}, {"name": "loss", "value": 0.7, "step": 3}]
    }


@pytest.mark.django_db
def test_summaries_of_many_jobs_take_one_query(project, member, django_assert_num_queries):
    now = datetime.now(UTC)
    jobs = []
    for index in range(12):
        job = TrainingJob.objects.create(project=project, name=f"j{index}", created_by=member)
        for worker in range(2):
            task = TrainingTask.objects.create(job=job, index=worker, name=f"worker-{worker}")
            TrainingTaskRun(task).store_scalars([{"name": "loss", "step": worker, "wall_time": now, "value": 1.0}])
        jobs.append(job.pk)
    with django_assert_num_queries(1):
        latest = metrics.latest_scalars(jobs)
    assert all(latest[pk] == [{"name": "loss", "value": 1.0, "step": 1}] for pk in jobs)
    with django_assert_num_queries(1):
        metrics.scalar_summary(jobs, names=["loss"])


def test_a_batch_the_database_keeps_refusing_is_dropped_and_heartbeats_go_on():
    class Refusing(ScalarRun):
        beats = 0

        def store_scalars(self, points):
            raise RuntimeError("value out of range")

        def heartbeat(self):
            Refusing.beats += 1
            from console.nodepools.workloads.kinds import HeartbeatAnswer

            return HeartbeatAnswer(alive=True)

    run = Refusing()
    scalars = ScalarReader(prefix="MA_METRIC ", cap=100, name_cap=5, who="worker-0")
    reporter = reporter_for(run, scalars)
    reporter.heartbeat_seconds = 0.05
    reporter.heartbeating = True
    reporter.start()
    scalars.feed_line('MA_METRIC {"step": 1, "loss": 0.5}\n')
    deadline = time.monotonic() + 10
    while (scalars.pending or Refusing.beats < 10) and time.monotonic() < deadline:
        time.sleep(0.05)
    reporter.stop(timeout=10)
    assert scalars.pending == [] and Refusing.beats >= 10
