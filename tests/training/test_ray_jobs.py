"""Ray pools' rules against a stand-in dashboard (tests/fake_ray.py): the client's answers to what
a head says, pool checks, job refusals, the queue, submission and every branch of the poller.

The same paths against a real Ray head: test_ray_pools_integration.py.
"""

from __future__ import annotations

import shlex
import socket
from datetime import timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console.nodepools.models import Pool, RayCluster
from console.nodepools.raycluster.client import RayClient, RayNotRay, RayUnreachable, RayUnsupported, normalise_address
from console.nodepools.raycluster.services import ray_pool_create, ray_pool_update
from console.training.models import TaskLogChunk, TaskScalar, TaskScalarSeries, TrainingJob, TrainingTask
from console.training.phases import Executor, Phase, SecondaryPhase, TaskStatus
from console.training.ray_bootstrap import BOOTSTRAP_FILE, task_for_credential
from console.training.selectors import task_metrics
from console.training.services import training_job_stop
from console.training.services.catalog import flavor_max_num
from console.training.services.ray_jobs import (
    ray_poll_cycle,
    ray_pool_schedule,
    ray_submit,
    submission_id_for,
)
from console.training.services.reconcile import reconcile_jobs
from tests.fake_ray import FakeRay
from tests.training.test_jobs_integration import submit, tiny_algorithm


@pytest.fixture
def fake_ray():
    fake = FakeRay(cpus=8, memory_gb=32)
    yield fake
    fake.close()


@pytest.fixture
def ray_pool(fake_ray, site_admin):
    return ray_pool_create(
        actor=site_admin,
        name="ray-fake",
        address=fake_ray.address,
        interpreter="/opt/ray-env/bin/python",
        console_url="http://console.example:8000",
        max_concurrent_jobs=50,
        pending_deadline_seconds=60,
    )


@pytest.fixture
def algorithm(storage_project, member, examples_in_bucket, bucket_name, local_engine, flavors):
    return tiny_algorithm(storage_project, member, bucket_name, local_engine)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def new_job(project, member, algorithm, bucket, pool, name, **extra):
    return submit(project, member, algorithm, bucket, name, pool=pool, **extra)


def submitted_job(project, member, algorithm, bucket, pool, name, **extra):
    """A job of the Ray pool, scheduled and submitted to the fake head (PENDING there)."""
    job = new_job(project, member, algorithm, bucket, pool, name, **extra)
    (task_id,) = ray_pool_schedule(pool_id=pool.pk)
    assert ray_submit(task_id=task_id) == "submitted"
    return TrainingJob.objects.get(pk=job.pk), TrainingTask.objects.get(pk=task_id)


# --- the client -----------------------------------------------------------------------------------


def test_a_duplicate_submission_id_returns_the_existing_job_never_a_second(fake_ray):
    with RayClient(fake_ray.address) as client:
        first = client.submit(submission_id="modelarts-x-0-1", entrypoint="python a.py", body={})
        again = client.submit(submission_id="modelarts-x-0-1", entrypoint="python b.py", body={})
    assert first.submission_id == again.submission_id == "modelarts-x-0-1"
    assert fake_ray.requests["submit"] == 2  # Ray answered the second with a 500 …
    assert len(fake_ray.jobs) == 1 and fake_ray.jobs["modelarts-x-0-1"]["entrypoint"] == "python a.py"  # … and kept one


def test_an_old_ray_is_refused_with_the_version_it_needs():
    fake = FakeRay(ray_version="2.5.1")
    try:
        with pytest.raises(RayUnsupported, match=r"Ray 2\.5\.1 is not supported: the console needs Ray 2\.8 or newer"):
            RayClient(fake.address).version()
    finally:
        fake.close()


def test_an_address_that_is_no_ray_dashboard_says_so(tmp_path):
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Quiet(*a, directory=str(tmp_path)))
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(RayNotRay, match="is not a Ray dashboard"):
            RayClient(f"http://127.0.0.1:{server.server_port}").version()
    finally:
        server.shutdown()


def test_an_unreachable_head_is_unreachable_not_an_error_of_the_job():
    with pytest.raises(RayUnreachable, match="Could not reach the Ray head"):
        RayClient(f"http://127.0.0.1:{closed_port()}", timeout=2).jobs()


@pytest.mark.parametrize(
    "address", ["ray-head:8265", "ftp://ray-head:8265", "http://user:pw@ray-head:8265", "http://h/?x=1"]
)
def test_addresses_other_than_http_host_port_are_refused(address):
    with pytest.raises(ValueError):
        normalise_address(address)


