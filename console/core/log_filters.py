"""Logging filters named in settings.LOGGING."""

from __future__ import annotations

import logging


class ClientErrorsOneLine(logging.Filter):
    """A refused request (4xx: 403, 404, 405 …) is the client's business, not a bug: Django logs it
    with the exception's traceback; keep the one line ("Forbidden (Permission denied): /path")."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status is not None and status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
