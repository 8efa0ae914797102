"""The service pages in Chromium (no nodes): Deploy from the version page, the detail page's parts."""

from __future__ import annotations

import pytest

from console.services.models import Service, ServiceInstance
from console.services.states import InstanceState, ServiceStatus
from tests.services.fixtures import (  # noqa: F401 — fixtures
    _fast_services,
    bucket_root,
    default_pool,
    make_node,
    storage_project,
    tiny_version,
)

pytestmark = pytest.mark.browser


def test_deploy_and_detail_pages(
    sign_in_page, screenshot, storage_project, member, tiny_version, default_pool, live_server
):
    make_node(default_pool, "n1", cores=2, memory_gb=8)
    page = sign_in_page(member.username)
    pid = storage_project.project_id
    page.goto(f"{live_server.url}/projects/{pid}/models/{tiny_version.model.pk}/versions/{tiny_version.number}/")
    page.click("[data-deploy]")
    page.fill("#f-name", "tiny-chat")
    page.select_option("#f-flavor", "test.svc.1u")
    page.fill("#f-count", "0")
    page.click("#deploy-form button[type=submit]")
    page.wait_for_selector("text=instance_count must be an integer from 1 to 128; 0 is out of range.")
    screenshot("services-deploy-refused")
    page.fill("#f-count", "2")
    page.click("#deploy-form button[type=submit]")
    page.wait_for_selector("[data-status=deploying]")
    service = Service.objects.get()
    # As the reconcile loop and runners would leave it: one ready, one replaced after a crash.
    ServiceInstance.objects.create(service=service, slot=0, state=InstanceState.READY, node_name="n1", cpu_usage=12.5,
                                   mem_bytes=300 * 1024**2, served=3)  # fmt: skip
    ServiceInstance.objects.create(service=service, slot=1, state=InstanceState.STARTING, node_name="n1", restarts=1,
                                   last_error="The engine was killed by SIGKILL.")  # fmt: skip
    Service.objects.filter(pk=service.pk).update(
        status=ServiceStatus.CONCERNING, ever_ran=True,
        status_reason="1 of 2 instance(s) ready. instance-1: The engine was killed by SIGKILL.",
    )  # fmt: skip
    page.wait_for_selector("[data-status=concerning]", timeout=10000)
    assert "killed by SIGKILL" in page.inner_text("[data-status-reason]")
    assert page.locator("[data-instance]").count() == 2
    assert f"/v1/infers/{service.service_id}/v1/chat/completions" in page.inner_text("[data-copy-curl]")
    screenshot("services-detail")