# --- pools ----------------------------------------------------------------------------------------


def test_creating_a_ray_pool_checks_the_head_and_keeps_its_nodes_and_an_encrypted_auth_value(fake_ray, site_admin):
    pool = ray_pool_create(
        actor=site_admin, name="ray-a", address=fake_ray.address + "/", interpreter="/usr/bin/python3",
        console_url="https://console.example", auth_header="X-Ray-Token", auth_value="s3cret",
    )  # fmt: skip
    cluster = RayCluster.objects.get(pool=pool)
    assert pool.is_ray and cluster.reachable and cluster.ray_version == "2.60.0"
    assert cluster.address == fake_ray.address and cluster.total_cpus == 8
    assert "s3cret" not in cluster.auth_value_encrypted
    assert any(h.get("X-Ray-Token") == "s3cret" for h in fake_ray.headers_seen)
    # Edit without a new value keeps it; the checkbox removes it.
    ray_pool_update(actor=site_admin, pool=pool, address=fake_ray.address, interpreter="/usr/bin/python3",
                    console_url="https://console.example", auth_header="X-Ray-Token")  # fmt: skip
    assert RayCluster.objects.get(pool=pool).auth_value_encrypted
    ray_pool_update(actor=site_admin, pool=pool, address=fake_ray.address, interpreter="/usr/bin/python3",
                    console_url="https://console.example", clear_auth=True)  # fmt: skip
    assert RayCluster.objects.get(pool=pool).auth_value_encrypted == ""


def test_a_ray_pool_is_refused_field_by_field_and_nothing_is_created(site_admin, db):
    before = Pool.objects.count()
    with pytest.raises(ValidationError) as refused:
        ray_pool_create(actor=site_admin, name="ray-b", address=f"http://127.0.0.1:{closed_port()}",
                        interpreter="/usr/bin/python3", console_url="http://c:8000")  # fmt: skip
    assert "Could not reach the Ray head" in refused.value.message_dict["address"][0]
    with pytest.raises(ValidationError) as refused:
        ray_pool_create(actor=site_admin, name="ray-b", address="http://ray:8265", interpreter="python",
                        console_url="c:8000", max_concurrent_jobs=0)  # fmt: skip
    errors = refused.value.message_dict
    assert set(errors) == {"interpreter", "console_url", "max_concurrent_jobs"}
    assert "absolute path" in errors["interpreter"][0]
    assert Pool.objects.count() == before and not RayCluster.objects.exists()


# --- jobs: refusals, max_num, the queue -----------------------------------------------------------


def test_a_multi_node_job_and_a_flavor_no_ray_node_can_hold_are_refused(
    ray_pool, fake_ray, storage_project, member, algorithm, bucket_name, flavors
):
    with pytest.raises(ValidationError) as refused:
        new_job(storage_project, member, algorithm, bucket_name, ray_pool, "two", node_count=2)
    assert refused.value.error_dict["node_count"][0].code == "ray_multi_node"
    RayCluster.objects.filter(pool=ray_pool).update(
        nodes=[{**RayCluster.objects.get(pool=ray_pool).nodes[0], "memory_bytes": 2 * 1024**3}]
    )
    with pytest.raises(ValidationError) as refused:
        new_job(storage_project, member, algorithm, bucket_name, ray_pool, "big")
    assert "can ever hold flavor test.cpu.1u" in refused.value.message_dict["flavor"][0]
    assert not TrainingJob.objects.exists()
    assert flavor_max_num(flavors["test.cpu.1u"], pool=ray_pool) == 0


def test_max_num_of_a_ray_pool_counts_the_ray_nodes_that_hold_the_flavor(ray_pool, flavors):
    cluster = RayCluster.objects.get(pool=ray_pool)
    worker = {**cluster.nodes[0], "node_id": "w", "is_head": False}
    RayCluster.objects.filter(pk=cluster.pk).update(nodes=[*cluster.nodes, worker, {**worker, "state": "DEAD"}])
    assert flavor_max_num(flavors["test.cpu.1u"], pool=ray_pool) == 2


