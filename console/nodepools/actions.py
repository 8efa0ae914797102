"""Administrators' writes on pools and nodes: create/edit/delete pools, and Delete / Unsubscribe / Release nodes.

(Node registration and heartbeats, written by the workers themselves, stay in
console.nodepools.services.) Which action applies to which node is decided by
console.nodepools.rules alone; these functions check it again under row locks,
do it, and record it.

Taking a node out of its pool, for real:
  1. under the pool's and the nodes' row locks (the scheduler takes the same
     locks in the same order, so it never hands a leaving node a task), each
     node must still be in the pool and the rules must allow the action — else
     nothing changes and the message says why;
  2. the node is marked Deleting with removed_at/by/reason: it takes no new
     task, and its worker is refused if it registers again (no rejoining);
  3. workloads running on it (training jobs today) are stopped through the hooks
     their kinds registered (console.nodepools.workloads), with the reason
     "node released by an administrator";
  4. after commit, its worker is told (Celery remote control) to stop consuming
     the pool's queue and the node's own queue; the platform queue keeps running
     there. A platform task then confirms it and marks the node Deleted once its
     tasks have ended.
History stays: the node row, its jobs and their logs are kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, When
from django.utils import timezone
from django.utils.translation import gettext as _

from console.audit.services import audit_record
from console.celery import app
from console.core.confirm import require_typed_delete
from console.nodepools import rules
from console.nodepools.billing import BillingView, billing_effect, node_billing
from console.nodepools.models import MEMBER_STATES, BillingMode, Node, NodeState, Pool, PoolKind, node_queue_name
from console.nodepools.rules import Action, Scope
from console.nodepools.workloads import Occupant, Stopped
from console.nodepools.workloads.registry import (
    busy_node_ids,
    occupants_by_node,
    stop_workloads_on_node,
    waiting_in_pool,
)

logger = logging.getLogger(__name__)

# The reason a job stopped because its node left the pool (shown on the job).
NODE_RELEASED_REASON = "node released by an administrator"

FINISH_TASK = "console.nodepools.tasks.node_removal_finish"

_PAST = {
    Action.DELETE: "deleted",
    Action.UNSUBSCRIBE: "unsubscribed",
    Action.RELEASE: "released",
}


# --- preview -------------------------------------------------------------------------


@dataclass
class PreviewItem:
    node: Node
    billing: BillingView
    jobs: list[Occupant]  # one per job (or other owner) holding the node
    effect: str
    refusal: str | None


@dataclass
class ActionPreview:
    """What an action would do, shown before it is confirmed (and why it can't, when it can't)."""

    pool: Pool
    action: Action
    scope: Scope
    items: list[PreviewItem] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    requested: int = 0  # how many nodes were ticked

    @property
    def allowed(self) -> bool:
        return not self.refusals and bool(self.items)

    @property
    def needs_typed_confirmation(self) -> bool:
        return rules.needs_typed_confirmation(self.action)

    @property
    def jobs(self) -> list[Occupant]:
        seen, jobs = set(), []
        for item in self.items:
            for job in item.jobs:
                if job.url not in seen:
                    seen.add(job.url)
                    jobs.append(job)
        return jobs

    @property
    def label(self):
        return rules.ACTION_LABELS[self.action]

    @property
    def display_label(self) -> str:
        return rules.action_display(self.action)


def parse_action(value: str) -> Action:
    try:
        return Action(value)
    except ValueError:
        raise ValidationError(
            _("Unknown action “%(action)s”: choose Delete, Unsubscribe or Release.") % {"action": value},
            code="action",
        ) from None


def parse_scope(value: str) -> Scope:
    try:
        return Scope(value or Scope.SINGLE)
    except ValueError:
        raise ValidationError(_("Unknown scope “%(scope)s”.") % {"scope": value}, code="scope") from None


def parse_node_ids(values: list[str]) -> list[int]:
    """Node ids from a form or query; a value that is no id is refused by name."""
    ids: list[int] = []
    for value in values:
        value = str(value).strip()
        if not value.isdigit():
            raise ValidationError(_("“%(value)s” is not a node id.") % {"value": value[:40]}, code="node")
        if int(value) not in ids:
            ids.append(int(value))
    return ids


def _check_shape(*, action: Action, scope: Scope, node_ids: list[int]) -> None:
    if not node_ids:
        if scope == Scope.BATCH:
            raise ValidationError(_("Tick at least one node first."), code="no_nodes")
        raise ValidationError(_("Choose a node."), code="no_nodes")
    if scope == Scope.SINGLE and len(node_ids) != 1:
        raise ValidationError(_("A row action applies to exactly one node; use the bar above the table for several."))


def _unknown_message(pool: Pool, unknown: list[int]) -> str:
    return _("No node with id %(ids)s in pool %(pool)s: it may never have existed or belong to another pool.") % {
        "ids": ", ".join(str(i) for i in unknown),
        "pool": pool.name,
    }


def _jobs_on(nodes: list[Node]) -> dict[int, list[Occupant]]:
    """What holds each node: one entry per job (or other owner), whatever number of its workloads."""
    by_node: dict[int, list[Occupant]] = {}
    for node_id, occupants in occupants_by_node([n.pk for n in nodes]).items():
        seen: set[str] = set()
        by_node[node_id] = [o for o in occupants if not (o.url in seen or seen.add(o.url))]
    return by_node


def action_preview(
    *, pool: Pool, action: str, scope: str, node_ids: list, now: datetime | None = None
) -> ActionPreview:
    """What Delete/Unsubscribe/Release would do to these nodes of `pool`. Reads only; raises on malformed input."""
    now = now or timezone.now()
    action, scope = parse_action(action), parse_scope(scope)
    ids = parse_node_ids(node_ids)
    _check_shape(action=action, scope=scope, node_ids=ids)
    preview = ActionPreview(pool=pool, action=action, scope=scope, requested=len(ids))
    if scope == Scope.BATCH and action == Action.RELEASE:
        # Refused as such, before looking at the nodes (seed: 不支持批量释放).
        preview.refusals = [rules.batch_release_message()]
        return preview
    nodes = list(Node.objects.filter(pool=pool, pk__in=ids).select_related("pool").order_by("name"))
    unknown = [i for i in ids if i not in {n.pk for n in nodes}]
    if unknown:
        preview.refusals.append(_unknown_message(pool, unknown))
    jobs = _jobs_on(nodes)
    for node in nodes:
        billing = node_billing(node, now=now)
        refusal = rules.refusal(billing.facts, action, scope)
        preview.items.append(
            PreviewItem(
                node=node,
                billing=billing,
                jobs=jobs[node.pk],
                effect="" if refusal else billing_effect(billing, action, now=now),
                refusal=refusal,
            )
        )
        if refusal:
            preview.refusals.append(refusal)
    return preview


def refused_message(refusals: list[str], *, scope: Scope) -> str:
    """A batch is all or nothing: say so, then name each node that does not take the action and why."""
    if scope == Scope.BATCH:
        return _("Nothing was changed: the batch is refused as a whole. %(reasons)s") % {"reasons": " ".join(refusals)}
    return " ".join(refusals)


# --- the action ------------------------------------------------------------------------


@transaction.atomic
def nodes_leave_pool(
    *,
    actor,
    pool: Pool,
    action: str,
    scope: str,
    node_ids: list,
    confirmation: str = "",
) -> list[Node]:
    """Delete / Unsubscribe / Release nodes of `pool` (all of them or none). Returns the nodes that left."""
    action, scope = parse_action(action), parse_scope(scope)
    ids = parse_node_ids(node_ids)
    _check_shape(action=action, scope=scope, node_ids=ids)
    if scope == Scope.BATCH and action == Action.RELEASE:
        raise ValidationError(rules.batch_release_message(), code="batch_release")
    if rules.needs_typed_confirmation(action):
        require_typed_delete(confirmation, field="confirmation")

    now = timezone.now()
    # Same lock order as the scheduler (pool, then nodes): it never assigns a node we are removing.
    pool = Pool.objects.select_for_update().filter(pk=pool.pk).first()
    if pool is None:
        raise ValidationError(_("This pool no longer exists."), code="pool_gone")
    nodes = list(
        Node.objects.select_for_update(of=("self",)).select_related("pool").filter(pool=pool, pk__in=ids).order_by("pk")
    )
    unknown = [i for i in ids if i not in {n.pk for n in nodes}]
    if unknown:
        raise ValidationError(_unknown_message(pool, unknown), code="unknown_node")

    refusals = []
    for node in nodes:
        billing = node_billing(node, now=now)
        if message := rules.refusal(billing.facts, action, scope):
            refusals.append(message)
    if refusals:
        raise ValidationError(refused_message(refusals, scope=scope), code="refused")

    verb = _PAST[action]
    reason = f"{verb} by {getattr(actor, 'username', '') or 'an administrator'}"
    for node in sorted(nodes, key=lambda n: n.name):
        before = {"state": node.state, "pool": pool.name, "legacy": node.legacy}
        billing = node_billing(node, now=now)
        updated = Node.objects.filter(pk=node.pk, state__in=MEMBER_STATES, removed_at__isnull=True).update(
            state=NodeState.DELETING, removed_at=now, removed_by=actor, removed_reason=reason
        )
        if updated != 1:  # cannot happen under the lock; refuse rather than half-do
            raise ValidationError(
                _("Node “%(node)s” has already left its pool.") % {"node": node.name}, code="already_gone"
            )
        node.state, node.removed_at, node.removed_reason = NodeState.DELETING, now, reason
        stopped = _stop_jobs(node, actor=actor)
        node.stopped_jobs = stopped
        audit_record(
            actor=actor,
            action=f"node.{action.value}",
            obj=node,
            before=before,
            after={
                "state": NodeState.DELETING,
                "scope": scope.value,
                "jobs_stopped": [str(s) for s in stopped],
                "billing": billing_effect(billing, action, now=now),
            },
        )
        _after_commit_leave(node)
    return nodes


def _stop_jobs(node: Node, *, actor) -> list[Stopped]:
    """Stop every workload running on the node through its kind, with the reason it will show."""
    return stop_workloads_on_node(node=node, actor=actor, reason=NODE_RELEASED_REASON)


def _after_commit_leave(node: Node) -> None:
    node_id, worker, queues = node.pk, node.worker_name, [node.pool.queue_name, node_queue_name(node.name)]

    def tell_worker():
        # At once, from here: the worker stops taking the pool's work now. The finish
        # task repeats it with a reply (and the worker's heartbeat learns it too).
        from celery import current_app

        # The broker being down must not turn a committed action into an error page: the node is
        # already out (no scheduling, heartbeat refused → its agent cancels the consumers itself).
        try:
            cancel_pool_consumers(worker_name=worker, queues=queues, reply=False)
        except Exception:
            logger.exception("could not tell worker %s to leave its pool; its heartbeat will", worker)
        try:
            current_app.send_task(FINISH_TASK, args=[node_id])
        except Exception:
            logger.exception("could not enqueue the removal finish of node %s", node_id)

    transaction.on_commit(tell_worker)


def cancel_pool_consumers(*, worker_name: str, queues: list[str], reply: bool, timeout: float = 2.0) -> list:
    """Celery remote control: `worker_name` stops consuming `queues` (its other queues keep running)."""
    if not worker_name:
        return []
    replies = []
    for queue in queues:
        answer = app.control.cancel_consumer(queue, destination=[worker_name], reply=reply, timeout=timeout)
        if answer:
            replies.extend(answer)
    return replies


def node_removal_finish(*, node_id: int) -> bool:
    """Confirm the worker left the pool's queues; Deleting → Deleted once no task holds the node.

    Returns True when done, False when tasks still hold the node (the caller retries later).
    """
    node = Node.objects.select_related("pool").filter(pk=node_id).first()
    if node is None or node.state != NodeState.DELETING:
        return True
    replies = cancel_pool_consumers(
        worker_name=node.worker_name, queues=[node.pool.queue_name, node.queue_name], reply=True
    )
    logger.info("node %s: worker %s answered the cancel: %s", node.name, node.worker_name, replies or "no reply")
    if busy_node_ids([node.pk]):
        return False
    Node.objects.filter(pk=node.pk, state=NodeState.DELETING).update(state=NodeState.DELETED)
    return True


def node_removal_give_up(*, node_id: int) -> None:
    """Tasks never let go (their runners are gone and the poller marks them Lost): the node is Deleted anyway."""
    Node.objects.filter(pk=node_id, state=NodeState.DELETING).update(state=NodeState.DELETED)


# --- node billing ------------------------------------------------------------------------


@transaction.atomic
def node_billing_update(*, actor, node: Node, subscription_end: datetime | None, legacy: bool) -> Node:
    """Set a yearly/monthly node's own subscription end (renewal) and its legacy flag."""
    node = Node.objects.select_for_update(of=("self",)).select_related("pool").get(pk=node.pk)
    if node.is_removed:
        raise ValidationError(_("Node “%(node)s” has already left its pool.") % {"node": node.name})
    if node.pool.billing_mode != BillingMode.YEARLY_MONTHLY:
        raise ValidationError(
            _(
                "Subscription dates and the legacy flag apply to nodes of yearly/monthly pools only; “%(pool)s” is pay-per-use."
            )
            % {"pool": node.pool.name}
        )
    start = node.subscription_start or node.registered_at
    if subscription_end is not None and start is not None and subscription_end <= start:
        raise ValidationError(
            {
                "subscription_end": _("The subscription must end after it started (%(start)s).")
                % {"start": timezone.localtime(start).strftime("%Y-%m-%d %H:%M")}
            }
        )
    before = {"subscription_end": _iso(node.subscription_end), "legacy": node.legacy}
    node.subscription_end = subscription_end
    node.legacy = legacy
    node.save(update_fields=["subscription_end", "legacy"])
    audit_record(
        actor=actor,
        action="node.billing_update",
        obj=node,
        before=before,
        after={"subscription_end": _iso(subscription_end), "legacy": legacy},
    )
    return node


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# --- pools ---------------------------------------------------------------------------------


