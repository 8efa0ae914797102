"""Shared request/response schemas.

Request bodies are strict: a field of the wrong JSON type is refused instead of
coerced ("1" is not an integer), and fields the seed's requests do not have are
refused instead of silently dropped, so a typo in a script fails loudly.
"""

from __future__ import annotations

from ninja import Schema
from pydantic import ConfigDict


class RequestBody(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)


class LenientBody(Schema):
    """For objects whose fields the seed leaves open (e.g. `advanced_config`): types still strict."""

    model_config = ConfigDict(extra="allow", strict=True)


class ErrorOut(Schema):
    error_code: str
    error_msg: str


def with_errors(ok: dict, *statuses: int) -> dict:
    """A ninja `response=` mapping: the success schemas plus the seed's error body for `statuses`."""
    return {**ok, **dict.fromkeys(statuses, ErrorOut)}


# Every operation that takes a token can answer these.
AUTHED = (400, 401, 403)