def test_a_job_for_a_down_head_waits_with_the_reason_and_is_submitted_when_it_answers(
    ray_pool, fake_ray, storage_project, member, algorithm, bucket_name
):
    fake_ray.down = True
    RayCluster.objects.filter(pool=ray_pool).update(reachable=False, message="The Ray head answered 503")
    job = new_job(storage_project, member, algorithm, bucket_name, ray_pool, "waits")
    assert ray_pool_schedule(pool_id=ray_pool.pk) == []
    job.refresh_from_db()
    assert job.phase == Phase.PENDING and "unreachable" in job.phase_reason and "503" in job.phase_reason
    fake_ray.down = False
    RayCluster.objects.filter(pool=ray_pool).update(reachable=True)
    assert len(ray_pool_schedule(pool_id=ray_pool.pk)) == 1


def test_jobs_over_the_pools_cap_wait_in_the_console_queue(ray_pool, storage_project, member, algorithm, bucket_name):
    RayCluster.objects.filter(pool=ray_pool).update(max_concurrent_jobs=1)
    first = new_job(storage_project, member, algorithm, bucket_name, ray_pool, "first")
    second = new_job(storage_project, member, algorithm, bucket_name, ray_pool, "second")
    assert len(ray_pool_schedule(pool_id=ray_pool.pk)) == 1
    second.refresh_from_db()
    first.refresh_from_db()
    assert first.nodes_assigned_at is not None and second.nodes_assigned_at is None
    assert "runs 1 Ray jobs at once" in second.phase_reason


# --- submission -----------------------------------------------------------------------------------


def test_the_entrypoint_is_three_quoted_words_and_no_value_reaches_a_shell(
    ray_pool, fake_ray, storage_project, member, algorithm, bucket_name
):
    hostile = "$(touch /tmp/pwned); `id` && rm -rf ~ 'quote"
    job, task = submitted_job(storage_project, member, algorithm, bucket_name, ray_pool, "quoted",
                              parameters=[{"name": "message", "value": hostile}])  # fmt: skip
    request = fake_ray.jobs[task.ray_submission_id]["request"]
    words = shlex.split(request["entrypoint"])
    assert words[:2] == ["/opt/ray-env/bin/python", BOOTSTRAP_FILE] and len(words) == 3
    assert words[2].startswith("http://console.example:8000/executor/ray/") and words[2].endswith("/spec")
    assert hostile not in request["entrypoint"]
    assert request["submission_id"] == submission_id_for(task) == f"modelarts-{job.uuid.hex}-0-1"
    assert request["entrypoint_num_cpus"] == 1 and request["entrypoint_memory"] == 4 * 1024**3
    assert request["runtime_env"].keys() == {"working_dir"} and request["runtime_env"]["working_dir"].startswith(
        "gcs://_ray_pkg_"
    )
    assert task.status == TaskStatus.STARTING and task.node_name == "ray:ray-fake"
    # The credential in the URL opens exactly this task.
    token = words[2].split("/executor/ray/")[1].removesuffix("/spec")
    assert task_for_credential(token).pk == task.pk
    # A second job reuses the uploaded bootstrap package.
    submitted_job(storage_project, member, algorithm, bucket_name, ray_pool, "second")
    assert fake_ray.requests["package_put"] == 1


def test_a_resubmission_finds_the_job_ray_already_has(
    ray_pool, fake_ray, storage_project, member, algorithm, bucket_name
):
    job = new_job(storage_project, member, algorithm, bucket_name, ray_pool, "again")
    (task_id,) = ray_pool_schedule(pool_id=ray_pool.pk)
    task = TrainingTask.objects.select_related("job").get(pk=task_id)
    fake_ray.add_job(submission_id_for(task), "RUNNING")  # a worker died after its POST went through
    assert ray_submit(task_id=task_id) == "adopted"
    assert fake_ray.requests["submit"] == 0 and len(fake_ray.jobs) == 1
    assert ray_submit(task_id=task_id) == "not assigned"  # a third delivery does nothing
    job.refresh_from_db()
    assert job.events.filter(message__contains="found already submitted to Ray").exists()


# --- the poller -----------------------------------------------------------------------------------