def _validate_pool_billing(*, billing_mode: str, hourly_price, grace_period_days, subscription_months) -> None:
    errors = {}
    if billing_mode not in BillingMode.values:
        errors["billing_mode"] = _("Choose pay-per-use or yearly/monthly.")
    if billing_mode == BillingMode.PAY_PER_USE:
        if hourly_price is None:
            errors["hourly_price"] = _("A pay-per-use pool needs a price per node-hour (0 is allowed).")
        elif hourly_price < 0:
            errors["hourly_price"] = _("The price per node-hour cannot be negative.")
    if billing_mode == BillingMode.YEARLY_MONTHLY:
        if grace_period_days is None or not 0 <= grace_period_days <= 365:
            errors["grace_period_days"] = _("The grace period is 0 to 365 days.")
        if subscription_months is None or not 1 <= subscription_months <= 60:
            errors["subscription_months"] = _("A subscription lasts 1 to 60 months (12 = yearly).")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def pool_create(
    *,
    actor,
    name: str,
    billing_mode: str,
    description: str = "",
    hourly_price=None,
    grace_period_days: int = 15,
    subscription_months: int = 1,
) -> Pool:
    name = name.strip()
    if Pool.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": _("A pool named “%(name)s” already exists.") % {"name": name}})
    _validate_pool_billing(
        billing_mode=billing_mode,
        hourly_price=hourly_price,
        grace_period_days=grace_period_days,
        subscription_months=subscription_months,
    )
    pool = Pool(
        name=name,
        description=description,
        billing_mode=billing_mode,
        hourly_price=hourly_price if billing_mode == BillingMode.PAY_PER_USE else None,
        grace_period_days=grace_period_days if grace_period_days is not None else 15,
        subscription_months=subscription_months if subscription_months is not None else 1,
        # The first pool is where jobs go when they name none.
        is_default=not Pool.objects.filter(is_default=True).exists(),
    )
    pool.full_clean()
    pool.save()
    audit_record(actor=actor, action="pool.create", obj=pool, after=_pool_facts(pool))
    return pool


