"""Node registration and heartbeats (the workers' side of node pools)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from console.nodepools.models import Node, NodeState, Pool
from console.nodepools.services import (
    NodeFacts,
    NodeRegistrationRefused,
    node_heartbeat,
    node_queue_names,
    node_register,
    nodes_mark_silent,
    pool_default_ensure,
)


def facts(**overrides):
    values = {
        "hostname": "vm", "address": "10.0.0.5", "cpu_arch": "x86_64", "cpu_cores": 8,
        "memory_bytes": 32 * 1024**3, "disk_bytes": 100 * 1024**3, "gpus": [],
        "interpreters": [{"engine_id": "pytorch_2.13.0-cpu-py_3.12-debian_12-x86_64", "python_path": "/venv/bin/python"}],
    }  # fmt: skip
    values.update(overrides)
    return NodeFacts(**values)


@pytest.fixture
def pool(db):
    return pool_default_ensure()


def test_the_setup_step_creates_one_default_pool(db):
    first = pool_default_ensure()
    assert first.name == "default" and first.is_default
    assert pool_default_ensure() == first and Pool.objects.count() == 1


def test_a_worker_registers_its_node(pool):
    node = node_register(name="node-a", pool_name="default", worker_name="node-a@vm", facts=facts())
    assert node.pool == pool and node.state == NodeState.AVAILABLE
    assert (node.cpu_cores, node.memory_bytes, node.gpu_count) == (8, 32 * 1024**3, 0)
    assert node.subscription_start is not None and node.heartbeat_at is not None and not node.legacy
    assert node_queue_names(node) == ["pool.default", "node.node-a"]


def test_a_restarted_worker_updates_its_node(pool):
    node_register(name="node-a", pool_name="default", worker_name="node-a@vm", facts=facts())
    node = node_register(
        name="node-a",
        pool_name="default",
        worker_name="node-a@vm2",
        facts=facts(cpu_cores=4, gpus=[{"index": 0, "name": "T4", "memory_bytes": 1}]),
    )
    assert Node.objects.count() == 1
    assert (node.cpu_cores, node.gpu_count, node.worker_name) == (4, 1, "node-a@vm2")


def test_a_removed_node_does_not_rejoin(pool):
    node = node_register(name="node-a", pool_name="default", worker_name="node-a@vm", facts=facts())
    Node.objects.filter(pk=node.pk).update(
        state=NodeState.DELETED, removed_at=timezone.now(), removed_reason="deleted by root"
    )
    with pytest.raises(NodeRegistrationRefused) as caught:
        node_register(name="node-a", pool_name="default", worker_name="node-a@vm", facts=facts())
    assert "does not rejoin by itself" in caught.value.message and "deleted by root" in caught.value.message
    assert Node.objects.get(pk=node.pk).state == NodeState.DELETED
    assert node_heartbeat(node_id=node.pk) is False


@pytest.mark.parametrize(
    "pool_name, name, message", [("gpu", "node-a", "no node pool named"), ("default", "bad name!", "not allowed")]
)
def test_it_refuses_unknown_pools_and_bad_names(pool, pool_name, name, message):
    with pytest.raises(NodeRegistrationRefused) as caught:
        node_register(name=name, pool_name=pool_name, worker_name="w@vm", facts=facts())
    assert message in caught.value.message
    assert not Node.objects.exists()


def test_distinct_names_make_distinct_nodes_on_one_machine(pool):
    node_register(name="node-a", pool_name="default", worker_name="node-a@vm", facts=facts())
    node_register(name="node-b", pool_name="default", worker_name="node-b@vm", facts=facts())
    assert sorted(Node.objects.values_list("name", flat=True)) == ["node-a", "node-b"]


def test_silent_nodes_become_abnormal_and_recover_on_heartbeat(pool, settings):
    node = node_register(name="node-a", pool_name="default", worker_name="node-a@vm", facts=facts())
    Node.objects.filter(pk=node.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.NODE_TIMEOUT_SECONDS + 1)
    )
    assert Node.objects.get(pk=node.pk).display_state == NodeState.ABNORMAL
    assert not Node.objects.live().exists()
    assert nodes_mark_silent() == 1
    assert Node.objects.get(pk=node.pk).state == NodeState.ABNORMAL
    assert node_heartbeat(node_id=node.pk) is True
    node = Node.objects.get(pk=node.pk)
    assert node.state == NodeState.AVAILABLE and Node.objects.live().count() == 1
