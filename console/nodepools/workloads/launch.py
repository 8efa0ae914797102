"""Starting runners on this node: through its warm zygote when it has one, else cold."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys

from django.conf import settings

logger = logging.getLogger(__name__)

RUNNER_MODULE = "console.nodepools.workloads"


def local_node_name() -> str | None:
    """This process's node, when it runs inside a worker started with a pool (CONSOLE_NODE_POOL)."""
    if not os.environ.get("CONSOLE_NODE_POOL"):
        return None
    return os.environ.get("CONSOLE_NODE_NAME") or socket.gethostname()


def _log_dir():
    path = settings.TRAINING_WORK_DIR / "runner-logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def runner_log_path(kind: str, workload_id: int):
    """A runner's own stderr (its internal errors; the workload's log goes to the database)."""
    prefix = "task" if kind == "training" else kind
    return _log_dir() / f"{prefix}-{workload_id}.log"


def zygote_fifo(node_name: str | None):
    """Where this node's warm runner listens for ``<kind> <id>`` lines."""
    if not node_name:
        return None
    return settings.TRAINING_WORK_DIR / "zygotes" / f"{node_name}.fifo"


def _send_to_zygote(kind: str, workload_id: int) -> bool:
    path = zygote_fifo(local_node_name())
    if path is None:
        return False
    try:
        # Non-blocking: with no zygote reading (ENXIO) or no FIFO (ENOENT) we start cold instead.
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        os.write(fd, f"{kind} {workload_id}\n".encode())  # shorter than PIPE_BUF: written whole or not at all
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def launch_runner(kind: str, workload_id: int) -> None:
    """Start the workload's runner on this node, detached from this worker.

    Through the node's zygote when it has one (a fork of an already set-up process:
    milliseconds), else ``python -m console.nodepools.workloads <kind> <id>`` (it forks into
    its own session at once). Either way the runner outlives this worker: killing or
    restarting the Celery worker leaves running workloads running, and they keep reporting.
    """
    if _send_to_zygote(kind, workload_id):
        return
    with open(runner_log_path(kind, workload_id), "ab") as log:
        result = subprocess.run(
            [sys.executable, "-m", RUNNER_MODULE, kind, str(workload_id)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(settings.BASE_DIR),
            timeout=60,
            check=False,
        )
    if result.returncode != 0:
        logger.error("runner for %s %s did not start (exit %s)", kind, workload_id, result.returncode)


def start_zygote(node_name: str):
    """Start this node's warm runner (called by the node agent in the worker's main process)."""
    path = zygote_fifo(node_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    os.mkfifo(path, 0o600)
    with open(_log_dir() / f"zygote-{node_name}.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", RUNNER_MODULE, "--zygote", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(settings.BASE_DIR),
            start_new_session=True,
        )
