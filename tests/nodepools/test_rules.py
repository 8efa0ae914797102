"""The seed's 删除/退订/释放节点 rules as a table: billing mode × derived state × action × single/batch."""

from datetime import UTC, datetime, timedelta

import pytest

from console.nodepools import rules
from console.nodepools.rules import Action, NodeBilling, Scope, Subscription

END = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
PPU, YM = rules.PAY_PER_USE, rules.YEARLY_MONTHLY

OK = None
PPU_UNSUBSCRIBE = (
    "Unsubscribe applies to nodes of yearly/monthly pools only; “n1” is in a pay-per-use pool: use Delete."
)
PPU_RELEASE = (
    "Release applies to yearly/monthly nodes in the grace period only; “n1” is in a pay-per-use pool: use Delete."
)
BATCH_RELEASE = "Batch release of nodes in the grace period is not supported: release each node from its row."
LEGACY_UNSUBSCRIBE = "“n1” is a legacy node (存量节点): it is released with Delete, not unsubscribe."
LEGACY_RELEASE = "“n1” is a legacy node (存量节点): it is released with Delete, not release."
ACTIVE_DELETE = (
    "Delete applies to pay-per-use nodes and legacy nodes; “n1” has an active yearly/monthly subscription "
    "(until 2026-01-31): use Unsubscribe."
)
ACTIVE_RELEASE = (
    "Release applies only to nodes whose subscription expired and is in the grace period; the subscription of "
    "“n1” is active until 2026-01-31: use Unsubscribe."
)
EXPIRED_DELETE = (
    "Delete applies to pay-per-use nodes and legacy nodes; the yearly/monthly subscription of “n1” expired on "
    "2026-01-31: use Release."
)
GRACE_UNSUBSCRIBE = (
    "Unsubscribe applies only to subscriptions that have not expired; the subscription of “n1” expired on "
    "2026-01-31 and is in the grace period: use Release."
)
EXPIRED_UNSUBSCRIBE = (
    "Unsubscribe applies only to subscriptions that have not expired; the subscription of “n1” expired on "
    "2026-01-31 and its grace period is over: use Release."
)


def gone(action):
    return f"Node “n1” has already left its pool; there is nothing to {action}."


D, U, R = Action.DELETE, Action.UNSUBSCRIBE, Action.RELEASE
S, B = Scope.SINGLE, Scope.BATCH

