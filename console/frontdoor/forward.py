"""Relaying one request to an upstream: HTTP streamed both ways, WebSockets frame by frame."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from html import escape

import httpx
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.client import unix_connect as ws_unix_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

logger = logging.getLogger("console.frontdoor")

# Never forwarded in either direction (RFC 9110 §7.6.1), plus what we set ourselves.
HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
    b"host",
    b"authorization",
    b"x-auth-token",  # the caller's IAM token is the console's business, not the upstream's
}
# The console's own cookies stay with the console: the upstream never sees its session.
CONSOLE_COOKIES = {"sessionid", "csrftoken", "django_language"}
CONNECT_TIMEOUT = 10.0


def _client_for(upstream) -> tuple[httpx.AsyncClient, str]:
    # Upstreams speak plain HTTP (a unix socket, or a node's address inside the cluster): no TLS
    # context to build, which would cost ~20 ms of loading CA certificates on every call.
    timeout = httpx.Timeout(None, connect=CONNECT_TIMEOUT)
    if upstream.unix_socket:
        transport = httpx.AsyncHTTPTransport(uds=upstream.unix_socket, verify=False)
        return httpx.AsyncClient(transport=transport, timeout=timeout, verify=False), "http://localhost"
    transport = httpx.AsyncHTTPTransport(verify=False)
    return httpx.AsyncClient(
        transport=transport, timeout=timeout, verify=False
    ), f"http://{upstream.host}:{upstream.port}"


def upstream_headers(
    headers: list[tuple[bytes, bytes]], *, token: str, console_cookies: set[str]
) -> list[tuple[bytes, bytes]]:
    """The browser's headers minus hop-by-hop ones and the console's cookies, plus the upstream's token."""
    out = []
    for name, value in headers:
        if name in HOP_BY_HOP or name.startswith(b"sec-websocket") or name == b"origin":
            continue
        if name == b"cookie":
            kept = [
                part.strip()
                for part in value.decode("latin-1").split(";")
                if part.strip() and part.strip().split("=", 1)[0] not in console_cookies
            ]
            if not kept:
                continue
            value = "; ".join(kept).encode("latin-1")
        out.append((name, value))
    if token:
        out.append((b"authorization", f"token {token}".encode()))
    return out


async def forward_http(
    scope,
    receive,
    send,
    upstream,
    *,
    console_cookies: set[str],
    path: str | None = None,
    body: bytes | None = None,
    unreachable: tuple[str, str] = (
        "The notebook's server is not answering",
        "It may be starting or stopping. Try again in a few seconds.",
    ),
) -> int:
    """Relay one request; returns the upstream's status (502 when it could not be reached).

    ``path`` replaces the request's path upstream; ``body`` replaces its body (already read).
    When the caller goes away mid-response the upstream connection is closed at once, so the
    upstream stops working for nobody (a generation, a long download).
    """
    client, origin = _client_for(upstream)
    url = origin + (path or (scope["raw_path"].decode("latin-1") if scope.get("raw_path") else scope["path"]))
    if scope.get("query_string"):
        url += "?" + scope["query_string"].decode("latin-1")

    async def streamed_body():
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body"):
                return

    headers = upstream_headers(scope["headers"], token=upstream.token, console_cookies=console_cookies)
    if body is not None:
        headers = [(n, v) for n, v in headers if n != b"content-length"]
        content = body
    else:
        content = streamed_body() if scope["method"] not in ("GET", "HEAD", "OPTIONS") else None
    try:
        async with client:
            response = await client.send(
                client.build_request(scope["method"], url, headers=headers, content=content), stream=True
            )
            try:
                relay = (
                    _send_scrubbed(send, response, upstream.token)
                    if _may_carry_token(response)
                    else _send_streamed(send, response)
                )
                await _until_caller_leaves(relay, receive)
            finally:
                await response.aclose()
            return response.status_code
    except httpx.TransportError as error:
        logger.warning("upstream %s unreachable: %s", upstream.base_url or url, error)
        await send_page(send, 502, *unreachable)
        return 502


