"""A member's walk, in Chromium at the console's own address (console.asgi), with real node workers: deploy a
version, chat with it in Try it (streamed through the front door), scale to 3 and back to 1 from the page,
and delete the service with DELETE; the version then lists no inference record."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn

from console.services.models import Service, ServiceInstance
from console.services.states import InstanceState
from console.versions.models import TaskKind, TaskRecord
from tests.conftest import PASSWORD
from tests.services.fixtures import (  # noqa: F401 — fixtures
    _fast_services,
    bucket_root,
    default_pool,
    node_env,
    service_node,
    storage_project,
    tiny_version,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def console_url():
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


def settled(service, count: int) -> bool:
    states = list(ServiceInstance.objects.filter(service=service).values_list("state", flat=True))
    busy = {InstanceState.DRAINING, InstanceState.STOPPING, InstanceState.STARTING, InstanceState.ASSIGNED}
    return states.count(InstanceState.READY) == count and not busy.intersection(states)


def test_a_member_deploys_chats_scales_and_deletes(
    page, screenshot, console_url, service_node, storage_project, member, tiny_version
):
    service_node("svc-a", beat=True)
    service_node("svc-b", beat=False)
    pid = storage_project.project_id
    page.goto(f"{console_url}/accounts/login/")
    page.fill("#id_username", member.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")

    page.goto(f"{console_url}/projects/{pid}/models/{tiny_version.model.pk}/versions/{tiny_version.number}/")
    page.click("[data-deploy]")
    page.fill("#f-name", "tiny-chat")
    page.select_option("#f-flavor", "test.svc.1u")
    page.fill("#f-count", "1")
    page.click("#deploy-form button[type=submit]")
    service = wait_for(lambda: Service.objects.filter(name="tiny-chat").first(), timeout=30, message="deployed")
    page.wait_for_selector("[data-status=running]", timeout=180_000)
    assert TaskRecord.objects.filter(version=tiny_version, kind=TaskKind.INFERENCE).count() == 1

    # Try it: the answer streams into the panel through /v1/infers/<id>/ (what the model generated).
    page.fill("#try-it textarea", "Hello")
    page.click("#try-it button[type=submit]")
    output = page.locator("[data-try-output]")
    page.wait_for_function("document.querySelector('[data-try-output]').textContent.trim().length > 3", timeout=60_000)
    assert "error" not in output.inner_text().lower()
    screenshot("service-walk-try-it")

    for count in (3, 1):
        started = time.monotonic()
        # One step (the live part of the page is swapped every few seconds): set the count, press Scale.
        page.evaluate(
            "(n) => { const i = document.querySelector('input[name=instance_count]'); i.value = n;"
            " i.form.querySelector('button[type=submit]').click(); }",
            str(count),
        )
        wait_for(lambda c=count: Service.objects.get(pk=service.pk).instance_count == c, timeout=30, message="scaled")
        wait_for(lambda c=count: settled(service, c), timeout=180, interval=0.2, message=f"{count} ready")
        print(f"scaled to {count} and settled in {time.monotonic() - started:.1f} s")  # a figure, not a test
    page.wait_for_selector("[data-status=running]", timeout=30_000)
    screenshot("service-walk-scaled-back")

    page.evaluate(
        "() => { const i = document.querySelector('input[name=confirm]'); i.value = 'DELETE';"
        " i.dispatchEvent(new Event('input', {bubbles: true})); i.form.submit(); }"
    )
    wait_for(lambda: not Service.objects.filter(pk=service.pk).exists(), timeout=60, message="deleted")
    assert not TaskRecord.objects.filter(version=tiny_version, kind=TaskKind.INFERENCE).exists()
    page.goto(f"{console_url}/projects/{pid}/models/{tiny_version.model.pk}/versions/{tiny_version.number}/")
    screenshot("service-walk-version-after-delete")
