"""Calls to an inference service: ``/v1/infers/<service_id>/<engine path>``.

Callers are scripts, not browsers: they authenticate with an IAM token (``X-Auth-Token``) or a
per-service API key (``Authorization: Bearer …``), decided by the service's own gateway
(``ready_instances``). The forwarder then sends the call to the ready instance with the fewest
calls in flight (counted in this process), sets the request's ``model`` to the instance's
served name, and passes the answer through as it comes (server-sent events unbuffered). When
every instance is at its limit the caller gets 429 with ``Retry-After`` — never a queue.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from asgiref.sync import sync_to_async

from console.frontdoor.auth import closing_connections
from console.frontdoor.forward import forward_http

logger = logging.getLogger("console.frontdoor")

MAX_BODY_BYTES = 8 * 1024 * 1024
RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class CallRoute:
    """``pattern`` has groups ``service_id`` and ``rest``; the callables are the service app's gateway."""

    pattern: object
    ready_instances: Callable
    record_call: Callable


class Balancer:
    """Calls in flight per instance, in this process: least outstanding wins, the limit holds."""

    def __init__(self):
        self.outstanding: Counter = Counter()

    def pick(self, instances):
        free = [i for i in instances if self.outstanding[i.instance_id] < max(1, i.max_concurrency)]
        if not free:
            return None
        chosen = min(free, key=lambda i: (self.outstanding[i.instance_id], i.instance_id))
        self.outstanding[chosen.instance_id] += 1
        return chosen

    def done(self, instance) -> None:
        self.outstanding[instance.instance_id] -= 1
        if self.outstanding[instance.instance_id] <= 0:
            del self.outstanding[instance.instance_id]


async def send_json(send, status: int, body: dict, *, headers=()) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _credentials(scope) -> tuple[str | None, str | None]:
    headers = dict(scope["headers"])
    token = headers.get(b"x-auth-token")
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    api_key = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
    return (token.decode("latin-1") if token else None), (api_key or None)


async def _read_body(receive) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b""  # too large: refused below
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def with_served_name(body: bytes, served_name: str) -> bytes:
    """The engine serves one model: whatever the caller named, the call goes to it under its name."""
    if not body:
        return body
    try:
        payload = json.loads(body)
    except ValueError:
        return body  # the engine answers malformed JSON itself
    if isinstance(payload, dict):
        payload["model"] = served_name
        return json.dumps(payload).encode()
    return body


async def handle_call(scope, receive, send, route: CallRoute, groups: dict, balancer: Balancer) -> None:
    token, api_key = _credentials(scope)
    service_id, rest = groups["service_id"], "/" + groups.get("rest", "")
    # The body first: a refusal sent before it was read would end the connection with a reset.
    body = await _read_body(receive) if scope["method"] not in ("GET", "HEAD") else b""
    if body is None:
        return
    try:
        instances = await sync_to_async(closing_connections(route.ready_instances), thread_sensitive=False)(
            service_id=service_id, x_auth_token=token, api_key=api_key
        )
    except Exception as refusal:
        if getattr(refusal, "status", None) is None:
            logger.exception("resolving the service %s failed", service_id)
            return await send_json(send, 500, {"error_code": "ModelArts.0500", "error_msg": "Internal error."})
        return await send_json(
            send, refusal.status, {"error_code": getattr(refusal, "error_code", ""), "error_msg": str(refusal.message)}
        )
    if not instances:
        return await send_json(
            send,
            503,
            {"error_code": "ModelArts.3503", "error_msg": "No instance of this service is ready; try again shortly."},
            headers=[(b"retry-after", str(RETRY_AFTER_SECONDS * 5).encode())],
        )
    if len(body) > MAX_BODY_BYTES or (body == b"" and scope["method"] == "POST"):
        if body == b"" and scope["method"] == "POST":
            return await send_json(
                send, 400, {"error_code": "ModelArts.0202", "error_msg": "The request body is empty."}
            )
        return await send_json(
            send, 413, {"error_code": "ModelArts.0202", "error_msg": "The request body is too large."}
        )
    instance = balancer.pick(instances)
    if instance is None:
        return await send_json(
            send,
            429,
            {"error_code": "ModelArts.3429", "error_msg": "Every instance of this service is busy; retry shortly."},
            headers=[(b"retry-after", str(RETRY_AFTER_SECONDS).encode())],
        )
    status = 502
    try:
        status = await forward_http(
            scope, receive, send, instance, console_cookies=set(), path=instance.base_url.rstrip("/") + rest,
            body=with_served_name(body, instance.served_name),
            unreachable=("The service instance is not answering", "Retry the call; another instance may take it."),
        )  # fmt: skip
    finally:
        balancer.done(instance)
        try:
            await sync_to_async(closing_connections(route.record_call), thread_sensitive=False)(
                service_id=service_id, instance_id=instance.instance_id, ok=status < 400, api_key_id=None, tokens=None
            )
        except Exception:
            logger.exception("could not record a call of service %s", service_id)
