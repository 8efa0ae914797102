"""API errors: `{"error_code": "ModelArts.XXXX", "error_msg": "…"}` with a stable code per failure.

The seed's response tables give every error body as error_code + error_msg and
every response an X-Request-Id (added by console.core.middleware). Scripts
branch on error_code, so a code, once given a meaning here, keeps it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErrorKind:
    code: str
    status: int
    # What the failure means, for the OpenAPI description (the message itself is per call).
    meaning: str


# code → kind. Grouped: 01xx authentication and scope, 02xx request shape,
# 10xx training, 20xx agencies and authorizations, 05xx server.
KINDS: dict[str, ErrorKind] = {
    kind.code: kind
    for kind in [
        ErrorKind("ModelArts.0101", 401, "No X-Auth-Token header."),
        ErrorKind("ModelArts.0102", 401, "The token is not one this console issued."),
        ErrorKind("ModelArts.0103", 401, "The token expired (tokens are valid for 24 hours)."),
        ErrorKind("ModelArts.0104", 401, "The token was revoked (password change, reset or deactivation)."),
        ErrorKind("ModelArts.0105", 403, "The token is scoped to another project than the one in the path."),
        ErrorKind("ModelArts.0106", 403, "The token's user is no longer a member of the project."),
        ErrorKind("ModelArts.0107", 403, "The caller's role (viewer) may read but not change."),
        ErrorKind("ModelArts.0108", 403, "Only project administrators may do this."),
        ErrorKind("ModelArts.0111", 401, "Wrong user name, password or domain name."),
        ErrorKind("ModelArts.0112", 429, "Too many failed attempts: locked for a while."),
        ErrorKind("ModelArts.0113", 401, "The scope names no project the user is a member of."),
        ErrorKind("ModelArts.0114", 400, "Unsupported authentication method."),
        ErrorKind("ModelArts.0201", 400, "The request body is not valid JSON."),
        ErrorKind("ModelArts.0202", 400, "A parameter is missing, of the wrong type, out of range or unknown."),
        ErrorKind("ModelArts.0203", 413, "The request body is too large."),
        ErrorKind("ModelArts.0204", 404, "No such API path."),
        ErrorKind("ModelArts.0205", 405, "The path does not accept this HTTP method."),
        ErrorKind("ModelArts.0500", 500, "Internal error; quote the X-Request-Id when reporting it."),
        ErrorKind("ModelArts.1001", 400, "Unknown flavor_id."),
        ErrorKind("ModelArts.1002", 400, "Unknown engine."),
        ErrorKind("ModelArts.1003", 404, "No such algorithm in this project."),
        ErrorKind("ModelArts.1004", 409, "An algorithm with this name already exists in the project."),
        ErrorKind("ModelArts.1005", 409, "The algorithm is used by training jobs."),
        ErrorKind("ModelArts.1006", 404, "No such training job in this project."),
        ErrorKind("ModelArts.1007", 404, "The training job has no such task."),
        ErrorKind("ModelArts.1008", 409, "The training job cannot do this in its current phase."),
        ErrorKind("ModelArts.1009", 404, "The task has no log yet."),
        ErrorKind("ModelArts.1010", 403, "The log link is invalid or expired."),
        ErrorKind("ModelArts.1011", 400, "The training job or algorithm request breaks a rule."),
        ErrorKind("ModelArts.1012", 409, "No node can run the job (no node pool or no free node)."),
        ErrorKind("ModelArts.2001", 400, "Invalid agency name suffix."),
        ErrorKind("ModelArts.2002", 409, "The agency already exists."),
        ErrorKind("ModelArts.2003", 400, "No such user in the project."),
        ErrorKind("ModelArts.2004", 400, "No such agency in the project."),
        ErrorKind("ModelArts.2005", 400, "Invalid authorization content or secret."),
        ErrorKind("ModelArts.2006", 404, "The user has no authorization."),
        ErrorKind("ModelArts.2007", 403, "No authorization to reach the storage (委托授权)."),
    ]
}


class ApiError(Exception):
    """Raised anywhere in the API layer; rendered as the seed's error body."""

    def __init__(self, code: str, message: str, *, headers: dict | None = None):
        self.kind = KINDS[code]
        self.code = code
        self.status = self.kind.status
        self.message = str(message)
        self.headers = headers or {}
        super().__init__(f"{code}: {self.message}")


