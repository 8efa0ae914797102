"""A node's billing, worked out from its pool and its own dates whenever it is read.

No job moves a subscription from active to grace to expired, and no job adds up
pay-per-use cost: both are derived here from the rows and the clock, so what a
page shows is right at the moment it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from console.core.money import money
from console.nodepools import rules
from console.nodepools.rules import Action, NodeBilling, Subscription


@dataclass(frozen=True)
class BillingView:
    """What the pages show about a node's billing, and what the rules need."""

    facts: NodeBilling
    start: datetime | None  # when billing started (pay-per-use) / the subscription started
    end: datetime | None  # subscription end (yearly/monthly)
    grace_end: datetime | None  # end + the pool's grace period
    hours: Decimal | None  # pay-per-use node-hours so far
    cost: Decimal | None  # pay-per-use cost so far (None when the pool has no price)
    hourly_price: Decimal | None

    @property
    def subscription(self) -> Subscription:
        return self.facts.subscription

    @property
    def cost_text(self) -> str:
        return money(self.cost)

    @property
    def price_text(self) -> str:
        return money(self.hourly_price)

    @property
    def label(self):
        if self.facts.legacy and self.facts.yearly_monthly:
            return _("Legacy (存量节点)")
        return rules.SUBSCRIPTION_LABELS[self.facts.subscription]

    @property
    def badge(self) -> str:
        if self.facts.legacy and self.facts.yearly_monthly:
            return "muted"
        return rules.SUBSCRIPTION_BADGES[self.facts.subscription]


def node_billing(node, *, now: datetime | None = None) -> BillingView:
    """`node` with its pool loaded; `now` fixed by the caller so one page uses one clock."""
    now = now or timezone.now()
    pool = node.pool
    start = node.subscription_start or node.registered_at
    end = rules.subscription_end(
        billing_mode=pool.billing_mode,
        subscription_start=start,
        subscription_end=node.subscription_end,
        months=pool.subscription_months,
    )
    state = rules.subscription_state(
        billing_mode=pool.billing_mode, end=end, grace_period_days=pool.grace_period_days, now=now
    )
    facts = NodeBilling(
        name=node.name,
        billing_mode=pool.billing_mode,
        subscription=state,
        legacy=node.legacy,
        removed=node.is_removed,
        end=end,
    )
    hours = cost = None
    if state == Subscription.PAY_PER_USE and start is not None:
        # Billing stops when the node leaves its pool.
        until = node.removed_at or now
        seconds = max(0.0, (until - start).total_seconds())
        hours = (Decimal(seconds) / Decimal(3600)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if pool.hourly_price is not None:
            cost = (Decimal(seconds) / Decimal(3600) * pool.hourly_price).quantize(
                Decimal("0.01"), rounding=ROUND_HALF_UP
            )
    grace_end = end + timedelta(days=pool.grace_period_days) if end is not None and facts.yearly_monthly else None
    return BillingView(
        facts=facts,
        start=start,
        end=end if facts.yearly_monthly else None,
        grace_end=grace_end,
        hours=hours,
        cost=cost,
        hourly_price=pool.hourly_price,
    )


def _day(moment: datetime | None) -> str:
    return date_format(timezone.localtime(moment), "Y-m-d H:i") if moment else "—"


def billing_effect(view: BillingView, action: Action, *, now: datetime) -> str:
    """One sentence for the preview: what the action does to the node's bill."""
    facts = view.facts
    if not facts.yearly_monthly:
        if view.cost is None:
            return _(
                "Billing by the hour stops now after %(hours)s node-hours (this pool has no hourly price set)."
            ) % {"hours": view.hours if view.hours is not None else "0"}
        return _("Billing by the hour stops now: %(hours)s node-hours at %(price)s per hour, %(cost)s so far.") % {
            "hours": view.hours,
            "price": view.price_text,
            "cost": view.cost_text,
        }
    if facts.legacy:
        return _("Legacy node (存量节点): released now; its yearly/monthly subscription is not renewed.")
    if action == Action.UNSUBSCRIBE:
        days_left = max(0, (view.end - now).days) if view.end else 0
        return _(
            "The subscription ends now instead of on %(end)s: the remaining %(days)s days are unsubscribed (退订)."
        ) % {"end": _day(view.end), "days": days_left}
    if facts.subscription == Subscription.GRACE:
        return _(
            "The subscription expired on %(end)s; the node is released now instead of at the end of its grace "
            "period (%(grace_end)s)."
        ) % {"end": _day(view.end), "grace_end": _day(view.grace_end)}
    return _(
        "The subscription expired on %(end)s and its grace period ended on %(grace_end)s; the node is released now."
    ) % {"end": _day(view.end), "grace_end": _day(view.grace_end)}
