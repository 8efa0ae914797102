"""Calls to /v1/infers/<service_id>/…: credentials decided by the service's gateway, least outstanding,
429 at the limit, the model named by the instance, streams passed through, a leaving caller stops the upstream."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from console.frontdoor.calls import CallRoute
from console.frontdoor.router import FrontDoor
from tests.frontdoor.conftest import run_async

pytestmark = pytest.mark.integration

SERVICE = "5e7d0c0a-0000-4000-8000-00000000c0de"


@dataclass(frozen=True)
class Instance:
    instance_id: int
    base_url: str
    unix_socket: str
    host: str
    port: int | None
    token: str
    max_concurrency: int
    served_name: str


class Refusal(Exception):
    def __init__(self, status, error_code, message):
        super().__init__(message)
        self.status, self.error_code, self.message = status, error_code, message


class FakeEngine:
    """An OpenAI-shaped upstream: streams `tokens` SSE chunks, one every `delay` s; notes who left early."""

    def __init__(self, name: str):
        self.name = name
        self.models_seen: list[str] = []
        self.headers_seen: list[dict] = []
        self.left_early = 0
        self.finished = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            return await send({"type": "lifespan.shutdown.complete"})
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = json.loads(body or b"{}")
        self.models_seen.append(request.get("model"))
        self.headers_seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
        tokens, delay = int(request.get("tokens", 3)), float(request.get("delay", 0.05))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        gone = asyncio.Event()

        async def watch():  # an ASGI app learns that its caller left from receive()
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.ensure_future(watch())
        try:
            for index in range(tokens):
                if gone.is_set():
                    self.left_early += 1
                    return
                chunk = {"model": request.get("model"), "instance": self.name, "index": index, "at": time.time()}
                await send(
                    {"type": "http.response.body", "body": f"data: {json.dumps(chunk)}\n\n".encode(), "more_body": True}
                )
                await asyncio.sleep(delay)
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
            self.finished += 1
        finally:
            watcher.cancel()


def serve(app, **where):
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", **where))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    return server


@pytest.fixture
def service_calls(db):
    folder = Path(tempfile.mkdtemp(prefix="calls-"))
    engines = [FakeEngine("a"), FakeEngine("b")]
    servers = [serve(engine, uds=str(folder / f"{engine.name}.sock")) for engine in engines]
    instances = [
        Instance(i + 1, "", str(folder / f"{e.name}.sock"), "", None, "", 1, f"served-{e.name}")
        for i, e in enumerate(engines)
    ]
    calls: list[dict] = []

    def ready_instances(*, service_id, x_auth_token, api_key):
        if service_id != SERVICE:
            raise Refusal(404, "ModelArts.3502", "No such service.")
        if not (x_auth_token == "good-token" or api_key == "good-key"):
            raise Refusal(401, "ModelArts.0203", "Authentication required.")
        return instances

    def record_call(**call):
        calls.append(call)

    app = FrontDoor(
        lambda scope, receive, send: None,
        [
            CallRoute(
                re.compile(r"^/v1/infers/(?P<service_id>[0-9a-f-]{36})/(?P<rest>.*)$"), ready_instances, record_call
            )
        ],
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    front = serve(app, host="127.0.0.1", port=port)
    yield f"http://127.0.0.1:{port}/v1/infers/{SERVICE}", engines, calls
    for server in [front, *servers]:
        server.should_exit = True


def test_a_call_without_credentials_gets_the_gateways_refusal(service_calls):
    base, engines, calls = service_calls
    answer = httpx.post(f"{base}/v1/chat/completions", json={"model": "x"})
    assert answer.status_code == 401
    assert answer.json() == {"error_code": "ModelArts.0203", "error_msg": "Authentication required."}
    assert not engines[0].models_seen and not engines[1].models_seen


def test_a_call_reaches_an_instance_under_its_served_name_without_the_callers_credentials(service_calls):
    base, engines, calls = service_calls
    answer = httpx.post(
        f"{base}/v1/chat/completions",
        json={"model": "whatever", "tokens": 2},
        headers={"Authorization": "Bearer good-key"},
    )
    assert answer.status_code == 200 and answer.text.endswith("data: [DONE]\n\n")
    engine = next(e for e in engines if e.models_seen)
    assert engine.models_seen == [f"served-{engine.name}"]
    assert "authorization" not in engine.headers_seen[0] and "x-auth-token" not in engine.headers_seen[0]
    deadline = time.monotonic() + 5
    while not calls:  # recorded once the answer has gone out
        assert time.monotonic() < deadline, "the call was not recorded"
        time.sleep(0.02)
    assert calls[0]["ok"] is True and calls[0]["service_id"] == SERVICE


def test_the_stream_is_passed_through_as_it_comes(service_calls):
    base, engines, calls = service_calls
    arrivals = []
    with httpx.stream(
        "POST", f"{base}/v1/chat/completions", json={"tokens": 5, "delay": 0.3}, headers={"X-Auth-Token": "good-token"}
    ) as answer:
        for line in answer.iter_lines():
            if line.startswith("data: {"):
                arrivals.append(time.time())
    assert len(arrivals) == 5
    assert arrivals[-1] - arrivals[0] > 0.9  # not buffered until the end


def test_busy_instances_answer_429_and_calls_spread_over_instances(service_calls):
    base, engines, calls = service_calls

    async def run():
        async with httpx.AsyncClient(headers={"X-Auth-Token": "good-token"}, timeout=30) as client:
            slow = [client.post(f"{base}/v1/chat/completions", json={"tokens": 10, "delay": 0.1}) for _ in range(2)]
            first_two = asyncio.gather(*slow)
            await asyncio.sleep(0.3)  # both instances hold one call (max_concurrency 1)
            third = await client.post(f"{base}/v1/chat/completions", json={"tokens": 1})
            return await first_two, third

    (one, two), third = run_async(run())
    assert one.status_code == two.status_code == 200
    assert third.status_code == 429 and third.headers["retry-after"] == "1"
    assert engines[0].finished == 1 and engines[1].finished == 1  # least outstanding: one each


def test_a_caller_that_leaves_stops_the_upstream(service_calls):
    base, engines, calls = service_calls
    with httpx.stream(
        "POST",
        f"{base}/v1/chat/completions",
        json={"tokens": 100, "delay": 0.05},
        headers={"X-Auth-Token": "good-token"},
    ) as answer:
        for line in answer.iter_lines():
            if line.startswith("data: {"):
                break
    deadline = time.monotonic() + 5
    while not any(e.left_early for e in engines):
        assert time.monotonic() < deadline, "the upstream kept streaming for nobody"
        time.sleep(0.05)
    assert not any(e.finished for e in engines)
