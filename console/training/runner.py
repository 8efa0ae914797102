"""The runner beside one task: ``python -m console.training.runner <task-id>``.

Started on a node (console.training.services.scheduling.launch_runner), it runs in its own
session, so the worker's task returns at once and the job survives the worker being killed
or restarted. Then:

1. claims its task by compare-and-set (assigned → starting; a duplicate launch exits);
2. downloads the code and inputs through the storage gate, on behalf of the job's
   creator, to ``<work>/<job>/<task>/code``, ``…/inputs/<name>_0``; creates ``…/outputs/<name>_0``;
3. for distributed jobs, worker-0 publishes a rendezvous port; the others wait for it;
4. runs the boot file with the engine's interpreter as its own process group, with an
   argument list (``--<param>=<value>``, ``--<input>=<dir>``, ``--<output>=<dir>``; never a shell),
   pinned to the flavor's cores, killed if its memory goes over the flavor's;
5. while it runs: heartbeats, reads stop requests, writes log lines (batched every
   TRAINING_LOG_FLUSH_SECONDS, sensitive values masked, capped at TRAINING_LOG_CAP_BYTES)
   and CPU/memory samples to the database, uploads outputs every TRAINING_OUTPUT_UPLOAD_PERIOD s;
6. at the end: final upload, log export to the job's log folder, local copies removed,
   exit code and reason reported, the job reconciled at once.

If the runner itself dies (kill -9), the script dies with it (PR_SET_PDEATHSIG) and the
poller marks the task Lost when its heartbeat stops.

Warm start: a Python process needs about a second to import Django and the console, which
would be most of "submit → Running". So each node worker keeps one *zygote*
(``python -m console.training.runner --zygote <fifo>``): a process that has done those
imports and waits on a FIFO for task ids; for each it forks a runner (fork is milliseconds,
and the zygote is single-threaded, so forking is safe). The zygote dies with its worker
(PR_SET_PDEATHSIG); runners it forked live on in their own sessions. Without a zygote the
runner starts cold, exactly the same way.
"""

from __future__ import annotations

import os
import signal
import sys


def _set_parent_death_signal(sig: int = signal.SIGKILL) -> None:
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, sig)  # PR_SET_PDEATHSIG
    except Exception:  # not Linux: the zygote then outlives a killed worker until its FIFO goes
        pass


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()


def _run_task(task_id: int) -> int:
    from console.training.runner_core import Runner

    return Runner(task_id).run()


def zygote(fifo_path: str) -> int:
    """Wait for task ids on the FIFO; fork a runner for each."""
    parent = os.getppid()
    _set_parent_death_signal()
    if os.getppid() != parent:
        return 0  # the worker died before the line above took effect
    _setup_django()
    # Everything a runner needs, imported once here instead of in every runner.
    import console.training.runner_core  # noqa: F401
    import console.training.services.reconcile  # noqa: F401
    from django.db import connections

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
            line = line.strip()
            if not line.isdigit():
                continue
            if os.fork() == 0:
                os.close(fd)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the runner waits for its script
                os.setsid()
                _redirect_output(int(line))
                try:
                    code = _run_task(int(line))
                finally:
                    connections.close_all()
                os._exit(code or 0)


def _redirect_output(task_id: int) -> None:
    from django.conf import settings

    log_dir = settings.TRAINING_WORK_DIR / "runner-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = os.open(log_dir / f"task-{task_id}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 2 and argv[0] == "--zygote":
        return zygote(argv[1])
    if not argv or not argv[0].isdigit():
        print("usage: python -m console.training.runner <task-id> [--foreground] | --zygote <fifo>", file=sys.stderr)
        return 2
    task_id = int(argv[0])
    if "--foreground" not in argv:
        # Detach: the launching worker only waits for this fork; the child leads its own session.
        if os.fork() > 0:
            os._exit(0)
        os.setsid()
    _setup_django()
    return _run_task(task_id)


if __name__ == "__main__":
    sys.exit(main())
