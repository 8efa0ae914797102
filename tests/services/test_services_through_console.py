"""A deployed service answered through the console's own address with the official openai client:
a completion, a streamed chat completion, the seed's 401 body, and 0 failed calls while it scales 1 → 3 → 1."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time

import httpx
import openai
import pytest
import uvicorn

from console.services.models import Service, ServiceInstance
from console.services.services import api_key_create
from console.services.states import InstanceState
from tests.api.conftest import ApiClient, token_body
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

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def console_front_door():
    """The console's real ASGI application (console.asgi) served by uvicorn on 127.0.0.1."""
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
        assert time.monotonic() < deadline, "the front door did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def ready_count(service) -> int:
    return ServiceInstance.objects.filter(service=service, state=InstanceState.READY).count()


def test_openai_client_through_the_console_while_it_scales(
    client, member, storage_project, tiny_version, service_node, console_front_door
):
    service_node("svc-a", beat=True)
    service_node("svc-b", beat=False)
    token = client.post(
        "/v3/auth/tokens", data=json.dumps(token_body(member.username, project=storage_project.name)),
        content_type="application/json",
    )["X-Subject-Token"]  # fmt: skip
    api = ApiClient(client, token)
    base = f"/v1/{storage_project.project_id}/services"
    answer = api.post(
        base,
        {"service_name": "tiny-chat", "infer_type": "real-time",
         "config": [{"model_id": str(tiny_version.pk), "weight": 100, "specification": "test.svc.1u",
                     "instance_count": 1, "envs": {}}]},
    )  # fmt: skip
    assert answer.status_code == 200, answer.content
    sid = answer.json()["service_id"]
    service = Service.objects.get(service_id=sid)
    wait_for(lambda: ready_count(service) == 1 and service.__class__.objects.get(pk=service.pk).status == "running",
             timeout=180, interval=0.2, message="running")  # fmt: skip

    endpoint = f"{console_front_door}/v1/infers/{sid}/v1"
    # No credentials: the seed's error body.
    refused = httpx.post(f"{endpoint}/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert refused.status_code == 401 and set(refused.json()) == {"error_code", "error_msg"}

    raw_key, _key = api_key_create(actor=member, service=service, name="tests")
    caller = openai.OpenAI(base_url=endpoint, api_key=raw_key, max_retries=0, timeout=60)
    completion = caller.completions.create(model="anything", prompt="hello", max_tokens=5)
    assert completion.choices[0].text and completion.usage.completion_tokens >= 1
    chunks = list(
        caller.chat.completions.create(
            model="anything",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=8,
            stream=True,
            # A sampled tiny model may end after one token: the engine's ignore_eos makes it stream all 8.
            extra_body={"ignore_eos": True},
        )
    )
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 2, chunks  # streamed token by token, not one blob

    # The page's curl example, as a person would paste it (curl streams the server-sent events).
    curl = subprocess.run(
        ["curl", "-sN", f"{endpoint}/chat/completions", "-H", f"Authorization: Bearer {raw_key}",
         "-H", "Content-Type: application/json",
         "-d", json.dumps({"model": "tiny-chat", "messages": [{"role": "user", "content": "Hello"}], "stream": True})],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert curl.returncode == 0 and curl.stdout.rstrip().endswith("data: [DONE]"), curl.stdout[-500:]
    assert curl.stdout.count("data: {") >= 2

    # Scale 1 → 3 → 1 with the seed's PUT while a bounded loop keeps calling: no call fails.
    failures, calls, stop = [], [0], threading.Event()

    def keep_calling():
        while not stop.is_set() and calls[0] < 400:
            try:
                caller.completions.create(model="x", prompt="hi", max_tokens=2)
            except Exception as error:  # noqa: BLE001 — every failure is counted and shown
                failures.append(repr(error))
            calls[0] += 1

    loop = threading.Thread(target=keep_calling, daemon=True)
    loop.start()
    prop = f"{base}/{sid}/property"
    for count in (3, 1):
        answer = api.put(prop, {"changed_property": "instance_count",
                                "configs": [{"model_id": str(tiny_version.pk), "changed_value": count}]})  # fmt: skip
        assert answer.status_code == 200, answer.content
        wait_for(
            lambda c=count: ready_count(service) == c
            and not ServiceInstance.objects.filter(service=service, state__in=["draining", "stopping", "starting", "assigned"]).exists(),
            timeout=180, interval=0.2, message=f"{count} ready",
        )  # fmt: skip
    stop.set()
    loop.join(60)
    assert calls[0] >= 10, "the loop barely ran"
    assert failures == [], failures[:5]
