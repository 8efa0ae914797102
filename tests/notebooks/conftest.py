"""Fixtures for notebooks: the training fixtures (project storage, pool, real node workers) plus short timings."""

from __future__ import annotations

import signal

import pytest

from tests.training.conftest import (  # noqa: F401 — fixtures shared with training
    FAST,
    bucket_name,
    bucket_root,
    default_pool,
    node_env,
    storage_project,
    wait_for,
)

NOTEBOOK_FAST = {
    **FAST,
    "NOTEBOOK_SWEEP_SECONDS": "0.5",
    "NOTEBOOK_ACTIVITY_SECONDS": "0.5",
    "NOTEBOOK_STOP_WARNING_SECONDS": "2",
    "NOTEBOOK_START_TIMEOUT_SECONDS": "90",
    "TRAINING_OUTPUT_UPLOAD_PERIOD": "2",
}
# A flavor every test machine holds several of (0 cores: not pinned, no share counted).
TEST_FLAVOR = {"flavor_id": "test.nb.small", "name": "Test", "cpu_cores": 0, "memory_gb": 1}


@pytest.fixture(autouse=True)
def _fast_notebooks(settings):
    for key, value in NOTEBOOK_FAST.items():
        setattr(settings, key, float(value) if "." in value else int(value))
    settings.NOTEBOOK_FLAVORS = [*settings.NOTEBOOK_FLAVORS, TEST_FLAVOR]
    settings.NOTEBOOK_MAX_RUNNING_PER_USER = 3


@pytest.fixture
def notebook_node(celery_worker_process, node_env, default_pool):
    """A real node worker (with beat) of pool "default" whose images are detected, with notebook timings."""
    started = []

    def start(name="nb-node"):
        from console.nodepools.models import Node
        from console.notebooks.models import NodeImage

        env = {**node_env(name, "default"), **NOTEBOOK_FAST}
        worker = celery_worker_process(queues="platform", name=name, beat=True, extra_env=env)
        started.append(worker)
        node = wait_for(lambda: Node.objects.filter(name=name).first(), timeout=60, message="node registered")
        wait_for(lambda: NodeImage.objects.filter(node=node).exists(), timeout=60, message="image detected")
        return worker, node

    yield start
    for worker in started:
        worker.stop(signal.SIGQUIT)
