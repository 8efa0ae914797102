"""Fixtures of the service (console.services) tests: the tiny model as a version in a bucket, nodes.

Imported by the test modules (tests/services/conftest.py holds the engine's fixtures)."""

from __future__ import annotations

import shutil
import signal

import pytest

from tests.training.conftest import (  # noqa: F401 — fixtures shared with training
    FAST,
    bucket_root,
    default_pool,
    make_node,
    node_env,
    storage_project,
    wait_for,
)

SERVICE_FAST = {
    **FAST,
    "SERVICE_RECONCILE_SECONDS": "0.5",
    "SERVICE_START_TIMEOUT_SECONDS": "120",
    "SERVICE_MAX_CONCURRENCY": "2",
    "SERVICE_MAX_NEW_TOKENS_CAP": "64",
    "SERVICE_REQUEST_TIMEOUT_SECONDS": "30",
    # The tiny model is ~1 MB: a small overhead lets a 1-core 1 GB flavor hold it.
    "SERVICE_MEMORY_OVERHEAD_BYTES": str(256 * 1024**2),
}
# Three of these fit on the two 2-core nodes of this machine (1 core each, memory left for torch).
TEST_FLAVOR = {"flavor_id": "test.svc.1u", "name": "Test 1 vCPU", "cpu_cores": 1, "memory_gb": 2}
SMALL_FLAVOR = {"flavor_id": "test.svc.tiny", "name": "Too small", "cpu_cores": 1, "memory_gb": 0}


@pytest.fixture(autouse=True)
def _fast_services(settings):
    for key, value in SERVICE_FAST.items():
        setattr(settings, key, float(value) if "." in value else int(value))
    settings.SERVICE_FLAVORS = [*settings.SERVICE_FLAVORS, TEST_FLAVOR, SMALL_FLAVOR]


@pytest.fixture
def tiny_version(storage_project, member, tiny_model_dir, bucket_root):
    """The tiny causal LM uploaded to the project's bucket (models/tiny/), made a version with validation off."""
    from console.mymodels.models import BaseModelVersion
    from console.mymodels.services import catalog_load
    from console.versions.services import model_create

    shutil.copytree(tiny_model_dir, bucket_root / "models" / "tiny")
    catalog_load()
    model = model_create(
        actor=member,
        project=storage_project,
        name="tiny-llama",
        base_version=BaseModelVersion.objects.get(slug="qwen2-5-7b"),
        weights_path=f"obs://{storage_project.bucket.name}/models/tiny/",
        validate_weights=False,
    )
    return model.versions.get()


@pytest.fixture
def service_node(celery_worker_process, node_env, default_pool):
    """service_node("svc-a") -> a real node worker (with beat) of pool "default", registered, with service timings."""
    from console.nodepools.models import Node

    started = []

    def start(name="svc-node", *, beat=True):
        env = {**node_env(name, "default"), **SERVICE_FAST}
        worker = celery_worker_process(queues="platform", name=name, beat=beat, extra_env=env)
        started.append(worker)
        node = wait_for(lambda: Node.objects.filter(name=name).first(), timeout=60, message=f"node {name} registered")
        return worker, node

    yield start
    for worker in started:
        worker.stop(signal.SIGQUIT)