@transaction.atomic
def pool_update(
    *, actor, pool: Pool, description: str, billing_mode: str, hourly_price, grace_period_days, subscription_months
) -> Pool:
    pool = Pool.objects.select_for_update().get(pk=pool.pk)
    if billing_mode != pool.billing_mode and Node.objects.members().filter(pool=pool).exists():
        raise ValidationError(
            {"billing_mode": _("The billing mode of a pool with nodes cannot change: remove its nodes first.")}
        )
    _validate_pool_billing(
        billing_mode=billing_mode,
        hourly_price=hourly_price,
        grace_period_days=grace_period_days,
        subscription_months=subscription_months,
    )
    before = _pool_facts(pool)
    pool.description = description
    pool.billing_mode = billing_mode
    pool.hourly_price = hourly_price if billing_mode == BillingMode.PAY_PER_USE else None
    if grace_period_days is not None:
        pool.grace_period_days = grace_period_days
    if subscription_months is not None:
        pool.subscription_months = subscription_months
    pool.full_clean()
    pool.save()
    audit_record(actor=actor, action="pool.update", obj=pool, before=before, after=_pool_facts(pool))
    return pool


def _pool_facts(pool: Pool) -> dict:
    return {
        "name": pool.name,
        "billing_mode": pool.billing_mode,
        "hourly_price": str(pool.hourly_price) if pool.hourly_price is not None else None,
        "grace_period_days": pool.grace_period_days,
        "subscription_months": pool.subscription_months,
        "is_default": pool.is_default,
    }


