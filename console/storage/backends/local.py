"""A bucket that is a directory on the local disk (the default backend)."""

from __future__ import annotations

import os
import shutil
import stat as stat_module
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import BinaryIO

from ..paths import PathError, folder_key, validate_key
from .base import (
    COPY_CHUNK,
    DEFAULT_PART_SIZE,
    TEMP_PREFIX,
    Entry,
    FolderNotEmpty,
    ObjectNotFound,
    ProgressCallback,
    SizeMismatch,
    StorageBackend,
    StorageError,
    check_range,
    file_key,
    sort_entries,
)


def _mtime(info: os.stat_result) -> datetime:
    return datetime.fromtimestamp(info.st_mtime, tz=UTC)


class LocalBackend(StorageBackend):
    """Keys map to files under ``root``.

    Every key is resolved with realpath and must stay under root, so symlinks
    inside the bucket work while a symlink pointing outside is refused
    (``path_escape``) on direct access and left out of listings.
    """

    def __init__(self, root: str | os.PathLike, *, create: bool = False):
        if create:
            os.makedirs(root, exist_ok=True)
        self.root = os.path.realpath(root)

    def __repr__(self) -> str:
        return f"LocalBackend({self.root!r})"

    # -- resolution --------------------------------------------------------

    def _inside(self, real: str) -> bool:
        return real == self.root or real.startswith(self.root + os.sep)

    def _real(self, key: str) -> str:
        """The real filesystem path of ``key``, symlinks resolved; refused if outside root."""
        validate_key(key)
        real = os.path.realpath(os.path.join(self.root, key))
        if not self._inside(real):
            raise PathError("path_escape")
        return real

    def _link_path(self, key: str) -> str:
        """The path of ``key`` itself (its parent resolved, its last segment not).

        Used by delete, which must remove a symlink rather than what it points to.
        """
        validate_key(key)
        bare = key.rstrip("/")
        head, _, name = bare.rpartition("/")
        return os.path.join(self._real(head + "/" if head else ""), name)

    def _entries(self, folder: str, real_dir: str) -> Iterator[tuple[Entry, str]]:
        """Children of a folder as (entry, real path); hides temp files, bad names and
        links that leave the bucket."""
        try:
            scan = list(os.scandir(real_dir))
        except FileNotFoundError:
            raise ObjectNotFound(f"folder not found: {folder or '/'}") from None
        except NotADirectoryError:
            raise ObjectNotFound(f"not a folder: {folder}") from None
        for item in scan:
            if item.name.startswith(TEMP_PREFIX):
                continue
            try:
                validate_key(item.name)
            except PathError:
                continue  # not addressable as a key (e.g. a name with a backslash)
            real = os.path.realpath(item.path) if item.is_symlink() else item.path
            if not self._inside(real):
                continue
            try:
                info = os.stat(real)
            except OSError:
                continue  # dangling link
            key = folder + item.name
            if stat_module.S_ISDIR(info.st_mode):
                yield Entry(item.name, key + "/", True, 0, _mtime(info)), real
            elif stat_module.S_ISREG(info.st_mode):
                yield Entry(item.name, key, False, info.st_size, _mtime(info)), real

    # -- reading -----------------------------------------------------------

    def list_dir(self, key_prefix: str = "") -> list[Entry]:
        folder = folder_key(key_prefix)
        return sort_entries([entry for entry, _ in self._entries(folder, self._real(folder))])

    def stat(self, key: str) -> Entry | None:
        validate_key(key)
        if key == "":
            return Entry("", "", True, 0, _mtime(os.stat(self.root)))
        real = self._real(key)
        try:
            info = os.stat(real)
        except (FileNotFoundError, NotADirectoryError):
            return None
        name = key.rstrip("/").rpartition("/")[2]
        if stat_module.S_ISDIR(info.st_mode):
            return Entry(name, folder_key(key), True, 0, _mtime(info))
        if stat_module.S_ISREG(info.st_mode) and not key.endswith("/"):
            return Entry(name, key, False, info.st_size, _mtime(info))
        return None

    def _open_file(self, key: str) -> BinaryIO:
        real = self._real(file_key(key))
        try:
            info = os.stat(real)
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(f"file not found: {key}") from None
        if not stat_module.S_ISREG(info.st_mode):
            # Also keeps a FIFO in the bucket from blocking the worker on open().
            raise ObjectNotFound(f"not a file: {key}")
        return open(real, "rb")

    def open_read(self, key: str) -> BinaryIO:
        return self._open_file(key)

    def read_range(self, key: str, start: int, length: int | None = None) -> bytes:
        check_range(start, length)
        with self._open_file(key) as handle:
            handle.seek(start)
            return handle.read() if length is None else handle.read(length)

    def walk(self, prefix: str = "") -> Iterator[Entry]:
        folder = folder_key(prefix)
        real = self._real(folder)
        if not os.path.isdir(real):
            return
        # Links to folders inside the bucket are followed once; a link cycle is not.
        yield from self._walk(folder, real, visited={real})

    def _walk(self, folder: str, real_dir: str, visited: set[str]) -> Iterator[Entry]:
        for entry, real in sorted(self._entries(folder, real_dir), key=lambda pair: pair[0].name):
            if entry.is_dir:
                if real in visited:
                    continue
                yield from self._walk(entry.path, real, visited | {real})
            else:
                yield entry

    # -- writing -----------------------------------------------------------

    def write_stream(
        self,
        key: str,
        fileobj: BinaryIO,
        *,
        size: int | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        progress: ProgressCallback | None = None,
    ) -> int:
        # part_size only matters to S3; a local copy goes in COPY_CHUNK pieces.
        real = self._real(file_key(key))
        if os.path.isdir(real):
            raise StorageError(f"a folder already exists at {key}")
        parent = os.path.dirname(real)
        try:
            os.makedirs(parent, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise StorageError(f"a file is in the way of the folder for {key}") from None
        # Written beside the target and renamed over it: readers never see half a file,
        # and a failed upload leaves the previous version in place.
        fd, temp_path = tempfile.mkstemp(dir=parent, prefix=TEMP_PREFIX, suffix=".tmp")
        written = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := fileobj.read(COPY_CHUNK):
                    out.write(chunk)
                    written += len(chunk)
                    if size is not None and written > size:
                        raise SizeMismatch(f"{key}: got more than the announced {size} bytes")
                    if progress:
                        progress(written, size)
                if size is not None and written != size:
                    raise SizeMismatch(f"{key}: got {written} of the announced {size} bytes")
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp_path, 0o644)
            os.replace(temp_path, real)
        except BaseException:
            try:
                os.unlink(temp_path)
            except FileNotFoundError:
                pass
            raise
        return written

    def mkdir(self, key: str) -> None:
        folder = folder_key(key)
        if folder == "":
            return
        real = self._real(folder)
        try:
            os.makedirs(real, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise StorageError(f"a file is in the way of the folder {folder}") from None

    def delete(self, key: str) -> bool:
        if validate_key(key) == "":
            raise ValueError("the bucket root cannot be deleted")
        path = self._link_path(key)
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        if stat_module.S_ISDIR(info.st_mode):
            try:
                os.rmdir(path)
            except OSError as exc:
                if os.listdir(path):
                    raise FolderNotEmpty(f"folder is not empty: {folder_key(key)}") from exc
                raise
            return True
        if key.endswith("/") and not stat_module.S_ISLNK(info.st_mode):
            return False  # "a/" names a folder; a file "a" is not it
        os.unlink(path)  # a file, or a link (never what it points to)
        return True

    def delete_prefix(self, prefix: str) -> int:
        folder = folder_key(prefix)
        if folder == "":
            raise ValueError("refusing to delete the whole bucket")
        path = self._link_path(folder)
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return 0
        if not stat_module.S_ISDIR(info.st_mode):
            if stat_module.S_ISLNK(info.st_mode):
                os.unlink(path)  # remove the link, not the folder it points to
            return 0
        count = sum(1 for _, _, filenames in os.walk(path) for name in filenames if not name.startswith(TEMP_PREFIX))
        # rmtree never follows symlinks, so a link inside cannot take files elsewhere.
        shutil.rmtree(path)
        return count
