"""Who is asking: the console's own session, read from the request's cookie (sync, in a thread)."""

from __future__ import annotations

from http.cookies import SimpleCookie
from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user
from django.db import close_old_connections
from django.http import HttpRequest


def cookies_of(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    jar = SimpleCookie()
    for name, value in headers:
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header is no session
                continue
    return {key: morsel.value for key, morsel in jar.items()}


def user_for_session(session_key: str | None):
    """The signed-in, active user of this session, or None. Checks the session's auth hash as
    Django does on every page (a changed password ends the session here too)."""
    if not session_key:
        return None
    try:
        request = HttpRequest()
        request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
        user = get_user(request)
        return user if user.is_authenticated and user.is_active else None
    finally:
        close_old_connections()


def closing_connections(fn):
    """``fn`` for a worker thread outside any Django request: its database connection goes back
    to the pool when it returns (no request_finished signal will close it there)."""

    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        finally:
            close_old_connections()

    return call
