"""The storage backend contract, shared helpers and the weight-check folder reader.

Keys are bucket-relative, validated by ``console.storage.paths.validate_key``:
``""`` is the bucket root, a key ending in ``/`` is a folder. Listing returns
folder entries with a trailing ``/`` in ``Entry.path``.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from ..paths import PathError, folder_key, validate_key

MiB = 1024 * 1024
DEFAULT_PART_SIZE = 64 * MiB
# S3 refuses parts below 5 MiB (except the last) and uploads above 10,000 parts.
MIN_PART_SIZE = 5 * MiB
MAX_PARTS = 10_000
COPY_CHUNK = 1 * MiB

ProgressCallback = Callable[[int, int | None], None]


class StorageError(OSError):
    """A storage operation failed for a reason other than a bad path."""


class ObjectNotFound(StorageError, FileNotFoundError):
    """The file or folder does not exist."""


class FolderNotEmpty(StorageError):
    """``delete`` of a folder that still holds something (use ``delete_prefix``)."""


class SizeMismatch(StorageError):
    """``write_stream`` got fewer or more bytes than the ``size`` it was promised."""


@dataclass(frozen=True)
class Entry:
    name: str  # last segment, no slash
    path: str  # bucket-relative key; folders end with "/"
    is_dir: bool
    size: int  # bytes; 0 for folders
    modified: datetime | None  # None for S3 folders (prefixes have no time)


def sort_entries(entries: list[Entry]) -> list[Entry]:
    """Folders first, then files, each by name."""
    return sorted(entries, key=lambda entry: (not entry.is_dir, entry.name))


def read_exact(fileobj: BinaryIO, size: int) -> bytes:
    """Read up to ``size`` bytes, looping over short reads (sockets, upload streams)."""
    chunks = []
    remaining = size
    while remaining > 0:
        chunk = fileobj.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def file_key(key: str) -> str:
    """A key that must name a file: validated and not a folder."""
    validate_key(key)
    if key == "" or key.endswith("/"):
        raise PathError("path_bad_name", name=key)
    return key


def check_range(start: int, length: int | None) -> None:
    if start < 0 or (length is not None and length < 0):
        raise ValueError(f"invalid byte range: start={start}, length={length}")


@runtime_checkable
class FolderReader(Protocol):
    """What the weight check needs from a model folder (see console.weightcheck.reader)."""

    bytes_read: int

    def list_files(self) -> dict[str, int]: ...

    def read(self, path: str, start: int = 0, length: int | None = None) -> bytes: ...


class BackendFolderReader:
    """A folder of any backend seen as a FolderReader: recursive listing + range reads.

    ``bytes_read`` counts the bytes handed to the caller, ``reads`` the requests
    made; the listing is fetched once and remembered (a check is short-lived).
    """

    def __init__(self, backend: StorageBackend, prefix: str):
        self.backend = backend
        self.prefix = folder_key(prefix)
        self.bytes_read = 0
        self.reads = 0
        self._files: dict[str, int] | None = None

    def __repr__(self) -> str:
        return f"BackendFolderReader({self.backend!r}, {self.prefix!r})"

    def list_files(self) -> dict[str, int]:
        if self._files is None:
            start = len(self.prefix)
            self._files = {entry.path[start:]: entry.size for entry in self.backend.walk(self.prefix)}
        return dict(self._files)

    def read(self, path: str, start: int = 0, length: int | None = None) -> bytes:
        check_range(start, length)
        try:
            key = self.prefix + file_key(path)
        except PathError as exc:
            # The weight check handles OSErrors ("cannot be read"); a hostile index
            # file naming "../x" must end up there, not as an unknown error.
            raise StorageError(f"{path!r}: {exc.message}") from exc
        data = self.backend.read_range(key, start, length)
        self.bytes_read += len(data)
        self.reads += 1
        return data


class StorageBackend(ABC):
    """One bucket. All keys are relative to it and validated before use."""

    # -- reading -------------------------------------------------------------

    @abstractmethod
    def list_dir(self, key_prefix: str = "") -> list[Entry]:
        """The folder's direct children, folders first, sorted by name.

        Raises ObjectNotFound if the folder does not exist (the root always does).
        """

    @abstractmethod
    def stat(self, key: str) -> Entry | None:
        """The file or folder at ``key``, or None. ``"a/b"`` finds a file or a folder."""

    def is_dir(self, key: str) -> bool:
        entry = self.stat(key)
        return entry is not None and entry.is_dir

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """A binary stream of the file (close it, or use ``with``)."""

    @abstractmethod
    def read_range(self, key: str, start: int, length: int | None = None) -> bytes:
        """Bytes ``[start, start+length)``; fewer at the end of the file, b"" past it."""

    @abstractmethod
    def walk(self, prefix: str = "") -> Iterator[Entry]:
        """Every file under the folder ``prefix``, recursively (no folder entries)."""

    # -- writing -------------------------------------------------------------

    @abstractmethod
    def write_stream(
        self,
        key: str,
        fileobj: BinaryIO,
        *,
        size: int | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Store the stream at ``key`` without holding it in memory; return bytes written.

        Readers see the old file or the complete new one, never a partial one. If
        ``size`` is given and the stream holds a different number of bytes,
        nothing is stored and SizeMismatch is raised. ``progress(done, size)`` is
        called as data is stored.
        """

    @abstractmethod
    def mkdir(self, key: str) -> None:
        """Create the folder (and its parents); no error if it exists."""

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Delete a file, or an empty folder. False if nothing was there.

        Raises FolderNotEmpty for a folder with content.
        """

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete the folder ``prefix`` and everything in it; return files deleted.

        Refuses the bucket root: emptying a bucket is not a console operation.
        """

    # -- whole folders, used by training jobs ---------------------------------

    def download_dir(self, prefix: str, local_dir: str | os.PathLike) -> int:
        """Copy every file under ``prefix`` into ``local_dir``; return files copied."""
        prefix = folder_key(prefix)
        local_root = Path(local_dir)
        local_root.mkdir(parents=True, exist_ok=True)
        local_root = local_root.resolve()
        count = 0
        for entry in self.walk(prefix):
            relative = entry.path[len(prefix) :]
            # Resolve the folder only: os.replace swaps a link at the last segment
            # for the file, while a linked folder could lead outside local_dir.
            parent_relative, _, name = relative.rpartition("/")
            parent = (local_root / parent_relative).resolve()
            if parent != local_root and local_root not in parent.parents:
                raise PathError("path_escape")
            parent.mkdir(parents=True, exist_ok=True)
            target = parent / name
            with self.open_read(entry.path) as source:
                _atomic_local_write(target, source)
            count += 1
        return count

    def upload_dir(
        self,
        local_dir: str | os.PathLike,
        prefix: str,
        *,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> int:
        """Store every regular file under ``local_dir`` below ``prefix``; return files stored.

        Symlinks are skipped: a training script must not be able to publish
        /etc/passwd by linking it into its output folder.
        """
        prefix = folder_key(prefix)
        local_root = Path(local_dir)
        count = 0
        for dirpath, dirnames, filenames in os.walk(local_root):
            base = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if not (base / d).is_symlink())
            for name in sorted(filenames):
                path = base / name
                if path.is_symlink() or not path.is_file():
                    continue
                key = prefix + path.relative_to(local_root).as_posix()
                with open(path, "rb") as source:
                    size = os.fstat(source.fileno()).st_size
                    self.write_stream(key, source, size=size, part_size=part_size)
                count += 1
        return count

    def folder_reader(self, prefix: str) -> BackendFolderReader:
        return BackendFolderReader(self, prefix)


def _atomic_local_write(target: Path, source: BinaryIO) -> int:
    """Copy a stream to ``target`` through a temp file in the same folder + os.replace."""
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX, suffix=".tmp")
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(COPY_CHUNK):
                out.write(chunk)
                written += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, target)
    except BaseException:
        _unlink_quietly(temp_name)
        raise
    return written


def _unlink_quietly(path: str | os.PathLike) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# Temp files of in-flight local writes; listings hide them.
TEMP_PREFIX = ".modelarts-upload-"
