"""Run the whole console on one machine: web server, Celery worker and Celery beat, supervised.

Ctrl-C (or SIGTERM) stops all three. Any of them that exits on its own (a crash, an
out-of-memory kill, a `kill -9`) is started again by itself: after 1 s, then 2 s, 4 s …
up to SERVE_RESTART_MAX_DELAY_SECONDS while it keeps dying, and from 1 s again once it has
stayed up SERVE_RESTART_RESET_SECONDS. Each program's restarts and last exit are written to
VAR_DIR/serve-status.json, which the health page shows.

This is deliberately a plain loop over a table of programs (supervisord and friends would be
one more daemon to install and configure for three processes); a new program (the notebooks'
ASGI front door) is one more entry in `programs()`.
"""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.management import BaseCommand

STATUS_FILE_NAME = "serve-status.json"


def status_path() -> Path:
    return Path(settings.VAR_DIR) / STATUS_FILE_NAME


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def backoff_delay(streak: int, *, first: float, cap: float) -> float:
    """Delay before the restart that follows `streak` quick exits in a row (1 → first, doubling, capped)."""
    return min(cap, first * 2 ** max(0, streak - 1))


def describe_exit(returncode: int) -> dict:
    """Popen's returncode as the health page shows it: a negative code is the signal that killed it."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return {"code": None, "signal": name, "at": _now_iso()}
    return {"code": returncode, "signal": None, "at": _now_iso()}


@dataclass
class Program:
    name: str
    command: list[str]
    env: dict | None = None
    process: subprocess.Popen | None = None
    started_at: float = 0.0  # monotonic
    started_at_iso: str = ""
    restarts: int = 0
    streak: int = 0  # quick exits in a row: what the backoff doubles on
    last_exit: dict | None = None
    next_start: float | None = None  # monotonic; set while waiting to restart
    next_start_iso: str = ""

    def start(self) -> None:
        # Own process group each: Ctrl-C is handled here, once, in order; and a restart can
        # clean up everything the previous run left (a killed celery main's pool children,
        # web workers still holding the port). Training runners start their own sessions,
        # so they are not part of this group and survive a worker restart.
        self.process = subprocess.Popen(self.command, start_new_session=True, env=self.env)
        self.started_at = time.monotonic()
        self.started_at_iso = _now_iso()
        self.next_start = None

    def kill_group(self, sig=signal.SIGKILL) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def state(self) -> dict:
        running = self.process is not None and self.process.poll() is None
        waiting = self.next_start is not None
        return {
            "pid": self.process.pid if running else None,
            "state": "running" if running else ("restarting" if waiting else "stopped"),
            "started_at": self.started_at_iso if running else None,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "next_start_at": self.next_start_iso if waiting else None,
        }


class Command(BaseCommand):
    help = "Start web + worker + beat together and restart any that dies; Ctrl-C stops them all."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("CONSOLE_BIND", "127.0.0.1:8000"))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2")))

    def programs(self, *, bind: str, web_workers: int) -> list[Program]:
        python = sys.executable
        host, _, port = bind.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        # The worker is also this machine's training node: it joins the default pool (created by
        # setup_console) and consumes that pool's queue besides "platform".
        worker_env = {**os.environ, "CONSOLE_NODE_POOL": os.environ.get("CONSOLE_NODE_POOL", "default")}
        # Prefork children must not inherit a psycopg pool from the worker's main process
        # (closing it in a child would end the parent's sessions): the worker runs without one,
        # each child holding at most one connection (see DATABASES in settings.py).
        worker_env.setdefault("DATABASE_POOL_MAX_SIZE", "0")
        return [
            # The front door (console.asgi): pages and API as the WSGI app in a thread pool,
            # /nb/<id>/ (JupyterLab, WebSockets) through the forwarder.
            Program("web", [
                python, "-m", "uvicorn", "console.asgi:application", "--host", host, "--port", port,
                "--workers", str(web_workers), "--ws", "websockets-sansio", "--no-server-header",
                "--timeout-graceful-shutdown", "10", "--log-level", "warning",
            ]),
            Program("worker", [
                python, "-m", "celery", "-A", "console", "worker", "--loglevel", "INFO",
                "--concurrency", os.environ.get("WORKER_CONCURRENCY", "2"),
                "--queues", os.environ.get("WORKER_QUEUES", "platform"),
                "--hostname", os.environ.get("WORKER_NAME", "worker@%h"),
            ], env=worker_env),
            Program("beat", [
                python, "-m", "celery", "-A", "console", "beat", "--loglevel", "INFO",
                "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ]),
        ]  # fmt: skip

    def write_status(self, programs: list[Program]) -> None:
        path = status_path()
        payload = {
            "supervisor_pid": os.getpid(),
            "updated_at": _now_iso(),
            "processes": {p.name: p.state() for p in programs},
        }
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(payload))
        os.replace(temporary, path)

    def handle(self, *args, bind, web_workers, **options):
        first_delay = float(os.environ.get("SERVE_RESTART_DELAY_SECONDS", "1"))
        max_delay = float(os.environ.get("SERVE_RESTART_MAX_DELAY_SECONDS", "30"))
        reset_after = float(os.environ.get("SERVE_RESTART_RESET_SECONDS", "60"))

        settings.BROKER_DIR.mkdir(parents=True, exist_ok=True)
        for sub in ("queue", "control", "processed"):
            (settings.BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
        programs = self.programs(bind=bind, web_workers=web_workers)
        for program in programs:
            program.start()
        self.write_status(programs)
        self.stdout.write(self.style.SUCCESS(f"ModelArts Console is up: open http://{bind}/  (Ctrl-C stops it)"))

        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while not stopping:
            changed = False
            now = time.monotonic()
            for program in programs:
                if program.next_start is not None:
                    if now >= program.next_start:
                        program.restarts += 1
                        program.start()
                        self.stderr.write(f"{program.name} restarted (restart {program.restarts}).")
                        changed = True
                    continue
                if program.process.poll() is None:
                    if program.streak and now - program.started_at >= reset_after:
                        program.streak = 0  # it stayed up: the next crash is restarted quickly again
                    continue
                returncode = program.process.returncode
                program.kill_group()  # whatever it left behind in its group
                program.last_exit = describe_exit(returncode)
                if now - program.started_at >= reset_after:
                    program.streak = 0
                program.streak += 1
                delay = backoff_delay(program.streak, first=first_delay, cap=max_delay)
                program.next_start = now + delay
                program.next_start_iso = (datetime.now(UTC) + timedelta(seconds=delay)).isoformat()
                how = program.last_exit["signal"] or f"code {returncode}"
                self.stderr.write(f"{program.name} exited ({how}); restarting it in {delay:g} s.")
                changed = True
            if changed:
                self.write_status(programs)
            time.sleep(0.2)

        self.stdout.write("Stopping web, worker and beat...")
        running = [p for p in programs if p.process is not None and p.process.poll() is None]
        for program in running:
            program.kill_group(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for program in running:
            try:
                program.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                program.kill_group(signal.SIGKILL)
                program.process.wait()
        status_path().unlink(missing_ok=True)
        self.stdout.write("Stopped.")
        sys.exit(0)
