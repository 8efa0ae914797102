"""Node registration and heartbeats (the node-pools console adds the administrators' rules here).

A Celery worker started with CONSOLE_NODE_POOL calls ``node_register`` when it is
ready (console.nodepools.workloads.agent) and ``node_heartbeat`` every
NODE_HEARTBEAT_SECONDS. A node an administrator removed keeps its row (history)
and is refused when its worker starts again: it does not rejoin by itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from console.nodepools.models import (
    DEFAULT_POOL_NAME,
    MEMBER_STATES,
    Node,
    NodeState,
    Pool,
    name_validator,
    node_queue_name,
    pool_queue_name,
)
from console.nodepools.workloads.registry import busy_node_ids

logger = logging.getLogger(__name__)


class NodeRegistrationRefused(Exception):
    """The worker may not join: ``message`` says why (logged by the worker)."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


@dataclass
class NodeFacts:
    """What a worker measured about its machine."""

    hostname: str
    address: str
    cpu_arch: str
    cpu_cores: int
    memory_bytes: int
    disk_bytes: int
    gpus: list[dict] = field(default_factory=list)
    interpreters: list[dict] = field(default_factory=list)


def pool_default_ensure(*, stdout=None) -> Pool:
    """Set-up step: the pool the run command's worker joins, and jobs use when they name none."""
    pool = Pool.objects.filter(is_default=True).first()
    if pool is None:
        pool, created = Pool.objects.get_or_create(
            name=DEFAULT_POOL_NAME,
            defaults={"description": "Nodes started by the run command.", "is_default": True},
        )
        if not created and not pool.is_default:
            Pool.objects.filter(pk=pool.pk).update(is_default=True)
            pool.is_default = True
        if stdout is not None:
            stdout.write(f"Node pools: default pool {pool.name!r} ready.")
    return pool


def default_pool() -> Pool | None:
    return Pool.objects.filter(is_default=True).first()


@transaction.atomic
def node_register(*, name: str, pool_name: str, worker_name: str, facts: NodeFacts) -> Node:
    """Register (or re-register after a restart) the worker's node; NodeRegistrationRefused if it may not join."""
    try:
        name_validator(name)
    except ValidationError:
        raise NodeRegistrationRefused(
            f"The node name {name!r} is not allowed: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (set CONSOLE_NODE_NAME)."
        ) from None
    pool = Pool.objects.filter(name=pool_name).first()
    if pool is None:
        raise NodeRegistrationRefused(
            f"There is no node pool named {pool_name!r}: an administrator creates pools; "
            "start the worker with CONSOLE_NODE_POOL set to an existing pool."
        )
    now = timezone.now()
    node = Node.objects.select_for_update().filter(name=name).first()
    capacity = {
        "hostname": facts.hostname[:255],
        "address": facts.address[:255],
        "worker_name": worker_name[:255],
        "cpu_arch": facts.cpu_arch,
        "cpu_cores": facts.cpu_cores,
        "memory_bytes": facts.memory_bytes,
        "disk_bytes": facts.disk_bytes,
        "gpu_count": len(facts.gpus),
        "gpus": facts.gpus,
        "interpreters": facts.interpreters,
    }
    if node is None:
        node = Node(name=name, pool=pool, **capacity)
        node.state = NodeState.AVAILABLE
        node.last_started_at = now
        node.heartbeat_at = now
        node.subscription_start = now
        node.save()
        logger.info("node %s registered in pool %s", name, pool.name)
        return node
    if node.is_removed:
        # An administrator took it out: restarting its worker must not undo that.
        raise NodeRegistrationRefused(
            f"Node {name!r} was removed from pool {node.pool.name!r} by an administrator"
            + (f" ({node.removed_reason})" if node.removed_reason else "")
            + "; it does not rejoin by itself. Start the worker under another node name to add it again."
        )
    if node.pool_id != pool.pk:
        busy = bool(busy_node_ids([node.pk]))
        if busy:
            raise NodeRegistrationRefused(
                f"Node {name!r} is running a task in pool {node.pool.name!r}; it cannot move to pool {pool.name!r} now."
            )
        node.pool = pool
    for key, value in capacity.items():
        setattr(node, key, value)
    node.state = NodeState.AVAILABLE
    node.last_started_at = now
    node.heartbeat_at = now
    node.save()
    logger.info("node %s re-registered in pool %s", name, pool.name)
    return node


def node_heartbeat(*, node_id: int) -> bool:
    """The worker is alive. False when the node was removed meanwhile (the worker then leaves its pool)."""
    now = timezone.now()
    updated = Node.objects.filter(pk=node_id, state__in=MEMBER_STATES, removed_at__isnull=True).update(heartbeat_at=now)
    if updated:
        # Back from a silence: Abnormal was only about the missing heartbeats.
        Node.objects.filter(pk=node_id, state=NodeState.ABNORMAL).update(state=NodeState.AVAILABLE)
    return bool(updated)


def nodes_mark_silent(*, now=None) -> int:
    """Available nodes whose heartbeats stopped become Abnormal (one UPDATE; run by the poller)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.NODE_TIMEOUT_SECONDS)
    return Node.objects.filter(state=NodeState.AVAILABLE, heartbeat_at__lt=cutoff).update(state=NodeState.ABNORMAL)


def node_queue_names(node: Node) -> list[str]:
    """Queues a node's worker consumes for its pool; cancel both to take the node out of the pool."""
    return [pool_queue_name(node.pool.name), node_queue_name(node.name)]
