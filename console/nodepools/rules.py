"""Which node action the console offers, and why it refuses the others (seed: 删除/退订/释放节点).

One pure module, no database: the pool page, the batch bar, the services and any
API ask these functions, so a rule exists once. Inputs are plain facts about a
node (``NodeBilling``); the answer is ``None`` (allowed) or the exact message.

The seed, rule by rule:

* pay-per-use pool (按需计费): 删除 Delete from the row, typed ``DELETE``; batch
  delete (tick rows, "Delete" above the table, typed ``DELETE``).
* yearly/monthly pool (包年/包月), subscription not expired: 退订 Unsubscribe from
  the row; batch unsubscribe is supported.
* yearly/monthly, subscription expired and in the grace period (宽限期): 释放
  Release from the row; batch release is not supported.
* some yearly/monthly nodes show 删除 Delete: they are legacy nodes (存量节点).

Where the seed is silent we decided, and the table test pins it:

* after the grace period the node is "Expired"; Release (single) still applies,
  because releasing is the only way to take such a node out of its pool;
* a legacy node is removed with Delete only (row or batch: the batch bar's
  Delete is the same action as the row's);
* a batch that contains a node the action does not apply to is refused whole,
  naming each such node and why — nothing is half done;
* a node that already left its pool (Deleting/Deleted) takes no action.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from console.core.confirm import CONFIRM_WORD as CONFIRM_WORD  # the forms read the word from here

PAY_PER_USE = "pay_per_use"  # BillingMode.PAY_PER_USE
YEARLY_MONTHLY = "yearly_monthly"  # BillingMode.YEARLY_MONTHLY


class Action(StrEnum):
    DELETE = "delete"  # 删除
    UNSUBSCRIBE = "unsubscribe"  # 退订
    RELEASE = "release"  # 释放


class Scope(StrEnum):
    SINGLE = "single"  # from the row's operation column
    BATCH = "batch"  # ticked rows, the bar above the table


class Subscription(StrEnum):
    """A node's billing state, derived from its dates whenever it is read (no job moves it)."""

    PAY_PER_USE = "pay_per_use"  # no subscription: billed by the hour
    ACTIVE = "active"  # yearly/monthly, before its subscription end
    GRACE = "grace"  # after the end, within the pool's grace period (宽限期)
    EXPIRED = "expired"  # after the grace period too


ACTION_LABELS = {
    Action.DELETE: gettext_lazy("Delete"),
    Action.UNSUBSCRIBE: gettext_lazy("Unsubscribe"),
    Action.RELEASE: gettext_lazy("Release"),
}
# The seed's own words, shown beside the English label.
ACTION_SEED_LABELS = {Action.DELETE: "删除", Action.UNSUBSCRIBE: "退订", Action.RELEASE: "释放"}


def action_display(action: Action) -> str:
    """The action's name with the seed's word beside it; in Chinese the name already is that word."""
    from django.utils.translation import get_language

    label = str(ACTION_LABELS[action])
    if (get_language() or "").lower().startswith("zh"):
        return label
    return f"{label} ({ACTION_SEED_LABELS[action]})"


SUBSCRIPTION_LABELS = {
    Subscription.PAY_PER_USE: gettext_lazy("Pay-per-use"),
    Subscription.ACTIVE: gettext_lazy("Active"),
    Subscription.GRACE: gettext_lazy("Grace period"),
    Subscription.EXPIRED: gettext_lazy("Expired"),
}
SUBSCRIPTION_BADGES = {
    Subscription.PAY_PER_USE: "info",
    Subscription.ACTIVE: "success",
    Subscription.GRACE: "warning",
    Subscription.EXPIRED: "danger",
}


def add_months(moment: datetime, months: int) -> datetime:
    """Same day `months` later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def subscription_end(
    *, billing_mode: str, subscription_start: datetime | None, subscription_end: datetime | None, months: int
) -> datetime | None:
    """The node's own end date; without one, its start plus the pool's subscription term."""
    if billing_mode != YEARLY_MONTHLY:
        return None
    if subscription_end is not None:
        return subscription_end
    if subscription_start is not None:
        return add_months(subscription_start, months)
    return None


def subscription_state(
    *, billing_mode: str, end: datetime | None, grace_period_days: int, now: datetime
) -> Subscription:
    if billing_mode != YEARLY_MONTHLY:
        return Subscription.PAY_PER_USE
    if end is None or now < end:
        return Subscription.ACTIVE
    if now < end + timedelta(days=grace_period_days):
        return Subscription.GRACE
    return Subscription.EXPIRED


@dataclass(frozen=True)
class NodeBilling:
    """The facts about one node the rules look at."""

    name: str
    billing_mode: str
    subscription: Subscription
    legacy: bool = False
    removed: bool = False
    end: datetime | None = None  # subscription end, for the messages

    @property
    def yearly_monthly(self) -> bool:
        return self.billing_mode == YEARLY_MONTHLY


def row_action(node: NodeBilling) -> Action | None:
    """The one action the node's row offers (None: none, it already left its pool)."""
    if node.removed:
        return None
    if not node.yearly_monthly or node.legacy:
        return Action.DELETE
    if node.subscription == Subscription.ACTIVE:
        return Action.UNSUBSCRIBE
    return Action.RELEASE


