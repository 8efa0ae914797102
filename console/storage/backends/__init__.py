"""Storage backends: one bucket each. ``backend_for(config)`` builds one from settings.

S3Backend is imported lazily so that code which only needs paths or the local
backend does not pay for importing boto3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import (
    DEFAULT_PART_SIZE,
    MIN_PART_SIZE,
    BackendFolderReader,
    Entry,
    FolderNotEmpty,
    FolderReader,
    ObjectNotFound,
    SizeMismatch,
    StorageBackend,
    StorageError,
)
from .local import LocalBackend

if TYPE_CHECKING:
    from .s3 import S3Backend

__all__ = [
    "DEFAULT_PART_SIZE",
    "MIN_PART_SIZE",
    "BackendFolderReader",
    "Entry",
    "FolderNotEmpty",
    "FolderReader",
    "LocalBackend",
    "ObjectNotFound",
    "S3Backend",
    "SizeMismatch",
    "StorageBackend",
    "StorageError",
    "backend_for",
]

_LOCAL_KEYS = {"kind", "root", "create"}
_S3_KEYS = {
    "kind",
    "bucket",
    "endpoint_url",
    "access_key",
    "secret_key",
    "region",
    "prefix",
    "addressing_style",
}


def __getattr__(name: str):
    if name == "S3Backend":
        from .s3 import S3Backend

        return S3Backend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def backend_for(config: dict[str, Any]) -> StorageBackend:
    """Build a backend from ``{"kind": "local", "root": ...}`` or
    ``{"kind": "s3", "bucket": ..., "endpoint_url": ..., "access_key": ...,
    "secret_key": ..., "region": ..., "prefix": ...}``.

    Unknown keys are refused so a misspelt setting fails loudly instead of
    silently falling back to a default.
    """
    kind = config.get("kind")
    if kind == "local":
        _check_keys(config, _LOCAL_KEYS, required={"root"})
        return LocalBackend(config["root"], create=bool(config.get("create", False)))
    if kind == "s3":
        _check_keys(config, _S3_KEYS, required={"bucket"})
        from .s3 import S3Backend

        options = {k: v for k, v in config.items() if k != "kind" and v is not None}
        return S3Backend(**options)
    raise ValueError(f'storage config "kind" must be "local" or "s3", not {kind!r}')


def _check_keys(config: dict[str, Any], allowed: set[str], *, required: set[str]) -> None:
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ValueError(
            f"unknown storage config key(s) for kind {config['kind']!r}: {', '.join(unknown)}"
            f" (allowed: {', '.join(sorted(allowed))})"
        )
    missing = sorted(k for k in required if not config.get(k))
    if missing:
        raise ValueError(f"storage config for kind {config['kind']!r} needs: {', '.join(missing)}")
