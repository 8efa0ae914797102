"""Ray cluster pools for real: a local Ray head (started once for this module), a live console the
bootstrap fetches from and uploads to, a real Celery worker with beat submitting and polling.

The head-restart test is last: it restarts the shared head.
"""

from __future__ import annotations

import platform
import shutil
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from console.nodepools.models import RayCluster
from console.nodepools.raycluster.client import RayClient
from console.nodepools.raycluster.services import ray_interpreter_probe, ray_pool_create
from console.training.models import JobEvent, TaskScalarSeries, TrainingTask
from console.training.phases import Executor, Phase, SecondaryPhase, TaskStatus
from console.training.services import training_job_stop
from tests.ray_head import RAY, LocalRayHead
from tests.training.conftest import FAST, wait_for
from tests.training.test_jobs_integration import log_text, phase_of, submit, tiny_algorithm, wait_phase

pytestmark = pytest.mark.integration

RAY_FAST = {
    "RAY_POLL_SECONDS": "0.5",
    "RAY_CLUSTER_REFRESH_SECONDS": "1",
    "RAY_SUBMIT_RETRY_SECONDS": "4",
    "RAY_HTTP_TIMEOUT_SECONDS": "5",
}


@pytest.fixture(scope="module")
def ray_head():
    if not RAY.exists():
        pytest.fail(f"ray is not installed beside {sys.executable} (requirements-test.txt pins ray[default])")
    head = LocalRayHead(num_cpus=4).start()
    yield head
    head.stop(remove=True, kill=True)


@pytest.fixture(autouse=True)
def _fast_ray(settings):
    for key, value in RAY_FAST.items():
        setattr(settings, key, float(value))


@pytest.fixture
def ray_pool(ray_head, site_admin, live_server, transactional_db):
    return ray_pool_create(
        actor=site_admin,
        name="ray-test",
        address=ray_head.address,
        interpreter=sys.executable,
        console_url=live_server.url,
        max_concurrent_jobs=4,
        pending_deadline_seconds=120,
    )


@pytest.fixture
def platform_worker(celery_worker_process):
    def start(**kwargs):
        return celery_worker_process(
            queues="platform", name=kwargs.pop("name", "ray-platform"), beat=kwargs.pop("beat", True),
            extra_env={**FAST, **RAY_FAST},
        )  # fmt: skip

    return start


def long_job_running(project, member, bucket_name, engine, pool, name):
    """A 100-epoch job (1 s each) on the Ray pool, once its first epochs are in the log."""
    algorithm = tiny_algorithm(project, member, bucket_name, engine)
    job = submit(
        project, member, algorithm, bucket_name, name,
        parameters=[{"name": "epochs", "value": "100"}, {"name": "epoch_seconds", "value": "1"}], pool=pool,
    )  # fmt: skip
    wait_phase(job, Phase.RUNNING, timeout=120)
    wait_for(lambda: "epoch" in log_text(job.tasks.get()).lower(), timeout=30, message="the first epochs in the log")
    return job


def ray_jobs_of(head: LocalRayHead, job) -> list:
    with RayClient(head.address) as client:
        return [j for j in client.jobs() if j.metadata.get("modelarts_job_id") == str(job.uuid)]


def test_a_ray_pool_shows_its_nodes_and_runs_the_tiny_example_with_outputs_and_log(
    ray_head, ray_pool, platform_worker, storage_project, member, examples_in_bucket, flavors, local_engine, bucket_name
):
    cluster = RayCluster.objects.get(pool=ray_pool)
    assert cluster.reachable and cluster.ray_version.startswith("2.")
    assert [n["cpus"] for n in cluster.nodes] == [4.0] and cluster.nodes[0]["is_head"]
    platform_worker()
    # What the interpreter probe (a short Ray job) finds: this Python; and a path that is none.
    found = ray_interpreter_probe(cluster_id=cluster.pk)
    assert found["ok"] and found["python_version"] == platform.python_version(), found
    RayCluster.objects.filter(pk=cluster.pk).update(interpreter="/nonexistent/bin/python")
    found = ray_interpreter_probe(cluster_id=cluster.pk)
    assert not found["ok"] and "exit code 127" in found["message"], found
    RayCluster.objects.filter(pk=cluster.pk).update(interpreter=sys.executable)
    algorithm = tiny_algorithm(storage_project, member, bucket_name, local_engine)
    job = submit(
        storage_project, member, algorithm, bucket_name, "ray-tiny",
        parameters=[{"name": "epochs", "value": "3"}], pool=ray_pool,
    )  # fmt: skip
    job = wait_phase(job, (Phase.COMPLETED, Phase.FAILED, Phase.ABNORMAL), timeout=120)
    task = job.tasks.get()
    assert job.phase == Phase.COMPLETED, (job.phase_reason, log_text(task)[-2000:])
    assert task.executor == Executor.RAY and task.ray_status == "SUCCEEDED" and task.exit_code == 0
    assert task.node_name == "ray:ray-test"
    outputs = examples_in_bucket / "outputs" / "ray-tiny"
    assert (outputs / "model.pt").is_file() and (outputs / "metrics.json").is_file()
    log = log_text(task)
    assert "epoch 3/3 loss" in log and "checkpoint written to" in log
    assert "/executor/ray/…/spec" in log  # Ray prints the entrypoint; its credential is masked
    exported = list((examples_in_bucket / "logs").glob(f"modelarts-job-{job.uuid}-worker-0.log"))
    assert exported and "MA_METRIC" in exported[0].read_text()
    assert len(ray_jobs_of(ray_head, job)) == 1
    assert TaskScalarSeries.objects.get(task=task, name="loss").points == 3  # the MA_METRIC lines, charted
    kinds = list(JobEvent.objects.filter(job=job).values_list("kind", flat=True))
    assert "finished" in kinds and "log_export" in kinds


