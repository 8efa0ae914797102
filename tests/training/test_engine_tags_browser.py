"""Issue 15 §6.10 in Chromium: a site administrator sets an engine's tags; the page shows who it runs as."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from console.nodepools.models import Node, NodeState
from console.training.models import Engine
from console.training.services import engines_sync_for_node
from console.training.workload import engine_probe

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_tags_an_engine(sign_in_page, live_server, screenshot, site_admin, default_pool):
    node = Node.objects.create(pool=default_pool, name="node-a", hostname="h", cpu_cores=2,
                               memory_bytes=4 * 1024**3, state=NodeState.AVAILABLE)  # fmt: skip
    engines_sync_for_node(node=node, identities=engine_probe().facts("cpu"))
    engine = Engine.objects.get()
    page = sign_in_page(site_admin.username)
    page.goto(f"{live_server.url}/admin/training/engines/")
    form = page.locator(f"#engine-tags-{engine.pk}")
    form.locator("textarea").fill("team=nlp\nstage=prod")
    form.get_by_role("button", name="Save tags").click()
    expect(page.locator("#messages")).to_contain_text(f"Tags of engine {engine.engine_id} saved.")
    expect(page.locator(f"#engine-tags-{engine.pk} textarea")).to_have_value("team=nlp\nstage=prod")
    assert Engine.objects.get().tags == [{"key": "team", "value": "nlp"}, {"key": "stage", "value": "prod"}]
    expect(page.locator("table")).to_contain_text(engine.run_user or Engine.objects.get().run_user)
    screenshot("h9-engines-tags")