def error_body(code: str, message: str) -> dict:
    return {"error_code": code, "error_msg": str(message)}


def refusals(error: DjangoValidationError) -> list[tuple[str, str | None, str]]:
    """(field, code, message) of each refusal in a service's ValidationError, in the service's order.

    A refusal about one entry of a list field (an input, an output) carries the entry's name in
    ``params["name"]``; its field is given as ``field[name]``.
    """
    if not hasattr(error, "error_dict"):
        return [
            ("__all__", getattr(item, "code", None), message)
            for item, message in zip(error.error_list, error.messages, strict=True)
        ]
    found = []
    for field, items in error.error_dict.items():
        for item in items:
            message = item.message % item.params if item.params else item.message
            name = (item.params or {}).get("name") if field != "__all__" else None
            found.append((f"{field}[{name}]" if name else field, item.code, str(message)))
    return found


def validation_message(error: DjangoValidationError) -> str:
    """A service's ValidationError as one line: "field: message; other: message"."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    by_field: dict[str, list[str]] = {}
    for field, _code, message in refusals(error):
        by_field.setdefault(field, []).append(message)
    return "; ".join(
        " ".join(texts) if field == "__all__" else f"{field}: {' '.join(texts)}" for field, texts in by_field.items()
    )


def from_validation_error(
    error: DjangoValidationError, *, default: str = "ModelArts.0202", codes=None, alone=None
) -> ApiError:
    """Translate a service ValidationError, choosing the API code from the error's code or field.

    `codes` maps a service error code or a field name to an API code, so one
    service rule gets one stable API code wherever it fires; the first refusal (in the
    service's order) with a mapped code chooses. `alone` maps codes that outrank all
    others, in its own order, and are answered with their own message only (a missing
    storage authorization is reported as itself, whatever else is wrong).
    """
    found = refusals(error)
    for wanted, api_code in (alone or {}).items():
        for _field, code, message in found:
            if code == wanted:
                return ApiError(api_code, message)
    codes = codes or {}
    chosen = default
    for key in _error_codes(error):
        if key in codes:
            chosen = codes[key]
            break
    return ApiError(chosen, validation_message(error))


def _error_codes(error: DjangoValidationError) -> list[str]:
    keys = []
    if getattr(error, "code", None):
        keys.append(error.code)
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            for item in errors:
                if getattr(item, "code", None):
                    keys.append(item.code)
            keys.append(field)
    elif hasattr(error, "error_list"):
        keys.extend(item.code for item in error.error_list if getattr(item, "code", None))
    return keys


# --- turning pydantic's complaints into one precise line ---------------------------------

_SOURCES = {"body": "", "query": "query parameter ", "path": "path parameter ", "header": "header "}


def _where(loc) -> str:
    loc = list(loc)
    source = loc.pop(0) if loc and loc[0] in _SOURCES else "body"
    # ninja nests a body under the view's parameter name; callers never see it.
    if source == "body" and loc and loc[0] == "payload":
        loc.pop(0)
    dotted = ""
    for part in loc:
        dotted += f"[{part}]" if isinstance(part, int) else (f".{part}" if dotted else str(part))
    if source == "body":
        return dotted or _("request body")
    return f"{_SOURCES[source]}{dotted}"


def _what(error: dict) -> str:
    kind = error.get("type", "")
    if kind == "missing":
        return _("is required")
    if kind == "extra_forbidden":
        return _("is not a known field")
    message = error.get("msg", "")
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return message[:1].lower() + message[1:]


def pydantic_message(errors: list[dict]) -> str:
    parts = []
    for error in errors[:10]:
        parts.append(f"{_where(error.get('loc', ()))}: {_what(error)}")
    if len(errors) > 10:
        parts.append(_("and %(count)d more") % {"count": len(errors) - 10})
    return "; ".join(parts)
