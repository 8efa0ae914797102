"""One process group on the node: started from an argument list, pinned, watched, signalled, reaped."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass

import psutil

# Run by the workload's interpreter before it becomes the workload (exec keeps the pid): die
# with the runner, stay on the flavor's cores. No shell: arguments are passed through as they are.
EXEC_WRAPPER = """\
import ctypes, os, sys
try:
    ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG = SIGKILL: the runner's death ends the workload
except Exception:
    pass
if os.getppid() != int(sys.argv[1]):
    os._exit(70)  # the runner died before the line above took effect
if sys.argv[2]:
    try:
        os.sched_setaffinity(0, [int(core) for core in sys.argv[2].split(",")])
    except OSError:
        pass
os.execv(sys.argv[3], sys.argv[3:])
"""


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def exit_code(returncode: int) -> int:
    """Exit codes as a shell (and ModelArts) show them: a signal N is 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def cores_for(want: int) -> list[int]:
    """``want`` cores of this node where it has that many (else all of them)."""
    try:
        available = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return []
    if want and len(available) >= want:
        return available[:want]
    return available


@dataclass(frozen=True)
class Sample:
    cpu_usage: float  # % of the pinned cores
    mem_bytes: int


class ProcessGroup:
    """The workload's processes: a group of their own, so a stop reaches everything they started."""

    def __init__(self, *, cores: list[int]):
        self.cores = cores
        self.proc: subprocess.Popen | None = None
        self._tracked: dict[int, psutil.Process] = {}

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self, argv: list[str], *, env: dict[str, str], cwd) -> None:
        python, *_ = argv
        self.proc = subprocess.Popen(
            [python, "-c", EXEC_WRAPPER, str(os.getpid()), ",".join(str(c) for c in self.cores), *argv],
            cwd=str(cwd),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a stop kills the whole group
            close_fds=True,
        )

    @property
    def stdout(self):
        return self.proc.stdout

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self) -> int:
        return self.proc.wait()

    def signal(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, *, grace_seconds: float) -> None:
        """SIGTERM to the group now, SIGKILL after the grace period if it is still there."""
        if self.proc is None:
            return
        self.signal(signal.SIGTERM)

        def escalate():
            # Even when the leader obeyed, a child of it that ignores SIGTERM may live on in the group.
            self.signal(signal.SIGKILL)

        timer = threading.Timer(grace_seconds, escalate)
        timer.daemon = True
        timer.start()

    def sample(self) -> Sample | None:
        """CPU (% of the pinned cores) and resident memory of the whole tree, or None when it is gone."""
        if not self.running():
            return None
        try:
            root = psutil.Process(self.proc.pid)
            members = [root, *root.children(recursive=True)]
        except psutil.Error:
            return None
        cpu, rss = 0.0, 0
        for member in members:
            # The first cpu_percent of a process is 0.0: keep each one to measure the next interval.
            tracked = self._tracked.setdefault(member.pid, member)
            try:
                cpu += tracked.cpu_percent(None)
                rss += tracked.memory_info().rss
            except psutil.Error:
                continue
        cores = max(1, len(self.cores))
        return Sample(cpu_usage=round(min(100.0, cpu / cores), 3), mem_bytes=rss)
