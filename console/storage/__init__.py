"""Object storage: OBS-style paths and the bucket backends (local disk, S3-compatible).

This package's modules import nothing from Django, so the weight check and the
training runner can use them outside the web process. Import-light: boto3 is
loaded only when an S3 backend is used.
"""

from .backends import (
    BackendFolderReader,
    Entry,
    FolderNotEmpty,
    FolderReader,
    LocalBackend,
    ObjectNotFound,
    SizeMismatch,
    StorageBackend,
    StorageError,
    backend_for,
)
from .paths import ObsPath, PathError, folder_key, parse_obs_path, validate_key

__all__ = [
    "BackendFolderReader",
    "Entry",
    "FolderNotEmpty",
    "FolderReader",
    "LocalBackend",
    "ObjectNotFound",
    "ObsPath",
    "PathError",
    "S3Backend",
    "SizeMismatch",
    "StorageBackend",
    "StorageError",
    "backend_for",
    "folder_key",
    "parse_obs_path",
    "validate_key",
]


def __getattr__(name: str):
    if name == "S3Backend":
        from .backends.s3 import S3Backend

        return S3Backend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
