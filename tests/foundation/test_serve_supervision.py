"""`manage.py serve` supervises what it starts: a killed worker comes back by itself, and a job whose
runner died with it ends Abnormal/Lost, with nobody touching anything."""

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import psutil
import pytest
from django.conf import settings

from console.core.management.commands.serve import backoff_delay, describe_exit
from console.nodepools.models import Node
from console.training.models import TrainingJob, TrainingTask
from console.training.phases import Phase, SecondaryPhase
from tests.conftest import PASSWORD, _database_url_for_subprocess
from tests.training.conftest import (  # noqa: F401  (fixtures)
    FAST,
    bucket_name,
    bucket_root,
    default_pool,
    examples_in_bucket,
    flavors,
    probe_in_bucket,
    storage_project,
    task_processes,
    wait_for,
)

from .test_serve import free_port, health_states, supervision

ROOT = Path(__file__).resolve().parents[2]


def test_the_restart_delay_doubles_and_is_capped():
    assert [backoff_delay(n, first=1, cap=30) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_an_exit_is_described_by_its_code_or_its_signal():
    assert describe_exit(-9)["signal"] == "SIGKILL" and describe_exit(-9)["code"] is None
    assert describe_exit(3)["code"] == 3 and describe_exit(3)["signal"] is None


def test_the_loop_restarts_a_crashing_program_with_backoff_and_leaves_a_steady_one_alone(tmp_path):
    """The real loop of `serve` over two stand-in programs: one exits at once every time, one stays up."""
    script = textwrap.dedent("""
        import os, signal, sys, threading, django
        django.setup()
        from console.core.management.commands.serve import Command, Program

        class Stand(Command):
            def programs(self, **kwargs):
                return [
                    Program("crasher", [sys.executable, "-c", "import sys; sys.exit(3)"]),
                    Program("steady", [sys.executable, "-c", "import time; time.sleep(60)"]),
                ]

        threading.Timer(4.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        Stand().run_from_argv(["manage.py", "serve", "--bind", "127.0.0.1:1"])
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="console.settings", CONSOLE_VAR_DIR=str(tmp_path),
        SERVE_RESTART_DELAY_SECONDS="0.25", SERVE_RESTART_MAX_DELAY_SECONDS="1", SERVE_RESTART_RESET_SECONDS="60",
    )  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    delays = [float(d) for d in re.findall(r"crasher exited \(code 3\); restarting it in ([\d.]+) s", result.stderr)]
    assert delays[:4] == [0.25, 0.5, 1, 1], result.stderr
    assert "steady exited" not in result.stderr
    assert "Stopped." in result.stdout
    assert not (tmp_path / "serve-status.json").exists()


@pytest.fixture
def serve_env(tmp_path):
    """`serve` on the test database and broker, with the training intervals of the training tests."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=_database_url_for_subprocess(),
        CONSOLE_VAR_DIR=str(tmp_path / "var"),
        # The buckets the test's fixtures filled.
        CONSOLE_STORAGE_ROOT=str(settings.STORAGE_ROOT),
        CONSOLE_NODE_NAME="serve-node",
        WORKER_CONCURRENCY="1",
        PYTHONUNBUFFERED="1",
        **FAST,
    )
    if settings.REDIS_URL:
        import redis

        redis.Redis.from_url(settings.REDIS_URL).flushdb()
        env["REDIS_URL"] = settings.REDIS_URL
    return env


def start_sleeping_job(project, member, bucket: str, engine) -> TrainingJob:
    """A job of tests/training/scripts/probe.py that sleeps for minutes, created as the pages do."""
    from console.training.services import algorithm_create, training_job_create
    from console.training.services.jobs import JobSpec

    algorithm = algorithm_create(
        actor=member, project=project, name="sleeper",
        code_dir=f"obs://{bucket}/code/probe/", boot_file=f"obs://{bucket}/code/probe/probe.py",
        engine=engine, inputs=[{"name": "data_url"}], outputs=[{"name": "train_url"}],
        parameters=[{"name": "sleep", "value": "300", "constraint": {"type": "Float"}}],
    )  # fmt: skip
    spec = JobSpec(
        name="survives-supervision", algorithm=algorithm, flavor_id="test.cpu.1u",
        inputs={"data_url": f"obs://{bucket}/data/"}, outputs={"train_url": f"obs://{bucket}/outputs/sleeper/"},
        log_export_path=f"obs://{bucket}/logs/",
    )  # fmt: skip
    return training_job_create(actor=member, project=project, spec=spec)


def sign_in(http: httpx.Client, base: str, username: str) -> None:
    login = http.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    response = http.post(
        "/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/accounts/login/"},
    )
    assert response.status_code == 302, response.text