def test_the_poller_follows_ray_to_running_and_completed_keeping_only_its_own_jobs(
    ray_pool, fake_ray, storage_project, member, algorithm, bucket_name
):
    job, task = submitted_job(storage_project, member, algorithm, bucket_name, ray_pool, "follows")
    fake_ray.add_job("someone-elses-job", "RUNNING")
    fake_ray.add_job("modelarts-not-in-this-console-0-1", "FAILED")
    fake_ray.set_status(task.ray_submission_id, "RUNNING")
    ray_poll_cycle()
    job.refresh_from_db()
    assert job.phase == Phase.RUNNING and job.start_time is not None
    ray_poll_cycle()
    # Ray reports no resource use per job: the seed's −1, one sample per cycle while it runs.
    metrics = {m["metric"]: m["value"] for m in task_metrics(TrainingTask.objects.get(pk=task.pk))["metrics"]}
    assert metrics["cpuUsage"] == [-1] and metrics["memUsage"] == [-1]
    fake_ray.set_status(task.ray_submission_id, "SUCCEEDED", driver_exit_code=0, end_time=1_700_000_100_000)
    ray_poll_cycle()
    job.refresh_from_db()
    assert job.phase == Phase.COMPLETED and job.exit_code == 0
    assert TrainingTask.objects.get(pk=task.pk).ray_status == "SUCCEEDED"


def test_a_failed_ray_job_fails_with_the_exit_code_and_rays_message(
    ray_pool, fake_ray, storage_project, member, algorithm, bucket_name
):
    job, task = submitted_job(storage_project, member, algorithm, bucket_name, ray_pool, "fails")
    fake_ray.set_status(task.ray_submission_id, "FAILED", driver_exit_code=3,
                        message="Job entrypoint command failed with exit code 3, last available logs:\n...")  # fmt: skip
    ray_poll_cycle()
    job.refresh_from_db()
    assert job.phase == Phase.FAILED and job.exit_code == 3
    assert "The training process exited with code 3." in job.phase_reason
    assert "Ray: Job entrypoint command failed with exit code 3" in job.phase_reason


def test_logs_are_appended_from_an_offset_whole_lines_only_bounded_and_without_the_credential(
    ray_pool, fake_ray, storage_project, member, algorithm, bucket_name, settings
):
    job, task = submitted_job(storage_project, member, algorithm, bucket_name, ray_pool, "logs")
    sid = task.ray_submission_id
    fake_ray.set_status(sid, "RUNNING")
    fake_ray.append_log(sid, "Running entrypoint: python ma_bootstrap.py http://c/executor/ray/SECRET.TOKEN:x/spec\nep")
    ray_poll_cycle()  # → Running
    ray_poll_cycle()  # logs of running tasks
    stored = "".join(TaskLogChunk.objects.filter(task=task).values_list("text", flat=True))
    assert stored == "Running entrypoint: python ma_bootstrap.py http://c/executor/ray/…/spec\n"
    fake_ray.append_log(sid, "och 1\nepoch 2\n")
    settings.RAY_LOG_BYTES_PER_CYCLE = 8
    ray_poll_cycle()
    chunks = list(TaskLogChunk.objects.filter(task=task).order_by("seq").values_list("text", flat=True))
    assert chunks[-1] == "epoch 1\n"  # 8 characters at most, cut at a line end
    settings.RAY_LOG_BYTES_PER_CYCLE = 1000
    ray_poll_cycle()
    ray_poll_cycle()  # nothing new: nothing repeated
    stored = "".join(TaskLogChunk.objects.filter(task=task).order_by("seq").values_list("text", flat=True))
    assert stored.endswith("\nepoch 1\nepoch 2\n") and stored.count("epoch 2") == 1
    assert "SECRET" not in stored


def test_metric_lines_in_a_ray_log_become_the_jobs_scalars(
    ray_pool, fake_ray, storage_project, member, algorithm, bucket_name
):
    job, task = submitted_job(storage_project, member, algorithm, bucket_name, ray_pool, "scalars")
    fake_ray.set_status(task.ray_submission_id, "RUNNING")
    fake_ray.append_log(task.ray_submission_id, 'MA_METRIC {"step": 1, "loss": 0.9}\nMA_METRIC {"loss": 0.5}\n')
    ray_poll_cycle()
    ray_poll_cycle()
    fake_ray.append_log(task.ray_submission_id, 'MA_METRIC {"step": 5, "loss": "x", "acc": 0.7}\n')
    ray_poll_cycle()
    points = list(TaskScalar.objects.filter(task=task).order_by("name", "step").values_list("name", "step", "value"))
    assert points == [("acc", 5, 0.7), ("loss", 1, 0.9), ("loss", 2, 0.5)]
    series = TaskScalarSeries.objects.get(task=task, name="loss")
    assert (series.points, series.last_step, series.min_value) == (2, 2, 0.5)


