"""Reads for the node-pools console (site administrators only: the views check that first).

Pools are small (tens of nodes), so a page loads its pool's nodes, the workloads
occupying them (asked of every registered workload kind: training tasks today) and
derives the rest in Python: the Abnormal state from heartbeats, the billing state
from dates, capacity used from the flavors of the workloads running on the nodes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from console.nodepools import rules
from console.nodepools.billing import BillingView, node_billing
from console.nodepools.models import MEMBER_STATES, BillingMode, Node, NodeState, Pool
from console.nodepools.workloads import Occupant, PoolActivity
from console.nodepools.workloads.registry import active_counts_by_pool, occupants_by_node, pool_activity

# The states a person sees for a node in its pool (ModelArts node phases).
STATE_ORDER = [NodeState.AVAILABLE, NodeState.CREATING, NodeState.DELETING, NodeState.ABNORMAL]
STATE_BADGES = {
    NodeState.AVAILABLE: "success",
    NodeState.CREATING: "info",
    NodeState.DELETING: "warning",
    NodeState.ABNORMAL: "danger",
    NodeState.DELETED: "muted",
}


def expiry_warning_days() -> int:
    return getattr(settings, "NODEPOOL_EXPIRY_WARNING_DAYS", 7)


@dataclass
class NodeRow:
    node: Node
    state: str
    billing: BillingView
    occupants: list[Occupant] = field(default_factory=list)
    engines: list[str] = field(default_factory=list)

    @property
    def state_badge(self) -> str:
        return STATE_BADGES.get(self.state, "muted")

    @property
    def state_hint(self) -> str:
        if self.state == NodeState.ABNORMAL:
            return _("No heartbeat: the worker stopped reporting.")
        if self.state in (NodeState.DELETING, NodeState.DELETED):
            return self.node.removed_reason
        return ""

    @property
    def jobs(self) -> list[Occupant]:
        """One entry per job (or notebook, service) holding the node, however many of its workloads do."""
        seen, owners = set(), []
        for occupant in self.occupants:
            if occupant.url not in seen:
                seen.add(occupant.url)
                owners.append(occupant)
        return owners

    @property
    def action(self) -> rules.Action | None:
        return rules.row_action(self.billing.facts)

    @property
    def action_label(self):
        return rules.ACTION_LABELS[self.action] if self.action else ""

    @property
    def action_display_label(self) -> str:
        return rules.action_display(self.action) if self.action else ""


@dataclass
class Capacity:
    cpu_total: int = 0
    cpu_used: int = 0
    memory_total_gb: float = 0.0
    memory_used_gb: float = 0.0
    gpu_total: int = 0
    gpu_used: int = 0
    nodes_total: int = 0
    nodes_busy: int = 0

    @property
    def cpu_free(self) -> int:
        return max(0, self.cpu_total - self.cpu_used)

    @property
    def memory_free_gb(self) -> float:
        return max(0.0, self.memory_total_gb - self.memory_used_gb)

    @property
    def gpu_free(self) -> int:
        return max(0, self.gpu_total - self.gpu_used)

    @property
    def nodes_free(self) -> int:
        return max(0, self.nodes_total - self.nodes_busy)


@dataclass
class PoolPage:
    pool: Pool
    rows: list[NodeRow]
    removed: list[NodeRow]
    capacity: Capacity
    state_counts: list[tuple[str, int]]
    jobs: list[PoolActivity]
    ending_soon: list[NodeRow]
    in_grace: list[NodeRow]
    now: datetime

    @property
    def batch_actions(self) -> list[rules.Action]:
        return rules.batch_actions(self.pool.billing_mode, has_legacy=any(r.node.legacy for r in self.rows))

    @property
    def batch_notes(self) -> list[str]:
        return rules.batch_notes(self.pool.billing_mode)

    @property
    def is_yearly_monthly(self) -> bool:
        return self.pool.billing_mode == BillingMode.YEARLY_MONTHLY

    @property
    def any_deleting(self) -> bool:
        return any(r.state == NodeState.DELETING for r in self.rows)


def display_state(node: Node) -> str:
    return node.display_state


def node_rows(nodes: list[Node], *, now: datetime) -> list[NodeRow]:
    """Rows for `nodes` (pool loaded): state, billing, workloads on them, engines."""
    occupants = occupants_by_node([n.pk for n in nodes])
    return [
        NodeRow(
            node=node,
            state=display_state(node),
            billing=node_billing(node, now=now),
            occupants=occupants.get(node.pk, []),
            engines=sorted({i["engine_id"] for i in node.interpreters or [] if i.get("engine_id")}),
        )
        for node in nodes
    ]


def _capacity(rows: list[NodeRow]) -> Capacity:
    capacity = Capacity()
    # A leaving node (Deleting) no longer offers capacity; its states still count below.
    for row in (r for r in rows if r.state != NodeState.DELETING):
        node = row.node
        capacity.nodes_total += 1
        capacity.cpu_total += node.cpu_cores
        capacity.memory_total_gb += node.memory_gb
        capacity.gpu_total += node.gpu_count
        if row.occupants:
            capacity.nodes_busy += 1
        for occupant in row.occupants:
            capacity.cpu_used += occupant.cpu_cores
            capacity.memory_used_gb += float(occupant.memory_gb)
            capacity.gpu_used += occupant.gpu_count
    capacity.memory_total_gb = round(capacity.memory_total_gb, 1)
    capacity.memory_used_gb = round(capacity.memory_used_gb, 1)
    return capacity


def pool_list() -> list[Pool]:
    """Every pool with its member-node count and active workloads (the list page adds the rest per pool)."""
    pools = list(
        Pool.objects.annotate(
            node_count=Count(
                "nodes", filter=Q(nodes__state__in=MEMBER_STATES, nodes__removed_at__isnull=True), distinct=True
            ),
        ).order_by("name")
    )
    active = active_counts_by_pool()
    for pool in pools:
        pool.active_job_count = active.get(pool.pk, 0)
    return pools


def pool_list_rows(*, now: datetime | None = None) -> list[dict]:
    """The list page: each pool with nodes by state, capacity and running jobs."""
    now = now or timezone.now()
    pools = pool_list()
    # Members and nodes still leaving (Deleting); those gone for good are history.
    nodes = list(Node.objects.filter(pool__in=pools).exclude(state=NodeState.DELETED).select_related("pool"))
    rows_by_pool: dict[int, list[NodeRow]] = defaultdict(list)
    for row in node_rows(nodes, now=now):
        rows_by_pool[row.node.pool_id].append(row)
    result = []
    for pool in pools:
        rows = rows_by_pool.get(pool.pk, [])
        counts = Counter(r.state for r in rows)
        result.append(
            {
                "pool": pool,
                "capacity": _capacity(rows),
                "state_counts": [(s, counts.get(s, 0)) for s in STATE_ORDER if counts.get(s)],
                "attention": sum(
                    1
                    for r in rows
                    if r.billing.subscription != rules.Subscription.ACTIVE
                    and r.billing.facts.yearly_monthly
                    and not r.node.legacy
                ),
            }
        )
    return result


def pool_get(*, pool_id: int) -> Pool:
    pool = Pool.objects.filter(pk=pool_id).first()
    if pool is None:
        raise Http404("No such pool.")
    return pool


def pool_page(*, pool: Pool, now: datetime | None = None) -> PoolPage:
    now = now or timezone.now()
    nodes = list(Node.objects.filter(pool=pool).select_related("pool", "removed_by").order_by("name"))
    members = [n for n in nodes if not n.is_removed or n.state == NodeState.DELETING]
    gone = sorted(
        (n for n in nodes if n.state == NodeState.DELETED or (n.is_removed and n.state != NodeState.DELETING)),
        key=lambda n: n.removed_at or now,
        reverse=True,
    )
    rows = node_rows(members, now=now)
    removed = node_rows(gone, now=now)
    counts = Counter(r.state for r in rows)
    soon = now + timedelta(days=expiry_warning_days())
    ending_soon = [
        r
        for r in rows
        if r.state != NodeState.DELETING
        and r.billing.subscription == rules.Subscription.ACTIVE
        and not r.node.legacy
        and r.billing.end is not None
        and r.billing.end <= soon
    ]
    in_grace = [
        r
        for r in rows
        if r.state != NodeState.DELETING
        and not r.node.legacy
        and r.billing.subscription in (rules.Subscription.GRACE, rules.Subscription.EXPIRED)
    ]
    jobs = pool_activity(pool)
    return PoolPage(
        pool=pool,
        rows=rows,
        removed=removed,
        capacity=_capacity(rows),
        state_counts=[(s, counts.get(s, 0)) for s in STATE_ORDER],
        jobs=jobs,
        ending_soon=ending_soon,
        in_grace=in_grace,
        now=now,
    )


def nodes_for_action(*, pool: Pool, node_ids: list[int]) -> tuple[list[Node], list[int]]:
    """The pool's nodes named by id (pool loaded), and the ids that name none of them."""
    nodes = list(Node.objects.filter(pool=pool, pk__in=node_ids).select_related("pool").order_by("name"))
    found = {n.pk for n in nodes}
    return nodes, [i for i in node_ids if i not in found]