def celery_worker_of(serve: subprocess.Popen) -> psutil.Process | None:
    for child in psutil.Process(serve.pid).children():
        command = " ".join(child.cmdline())
        if "celery" in command and " worker" in command:
            return child
    return None


@pytest.mark.integration
def test_kill_9_of_the_worker_and_the_runner_recovers_with_nobody_touching_it(
    transactional_db,
    serve_env,
    tmp_path,
    site_admin,
    storage_project,
    member,
    probe_in_bucket,  # noqa: F811
    default_pool,
    flavors,
    bucket_name,  # noqa: F811
):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    log = open(log_path, "w")
    serve = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{port}", "--web-workers", "1"],
        cwd=ROOT,
        env=serve_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    task = None
    try:
        node = wait_for(
            lambda: Node.objects.filter(name="serve-node").exclude(engines=None).first(),
            timeout=120,
            interval=0.5,
            message="the run command's worker to register as a node",
        )
        job = start_sleeping_job(storage_project, member, bucket_name, node.engines.get())
        wait_for(
            lambda: TrainingJob.objects.get(pk=job.pk).phase == Phase.RUNNING,
            timeout=120,
            interval=0.5,
            message="the job to run",
        )
        task = TrainingTask.objects.get(job=job)
        assert task.runner_pid

        worker = celery_worker_of(serve)
        assert worker is not None
        os.killpg(worker.pid, signal.SIGKILL)  # the worker, its pool children, the node agent in it
        os.kill(task.runner_pid, signal.SIGKILL)  # and the job's runner: nobody reports for the job now

        job = wait_for(
            lambda: (
                (j := TrainingJob.objects.get(pk=job.pk)).phase in (Phase.ABNORMAL, Phase.FAILED, Phase.COMPLETED) and j
            ),
            timeout=120,
            interval=0.5,
            message="the job to end",
        )
        assert (job.phase, job.secondary_phase) == (Phase.ABNORMAL, SecondaryPhase.LOST), job.phase_reason
        assert "stopped reporting" in job.phase_reason

        back = wait_for(lambda: celery_worker_of(serve), timeout=30, interval=0.2, message="a new worker")
        assert back.pid != worker.pid
        with httpx.Client(base_url=base, timeout=15) as http:
            wait_for(lambda: _answers(http), timeout=60, interval=0.5, message="the web server")
            sign_in(http, base, site_admin.username)

            def worker_back():
                html = http.get("/admin/health/").text
                return (health_states(html), supervision(html)) if health_states(html).get("worker") == "Up" else None

            states, supervised = wait_for(
                worker_back, timeout=90, interval=1, message="the health page to show the worker up"
            )
        assert supervised["worker"][0] == "1", supervised
        assert "killed by SIGKILL" in supervised["worker"][1]
        assert supervised["beat"][0] == "0" and supervised["web"][0] == "0"
        assert serve.poll() is None
        assert "worker exited (SIGKILL); restarting it in 1 s." in log_path.read_text()
    finally:
        if serve.poll() is None:
            serve.send_signal(signal.SIGINT)
        try:
            code = serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
            code = None
        log.close()
        if task is not None:
            for process in task_processes(task.pk):
                process.kill()
    assert code == 0, log_path.read_text()[-3000:]


def _answers(http: httpx.Client) -> bool:
    try:
        return http.get("/accounts/login/").status_code == 200
    except httpx.HTTPError:
        return False