async def _until_caller_leaves(relay, receive) -> None:
    """Run ``relay``; stop it if the caller disconnects first (the request body was already read)."""
    relaying = asyncio.ensure_future(relay)

    async def caller_left():
        while (await receive())["type"] != "http.disconnect":
            pass

    watching = asyncio.ensure_future(caller_left())
    try:
        await asyncio.wait({relaying, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watching.cancel()
        if not relaying.done():
            relaying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relaying
    if relaying.done() and not relaying.cancelled() and relaying.exception():
        raise relaying.exception()


def _may_carry_token(response: httpx.Response) -> bool:
    # JupyterLab writes the server's token into every page it serves (its page config): pages
    # and JSON are read whole and the token is taken out, so it never reaches the browser.
    kind = response.headers.get("content-type", "")
    return kind.startswith(("text/html", "application/json"))


async def _send_scrubbed(send, response: httpx.Response, token: str) -> None:
    body = await response.aread()
    if token:
        body = body.replace(token.encode(), b"")
    headers = [
        (n, v)
        for n, v in response.headers.raw
        if n.lower() not in HOP_BY_HOP and n.lower() not in (b"content-length", b"content-encoding")
    ]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_streamed(send, response: httpx.Response) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": [(n, v) for n, v in response.headers.raw if n.lower() not in HOP_BY_HOP],
        }
    )
    # Raw bytes: what the upstream compressed stays compressed, nothing is buffered.
    async for chunk in response.aiter_raw():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def forward_websocket(scope, receive, send, upstream, *, console_cookies: set[str]) -> None:
    """Accept the browser's WebSocket only once the upstream accepted ours, then relay frames."""
    path = scope["raw_path"].decode("latin-1") if scope.get("raw_path") else scope["path"]
    if scope.get("query_string"):
        path += "?" + scope["query_string"].decode("latin-1")
    headers = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in upstream_headers(scope["headers"], token=upstream.token, console_cookies=console_cookies)
        if name not in (b"accept-encoding",)
    ]
    subprotocols = scope.get("subprotocols") or None
    try:
        if upstream.unix_socket:
            opened = ws_unix_connect(
                upstream.unix_socket, f"ws://localhost{path}", additional_headers=headers,
                subprotocols=subprotocols, max_size=None, open_timeout=CONNECT_TIMEOUT, compression=None,
            )  # fmt: skip
        else:
            opened = ws_connect(
                f"ws://{upstream.host}:{upstream.port}{path}", additional_headers=headers,
                subprotocols=subprotocols, max_size=None, open_timeout=CONNECT_TIMEOUT, compression=None,
            )  # fmt: skip
        upstream_ws = await opened
    except (OSError, InvalidHandshake, InvalidStatus, TimeoutError) as error:
        logger.warning("upstream WebSocket %s refused: %s", path, error)
        await send({"type": "websocket.close", "code": 1011})
        return
    await send({"type": "websocket.accept", "subprotocol": upstream_ws.subprotocol})

    async def browser_to_upstream():
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await upstream_ws.send(message["bytes"])
            elif message.get("text") is not None:
                await upstream_ws.send(message["text"])

    async def upstream_to_browser():
        with contextlib.suppress(ConnectionClosed):
            async for frame in upstream_ws:
                if isinstance(frame, bytes):
                    await send({"type": "websocket.send", "bytes": frame})
                else:
                    await send({"type": "websocket.send", "text": frame})

    tasks = [asyncio.create_task(browser_to_upstream()), asyncio.create_task(upstream_to_browser())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await upstream_ws.close()
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close", "code": 1000})


async def send_page(send, status: int, title: str, message: str, *, headers=()) -> None:
    body = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        "<link rel='stylesheet' href='/static/css/console.css'></head>"
        "<body><main class='card' style='max-width:40rem;margin:4rem auto;padding:1.5rem'>"
        f"<h1>{escape(title)}</h1><p>{escape(message)}</p><p><a href='/'>ModelArts Console</a></p></main></body></html>"
    )
    data = body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