# (billing mode, derived state, legacy, removed) → {(action, scope): expected}
TABLE = [
    # 按需计费: Delete, row or batch; nothing else.
    ((PPU, Subscription.PAY_PER_USE, False, False), {
        (D, S): OK, (D, B): OK,
        (U, S): PPU_UNSUBSCRIBE, (U, B): PPU_UNSUBSCRIBE,
        (R, S): PPU_RELEASE, (R, B): BATCH_RELEASE,
    }),
    # 包年/包月, not expired: Unsubscribe, row or batch (支持批量退订).
    ((YM, Subscription.ACTIVE, False, False), {
        (D, S): ACTIVE_DELETE, (D, B): ACTIVE_DELETE,
        (U, S): OK, (U, B): OK,
        (R, S): ACTIVE_RELEASE, (R, B): BATCH_RELEASE,
    }),
    # 包年/包月, expired and in the grace period: Release from the row only (不支持批量释放).
    ((YM, Subscription.GRACE, False, False), {
        (D, S): EXPIRED_DELETE, (D, B): EXPIRED_DELETE,
        (U, S): GRACE_UNSUBSCRIBE, (U, B): GRACE_UNSUBSCRIBE,
        (R, S): OK, (R, B): BATCH_RELEASE,
    }),
    # Past the grace period too (the seed is silent): still Release, row only.
    ((YM, Subscription.EXPIRED, False, False), {
        (D, S): EXPIRED_DELETE, (D, B): EXPIRED_DELETE,
        (U, S): EXPIRED_UNSUBSCRIBE, (U, B): EXPIRED_UNSUBSCRIBE,
        (R, S): OK, (R, B): BATCH_RELEASE,
    }),
    # 存量节点 of a yearly/monthly pool: Delete, whatever its dates say.
    ((YM, Subscription.ACTIVE, True, False), {
        (D, S): OK, (D, B): OK,
        (U, S): LEGACY_UNSUBSCRIBE, (U, B): LEGACY_UNSUBSCRIBE,
        (R, S): LEGACY_RELEASE, (R, B): BATCH_RELEASE,
    }),
    ((YM, Subscription.GRACE, True, False), {
        (D, S): OK, (D, B): OK,
        (U, S): LEGACY_UNSUBSCRIBE, (U, B): LEGACY_UNSUBSCRIBE,
        (R, S): LEGACY_RELEASE, (R, B): BATCH_RELEASE,
    }),
    ((YM, Subscription.EXPIRED, True, False), {
        (D, S): OK, (D, B): OK,
        (U, S): LEGACY_UNSUBSCRIBE, (U, B): LEGACY_UNSUBSCRIBE,
        (R, S): LEGACY_RELEASE, (R, B): BATCH_RELEASE,
    }),
]  # fmt: skip
# A node that already left its pool takes no action, whatever its billing.
for _mode, _state, _legacy in [
    (PPU, Subscription.PAY_PER_USE, False),
    (YM, Subscription.ACTIVE, False),
    (YM, Subscription.GRACE, False),
    (YM, Subscription.EXPIRED, False),
    (YM, Subscription.ACTIVE, True),
]:
    TABLE.append(((_mode, _state, _legacy, True), {(a, s): gone(a.value) for a in Action for s in Scope}))

CASES = [
    pytest.param(node, action, scope, expected, id=f"{node[0]}-{node[1]}-{'legacy' if node[2] else 'regular'}"
                 f"{'-removed' if node[3] else ''}-{action}-{scope}")
    for node, outcomes in TABLE
    for (action, scope), expected in outcomes.items()
]  # fmt: skip


def test_the_table_covers_every_combination():
    kinds = {node for node, _ in TABLE}
    assert len(kinds) == 12
    for _node, outcomes in TABLE:
        assert set(outcomes) == {(a, s) for a in Action for s in Scope}


@pytest.mark.parametrize("node,action,scope,expected", CASES)
def test_it_allows_or_refuses_with_the_exact_message(node, action, scope, expected):
    mode, state, legacy, removed = node
    facts = NodeBilling(name="n1", billing_mode=mode, subscription=state, legacy=legacy, removed=removed, end=END)
    assert rules.refusal(facts, action, scope) == expected


@pytest.mark.parametrize(
    "mode,state,legacy,removed,expected",
    [
        (PPU, Subscription.PAY_PER_USE, False, False, Action.DELETE),
        (YM, Subscription.ACTIVE, False, False, Action.UNSUBSCRIBE),
        (YM, Subscription.GRACE, False, False, Action.RELEASE),
        (YM, Subscription.EXPIRED, False, False, Action.RELEASE),
        (YM, Subscription.ACTIVE, True, False, Action.DELETE),
        (YM, Subscription.GRACE, True, False, Action.DELETE),
        (PPU, Subscription.PAY_PER_USE, False, True, None),
        (YM, Subscription.GRACE, False, True, None),
    ],
)
def test_the_row_shows_the_one_action_that_applies(mode, state, legacy, removed, expected):
    facts = NodeBilling(name="n1", billing_mode=mode, subscription=state, legacy=legacy, removed=removed, end=END)
    assert rules.row_action(facts) == expected
    if expected is not None:
        assert rules.refusal(facts, expected, Scope.SINGLE) is None


def test_a_batch_release_is_refused_before_looking_at_the_nodes():
    grace = NodeBilling(name="g1", billing_mode=YM, subscription=Subscription.GRACE, end=END)
    assert rules.batch_refusals([grace], Action.RELEASE) == [BATCH_RELEASE]
    assert rules.batch_refusals([], Action.RELEASE) == [BATCH_RELEASE]


