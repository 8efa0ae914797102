"""A workload's private folder on the node: made empty at the start, removed at the end."""

from __future__ import annotations

import shutil
from pathlib import Path

from console.storage.paths import folder_key


class Workspace:
    """``<work dir>/<owner>/<name>/`` with ``logs/``, ``tmp/`` and whatever the kind fetches into it."""

    def __init__(self, root: Path):
        self.root = root

    def create(self) -> None:
        # A folder left by an earlier attempt (a killed runner) must not leak into this one.
        shutil.rmtree(self.root, ignore_errors=True)
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(exist_ok=True)

    def folder(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def fetch(self, backend, folder, into: Path) -> int:
        """Copy a storage folder's files into ``into``; returns how many."""
        return backend.download_dir(folder_key(folder.key), into)

    def remove(self) -> None:
        # The node keeps no copy of a workload's code, inputs or outputs once it ends.
        shutil.rmtree(self.root, ignore_errors=True)