def test_a_head_that_forgot_the_job_makes_it_lost_and_a_silent_head_changes_nothing(
    ray_pool, fake_ray, storage_project, member, algorithm, bucket_name
):
    job, task = submitted_job(storage_project, member, algorithm, bucket_name, ray_pool, "lost")
    fake_ray.set_status(task.ray_submission_id, "RUNNING")
    ray_poll_cycle()
    fake_ray.down = True
    ray_poll_cycle()
    job.refresh_from_db()
    cluster = RayCluster.objects.get(pool=ray_pool)
    assert job.phase == Phase.RUNNING and not cluster.reachable and cluster.unreachable_since is not None
    fake_ray.down = False
    fake_ray.forget_everything()
    ray_poll_cycle()
    job.refresh_from_db()
    assert job.phase == Phase.ABNORMAL and job.secondary_phase == SecondaryPhase.LOST
    assert f"no longer knows job {task.ray_submission_id}" in job.phase_reason
    assert RayCluster.objects.get(pool=ray_pool).reachable


def test_a_job_ray_keeps_pending_past_the_deadline_fails_with_the_reason(
    ray_pool, fake_ray, storage_project, member, algorithm, bucket_name
):
    job, task = submitted_job(storage_project, member, algorithm, bucket_name, ray_pool, "pending")
    fake_ray.set_status(task.ray_submission_id, "PENDING", message="Waiting for resources: 1 CPU.")
    ray_poll_cycle()
    job.refresh_from_db()
    assert job.phase == Phase.PENDING and job.phase_reason == "Ray: Waiting for resources: 1 CPU."
    TrainingTask.objects.filter(pk=task.pk).update(ray_submitted_at=timezone.now() - timedelta(seconds=61))
    ray_poll_cycle()
    job.refresh_from_db()
    assert job.phase == Phase.FAILED and job.secondary_phase == SecondaryPhase.CREATE_FAILED
    assert "Ray did not start the job within 60 s" in job.phase_reason and "1 CPU" in job.phase_reason
    assert fake_ray.jobs[task.ray_submission_id]["status"] == "STOPPED"


def test_stop_asks_ray_and_the_job_ends_terminated_with_the_stop_reason(
    ray_pool, fake_ray, storage_project, member, algorithm, bucket_name
):
    job, task = submitted_job(storage_project, member, algorithm, bucket_name, ray_pool, "stops")
    fake_ray.set_status(task.ray_submission_id, "RUNNING")
    ray_poll_cycle()
    training_job_stop(actor=member, job=job)
    ray_poll_cycle()  # repeats the stop (the first one goes right after commit), then sees STOPPED
    ray_poll_cycle()
    job.refresh_from_db()
    assert job.phase == Phase.TERMINATED and job.phase_reason.startswith("Stopped by")
    assert fake_ray.requests["stop"] >= 1


def test_a_poller_cycle_costs_one_status_call_and_the_same_queries_for_3_or_12_jobs(
    ray_pool, fake_ray, storage_project, member, algorithm, bucket_name, settings
):
    settings.RAY_LOG_JOBS_PER_CYCLE = 0

    def cycle_cost(count, offset):
        for i in range(count):
            _job, task = submitted_job(storage_project, member, algorithm, bucket_name, ray_pool, f"n{offset + i}")
            fake_ray.set_status(task.ray_submission_id, "RUNNING")
        ray_poll_cycle()  # all → Running
        fake_ray.requests.clear()
        with CaptureQueriesContext(connection) as queries:
            ray_poll_cycle()
        return len(queries), dict(fake_ray.requests)

    small_queries, small_calls = cycle_cost(3, 0)
    large_queries, large_calls = cycle_cost(9, 100)
    assert small_calls == large_calls == {"jobs_list": 1}
    assert small_queries == large_queries


