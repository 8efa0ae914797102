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
from django.utils.timesince import timesince
from django.utils.translation import gettext as _

from console.nodepools import rules
from console.nodepools.billing import BillingView, node_billing
from console.nodepools.models import MEMBER_STATES, BillingMode, Node, NodeState, Pool, RayCluster
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
    # A Ray pool has no console nodes: its row shows the cluster's health and nodes instead.
    clusters = {c.pool_id: c for c in RayCluster.objects.filter(pool__in=[p for p in pools if p.is_ray])}
    result = []
    for pool in pools:
        rows = rows_by_pool.get(pool.pk, [])
        counts = Counter(r.state for r in rows)
        cluster = clusters.get(pool.pk)
        result.append(
            {
                "pool": pool,
                "cluster": cluster,
                "ray_node_count": len(cluster.nodes or []) if cluster else 0,
                "ray_memory_gib": cluster.total_memory_bytes / 1024**3 if cluster else 0,
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


# --- Ray cluster pools ------------------------------------------------------------------------------

RAY_NODE_BADGES = {"ALIVE": "success", "DEAD": "danger"}
# The probe gives up after raycluster.services.PROBE_TIMEOUT_SECONDS; a pending mark much older than
# that was never picked up (no worker on the platform queue) and is shown so rather than polled forever.
PROBE_REPORT_SECONDS = 180


@dataclass(frozen=True)
class RayNodeRow:
    """One node of a Ray cluster as the last check found it (Ray owns it: the page only shows it)."""

    node_id: str
    address: str
    is_head: bool
    state: str
    cpus: float
    gpus: float
    memory_bytes: int

    @property
    def short_id(self) -> str:
        return self.node_id[:12]

    @property
    def badge(self) -> str:
        return RAY_NODE_BADGES.get(self.state, "muted")

    @property
    def state_label(self) -> str:
        labels = {"ALIVE": _("Alive"), "DEAD": _("Dead")}
        return labels.get(self.state, self.state or "—")

    @property
    def memory_gib(self) -> float:
        return self.memory_bytes / 1024**3


def _parse_time(value) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


@dataclass
class RayPanel:
    """What the page of a Ray pool shows about its cluster: health, nodes, limits, interpreter."""

    pool: Pool
    cluster: RayCluster
    jobs: list[PoolActivity]
    now: datetime

    @property
    def nodes(self) -> list[RayNodeRow]:
        rows = [
            RayNodeRow(
                node_id=str(n.get("node_id", "")),
                address=str(n.get("address", "")),
                is_head=bool(n.get("is_head")),
                state=str(n.get("state", "")),
                cpus=float(n.get("cpus", 0)),
                gpus=float(n.get("gpus", 0)),
                memory_bytes=int(n.get("memory_bytes", 0)),
            )
            for n in self.cluster.nodes or []
        ]
        # The head first, then alive nodes, then by address: the order Ray lists them in varies.
        return sorted(rows, key=lambda r: (not r.is_head, r.state != "ALIVE", r.address, r.node_id))

    @property
    def alive_count(self) -> int:
        return len(self.cluster.alive_nodes)

    @property
    def total_memory_gib(self) -> float:
        return self.cluster.total_memory_bytes / 1024**3

    @property
    def running(self) -> int:
        """Jobs holding one of the pool's concurrent slots: handed to Ray (their task names the cluster)."""
        return sum(1 for job in self.jobs if job.nodes)

    @property
    def waiting(self) -> int:
        """Jobs still in the console's queue (not handed to Ray yet)."""
        return sum(1 for job in self.jobs if not job.nodes)

    @property
    def at_cap(self) -> bool:
        return self.running >= self.cluster.max_concurrent_jobs

    @property
    def pending_deadline(self) -> timedelta:
        return timedelta(seconds=self.cluster.pending_deadline_seconds)

    @property
    def pending_deadline_text(self) -> str:
        """The deadline as a person reads it ("10 minutes"), in the active language."""
        return timesince(self.now - self.pending_deadline, self.now)

    @property
    def probe(self) -> dict:
        return self.cluster.interpreter_probe or {}

    @property
    def probe_requested_at(self) -> datetime | None:
        return _parse_time(self.probe.get("requested_at"))

    @property
    def probe_at(self) -> datetime | None:
        return _parse_time(self.probe.get("at"))

    @property
    def probe_pending(self) -> bool:
        """A check was asked for and has not reported yet (the panel polls faster meanwhile)."""
        requested = self.probe_requested_at
        return bool(self.probe.get("pending")) and (
            requested is None or self.now - requested <= timedelta(seconds=PROBE_REPORT_SECONDS)
        )

    @property
    def probe_lost(self) -> bool:
        """A check was asked for long ago and never reported: no worker took it."""
        return bool(self.probe.get("pending")) and not self.probe_pending

    @property
    def probe_done(self) -> bool:
        return not self.probe.get("pending") and "ok" in self.probe

    @property
    def probe_for_other_interpreter(self) -> bool:
        """The result is for the interpreter the pool had before an edit."""
        checked = self.probe.get("interpreter")
        return self.probe_done and bool(checked) and checked != self.cluster.interpreter

    @property
    def poll_seconds(self) -> int:
        return 2 if self.probe_pending else 5


def ray_cluster_of(pool: Pool) -> RayCluster:
    cluster = RayCluster.objects.filter(pool=pool).first() if pool.is_ray else None
    if cluster is None:
        raise Http404("This pool is not backed by a Ray cluster.")
    return cluster


def ray_panel(*, pool: Pool, jobs: list[PoolActivity], now: datetime | None = None) -> RayPanel:
    return RayPanel(pool=pool, cluster=ray_cluster_of(pool), jobs=jobs, now=now or timezone.now())
