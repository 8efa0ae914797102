"""In Chromium, as an administrator does it: row and batch actions with their preview, and the refused batch release."""

import pytest
from playwright.sync_api import expect

from console.nodepools.models import Node, NodeState
from console.training.models import TrainingJob

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def row(page, node):
    return page.locator(f"#node-{node.pk}")


def open_pool(page, live_server, pool):
    page.goto(f"{live_server.url}/admin/pools/{pool.pk}/")
    expect(page.locator("h1")).to_contain_text(pool.name)


def test_it_deletes_a_node_from_its_row_and_batch_deletes_the_rest(
    transactional_db,
    sign_in_page,
    live_server,
    screenshot,
    site_admin,
    pools,
    make_node,
    make_running_job,
    control_calls,
):
    ppu, _ym, nodes = pools
    p3 = make_node(ppu, "p3")
    job = make_running_job(nodes["p1"], name="bert-finetune")
    page = sign_in_page("root")
    open_pool(page, live_server, ppu)
    screenshot("nodepools-ppu-pool")

    # Row: 删除 Delete → preview with the job that will stop and the billing → typed DELETE.
    row(page, nodes["p1"]).locator("[data-row-action=delete]").click()
    dialog = page.locator("#node-action-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Delete (删除) node p1")
    expect(dialog).to_contain_text("bert-finetune")
    expect(dialog).to_contain_text("Billing by the hour stops now")
    confirm = dialog.locator("[data-confirm-submit]")
    expect(confirm).to_be_disabled()
    dialog.locator("input[name=confirmation]").fill("delete")
    expect(confirm).to_be_disabled()
    dialog.locator("input[name=confirmation]").fill("DELETE")
    expect(confirm).to_be_enabled()
    screenshot("nodepools-row-delete-preview")
    confirm.click()
    expect(page.locator(".flash-success")).to_contain_text("Node p1 deleted.")
    expect(page.locator(".flash-success")).to_contain_text(
        "Job bert-finetune was stopped (node released by an administrator)."
    )
    expect(row(page, nodes["p1"])).to_contain_text("Deleting")
    assert Node.objects.get(pk=nodes["p1"].pk).state == NodeState.DELETING
    job.refresh_from_db()
    assert job.phase_reason == "node released by an administrator"

    # Batch: tick the two others, "Delete" above the table, typed DELETE.
    row(page, nodes["p2"]).locator("input[name=node]").check()
    row(page, p3).locator("input[name=node]").check()
    page.locator("[data-batch-action=delete]").click()
    expect(dialog).to_contain_text("Delete (删除) 2 nodes")
    expect(dialog.locator("[data-preview-node]")).to_have_count(2)
    dialog.locator("input[name=confirmation]").fill("DELETE")
    screenshot("nodepools-batch-delete-preview")
    dialog.locator("[data-confirm-submit]").click()
    expect(page.locator(".flash-success")).to_contain_text("2 nodes deleted: p2, p3.")
    screenshot("nodepools-after-batch-delete")
    assert set(Node.objects.filter(pool=ppu).values_list("state", flat=True)) == {NodeState.DELETING}


