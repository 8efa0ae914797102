"""How the weight check reaches a model folder.

The check only ever lists a folder and reads byte ranges from it, so the same code
works on a local directory and, through the storage app's adapter, on an
S3-compatible bucket with range requests. ``CountingReader`` wraps any reader to
record how many bytes the check fetched (the benchmark's "≤ 0.1 % of weight
bytes" figure).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Protocol, runtime_checkable


class ReaderError(OSError):
    """A path that is not in the folder, escapes it, or cannot be read."""


@runtime_checkable
class FolderReader(Protocol):
    def list_files(self) -> dict[str, int]:
        """Every regular file under the folder, recursively: relative posix path -> size."""
        ...

    def read(self, path: str, start: int = 0, length: int | None = None) -> bytes:
        """Bytes ``[start, start+length)`` of ``path`` (to the end when ``length`` is None)."""
        ...


def describe_unlisted(reader: FolderReader, path: str) -> str | None:
    """Why ``path`` is not among the listed files although something is there (a symlink
    leaving the folder, a directory, a FIFO, a symlink loop...), or None when it is simply
    absent or the reader cannot tell. Readers may offer this as ``describe(path)``."""
    describe = getattr(reader, "describe", None)
    if describe is None:
        return None
    try:
        return describe(path)
    except OSError:
        return None


def clean_relative_path(path: str) -> str:
    """Normalise a folder-relative path and refuse anything that could leave the folder."""
    if not isinstance(path, str) or not path or "\x00" in path or "\\" in path:
        raise ReaderError(f"invalid path {path!r}")
    pure = PurePosixPath(path)
    if pure.is_absolute() or any(part in ("..", "") for part in pure.parts):
        raise ReaderError(f"path {path!r} escapes the model folder")
    parts = [part for part in pure.parts if part != "."]
    if not parts:
        raise ReaderError(f"invalid path {path!r}")
    return "/".join(parts)


class LocalFolderReader:
    """A model folder on the local filesystem.

    Symlinks are followed only while they stay inside the folder: a user who can
    upload a symlink must not be able to make the check read ``/etc/shadow``.
    """

    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()
        self._root = str(self.root)
        self._prefix = self._root.rstrip(os.sep) + os.sep

    def __repr__(self) -> str:
        return f"LocalFolderReader({str(self.root)!r})"

    def _inside(self, candidate: str) -> bool:
        return candidate == self._root or candidate.startswith(self._prefix)

    def list_files(self) -> dict[str, int]:
        if not self.root.is_dir():
            raise ReaderError(f"{self.root} is not a folder")
        files: dict[str, int] = {}
        # Symlinked directories are not followed; a symlinked file is kept only when
        # it resolves to a regular file inside the folder.
        pending = [(self._root, "")]
        while pending:
            directory, relative = pending.pop()
            with os.scandir(directory) as entries:
                for entry in entries:
                    name = f"{relative}{entry.name}"
                    try:
                        if entry.is_symlink():
                            target = os.path.realpath(entry.path)
                            info = os.stat(target)
                            if self._inside(target) and stat.S_ISREG(info.st_mode):
                                files[name] = info.st_size
                        elif entry.is_dir(follow_symlinks=False):
                            pending.append((entry.path, f"{name}/"))
                        elif entry.is_file(follow_symlinks=False):
                            files[name] = entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        return dict(sorted(files.items()))

    def describe(self, path: str) -> str | None:
        """See ``describe_unlisted``. Only lstat/stat: nothing is opened (a FIFO would block)."""
        try:
            relative = clean_relative_path(path)
        except ReaderError:
            return None
        joined = os.path.join(self._root, relative)
        try:
            info = os.lstat(joined)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return "reached through a symlink loop"
            if exc.errno == errno.ENOTDIR:
                return None
            return f"not readable ({exc.strerror})"
        parent = os.path.realpath(os.path.dirname(joined))
        if not self._inside(parent):
            return "reached through a symlinked folder that leaves the model folder"
        if stat.S_ISLNK(info.st_mode):
            try:
                target = os.stat(joined)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    return "a symlink loop"
                if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                    return "a broken symlink (what it points to does not exist)"
                return f"a symlink that cannot be followed ({exc.strerror})"
            if not self._inside(os.path.realpath(joined)):
                return "a symlink leaving the model folder (only links to files inside the folder are followed)"
            if not stat.S_ISREG(target.st_mode):
                return f"a symlink to {_kind(target.st_mode)}, not to a regular file"
            return None
        if not stat.S_ISREG(info.st_mode):
            return f"not a regular file: {_kind(info.st_mode)}"
        return None

    def _resolve(self, path: str) -> str:
        relative = clean_relative_path(path)
        resolved = os.path.realpath(os.path.join(self._root, relative))
        if not self._inside(resolved):
            raise ReaderError(f"path {path!r} escapes the model folder")
        if not os.path.isfile(resolved):
            raise ReaderError(f"{relative}: not found or not a regular file")
        return resolved

    def read(self, path: str, start: int = 0, length: int | None = None) -> bytes:
        if start < 0 or (length is not None and length < 0):
            raise ReaderError(f"invalid range {start}+{length} for {path!r}")
        resolved = self._resolve(path)
        # O_NONBLOCK: if the file was swapped for a FIFO since the check above, opening it
        # returns at once instead of waiting for a writer; fstat then refuses it.
        descriptor = os.open(resolved, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with open(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise ReaderError(f"{path}: not a regular file")
            os.set_blocking(descriptor, True)
            handle.seek(start)
            return handle.read() if length is None else handle.read(length)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


class CountingReader:
    """Wraps a reader, remembers the listing and counts the bytes fetched through it."""

    def __init__(self, inner: FolderReader):
        self.inner = inner
        self.bytes_read = 0
        self.reads = 0
        self._files: dict[str, int] | None = None

    def list_files(self) -> dict[str, int]:
        if self._files is None:
            self._files = dict(self.inner.list_files())
        return self._files

    def describe(self, path: str) -> str | None:
        return describe_unlisted(self.inner, path)

    def read(self, path: str, start: int = 0, length: int | None = None) -> bytes:
        data = self.inner.read(path, start, length)
        self.bytes_read += len(data)
        self.reads += 1
        return data