def test_ray_tasks_are_never_marked_lost_by_the_runner_heartbeat_rule(
    ray_pool, fake_ray, storage_project, member, algorithm, bucket_name
):
    job, task = submitted_job(storage_project, member, algorithm, bucket_name, ray_pool, "no-runner")
    TrainingTask.objects.filter(pk=task.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    reconcile_jobs()
    assert TrainingTask.objects.get(pk=task.pk).status == TaskStatus.STARTING
    assert TrainingTask.objects.get(pk=task.pk).executor == Executor.RAY


def test_the_operations_view_shows_a_ray_pools_health_and_the_jobs_ray_runs(
    ray_pool, fake_ray, storage_project, member, algorithm, bucket_name, client_for, site_admin
):
    job, _task = submitted_job(storage_project, member, algorithm, bucket_name, ray_pool, "on-ray")
    waiting = new_job(storage_project, member, algorithm, bucket_name, ray_pool, "in-line")
    TrainingJob.objects.filter(pk=waiting.pk).update(phase=Phase.PENDING, phase_reason="Pool ray-fake runs 1 Ray jobs")
    page = client_for(site_admin).get("/admin/operations/").content.decode()
    assert 'data-ray-pool="ray-fake"' in page and "Reachable" in page
    assert 'data-on-ray="on-ray"' in page and 'data-waiting-job="in-line"' in page


def test_the_job_page_of_a_ray_job_names_its_cluster_and_says_why_the_resource_charts_are_empty(
    ray_pool, fake_ray, storage_project, member, algorithm, bucket_name, client_for
):
    job, _task = submitted_job(storage_project, member, algorithm, bucket_name, ray_pool, "page")
    url = f"/projects/{storage_project.project_id}/training/jobs/{job.uuid}/"
    page = client_for(member).get(url).content.decode()
    assert "ray:ray-fake" in page and "data-ray-metrics-note" in page


# --- the bootstrap's URLs -------------------------------------------------------------------------


def bootstrap_root(fake_ray, task) -> str:
    """The path part of the spec URL Ray got (its credential included), without "spec"."""
    words = shlex.split(fake_ray.jobs[task.ray_submission_id]["request"]["entrypoint"])
    return words[2].removeprefix("http://console.example:8000").removesuffix("spec")


def test_the_spec_lists_the_tasks_files_with_signed_urls_and_the_same_arguments_as_a_node(
    ray_pool, fake_ray, storage_project, member, algorithm, bucket_name, client
):
    _job, task = submitted_job(storage_project, member, algorithm, bucket_name, ray_pool, "spec",
                               parameters=[{"name": "epochs", "value": "2"}])  # fmt: skip
    root = bootstrap_root(fake_ray, task)
    spec = client.get(root + "spec").json()
    assert spec["argv"][0] == "/opt/ray-env/bin/python"
    assert spec["argv"][1] == "\x00WS\x00/code/train.py" and "--epochs=2" in spec["argv"]
    assert "--data_url=\x00WS\x00/inputs/data_url_0" in spec["argv"]
    assert "--train_url=\x00WS\x00/outputs/train_url_0" in spec["argv"]
    code = {f["path"]: f["url"] for f in spec["files"]["code"]}
    assert "train.py" in code and spec["files"]["inputs"]["data_url"][0]["path"] == "train.csv"
    body = client.get(code["train.py"].removeprefix("http://console.example:8000"))
    assert b"".join(body.streaming_content).startswith(b'"""A tiny real training script')


def test_the_bootstrap_urls_refuse_a_bad_credential_a_path_outside_and_writes_to_code(
    ray_pool, fake_ray, storage_project, member, algorithm, bucket_name, bucket_root, client, settings
):
    _job, task = submitted_job(storage_project, member, algorithm, bucket_name, ray_pool, "refuse")
    root = bootstrap_root(fake_ray, task)
    forged = root.replace("/executor/ray/", "/executor/ray/x")
    assert client.get(forged + "spec").status_code == 403
    assert client.get(root + "files/code/code/..%2F..%2Fdata/train.csv").status_code in (400, 404)
    assert client.get(root + "files/code/code/../secret").status_code in (400, 404)
    response = client.put(root + "files/code/code/train.py", data=b"print('mine')", content_type="text/plain")
    assert response.status_code == 405
    assert "tiny real training script" in (bucket_root / "code" / "tiny" / "train.py").read_text()
    # An output is written where the job's output folder is, and nowhere else.
    ok = client.put(
        root + "files/output/train_url/sub/model.bin", data=b"weights", content_type="application/octet-stream"
    )
    assert (
        ok.status_code == 200 and (bucket_root / "outputs" / "refuse" / "sub" / "model.bin").read_bytes() == b"weights"
    )
    # The credential ends with the job (after a short grace for its last upload).
    TrainingTask.objects.filter(pk=task.pk).update(
        status=TaskStatus.SUCCEEDED, finished_at=timezone.now() - timedelta(minutes=5)
    )
    assert client.get(root + "spec").status_code == 403
    TrainingTask.objects.filter(pk=task.pk).update(status=TaskStatus.RUNNING, finished_at=None)
    settings.RAY_CREDENTIAL_MAX_AGE_SECONDS = -1
    assert client.get(root + "spec").json()["error"] == "This job credential has expired."
