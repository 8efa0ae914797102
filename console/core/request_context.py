"""The request being served on this thread, for audit entries written deep in services."""

import contextvars

_request = contextvars.ContextVar("current_request", default=None)


def current_request():
    return _request.get()


def set_current_request(request):
    return _request.set(request)


def reset_current_request(token):
    _request.reset(token)