@transaction.atomic
def pool_delete(*, actor, pool: Pool, confirmation: str) -> None:
    """Delete a pool (typed DELETE): never the last one, never while jobs run or wait in it.

    Its idle nodes leave with it: their workers stop consuming the pool's queue and,
    the pool being gone, are refused if they register again. Node rows go with the
    pool (a task keeps its node's name); the audit entry keeps what the pool was.
    """
    require_typed_delete(confirmation, field="confirmation")
    # Lock every pool: "not the last one" must hold against a concurrent delete of another pool.
    pools = list(Pool.objects.select_for_update().order_by("pk"))
    pool = next((p for p in pools if p.pk == pool.pk), None)
    if pool is None:
        raise ValidationError(_("This pool no longer exists."), code="pool_gone")
    if len(pools) == 1:
        raise ValidationError(
            _("“%(pool)s” is the last pool and cannot be deleted: jobs and workers need at least one pool.")
            % {"pool": pool.name},
            code="last_pool",
        )
    nodes = list(Node.objects.select_for_update(of=("self",)).filter(pool=pool).order_by("pk"))
    nodes_by_id = {n.pk: n for n in nodes}
    busy_nodes = sorted(
        f"{nodes_by_id[node_id].name} ({o.owner_label})"
        for node_id, occupants in occupants_by_node(list(nodes_by_id)).items()
        for o in occupants
    )
    if busy_nodes:
        raise ValidationError(
            _("Pool “%(pool)s” has nodes with running jobs: %(nodes)s. Stop the jobs or remove those nodes first.")
            % {"pool": pool.name, "nodes": ", ".join(sorted(set(busy_nodes)))},
            code="busy",
        )
    waiting = waiting_in_pool(pool)
    if waiting:
        raise ValidationError(
            _("Pool “%(pool)s” still has jobs waiting to run in it: %(jobs)s. Stop them first.")
            % {"pool": pool.name, "jobs": ", ".join(waiting)},
            code="busy",
        )
    member_workers = [
        (n.worker_name, [pool.queue_name, node_queue_name(n.name)])
        for n in nodes
        if n.state in MEMBER_STATES and n.removed_at is None
    ]
    facts = _pool_facts(pool) | {"nodes": [n.name for n in nodes]}
    was_default, pool_pk = pool.is_default, pool.pk
    Node.objects.filter(pk__in=[n.pk for n in nodes]).delete()
    pool.delete()
    if was_default:
        # Jobs that name no pool need one: the oldest remaining pool takes over.
        # A pool of registered nodes first: notebooks and services cannot run on a Ray pool.
        heir = (
            Pool.objects.exclude(pk=pool_pk)
            .order_by(Case(When(kind=PoolKind.NODES, then=0), default=1), "created_at", "pk")
            .first()
        )
        Pool.objects.filter(pk=heir.pk).update(is_default=True)
        facts["new_default"] = heir.name
    audit_record(
        actor=actor,
        action="pool.delete",
        object_type="pool",
        object_id=str(pool_pk),
        object_repr=facts["name"],
        before=facts,
    )

    def tell_workers():
        for worker, queues in member_workers:
            try:
                cancel_pool_consumers(worker_name=worker, queues=queues, reply=False)
            except Exception:
                logger.exception("could not tell worker %s that its pool was deleted", worker)

    transaction.on_commit(tell_workers)
