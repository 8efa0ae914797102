"""JupyterLab in Chromium at the console's own address: a cell runs over the forwarded WebSocket."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from tests.frontdoor.conftest import BASE_URL

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_jupyterlab_runs_a_cell_through_the_console(front_door, member, page, screenshot):
    page.goto(f"{front_door}/accounts/login/")
    page.fill("#id_username", member.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    page.goto(f"{front_door}{BASE_URL}lab")
    # The launcher's Python notebook tile: a new notebook with a live kernel.
    page.locator(".jp-LauncherCard[data-category='Notebook']").first.click(timeout=60_000)
    # As a person would: wait until the status bar says the kernel is connected and idle.
    page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first.wait_for(timeout=120_000)
    editor = page.locator(".jp-Cell .cm-content").first
    editor.click()
    page.keyboard.type("print(6*7)")
    page.keyboard.press("Shift+Enter")
    output = page.locator(".jp-OutputArea-output pre").first
    try:
        output.wait_for(timeout=120_000)
    finally:
        screenshot("frontdoor-jupyterlab-cell")
    assert output.inner_text().strip() == "42"
    screenshot("frontdoor-jupyterlab-cell")
    assert "token" not in page.url
