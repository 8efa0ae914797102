"""A local Ray head for tests and benchmarks: `ray start --head --block` on free ports and a temp
dir of its own (GCS off 6379: Redis is there), stopped by its own process ids — never `ray stop`,
which would stop every Ray head on the machine, other people's too.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

RAY = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalRayHead:
    def __init__(self, *, num_cpus: int = 4, log_path: Path | None = None):
        self.num_cpus = num_cpus
        self.dashboard_port = free_port()
        self.address = f"http://127.0.0.1:{self.dashboard_port}"
        # Short: Ray's socket paths live under it.
        self.temp_dir = tempfile.mkdtemp(prefix="ma-ray-", dir="/tmp")
        self.ports = {
            "--port": free_port(), "--ray-client-server-port": free_port(),
            "--dashboard-agent-listen-port": free_port(), "--dashboard-agent-grpc-port": free_port(),
            "--runtime-env-agent-port": free_port(), "--metrics-export-port": free_port(),
        }  # fmt: skip
        self.log_path = log_path or Path(self.temp_dir) / "ray-start.log"
        self.process: subprocess.Popen | None = None
        self.seen: dict[int, psutil.Process] = {}
        self.env = {
            **os.environ,
            "RAY_USAGE_STATS_ENABLED": "0",
            # A loaded 2-core machine registers the dashboard agent slowly.
            "RAY_agent_register_timeout_ms": "120000",
            "RAY_JOB_STOP_WAIT_TIME_S": "2",
        }

    def start(self, timeout: float = 180) -> LocalRayHead:
        """Start (or start again, on the same ports: a restarted head) and wait for the Jobs API."""
        argv = [
            str(RAY), "start", "--head", "--block", f"--temp-dir={self.temp_dir}", f"--num-cpus={self.num_cpus}",
            "--num-gpus=0", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
            f"--dashboard-port={self.dashboard_port}", "--disable-usage-stats",
            *(f"{flag}={port}" for flag, port in self.ports.items()),
        ]  # fmt: skip
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.family()
            if self.jobs_api_ready() and self.head_node_alive():
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"ray start exited:\n{self.log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        raise RuntimeError(f"the Ray dashboard's Jobs API did not answer in {timeout:.0f} s")

    def jobs_api_ready(self) -> bool:
        try:
            return httpx.get(f"{self.address}/api/jobs/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def head_node_alive(self) -> bool:
        """The Jobs API answers before the raylet has registered: wait for the node too."""
        try:
            body = httpx.get(f"{self.address}/api/v0/nodes", timeout=5).json()
            return any(node.get("state") == "ALIVE" for node in body["data"]["result"]["result"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return False

    def logs_dir(self) -> Path:
        return Path(self.temp_dir) / "session_latest" / "logs"

    def family(self) -> list[psutil.Process]:
        """Its processes now, remembered (one reparented later is still ours): the `ray start`
        group, and every process whose command line names our temp dir (raylet, GCS, workers)."""
        if self.process is not None:
            try:
                root = psutil.Process(self.process.pid)
                for process in [root, *root.children(recursive=True)]:
                    self.seen.setdefault(process.pid, process)
            except psutil.Error:
                pass
        for process in psutil.process_iter(["pid", "cmdline"]):
            try:
                if self.temp_dir in " ".join(process.info["cmdline"] or ()):
                    self.seen.setdefault(process.pid, process)
            except psutil.Error:
                pass
        return list(self.seen.values())

    def stop(self, *, remove: bool = False, kill: bool = False, timeout: float = 30) -> None:
        """Stop this head: SIGTERM to `ray start --block` stops what it started (stragglers are
        killed); ``kill`` kills every process of it at once, as a crash would."""
        self.family()
        if kill:
            for process in self._alive():
                try:
                    process.kill()
                except psutil.Error:
                    pass
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=timeout)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        _, alive = psutil.wait_procs(self._alive(), timeout=10)
        for process in alive:
            try:
                process.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=5)
        self.seen.clear()
        if remove:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def _alive(self) -> list[psutil.Process]:
        alive = []
        for process in self.seen.values():
            try:
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    alive.append(process)
            except psutil.Error:
                pass
        return alive
