"""Fixtures for training: a project with storage, the default pool, flavors, this machine's engine,
the shipped examples in a bucket, and real node workers."""

from __future__ import annotations

import shutil
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from console.nodepools.models import Node, NodeState, Pool
from console.training.engines import identity_for, probe_interpreter
from console.training.models import Engine, Flavor, NodeEngine

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

# Short intervals, in this process and in every worker / runner the tests start.
FAST = {
    "TRAINING_POLL_SECONDS": "0.5",
    "TRAINING_RUNNER_HEARTBEAT_SECONDS": "0.3",
    "TRAINING_RUNNER_TIMEOUT_SECONDS": "3",
    "TRAINING_LAUNCH_TIMEOUT_SECONDS": "30",
    "TRAINING_LOG_FLUSH_SECONDS": "0.2",
    "TRAINING_METRIC_INTERVAL_SECONDS": "0.5",
    "TRAINING_STOP_GRACE_SECONDS": "2",
    "TRAINING_CREATING_GRACE_SECONDS": "1",
    "TRAINING_OUTPUT_UPLOAD_PERIOD": "2",
    "NODE_HEARTBEAT_SECONDS": "0.5",
    "NODE_TIMEOUT_SECONDS": "5",
}


@pytest.fixture(autouse=True)
def _fast_training(settings):
    for key, value in FAST.items():
        setattr(settings, key, float(value) if "." in value else int(value))


@pytest.fixture
def storage_project(project, member):
    """The project with its default local bucket and the all-users authorization (as a new project gets)."""
    from console.storage.models import Bucket
    from console.storage.services import project_storage_defaults_apply

    project_storage_defaults_apply(project=project, actor=None)
    bucket = Bucket.objects.get(project=project)
    root = bucket.local_path()
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    project.bucket = bucket
    yield project
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def bucket_root(storage_project) -> Path:
    return storage_project.bucket.local_path()


@pytest.fixture
def bucket_name(storage_project) -> str:
    return storage_project.bucket.name


def put_folder(bucket_root: Path, key: str, files: dict[str, str | bytes]) -> None:
    folder = bucket_root / key
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


@pytest.fixture
def examples_in_bucket(bucket_root):
    """The shipped examples uploaded to the bucket: code/gloo, code/tiny, data/."""
    shutil.copytree(EXAMPLES / "pytorch_gloo", bucket_root / "code" / "gloo")
    shutil.copytree(EXAMPLES / "tiny_train", bucket_root / "code" / "tiny")
    put_folder(bucket_root, "data", {"train.csv": "x,y\n1,2\n2,5\n"})
    (bucket_root / "outputs").mkdir(exist_ok=True)
    (bucket_root / "logs").mkdir(exist_ok=True)
    return bucket_root


@pytest.fixture
def default_pool(db):
    from console.nodepools.services import pool_default_ensure

    return pool_default_ensure()


@pytest.fixture
def flavors(db):
    from console.training.services.catalog import flavor_defaults_ensure

    flavor_defaults_ensure()
    # A flavor every test machine can hold (1 core, 4 GB: a torch process with gloo alone takes about 1 GB): tests don't depend on the machine's size.
    Flavor.objects.get_or_create(
        flavor_id="test.cpu.1u",
        defaults={"flavor_name": "Test CPU(1U)", "cpu_cores": 1, "memory_gb": 4, "disk_gb": 1, "position": 99},
    )
    return {f.flavor_id: f for f in Flavor.objects.all()}


@pytest.fixture
def local_engine(db) -> Engine:
    """This interpreter's engine, as a node running it detects it."""
    identity = identity_for(probe_interpreter(sys.executable), python_path=sys.executable)
    engine, _ = Engine.objects.get_or_create(
        engine_id=identity.engine_id,
        defaults={
            "engine_name": identity.engine_name,
            "engine_version": identity.engine_id,
            "framework_version": identity.framework_version,
            "python_version": identity.python_version,
        },
    )
    return engine


def make_node(pool: Pool, name: str, *, engine: Engine | None = None, cores=2, memory_gb=16, **fields) -> Node:
    """A node row for unit tests (integration tests register real workers instead)."""
    from django.utils import timezone

    node = Node.objects.create(
        pool=pool,
        name=name,
        hostname="test-host",
        cpu_arch="x86_64",
        cpu_cores=cores,
        memory_bytes=memory_gb * 1024**3,
        disk_bytes=200 * 1024**3,
        state=NodeState.AVAILABLE,
        heartbeat_at=timezone.now(),
        **fields,
    )
    if engine is not None:
        NodeEngine.objects.create(node=node, engine=engine, python_path=sys.executable)
    return node


@pytest.fixture
def node_env():
    """Environment for a worker that is a node: node_env("node-a") -> dict for celery_worker_process(extra_env=...)."""

    def env(name: str, pool: str = "default", **extra) -> dict:
        return {"CONSOLE_NODE_POOL": pool, "CONSOLE_NODE_NAME": name, **FAST, **extra}

    return env


def wait_for(predicate, *, timeout: float = 60, interval: float = 0.2, message: str = "condition"):
    """Poll until predicate() is truthy; return its value. Fails with `message` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def task_processes(task_id: int) -> list[psutil.Process]:
    """Live (non-zombie) processes carrying a task's marker: what 'no orphans' checks."""
    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            marker = process.environ().get("MA_CONSOLE_WORKLOAD", "")
        except (psutil.Error, OSError):
            continue
        if marker.startswith(f"training:{task_id}:"):
            found.append(process)
    return found


def runner_processes(task_id: int) -> list[psutil.Process]:
    """The task's runner process if it is still alive (its pid is on the task row)."""
    from console.training.models import TrainingTask

    pid = TrainingTask.objects.filter(pk=task_id).values_list("runner_pid", flat=True).first()
    if not pid:
        return []
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE or "console.nodepools.workloads" not in " ".join(process.cmdline()):
            return []
    except psutil.Error:
        return []
    return [process]


@pytest.fixture
def probe_in_bucket(examples_in_bucket):
    """tests/training/scripts/probe.py at code/probe/ (plus the examples)."""
    target = examples_in_bucket / "code" / "probe"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).parent / "scripts" / "probe.py", target / "probe.py")
    return examples_in_bucket


@pytest.fixture
def node_worker(celery_worker_process, node_env):
    """node_worker("node-a", beat=True) -> a real worker registered as node "node-a" of pool "default".

    Stopped with a cold shutdown (SIGQUIT) at the end: its runners live in their own
    sessions and are not affected, and the suite does not wait for warm shutdowns.
    """
    started = []

    def start(name: str = "node-a", *, beat: bool = True, pool: str = "default", node: bool = True):
        env = node_env(name, pool) if node else dict(FAST)
        worker = celery_worker_process(queues="platform", name=name, beat=beat, extra_env=env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(signal.SIGQUIT)
