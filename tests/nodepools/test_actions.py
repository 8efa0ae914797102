"""Delete / Unsubscribe / Release for real: the node leaves, its jobs stop with the reason, all or nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from console.audit.models import AuditEntry
from console.nodepools import actions
from console.nodepools.billing import node_billing
from console.nodepools.models import BillingMode, Node, NodeState, Pool
from console.nodepools.services import NodeFacts, NodeRegistrationRefused, node_heartbeat, node_register
from console.training.models import TrainingJob, TrainingTask
from console.training.phases import Phase, TaskStatus

REASON = "node released by an administrator"


def leave(actor, pool, action, *nodes, scope="single", confirmation=""):
    return actions.nodes_leave_pool(
        actor=actor,
        pool=pool,
        action=action,
        scope=scope,
        node_ids=[str(n.pk) for n in nodes],
        confirmation=confirmation,
    )


def unchanged(*nodes):
    for node in nodes:
        fresh = Node.objects.get(pk=node.pk)
        assert fresh.state == node.state and fresh.removed_at is None, fresh.name


def message_of(excinfo) -> str:
    return " ".join(excinfo.value.messages)


# --- what an action does ---------------------------------------------------------------------


def test_it_deletes_a_pay_per_use_node_and_stops_its_job_with_the_reason(
    pools, site_admin, make_running_job, control_calls, django_capture_on_commit_callbacks
):
    ppu, _ym, nodes = pools
    job = make_running_job(nodes["p1"])
    with django_capture_on_commit_callbacks(execute=True):
        left = leave(site_admin, ppu, "delete", nodes["p1"], confirmation="DELETE")
    assert [n.name for n in left] == ["p1"]
    node = Node.objects.get(pk=nodes["p1"].pk)
    assert node.state == NodeState.DELETING
    assert node.removed_at is not None and node.removed_by == site_admin
    assert node.removed_reason == "deleted by root"
    job.refresh_from_db()
    assert job.phase == Phase.TERMINATING
    assert job.phase_reason == REASON
    task = TrainingTask.objects.get(job=job)
    assert task.stop_requested and task.stop_reason == REASON
    # The worker is told to stop consuming the pool's queue and its node queue; then the finish task runs.
    assert control_calls["cancel"] == [("p1@host", ("pool.ondemand", "node.p1"))]
    assert control_calls["finish"] == [node.pk]
    entry = AuditEntry.objects.get(action="node.delete")
    assert entry.object_repr == "p1" and entry.actor == site_admin
    assert entry.after["jobs_stopped"] == [f"train-1 ({job.uuid})"]
    assert "Billing by the hour stops now" in entry.after["billing"]
    # The other node is untouched.
    unchanged(nodes["p2"])


def test_it_unsubscribes_an_active_yearly_monthly_node(pools, site_admin, control_calls):
    _ppu, ym, nodes = pools
    leave(site_admin, ym, "unsubscribe", nodes["active"])
    assert Node.objects.get(pk=nodes["active"].pk).state == NodeState.DELETING
    assert AuditEntry.objects.filter(action="node.unsubscribe", object_repr="active").exists()


def test_it_releases_a_node_in_its_grace_period_alone(pools, site_admin, control_calls):
    _ppu, ym, nodes = pools
    leave(site_admin, ym, "release", nodes["grace"])
    assert Node.objects.get(pk=nodes["grace"].pk).removed_reason == "released by root"
    assert AuditEntry.objects.filter(action="node.release", object_repr="grace").exists()


def test_it_deletes_a_legacy_yearly_monthly_node(pools, site_admin, control_calls):
    _ppu, ym, nodes = pools
    leave(site_admin, ym, "delete", nodes["legacy"], confirmation="DELETE")
    assert Node.objects.get(pk=nodes["legacy"].pk).state == NodeState.DELETING


def test_it_batch_deletes_pay_per_use_nodes(pools, site_admin, control_calls, make_running_job):
    ppu, _ym, nodes = pools
    job = make_running_job(nodes["p1"], nodes["p2"], name="two-node")
    left = leave(site_admin, ppu, "delete", nodes["p1"], nodes["p2"], scope="batch", confirmation="DELETE")
    assert sorted(n.name for n in left) == ["p1", "p2"]
    assert set(Node.objects.filter(pool=ppu).values_list("state", flat=True)) == {NodeState.DELETING}
    job.refresh_from_db()
    assert job.phase == Phase.TERMINATING and job.phase_reason == REASON
    assert AuditEntry.objects.filter(action="node.delete").count() == 2


def test_it_batch_unsubscribes(make_pool, make_node, site_admin, control_calls):
    ym = make_pool("ym", BillingMode.YEARLY_MONTHLY)
    a, b = make_node(ym, "a"), make_node(ym, "b")
    leave(site_admin, ym, "unsubscribe", a, b, scope="batch")
    assert set(Node.objects.filter(pool=ym).values_list("state", flat=True)) == {NodeState.DELETING}


# --- bad input: a clear message, nothing changed ------------------------------------------------


@pytest.mark.parametrize("word", ["", "delete", "DELET", "yes"])
def test_a_wrong_confirmation_word_changes_nothing(pools, site_admin, control_calls, word):
    ppu, _ym, nodes = pools
    with pytest.raises(ValidationError) as excinfo:
        leave(site_admin, ppu, "delete", nodes["p1"], confirmation=word)
    assert excinfo.value.message_dict == {"confirmation": ["Type DELETE (in capitals) to confirm."]}
    unchanged(nodes["p1"])
    assert control_calls["cancel"] == [] and not AuditEntry.objects.filter(action__startswith="node.").exists()


def test_unsubscribe_on_a_pay_per_use_node_is_refused(pools, site_admin, control_calls):
    ppu, _ym, nodes = pools
    with pytest.raises(ValidationError) as excinfo:
        leave(site_admin, ppu, "unsubscribe", nodes["p1"])
    assert "“p1” is in a pay-per-use pool: use Delete." in message_of(excinfo)
    unchanged(nodes["p1"])


def test_release_on_an_active_subscription_is_refused(pools, site_admin, control_calls):
    _ppu, ym, nodes = pools
    with pytest.raises(ValidationError) as excinfo:
        leave(site_admin, ym, "release", nodes["active"])
    assert "the subscription of “active” is active until" in message_of(excinfo)
    unchanged(nodes["active"])


def test_delete_on_a_regular_yearly_monthly_node_is_refused(pools, site_admin, control_calls):
    _ppu, ym, nodes = pools
    with pytest.raises(ValidationError) as excinfo:
        leave(site_admin, ym, "delete", nodes["active"], confirmation="DELETE")
    assert "“active” has an active yearly/monthly subscription" in message_of(excinfo)
    unchanged(nodes["active"])


def test_a_batch_release_is_refused(pools, site_admin, control_calls):
    _ppu, ym, nodes = pools
    with pytest.raises(ValidationError) as excinfo:
        leave(site_admin, ym, "release", nodes["grace"], scope="batch")
    assert message_of(excinfo) == (
        "Batch release of nodes in the grace period is not supported: release each node from its row."
    )
    unchanged(nodes["grace"])


def test_a_mixed_batch_is_refused_whole_naming_the_nodes(pools, site_admin, control_calls, make_running_job):
    _ppu, ym, nodes = pools
    job = make_running_job(nodes["active"])
    with pytest.raises(ValidationError) as excinfo:
        leave(site_admin, ym, "unsubscribe", nodes["active"], nodes["grace"], nodes["legacy"], scope="batch")
    message = message_of(excinfo)
    assert message.startswith("Nothing was changed: the batch is refused as a whole.")
    assert "“grace” expired on" in message and "“legacy” is a legacy node" in message
    assert "“active”" not in message
    unchanged(nodes["active"], nodes["grace"], nodes["legacy"])
    job.refresh_from_db()
    assert job.phase == Phase.RUNNING


def test_an_unknown_node_id_is_refused(pools, site_admin, control_calls):
    ppu, ym, nodes = pools
    with pytest.raises(ValidationError) as excinfo:
        actions.nodes_leave_pool(
            actor=site_admin,
            pool=ppu,
            action="delete",
            scope="batch",
            node_ids=[nodes["p1"].pk, 999999],
            confirmation="DELETE",
        )
    assert "No node with id 999999 in pool ondemand" in message_of(excinfo)
    unchanged(nodes["p1"])
    # A node of another pool is unknown here too.
    with pytest.raises(ValidationError):
        leave(site_admin, ppu, "unsubscribe", nodes["active"])
    unchanged(nodes["active"])


@pytest.mark.parametrize("bad", [["abc"], ["1; DROP TABLE"], []])
def test_malformed_node_ids_are_refused(pools, site_admin, control_calls, bad):
    ppu, _ym, _nodes = pools
    with pytest.raises(ValidationError):
        actions.nodes_leave_pool(
            actor=site_admin, pool=ppu, action="delete", scope="single", node_ids=bad, confirmation="DELETE"
        )


def test_an_unknown_action_is_refused(pools, site_admin, control_calls):
    ppu, _ym, nodes = pools
    with pytest.raises(ValidationError) as excinfo:
        leave(site_admin, ppu, "format-disk", nodes["p1"])
    assert "Unknown action" in message_of(excinfo)
    unchanged(nodes["p1"])


def test_a_row_action_takes_exactly_one_node(pools, site_admin, control_calls):
    ppu, _ym, nodes = pools
    with pytest.raises(ValidationError):
        leave(site_admin, ppu, "delete", nodes["p1"], nodes["p2"], scope="single", confirmation="DELETE")
    unchanged(nodes["p1"], nodes["p2"])


def test_acting_twice_on_a_node_says_it_already_left(pools, site_admin, control_calls):
    ppu, _ym, nodes = pools
    leave(site_admin, ppu, "delete", nodes["p1"], confirmation="DELETE")
    with pytest.raises(ValidationError) as excinfo:
        leave(site_admin, ppu, "delete", nodes["p1"], confirmation="DELETE")
    assert message_of(excinfo) == "Node “p1” has already left its pool; there is nothing to delete."
    assert AuditEntry.objects.filter(action="node.delete").count() == 1


# --- no rejoining, and finishing --------------------------------------------------------------


def facts():
    return NodeFacts(
        hostname="h",
        address="127.0.0.1",
        cpu_arch="x86_64",
        cpu_cores=4,
        memory_bytes=8 * 1024**3,
        disk_bytes=50 * 1024**3,
    )


def test_a_removed_node_does_not_rejoin_when_its_worker_restarts(pools, site_admin, control_calls):
    ppu, _ym, nodes = pools
    leave(site_admin, ppu, "delete", nodes["p1"], confirmation="DELETE")
    # Its heartbeat now answers "removed" (the worker's agent then cancels its pool consumers)...
    assert node_heartbeat(node_id=nodes["p1"].pk) is False
    # ...and registering again (a restarted worker) is refused.
    with pytest.raises(NodeRegistrationRefused):
        node_register(name="p1", pool_name="ondemand", worker_name="p1@host", facts=facts())
    actions.node_removal_finish(node_id=nodes["p1"].pk)
    with pytest.raises(NodeRegistrationRefused):
        node_register(name="p1", pool_name="ondemand", worker_name="p1@host", facts=facts())
    assert Node.objects.get(pk=nodes["p1"].pk).state == NodeState.DELETED


def test_finishing_waits_for_the_nodes_tasks_to_end(pools, site_admin, control_calls, make_running_job):
    ppu, _ym, nodes = pools
    job = make_running_job(nodes["p1"])
    leave(site_admin, ppu, "delete", nodes["p1"], confirmation="DELETE")
    assert actions.node_removal_finish(node_id=nodes["p1"].pk) is False
    assert Node.objects.get(pk=nodes["p1"].pk).state == NodeState.DELETING
    # The runner killed the script and reported: the node is free, the removal completes.
    TrainingTask.objects.filter(job=job).update(status=TaskStatus.TERMINATED, finished_at=timezone.now())
    assert actions.node_removal_finish(node_id=nodes["p1"].pk) is True
    assert Node.objects.get(pk=nodes["p1"].pk).state == NodeState.DELETED
    # History stays: the node row, the job and its task with the node's name.
    assert TrainingTask.objects.get(job=job).node_name == "p1"
    assert TrainingJob.objects.filter(pk=job.pk).exists()


# --- billing derived when read --------------------------------------------------------------------


def test_pay_per_use_cost_is_worked_out_when_read(make_pool, make_node):
    pool = make_pool("ppu", hourly_price=Decimal("2.5"))
    node = make_node(pool, "n")
    node.subscription_start = timezone.now() - timedelta(hours=4)
    view = node_billing(node, now=node.subscription_start + timedelta(hours=4))
    assert view.hours == Decimal("4.00") and view.cost == Decimal("10.00")
    # Billing stopped when it left the pool.
    node.removed_at = node.subscription_start + timedelta(hours=1)
    assert node_billing(node, now=node.subscription_start + timedelta(hours=9)).cost == Decimal("2.50")


def test_yearly_monthly_state_moves_with_the_clock_alone(make_pool, make_node):
    pool = make_pool("ym", BillingMode.YEARLY_MONTHLY, grace_period_days=3)
    end = timezone.now() + timedelta(days=1)
    node = make_node(pool, "n", subscription_end=end)
    assert node_billing(node, now=end - timedelta(hours=1)).subscription == "active"
    assert node_billing(node, now=end + timedelta(hours=1)).subscription == "grace"
    assert node_billing(node, now=end + timedelta(days=3)).subscription == "expired"


def test_without_its_own_end_a_node_is_subscribed_for_the_pools_term(make_pool, make_node):
    pool = make_pool("ym", BillingMode.YEARLY_MONTHLY, subscription_months=12)
    start = timezone.now() - timedelta(days=400)
    node = make_node(pool, "n", subscription_start=start)
    view = node_billing(node)
    assert view.end.year == start.year + 1 and view.subscription in ("grace", "expired")


def test_billing_update_renews_and_flags_legacy(pools, site_admin):
    _ppu, ym, nodes = pools
    new_end = timezone.now() + timedelta(days=365)
    actions.node_billing_update(actor=site_admin, node=nodes["grace"], subscription_end=new_end, legacy=False)
    node = Node.objects.select_related("pool").get(pk=nodes["grace"].pk)
    assert node_billing(node).subscription == "active"
    actions.node_billing_update(actor=site_admin, node=node, subscription_end=new_end, legacy=True)
    assert Node.objects.get(pk=node.pk).legacy
    assert AuditEntry.objects.filter(action="node.billing_update").count() == 2


def test_billing_update_refuses_pay_per_use_nodes_and_ends_before_start(pools, site_admin):
    _ppu, _ym, nodes = pools
    with pytest.raises(ValidationError):
        actions.node_billing_update(actor=site_admin, node=nodes["p1"], subscription_end=None, legacy=True)
    with pytest.raises(ValidationError) as excinfo:
        actions.node_billing_update(
            actor=site_admin, node=nodes["active"], subscription_end=timezone.now() - timedelta(days=50), legacy=False
        )
    assert "subscription_end" in excinfo.value.message_dict


# --- preview ---------------------------------------------------------------------------------------


def test_the_preview_lists_nodes_jobs_and_billing_effect(pools, make_running_job):
    _ppu, ym, nodes = pools
    job = make_running_job(nodes["active"])
    preview = actions.action_preview(pool=ym, action="unsubscribe", scope="single", node_ids=[nodes["active"].pk])
    assert preview.allowed and not preview.needs_typed_confirmation
    assert [(o.kind, o.owner_label) for o in preview.jobs] == [("training", job.name)]
    assert str(job.uuid) in preview.jobs[0].url
    assert "The subscription ends now instead of on" in preview.items[0].effect


def test_the_preview_of_a_mixed_batch_names_each_refusal(pools):
    ppu, ym, nodes = pools
    preview = actions.action_preview(
        pool=ym, action="unsubscribe", scope="batch", node_ids=[nodes["active"].pk, nodes["grace"].pk]
    )
    assert not preview.allowed
    assert len(preview.refusals) == 1 and "“grace”" in preview.refusals[0]
    release = actions.action_preview(pool=ym, action="release", scope="batch", node_ids=[nodes["grace"].pk])
    assert release.refusals == [
        "Batch release of nodes in the grace period is not supported: release each node from its row."
    ]


# --- pools --------------------------------------------------------------------------------------------


def test_it_creates_pools_with_their_billing(site_admin):
    pool = actions.pool_create(actor=site_admin, name="gpu-a", billing_mode="pay_per_use", hourly_price=Decimal("3"))
    assert pool.is_default  # the first pool takes jobs that name none
    ym = actions.pool_create(
        actor=site_admin, name="ym-a", billing_mode="yearly_monthly", grace_period_days=7, subscription_months=12
    )
    assert not ym.is_default and ym.hourly_price is None and ym.grace_period_days == 7
    assert AuditEntry.objects.filter(action="pool.create").count() == 2


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"name": "x", "billing_mode": "pay_per_use", "hourly_price": None}, "hourly_price"),
        ({"name": "x", "billing_mode": "pay_per_use", "hourly_price": Decimal("-1")}, "hourly_price"),
        ({"name": "x", "billing_mode": "yearly_monthly", "grace_period_days": 400}, "grace_period_days"),
        ({"name": "x", "billing_mode": "yearly_monthly", "subscription_months": 0}, "subscription_months"),
        ({"name": "bad name!", "billing_mode": "pay_per_use", "hourly_price": Decimal("1")}, "name"),
        ({"name": "x", "billing_mode": "free", "hourly_price": Decimal("1")}, "billing_mode"),
    ],
)
def test_pool_create_refuses_bad_input(site_admin, fields, field):
    with pytest.raises(ValidationError) as excinfo:
        actions.pool_create(actor=site_admin, **fields)
    assert field in excinfo.value.message_dict
    assert not Pool.objects.exists()


def test_pool_names_are_unique(site_admin, make_pool):
    make_pool("alpha")
    with pytest.raises(ValidationError) as excinfo:
        actions.pool_create(actor=site_admin, name="ALPHA", billing_mode="pay_per_use", hourly_price=Decimal("1"))
    assert "already exists" in excinfo.value.message_dict["name"][0]


def test_the_last_pool_cannot_be_deleted(site_admin, make_pool):
    pool = make_pool("only")
    with pytest.raises(ValidationError) as excinfo:
        actions.pool_delete(actor=site_admin, pool=pool, confirmation="DELETE")
    assert "is the last pool and cannot be deleted" in " ".join(excinfo.value.messages)
    assert Pool.objects.filter(pk=pool.pk).exists()


def test_a_pool_whose_nodes_run_jobs_cannot_be_deleted(pools, site_admin, make_running_job):
    ppu, _ym, nodes = pools
    make_running_job(nodes["p2"], name="busy-job")
    with pytest.raises(ValidationError) as excinfo:
        actions.pool_delete(actor=site_admin, pool=ppu, confirmation="DELETE")
    assert "p2 (busy-job)" in " ".join(excinfo.value.messages)
    assert Pool.objects.filter(pk=ppu.pk).exists()


def test_pool_delete_needs_the_typed_word(pools, site_admin):
    ppu, _ym, _nodes = pools
    with pytest.raises(ValidationError) as excinfo:
        actions.pool_delete(actor=site_admin, pool=ppu, confirmation="delete")
    assert "confirmation" in excinfo.value.message_dict


def test_deleting_a_pool_sends_its_idle_nodes_away(
    pools, site_admin, control_calls, django_capture_on_commit_callbacks
):
    ppu, ym, _nodes = pools
    Pool.objects.filter(pk=ppu.pk).update(is_default=True)
    with django_capture_on_commit_callbacks(execute=True):
        actions.pool_delete(actor=site_admin, pool=ppu, confirmation="DELETE")
    assert not Pool.objects.filter(name="ondemand").exists()
    assert not Node.objects.filter(name__in=["p1", "p2"]).exists()
    assert sorted(control_calls["cancel"]) == [
        ("p1@host", ("pool.ondemand", "node.p1")),
        ("p2@host", ("pool.ondemand", "node.p2")),
    ]
    assert Pool.objects.get(pk=ym.pk).is_default  # jobs that name no pool still have one
    entry = AuditEntry.objects.get(action="pool.delete")
    assert entry.before["nodes"] == ["p1", "p2"]
    # A worker of the deleted pool that restarts is refused (the pool is gone).
    with pytest.raises(NodeRegistrationRefused):
        node_register(name="p1", pool_name="ondemand", worker_name="p1@host", facts=facts())


def test_a_pool_with_nodes_keeps_its_billing_mode(pools, site_admin):
    ppu, _ym, _nodes = pools
    with pytest.raises(ValidationError) as excinfo:
        actions.pool_update(
            actor=site_admin,
            pool=ppu,
            description="",
            billing_mode="yearly_monthly",
            hourly_price=None,
            grace_period_days=15,
            subscription_months=1,
        )
    assert "billing_mode" in excinfo.value.message_dict
    actions.pool_update(
        actor=site_admin,
        pool=ppu,
        description="cheap",
        billing_mode="pay_per_use",
        hourly_price=Decimal("1.25"),
        grace_period_days=15,
        subscription_months=1,
    )
    assert Pool.objects.get(pk=ppu.pk).hourly_price == Decimal("1.25")


def test_the_default_passes_to_a_pool_of_nodes_before_an_older_ray_pool(pools, site_admin):
    from console.nodepools.models import PoolKind

    ppu, ym, _nodes = pools
    ray = Pool.objects.create(name="old-ray", kind=PoolKind.RAY)
    Pool.objects.filter(pk=ray.pk).update(created_at=ppu.created_at.replace(year=2000))
    Pool.objects.filter(pk=ppu.pk).update(is_default=True)
    Node.objects.filter(pool=ppu).delete()
    actions.pool_delete(actor=site_admin, pool=ppu, confirmation="DELETE")
    assert Pool.objects.get(pk=ym.pk).is_default and not Pool.objects.get(pk=ray.pk).is_default
