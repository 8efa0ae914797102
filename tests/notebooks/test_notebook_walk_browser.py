"""A member's walk, in Chromium, at the console's own address (console.asgi): create a notebook on a real
node, open JupyterLab through the front door, run a cell, install a package with `pip install --user`, stop,
start again, and find the package there; then delete it with DELETE."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn

from console.notebooks.models import Notebook
from console.notebooks.states import State
from tests.conftest import PASSWORD
from tests.notebooks.conftest import TEST_FLAVOR, wait_for
from tests.notebooks.test_notebooks_integration import tiny_wheel

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def console_url():
    """The console's real ASGI application on 127.0.0.1: pages, API and /nb/<id>/."""
    from console.asgi import application

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def run_cell(page, code: str) -> str:
    """Type into the last cell of the open notebook, run it, return its output."""
    page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first.wait_for(timeout=120_000)
    cells = page.locator(".jp-Notebook .jp-Cell")
    before = page.locator(".jp-OutputArea-output").count()
    cells.last.locator(".cm-content").click()
    page.keyboard.type(code)
    page.keyboard.press("Shift+Enter")
    page.wait_for_function(f"document.querySelectorAll('.jp-OutputArea-output').length > {before}", timeout=180_000)
    return page.locator(".jp-OutputArea-output").last.inner_text().strip()


def test_a_member_works_in_a_notebook_through_the_console(
    page, screenshot, console_url, notebook_node, storage_project, member, tmp_path
):
    notebook_node("nb-walk")
    wheels = tiny_wheel(tmp_path / "wheels")
    pid = storage_project.project_id
    page.goto(f"{console_url}/accounts/login/")
    page.fill("#id_username", member.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")

    page.goto(f"{console_url}/projects/{pid}/notebooks/create/")
    page.fill("input[name=name]", "walk")
    page.select_option("select[name=flavor]", TEST_FLAVOR["flavor_id"])
    page.click("#notebook-form button[type=submit]")
    notebook = wait_for(lambda: Notebook.objects.filter(name="walk").first(), timeout=30, message="created")
    wait_for(
        lambda: Notebook.objects.filter(pk=notebook.pk, state=State.RUNNING).exists(), timeout=180, message="RUNNING"
    )
    page.goto(f"{console_url}/projects/{pid}/notebooks/{notebook.uuid}/")
    page.wait_for_selector("text=RUNNING")
    screenshot("notebook-walk-running")

    page.goto(f"{console_url}/nb/{notebook.uuid}/lab")
    try:
        page.locator(".jp-Launcher-section", has_text="Notebook").locator(".jp-LauncherCard").first.click(
            timeout=300_000
        )
    finally:
        screenshot("notebook-walk-lab-opened")
    assert run_cell(page, "print(6*7)") == "42"
    installed = run_cell(
        page,
        f"import subprocess, sys; r = subprocess.run([sys.executable, '-m', 'pip', 'install', '--user', '--no-index', "
        f"'--find-links', '{wheels}', 'nbtestpkg'], capture_output=True, text=True); print(r.returncode)",
    )
    assert installed.endswith("0"), installed
    screenshot("notebook-walk-jupyterlab")

    page.goto(f"{console_url}/projects/{pid}/notebooks/{notebook.uuid}/")
    page.click("button:has-text('Stop')")
    wait_for(
        lambda: Notebook.objects.filter(pk=notebook.pk, state=State.STOPPED).exists(), timeout=120, message="STOPPED"
    )
    page.goto(f"{console_url}/projects/{pid}/notebooks/{notebook.uuid}/")
    page.click("button:has-text('Start')")
    wait_for(
        lambda: Notebook.objects.filter(pk=notebook.pk, state=State.RUNNING).exists(), timeout=180, message="RUNNING"
    )
    # ?reset: a fresh workspace (the saved one would reopen the last notebook instead of the launcher).
    page.goto(f"{console_url}/nb/{notebook.uuid}/lab?reset")
    page.locator(".jp-Launcher-section", has_text="Notebook").locator(".jp-LauncherCard").first.click(timeout=300_000)
    assert run_cell(page, "import nbtestpkg; print(nbtestpkg.VALUE)") == "42"

    page.goto(f"{console_url}/projects/{pid}/notebooks/{notebook.uuid}/")
    page.click("button:has-text('Stop')")
    wait_for(
        lambda: Notebook.objects.filter(pk=notebook.pk, state=State.STOPPED).exists(), timeout=120, message="STOPPED"
    )
    page.goto(f"{console_url}/projects/{pid}/notebooks/{notebook.uuid}/")
    page.fill("input[name=confirm]", "DELETE")
    page.click("button:has-text('Delete')")
    wait_for(
        lambda: Notebook.objects.filter(pk=notebook.pk, state=State.DELETED).exists(), timeout=120, message="DELETED"
    )
    screenshot("notebook-walk-deleted")
