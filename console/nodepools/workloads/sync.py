"""Output sync: new or changed files of local folders go to their storage folders."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from console.storage.gate import WRITE
from console.storage.paths import folder_key


class OutputSync:
    """Uploads what changed since the last pass (by size and mtime), never following links.

    ``storage_for(obs_url, access)`` returns ``(backend, folder)`` through the authorization
    gate. Safe to call from the periodic thread and from the end of the run (one lock).
    """

    def __init__(self, *, targets, storage_for: Callable):
        self.targets = list(targets)
        self.storage_for = storage_for
        self.uploaded: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def upload_changed(self) -> int:
        """Upload new or changed files of every target; returns files uploaded in this pass."""
        sent = 0
        with self._lock:
            for target in self.targets:
                if not target.local_dir.is_dir():
                    continue
                backend, folder = self.storage_for(target.obs_url, WRITE)
                sent += self._upload_tree(backend, folder_key(folder.key), target.local_dir)
        return sent

    def _upload_tree(self, backend, prefix: str, local: Path) -> int:
        sent = 0
        for dirpath, dirnames, filenames in os.walk(local):
            base = Path(dirpath)
            # Links are not followed: a workload must not publish files from outside its folder.
            dirnames[:] = [d for d in dirnames if not (base / d).is_symlink()]
            for name in filenames:
                path = base / name
                if path.is_symlink() or not path.is_file():
                    continue
                info = path.stat()
                key = prefix + path.relative_to(local).as_posix()
                stamp = (info.st_size, info.st_mtime_ns)
                if self.uploaded.get(key) == stamp:
                    continue
                with open(path, "rb") as source:
                    backend.write_stream(key, source, size=info.st_size)
                self.uploaded[key] = stamp
                sent += 1
        return sent

    def run_periodically(self, *, period: float, done: threading.Event, alive: Callable[[], bool], on_sent, on_error):
        """Until ``done`` is set or the process ended: a pass every ``period`` seconds."""
        while not done.wait(period):
            if not alive():
                return
            try:
                if self.upload_changed():
                    on_sent()
            except Exception as error:
                on_error(error)
