"""``python -m console.nodepools.workloads <kind> <id> [--foreground] | --zygote <fifo>``.

A runner for one workload (see runner.py), started on its node by ``launch.launch_runner``.
It runs in its own session, so the worker's task returns at once and the workload survives
the worker being killed or restarted.

Warm start: a Python process needs about a second to import Django and the console, which
would be most of "submit → Running". So each node worker keeps one *zygote*: a process
that has done those imports and waits on a FIFO for ``<kind> <id>`` lines; for each it
forks a runner (fork is milliseconds, and the zygote is single-threaded, so forking is
safe). The zygote dies with its worker (PR_SET_PDEATHSIG); runners it forked live on in
their own sessions. Without a zygote the runner starts cold, exactly the same way.
"""

from __future__ import annotations

import os
import re
import signal
import sys

LINE = re.compile(rb"^([a-z_]{1,32}) (\d{1,18})$")


def _set_parent_death_signal(sig: int = signal.SIGKILL) -> None:
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, sig)  # PR_SET_PDEATHSIG
    except Exception:  # not Linux: the zygote then outlives a killed worker until its FIFO goes
        pass


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()  # the apps' ready() registers their workload kinds


def _run(kind: str, workload_id: int) -> int:
    from console.nodepools.workloads.runner import Runner

    return Runner(kind, workload_id).run()


def zygote(fifo_path: str) -> int:
    """Wait for ``<kind> <id>`` lines on the FIFO; fork a runner for each."""
    parent = os.getppid()
    _set_parent_death_signal()
    if os.getppid() != parent:
        return 0  # the worker died before the line above took effect
    _setup_django()
    # Everything a runner needs, imported once here instead of in every runner.
    from django.db import connections

    import console.nodepools.workloads.runner  # noqa: F401

    connections.close_all()
    # Runners this process forks are reaped by the kernel (they report through the database).
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    # Opened read-write: a writer always finds a reader, and the zygote never sees end-of-file.
    fd = os.open(fifo_path, os.O_RDWR)
    buffer = b""
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            continue
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            match = LINE.match(line.strip())
            if match is None:
                continue
            kind, workload_id = match.group(1).decode(), int(match.group(2))
            if os.fork() == 0:
                os.close(fd)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the runner waits for its workload
                os.setsid()
                _redirect_output(kind, workload_id)
                try:
                    code = _run(kind, workload_id)
                finally:
                    connections.close_all()
                os._exit(code or 0)


def _redirect_output(kind: str, workload_id: int) -> None:
    from console.nodepools.workloads.launch import runner_log_path

    log = os.open(runner_log_path(kind, workload_id), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 2 and argv[0] == "--zygote":
        return zygote(argv[1])
    if len(argv) < 2 or LINE.match(f"{argv[0]} {argv[1]}".encode()) is None:
        print(
            "usage: python -m console.nodepools.workloads <kind> <id> [--foreground] | --zygote <fifo>",
            file=sys.stderr,
        )
        return 2
    kind, workload_id = argv[0], int(argv[1])
    if "--foreground" not in argv:
        # Detach: the launching worker only waits for this fork; the child leads its own session.
        if os.fork() > 0:
            os._exit(0)
        os.setsid()
    _setup_django()
    return _run(kind, workload_id)


if __name__ == "__main__":
    sys.exit(main())
