"""The notebook pages in Chromium: list with live states and the lease warning banner, detail, create form."""

from __future__ import annotations

import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from console.notebooks.models import Image, NodeImage, Notebook
from console.notebooks.services import NotebookSpec, notebook_create
from console.notebooks.states import State
from tests.notebooks.conftest import TEST_FLAVOR
from tests.training.conftest import make_node

pytestmark = pytest.mark.browser


def test_notebook_pages(sign_in_page, screenshot, storage_project, member, default_pool, live_server):
    image = Image.objects.create(name="jupyterlab4.6.6-python3.12", jupyterlab_version="4.6.6", python_version="3.12")
    node = make_node(default_pool, "nb-page", cores=4)
    NodeImage.objects.create(node=node, image=image, python_path=sys.executable)
    notebook = notebook_create(
        actor=member,
        project=storage_project,
        spec=NotebookSpec(name="analysis", flavor_id=TEST_FLAVOR["flavor_id"], image_id=str(image.image_id)),
    )
    now = timezone.now()
    Notebook.objects.filter(pk=notebook.pk).update(
        state=State.RUNNING,
        node=node,
        node_name=node.name,
        running_at=now,
        lease_create_at=now - timedelta(minutes=55),
        lease_warned_at=now,
    )
    page = sign_in_page(member.username)
    pid = storage_project.project_id
    page.goto(f"{live_server.url}/projects/{pid}/notebooks/")
    page.wait_for_selector("[data-lease-warning]")
    page.wait_for_load_state("networkidle")  # the base page's own warnings fetch (not made on this page)
    assert page.locator("text=Renew 1 hour").count() == 1
    screenshot("notebooks-list")
    page.click('td a:has-text("analysis")')
    page.wait_for_selector("text=Events")
    screenshot("notebooks-detail")
    page.click("text=Renew 1 hour")
    page.wait_for_load_state("networkidle")
    assert Notebook.objects.get(pk=notebook.pk).lease_warned_at is None
    page.goto(f"{live_server.url}/projects/{pid}/notebooks/create/")
    page.fill("input[name=name]", "bad name")
    page.click("#notebook-form button[type=submit]")
    page.wait_for_selector("[data-field=name]")
    screenshot("notebooks-create-error")
