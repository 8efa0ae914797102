"""The ASGI router: forwarded prefixes to the forwarder, everything else to Django's WSGI app."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from asgiref.sync import sync_to_async
from django.conf import settings
from django.shortcuts import resolve_url

from console.frontdoor.auth import closing_connections, cookies_of, user_for_session
from console.frontdoor.calls import Balancer, CallRoute, handle_call
from console.frontdoor.forward import forward_http, forward_websocket, send_page

logger = logging.getLogger("console.frontdoor")

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Route:
    """``pattern`` matches the start of the path; its named groups go to ``resolve`` with the user."""

    pattern: re.Pattern
    resolve: Callable


def own_origin(scope) -> str:
    headers = dict(scope["headers"])
    host = headers.get(b"host", b"").decode("latin-1")
    forwarded = headers.get(b"x-forwarded-proto", b"").decode("latin-1") if settings.PRODUCTION else ""
    scheme = forwarded or ("https" if scope.get("scheme") in ("https", "wss") else "http")
    return f"{scheme}://{host}"


def origin_allowed(scope) -> bool:
    """No cross-site WebSocket hijacking, no cross-site writes: the Origin, when sent, is ours."""
    origin = dict(scope["headers"]).get(b"origin")
    if origin is None:
        # Browsers always send Origin with a WebSocket; without one it is no browser, and the
        # session cookie still has to be there (SameSite keeps it off cross-site requests).
        return True
    return origin.decode("latin-1") == own_origin(scope)


async def _drain_body(receive, limit: int = 8 * 1024 * 1024) -> None:
    read = 0
    while read <= limit:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        read += len(message.get("body", b""))
        if not message.get("more_body"):
            return


class FrontDoor:
    def __init__(self, django_app, routes: list[Route | CallRoute]):
        self.django_app = django_app
        self.routes = routes
        self.balancer = Balancer()

    async def __call__(self, scope, receive, send) -> None:
        await self._dispatch(scope, receive, send)  # an ASGI application returns None

    async def _dispatch(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["type"] in ("http", "websocket"):
            for route in self.routes:
                match = route.pattern.match(scope["path"])
                if match and isinstance(route, CallRoute):
                    if scope["type"] == "websocket":
                        return await send({"type": "websocket.close", "code": 4404})
                    return await handle_call(scope, receive, send, route, match.groupdict(), self.balancer)
                if match:
                    return await self._forward(scope, receive, send, route, match.groupdict())
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4404})
            return
        return await self.django_app(scope, receive, send)

    async def _lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _forward(self, scope, receive, send, route: Route, groups: dict):
        websocket = scope["type"] == "websocket"
        if websocket:
            first = await receive()
            if first["type"] != "websocket.connect":
                return
        if (websocket or scope["method"] not in SAFE_METHODS) and not origin_allowed(scope):
            return await self._refuse(
                send,
                websocket,
                403,
                "Cross-site request refused",
                "This address only answers pages of the console itself.",
                receive=receive,
            )
        cookies = cookies_of(scope["headers"])
        user = await sync_to_async(user_for_session, thread_sensitive=False)(cookies.get(settings.SESSION_COOKIE_NAME))
        if user is None:
            if websocket:
                return await send({"type": "websocket.close", "code": 4401})
            target = quote(
                scope["path"] + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
            )
            location = f"{resolve_url(settings.LOGIN_URL)}?next={target}"
            return await send_page(
                send, 302, "Sign in", "Sign in to open this page.", headers=[(b"location", location.encode())]
            )
        try:
            upstream = await sync_to_async(closing_connections(route.resolve), thread_sensitive=False)(
                user=user, **groups
            )
        except Exception as refusal:
            status = getattr(refusal, "status", None)
            if status is None:
                logger.exception("resolving %s failed", scope["path"])
                return await self._refuse(
                    send, websocket, 500, "Internal error", "The console could not reach this page.", receive=receive
                )
            return await self._refuse(send, websocket, status, refusal.title, refusal.message, receive=receive)
        console_cookies = {settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME, settings.LANGUAGE_COOKIE_NAME}
        if websocket:
            return await forward_websocket(scope, receive, send, upstream, console_cookies=console_cookies)
        await forward_http(scope, receive, send, upstream, console_cookies=console_cookies)  # (its status unused here)

    async def _refuse(self, send, websocket: bool, status: int, title: str, message: str, receive=None):
        if receive is not None and not websocket:
            await _drain_body(receive)  # an unread body would make the connection close with a reset
        if websocket:
            # Before the handshake completes a close is an HTTP 403 to the browser.
            return await send({"type": "websocket.close", "code": 4000 + status if status < 1000 else 4403})
        return await send_page(send, status, title, message)
