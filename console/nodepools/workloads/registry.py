"""Workload kinds and node probes, registered by the apps above in their ``AppConfig.ready()``."""

from __future__ import annotations

from collections.abc import Callable

from console.nodepools.workloads.kinds import WorkloadKind

_kinds: dict[str, WorkloadKind] = {}
_node_probes: list[NodeProbe] = []


class NodeProbe:
    """A plug-in of the node agent: what an app detects on a node (e.g. training's engines).

    ``facts(accelerator)`` runs when the node registers and returns a JSON-able list stored on
    the node (``Node.interpreters``); ``registered(node, facts)`` then records it in the app's
    own tables; ``changed()`` is asked at every heartbeat and, when true, the probe runs again.
    """

    def __init__(
        self,
        *,
        facts: Callable[[str], list[dict]],
        registered: Callable[..., object],
        changed: Callable[[], bool] = lambda: False,
    ):
        self.facts = facts
        self.registered = registered
        self.changed = changed


def register_kind(kind: WorkloadKind) -> None:
    _kinds[kind.name] = kind


def kind_for(name: str) -> WorkloadKind:
    try:
        return _kinds[name]
    except KeyError:
        raise LookupError(f"no workload kind {name!r} is registered (known: {', '.join(_kinds) or 'none'})") from None


def registered_kinds() -> list[WorkloadKind]:
    return list(_kinds.values())


def register_node_probe(probe: NodeProbe) -> None:
    _node_probes.append(probe)


def node_probes() -> list[NodeProbe]:
    return list(_node_probes)


# --- what the node-pool rules and pages ask of every kind ---------------------------------------


def occupants_by_node(node_ids) -> dict[int, list]:
    """Node id → the workloads (of every kind) holding it now."""
    by_node: dict[int, list] = {node_id: [] for node_id in node_ids}
    for kind in _kinds.values():
        for occupant in kind.occupants(node_ids=list(node_ids)):
            by_node.setdefault(occupant.node_id, []).append(occupant)
    return by_node


def busy_node_ids(node_ids) -> set[int]:
    return {node_id for node_id, occupants in occupants_by_node(node_ids).items() if occupants}


def stop_workloads_on_node(*, node, actor, reason: str) -> list:
    stopped: list = []
    for kind in _kinds.values():
        stopped += kind.stop_on_node(node=node, actor=actor, reason=reason)
    return stopped


def waiting_in_pool(pool) -> list[str]:
    waiting: list[str] = []
    for kind in _kinds.values():
        waiting += kind.waiting_in_pool(pool=pool)
    return waiting


def pool_activity(pool) -> list:
    rows = [row for kind in _kinds.values() for row in kind.pool_activity(pool=pool)]
    return sorted(rows, key=lambda row: row.created_at)


def active_counts_by_pool() -> dict[int, int]:
    totals: dict[int, int] = {}
    for kind in _kinds.values():
        for pool_id, count in kind.active_counts_by_pool().items():
            totals[pool_id] = totals.get(pool_id, 0) + count
    return totals
