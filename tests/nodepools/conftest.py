"""Pools, nodes in every billing state, and jobs holding nodes (rows as the registration and scheduler write them)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from console.nodepools import actions
from console.nodepools.models import BillingMode, Node, NodeState, Pool
from console.training.models import TrainingJob, TrainingTask
from console.training.phases import Phase, SecondaryPhase, TaskStatus

HX = {"HTTP_HX_REQUEST": "true"}
GB = 1024**3


@pytest.fixture
def make_pool(db):
    def make(name, billing_mode=BillingMode.PAY_PER_USE, **fields):
        if billing_mode == BillingMode.PAY_PER_USE:
            fields.setdefault("hourly_price", "2.5000")
        return Pool.objects.create(name=name, billing_mode=billing_mode, **fields)

    return make


@pytest.fixture
def make_node(db):
    def make(pool, name, *, state=NodeState.AVAILABLE, cores=8, memory_gb=32, heartbeat_ago=1, **fields):
        now = timezone.now()
        fields.setdefault("subscription_start", now - timedelta(hours=10))
        return Node.objects.create(
            pool=pool,
            name=name,
            hostname="host-" + name,
            worker_name=f"{name}@host",
            state=state,
            cpu_arch="x86_64",
            cpu_cores=cores,
            memory_bytes=memory_gb * GB,
            disk_bytes=100 * GB,
            heartbeat_at=now - timedelta(seconds=heartbeat_ago),
            last_started_at=now - timedelta(hours=10),
            **fields,
        )

    return make


@pytest.fixture
def make_running_job(project):
    """make_running_job(node, ...) -> a Running job with one task holding that node (and more nodes if given)."""

    def make(*nodes, name="train-1", cores=2, memory_gb=8):
        now = timezone.now()
        job = TrainingJob.objects.create(
            project=project,
            name=name,
            pool=nodes[0].pool,
            phase=Phase.RUNNING,
            secondary_phase=SecondaryPhase.RUNNING,
            flavor_spec={"flavor_id": f"modelarts.vm.cpu.{cores}u", "cpu_cores": cores, "memory_gb": memory_gb},
            node_count=len(nodes),
            start_time=now,
            nodes_assigned_at=now,
        )
        for index, node in enumerate(nodes):
            TrainingTask.objects.create(
                job=job,
                index=index,
                name=f"worker-{index}",
                status=TaskStatus.RUNNING,
                node=node,
                node_name=node.name,
                assigned_at=now,
                started_at=now,
                running_at=now,
                heartbeat_at=now,
            )
        return job

    return make


@pytest.fixture
def pools(make_pool, make_node):
    """The issue's scene: a pay-per-use pool with two nodes; a yearly/monthly one with active, grace, legacy nodes."""
    now = timezone.now()
    ppu = make_pool("ondemand")
    ym = make_pool("subscribed", BillingMode.YEARLY_MONTHLY, grace_period_days=15, subscription_months=1)
    joined = now - timedelta(days=40)
    nodes = {
        "p1": make_node(ppu, "p1"),
        "p2": make_node(ppu, "p2"),
        "active": make_node(ym, "active", subscription_start=joined, subscription_end=now + timedelta(days=20)),
        "grace": make_node(ym, "grace", subscription_start=joined, subscription_end=now - timedelta(days=2)),
        "legacy": make_node(
            ym, "legacy", subscription_start=joined, legacy=True, subscription_end=now - timedelta(days=2)
        ),
    }
    return ppu, ym, nodes


@pytest.fixture
def control_calls(monkeypatch):
    """Record the remote-control commands and finish tasks the actions send (no broker needed in unit tests)."""
    calls = {"cancel": [], "finish": []}

    def cancel(*, worker_name, queues, reply, timeout=2.0):
        calls["cancel"].append((worker_name, tuple(queues)))
        return []

    monkeypatch.setattr(actions, "cancel_pool_consumers", cancel)

    from celery import current_app

    def send_task(name, args=None, **kwargs):
        if name == actions.FINISH_TASK:
            calls["finish"].append(args[0])
        return None

    monkeypatch.setattr(current_app, "send_task", send_task)
    return calls