def test_yearly_monthly_unsubscribe_refused_batch_release_release_and_legacy_delete(
    transactional_db,
    sign_in_page,
    live_server,
    screenshot,
    site_admin,
    pools,
    control_calls,
):
    _ppu, ym, nodes = pools
    page = sign_in_page("root")
    open_pool(page, live_server, ym)
    expect(page.locator(".flash-error")).to_contain_text("Subscriptions expired")
    screenshot("nodepools-ym-pool")

    # Batch release is not supported: the bar does not offer it, it states the rule (issue 15 §6.7).
    expect(page.locator("[data-batch-action=release]")).to_have_count(0)
    expect(page.locator("[data-batch-rule]")).to_have_text(
        "Batch release of nodes in the grace period is not supported: release each node from its row."
    )
    screenshot("nodepools-batch-release-rule")
    dialog = page.locator("#node-action-dialog")
    row(page, nodes["grace"]).locator("input[name=node]").check()

    # A mixed batch unsubscribe is refused whole, naming the nodes.
    row(page, nodes["active"]).locator("input[name=node]").check()
    page.locator("[data-batch-action=unsubscribe]").click()
    expect(dialog).to_contain_text("This batch is refused as a whole")
    expect(dialog).to_contain_text("“grace”")
    screenshot("nodepools-mixed-batch-refused")
    dialog.locator("[data-dialog-cancel]").click()
    assert not Node.objects.filter(pool=ym, state=NodeState.DELETING).exists()

    # 退订 Unsubscribe from the active node's row: a click and a preview, no typed word.
    row(page, nodes["active"]).locator("[data-row-action=unsubscribe]").click()
    expect(dialog).to_contain_text("The subscription ends now instead of on")
    expect(dialog.locator("input[name=confirmation]")).to_have_count(0)
    dialog.locator("[data-confirm-submit]").click()
    expect(page.locator(".flash-success")).to_contain_text("Node active unsubscribed.")

    # 释放 Release the grace node alone.
    row(page, nodes["grace"]).locator("[data-row-action=release]").click()
    expect(dialog).to_contain_text("Release (释放) node grace")
    screenshot("nodepools-row-release-preview")
    dialog.locator("[data-confirm-submit]").click()
    expect(page.locator(".flash-success")).to_contain_text("Node grace released.")

    # The legacy node shows 删除 Delete.
    legacy = row(page, nodes["legacy"]).locator("[data-row-action=delete]")
    expect(legacy).to_contain_text("删除")
    legacy.click()
    expect(dialog).to_contain_text("Legacy node (存量节点)")
    dialog.locator("input[name=confirmation]").fill("DELETE")
    dialog.locator("[data-confirm-submit]").click()
    expect(page.locator(".flash-success")).to_contain_text("Node legacy deleted.")
    screenshot("nodepools-ym-after-actions")
    assert set(Node.objects.filter(pool=ym).values_list("state", flat=True)) == {NodeState.DELETING}
    assert not TrainingJob.objects.exists()


def test_it_creates_a_pool_lists_it_and_deletes_it_with_the_typed_word(
    transactional_db,
    sign_in_page,
    live_server,
    screenshot,
    site_admin,
    pools,
    control_calls,
):
    page = sign_in_page("root")
    page.goto(f"{live_server.url}/admin/pools/")
    page.get_by_role("link", name="Create pool").first.click()
    page.fill("#id_name", "gpu-yearly")
    # Pay-per-use without a price: the service's rule answers beside the field, nothing is created.
    page.click("#pool-form button[type=submit]")
    expect(page.locator("#pool-form .field.has-error")).to_contain_text(
        "A pay-per-use pool needs a price per node-hour"
    )
    page.select_option("#id_billing_mode", "yearly_monthly")
    page.fill("#id_grace_period_days", "7")
    page.fill("#id_subscription_months", "12")
    screenshot("nodepools-pool-form")
    page.click("#pool-form button[type=submit]")
    expect(page.locator(".flash-success")).to_contain_text("Pool “gpu-yearly” created.")
    expect(page.locator(".pool-facts")).to_contain_text("grace period (宽限期) 7 days")

    page.goto(f"{live_server.url}/admin/pools/")
    expect(page.locator("#pool-table")).to_contain_text("gpu-yearly")
    screenshot("nodepools-pool-list")

    page.get_by_role("link", name="gpu-yearly").click()
    page.get_by_role("button", name="Delete pool").click()
    dialog = page.locator("#pool-delete-dialog")
    submit = dialog.locator("[data-confirm-submit]")
    expect(submit).to_be_disabled()
    dialog.locator("input[name=pool-confirmation]").fill("DELETE")
    screenshot("nodepools-pool-delete-dialog")
    submit.click()
    expect(page.locator(".flash-success")).to_contain_text("Pool “gpu-yearly” deleted.")
    expect(page.locator("#pool-table")).not_to_contain_text("gpu-yearly")
