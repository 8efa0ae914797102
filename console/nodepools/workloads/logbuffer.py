"""A workload's log: lines from the process and from the console, masked, capped, kept locally."""

from __future__ import annotations

import threading
from collections import deque

CONSOLE_PREFIX = "[ModelArts Console] "
MASK = "******"
LAST_LINES = 10


class LogBuffer:
    """Every line goes to the local log file and waits in ``pending`` for the reporter.

    Sensitive values are masked in the process's output (not in console lines, which never
    carry them). Past ``cap_bytes`` one notice is written and further output is dropped
    while the process keeps running. Thread-safe: the output reader, the runner and the
    reporter all use it.
    """

    def __init__(self, *, log_file, cap_bytes: int, cap_setting: str = "TRAINING_LOG_CAP_BYTES", secrets=()):
        self.log_file = log_file
        self.cap_bytes = cap_bytes
        self.cap_setting = cap_setting
        self.secrets = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)
        self.lock = threading.Lock()
        self.pending: list[str] = []
        self.recent: deque[str] = deque(maxlen=LAST_LINES)
        self.log_bytes = 0
        self.truncated = False

    def set_secrets(self, secrets) -> None:
        with self.lock:
            self.secrets = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)

    def console_line(self, text: str) -> None:
        for line in text.splitlines() or [""]:
            self.add_line(CONSOLE_PREFIX + line + "\n", redact=False)

    def add_line(self, line: str, *, redact: bool = True) -> None:
        if redact:
            for secret in self.secrets:
                if secret in line:
                    line = line.replace(secret, MASK)
        size = len(line.encode("utf-8"))
        with self.lock:
            if self.truncated:
                return
            if self.log_bytes + size > self.cap_bytes:
                self.truncated = True
                line = (
                    f"{CONSOLE_PREFIX}Log truncated: this task's log reached its cap of {self.cap_bytes} bytes "
                    f"({self.cap_setting}); further output is discarded while the process keeps running.\n"
                )
                size = len(line.encode("utf-8"))
            self.log_bytes += size
            self.pending.append(line)
            self.recent.append(line)
            self.log_file.write(line)

    def drain(self) -> tuple[str, int, bool] | None:
        """(text, bytes so far, truncated) of the lines not yet reported, or None."""
        with self.lock:
            if not self.pending:
                return None
            text = "".join(self.pending)
            self.pending = []
            return text, self.log_bytes, self.truncated

    def last_lines(self) -> str:
        with self.lock:
            lines = [line.rstrip("\n") for line in self.recent]
        return ("\nLast log lines:\n" + "\n".join(lines)) if lines else ""

    def read_stream(self, stream, *, max_line_bytes: int = 64 * 1024, on_line=None) -> None:
        """Read a process's output to its end, line by line (a line longer than the limit is split).

        ``on_line``: also given each line as printed (the scalar reader looks for metric lines).
        """
        while True:
            raw = stream.readline(max_line_bytes)
            if not raw:
                break
            line = raw.decode("utf-8", "replace")
            if not line.endswith("\n"):
                line += "\n"
            if on_line is not None:
                on_line(line)
            self.add_line(line)

    def close(self) -> None:
        if self.log_file is not None:
            self.log_file.close()