def test_a_failing_script_on_ray_fails_with_its_exit_code(
    ray_head, ray_pool, platform_worker, storage_project, member, examples_in_bucket, flavors, local_engine, bucket_name
):
    platform_worker()
    algorithm = tiny_algorithm(storage_project, member, bucket_name, local_engine)
    job = submit(
        storage_project, member, algorithm, bucket_name, "ray-fails",
        parameters=[{"name": "epochs", "value": "3"}, {"name": "fail_at_epoch", "value": "2"}], pool=ray_pool,
    )  # fmt: skip
    job = wait_phase(job, (Phase.COMPLETED, Phase.FAILED, Phase.ABNORMAL), timeout=120)
    assert job.phase == Phase.FAILED and job.secondary_phase == SecondaryPhase.FAILED
    assert job.exit_code == 3
    assert "exited with code 3" in job.phase_reason and "Ray:" in job.phase_reason


def test_stopping_a_running_ray_job_terminates_it_within_ten_seconds(
    ray_head, ray_pool, platform_worker, storage_project, member, examples_in_bucket, flavors, local_engine, bucket_name
):
    platform_worker()
    job = long_job_running(storage_project, member, bucket_name, local_engine, ray_pool, "ray-stop")
    started = time.monotonic()
    training_job_stop(actor=member, job=job)
    job = wait_phase(job, (Phase.TERMINATED, Phase.ABNORMAL, Phase.FAILED, Phase.COMPLETED), timeout=20)
    elapsed = time.monotonic() - started
    assert job.phase == Phase.TERMINATED, job.phase_reason
    assert elapsed < 10, f"stop took {elapsed:.1f} s"
    (ray_job,) = ray_jobs_of(ray_head, job)
    assert ray_job.status == "STOPPED"


class SlowSubmitProxy:
    """Forwards to the Ray head, but answers POST /api/jobs/ only after ``delay`` seconds (the job
    is already created by then): a worker killed meanwhile has submitted without knowing it."""

    def __init__(self, upstream: str, delay: float):
        self.upstream, self.delay = upstream, delay
        self.posts = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
                response = httpx.request(
                    self.command, proxy.upstream + self.path, content=body,
                    headers={k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")},
                    timeout=30,
                )  # fmt: skip
                if self.command == "POST" and self.path.rstrip("/") == "/api/jobs":
                    proxy.posts += 1
                    time.sleep(proxy.delay)
                try:
                    self.send_response(response.status_code)
                    self.send_header("Content-Type", response.headers.get("content-type", "application/json"))
                    self.send_header("Content-Length", str(len(response.content)))
                    self.end_headers()
                    self.wfile.write(response.content)
                except OSError:
                    pass  # the caller was killed

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_a_worker_killed_mid_submit_leaves_exactly_one_ray_job(
    ray_head, ray_pool, platform_worker, storage_project, member, examples_in_bucket, flavors, local_engine, bucket_name
):
    proxy = SlowSubmitProxy(ray_head.address, delay=30)
    try:
        RayCluster.objects.filter(pool=ray_pool).update(address=proxy.address)
        first = platform_worker(name="ray-submitter", beat=False)
        algorithm = tiny_algorithm(storage_project, member, bucket_name, local_engine)
        job = submit(
            storage_project, member, algorithm, bucket_name, "ray-once",
            parameters=[{"name": "epochs", "value": "2"}], pool=ray_pool,
        )  # fmt: skip
        wait_for(lambda: proxy.posts >= 1, timeout=60, message="the worker's POST to Ray")
        wait_for(lambda: ray_jobs_of(ray_head, job), timeout=30, message="Ray to create the job")
        task = TrainingTask.objects.get(job=job)
        assert task.status == TaskStatus.ASSIGNED and task.ray_submission_id
        first.stop(sig=signal.SIGKILL)
        proxy.delay = 0
        platform_worker(name="ray-rescuer")  # beat resubmits the stale assignment: GET finds the job
        job = wait_phase(job, (Phase.COMPLETED, Phase.FAILED, Phase.ABNORMAL), timeout=120)
        assert job.phase == Phase.COMPLETED, job.phase_reason
        assert len(ray_jobs_of(ray_head, job)) == 1
        messages = list(JobEvent.objects.filter(job=job).values_list("message", flat=True))
        assert any("found already submitted to Ray" in m for m in messages), messages
    finally:
        proxy.close()


def test_zz_a_restarted_ray_head_makes_its_running_job_lost_and_the_console_keeps_its_record(
    ray_head, ray_pool, platform_worker, storage_project, member, examples_in_bucket, flavors, local_engine, bucket_name
):
    platform_worker()
    job = long_job_running(storage_project, member, bucket_name, local_engine, ray_pool, "ray-restart")
    ray_head.stop(kill=True)  # the head crashes and comes back without its jobs
    wait_for(
        lambda: not RayCluster.objects.get(pool=ray_pool).reachable, timeout=30, message="the pool to show unreachable"
    )
    assert phase_of(job) == Phase.RUNNING  # a silent head is not a failed job
    ray_head.start()
    job = wait_phase(job, (Phase.ABNORMAL, Phase.FAILED, Phase.COMPLETED, Phase.TERMINATED), timeout=60)
    assert job.phase == Phase.ABNORMAL and job.secondary_phase == SecondaryPhase.LOST
    assert "no longer knows job" in job.phase_reason
    task = job.tasks.get()
    assert task.status == TaskStatus.LOST and job.start_time is not None and job.end_time is not None
    assert "epoch" in log_text(task).lower()
    shutil.rmtree(examples_in_bucket / "outputs" / "ray-restart", ignore_errors=True)