def test_a_mixed_batch_names_every_node_the_action_does_not_apply_to():
    active = NodeBilling(name="a1", billing_mode=YM, subscription=Subscription.ACTIVE, end=END)
    grace = NodeBilling(name="g1", billing_mode=YM, subscription=Subscription.GRACE, end=END)
    legacy = NodeBilling(name="l1", billing_mode=YM, subscription=Subscription.ACTIVE, legacy=True, end=END)
    refusals = rules.batch_refusals([active, grace, legacy], Action.UNSUBSCRIBE)
    assert len(refusals) == 2
    assert "“g1”" in refusals[0] and "grace period" in refusals[0]
    assert "“l1” is a legacy node" in refusals[1]
    assert rules.batch_refusals([active], Action.UNSUBSCRIBE) == []


@pytest.mark.parametrize(
    "mode,has_legacy,expected",
    [
        (PPU, False, [Action.DELETE]),
        # Batch release can only be refused: not offered (issue 15 §6.7), its rule is shown instead.
        (YM, False, [Action.UNSUBSCRIBE]),
        (YM, True, [Action.UNSUBSCRIBE, Action.DELETE]),
    ],
)
def test_the_batch_bar_offers(mode, has_legacy, expected):
    assert rules.batch_actions(mode, has_legacy=has_legacy) == expected
    assert bool(rules.batch_notes(mode)) == (mode == YM)


def test_only_delete_asks_for_the_typed_word():
    assert rules.needs_typed_confirmation(Action.DELETE)
    assert not rules.needs_typed_confirmation(Action.UNSUBSCRIBE)
    assert not rules.needs_typed_confirmation(Action.RELEASE)


@pytest.mark.parametrize(
    "now,expected",
    [
        (END - timedelta(seconds=1), Subscription.ACTIVE),
        (END, Subscription.GRACE),
        (END + timedelta(days=15) - timedelta(seconds=1), Subscription.GRACE),
        (END + timedelta(days=15), Subscription.EXPIRED),
    ],
)
def test_the_state_is_derived_from_the_dates(now, expected):
    assert rules.subscription_state(billing_mode=YM, end=END, grace_period_days=15, now=now) == expected


def test_pay_per_use_has_no_subscription_and_no_end_means_active():
    assert (
        rules.subscription_state(billing_mode=PPU, end=END, grace_period_days=15, now=END) == Subscription.PAY_PER_USE
    )
    assert rules.subscription_state(billing_mode=YM, end=None, grace_period_days=15, now=END) == Subscription.ACTIVE


def test_a_zero_day_grace_period_expires_at_the_end():
    assert rules.subscription_state(billing_mode=YM, end=END, grace_period_days=0, now=END) == Subscription.EXPIRED


@pytest.mark.parametrize(
    "start,months,expected",
    [
        (datetime(2026, 1, 31, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2028, 1, 31, tzinfo=UTC), 1, datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2026, 3, 15, tzinfo=UTC), 12, datetime(2027, 3, 15, tzinfo=UTC)),
        (datetime(2026, 11, 30, tzinfo=UTC), 3, datetime(2027, 2, 28, tzinfo=UTC)),
    ],
)
def test_the_subscription_term_adds_calendar_months(start, months, expected):
    assert rules.add_months(start, months) == expected


def test_the_nodes_own_end_wins_over_the_term():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert rules.subscription_end(billing_mode=YM, subscription_start=start, subscription_end=END, months=12) == END
    assert rules.subscription_end(
        billing_mode=YM, subscription_start=start, subscription_end=None, months=1
    ) == datetime(2026, 2, 1, tzinfo=UTC)
    assert rules.subscription_end(billing_mode=PPU, subscription_start=start, subscription_end=END, months=1) is None