def _when(moment: datetime | None) -> str:
    return date_format(timezone.localtime(moment), "Y-m-d") if moment else "—"


def refusal(node: NodeBilling, action: Action, scope: Scope) -> str | None:
    """None when `action` applies to `node` from `scope`; otherwise the message saying why not."""
    action, scope = Action(action), Scope(scope)
    name = node.name
    if node.removed:
        return _("Node “%(node)s” has already left its pool; there is nothing to %(action)s.") % {
            "node": name,
            "action": str(ACTION_LABELS[action]).lower(),
        }
    if action == Action.RELEASE and scope == Scope.BATCH:
        # Seed: 不支持批量释放处于宽限期的节点.
        return batch_release_message()

    if not node.yearly_monthly:
        if action == Action.DELETE:
            return None
        if action == Action.UNSUBSCRIBE:
            return _(
                "Unsubscribe applies to nodes of yearly/monthly pools only; “%(node)s” is in a pay-per-use pool: "
                "use Delete."
            ) % {"node": name}
        return _(
            "Release applies to yearly/monthly nodes in the grace period only; “%(node)s” is in a pay-per-use pool: "
            "use Delete."
        ) % {"node": name}

    if node.legacy:
        if action == Action.DELETE:
            return None
        return _("“%(node)s” is a legacy node (存量节点): it is released with Delete, not %(action)s.") % {
            "node": name,
            "action": str(ACTION_LABELS[action]).lower(),
        }

    end = _when(node.end)
    if node.subscription == Subscription.ACTIVE:
        if action == Action.UNSUBSCRIBE:
            return None
        if action == Action.RELEASE:
            return _(
                "Release applies only to nodes whose subscription expired and is in the grace period; "
                "the subscription of “%(node)s” is active until %(end)s: use Unsubscribe."
            ) % {"node": name, "end": end}
        return _(
            "Delete applies to pay-per-use nodes and legacy nodes; “%(node)s” has an active yearly/monthly "
            "subscription (until %(end)s): use Unsubscribe."
        ) % {"node": name, "end": end}

    # Grace period or past it: the subscription has expired.
    if action == Action.RELEASE:
        return None
    if action == Action.UNSUBSCRIBE:
        if node.subscription == Subscription.GRACE:
            return _(
                "Unsubscribe applies only to subscriptions that have not expired; the subscription of “%(node)s” "
                "expired on %(end)s and is in the grace period: use Release."
            ) % {"node": name, "end": end}
        return _(
            "Unsubscribe applies only to subscriptions that have not expired; the subscription of “%(node)s” "
            "expired on %(end)s and its grace period is over: use Release."
        ) % {"node": name, "end": end}
    return _(
        "Delete applies to pay-per-use nodes and legacy nodes; the yearly/monthly subscription of “%(node)s” "
        "expired on %(end)s: use Release."
    ) % {"node": name, "end": end}


def batch_release_message() -> str:
    return _("Batch release of nodes in the grace period is not supported: release each node from its row.")


def batch_refusals(nodes: list[NodeBilling], action: Action) -> list[str]:
    """Why a batch may not run: [] when every node takes `action`; else one message per node that doesn't.

    A batch release is refused as such (the seed does not support it), before looking at the nodes.
    """
    action = Action(action)
    if action == Action.RELEASE:
        return [batch_release_message()]
    return [message for node in nodes if (message := refusal(node, action, Scope.BATCH))]


def batch_actions(billing_mode: str, *, has_legacy: bool) -> list[Action]:
    """The buttons of a pool's batch bar. Release is never one: a batch release can only be
    refused (the seed does not support it), so the bar states the rule instead (``batch_notes``)."""
    if billing_mode != YEARLY_MONTHLY:
        return [Action.DELETE]
    actions = [Action.UNSUBSCRIBE]
    if has_legacy:
        actions.append(Action.DELETE)
    return actions


def batch_notes(billing_mode: str) -> list[str]:
    """The rules the batch bar shows beside its buttons: why Release is not among them."""
    return [batch_release_message()] if billing_mode == YEARLY_MONTHLY else []


def needs_typed_confirmation(action: Action) -> bool:
    """The seed asks to type DELETE for Delete only; Unsubscribe and Release are a click (with a preview)."""
    return Action(action) == Action.DELETE
