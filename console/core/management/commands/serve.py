"""Run the whole console on one machine: web server, Celery worker and Celery beat.

Ctrl-C (or SIGTERM) stops all three. If the web server dies the console stops;
if the worker or beat dies, the web server stays up and the health page shows
what is down.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import BaseCommand


class Command(BaseCommand):
    help = "Start web + worker + beat together; Ctrl-C stops them all."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("CONSOLE_BIND", "127.0.0.1:8000"))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2")))

    def handle(self, *args, bind, web_workers, **options):
        python = sys.executable
        settings.BROKER_DIR.mkdir(parents=True, exist_ok=True)
        for sub in ("queue", "control", "processed"):
            (settings.BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
        commands = {
            "web": [
                python, "-m", "gunicorn", "console.wsgi:application",
                "--bind", bind, "--workers", str(web_workers), "--threads", "8",
                "--worker-class", "gthread", "--access-logfile", "-", "--timeout", "120",
            ],
            "worker": [
                python, "-m", "celery", "-A", "console", "worker", "--loglevel", "INFO",
                "--concurrency", os.environ.get("WORKER_CONCURRENCY", "2"),
                "--queues", os.environ.get("WORKER_QUEUES", "platform"),
                "--hostname", os.environ.get("WORKER_NAME", "worker@%h"),
            ],
            "beat": [
                python, "-m", "celery", "-A", "console", "beat", "--loglevel", "INFO",
                "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        }
        # The worker is also this machine's training node: it joins the default pool (created by
        # setup_console) and consumes that pool's queue besides "platform" (console.training.agent).
        environments = {
            "worker": {
                **os.environ,
                "CONSOLE_NODE_POOL": os.environ.get("CONSOLE_NODE_POOL", "default"),
            },
        }
        processes = {}
        for name, command in commands.items():
            # Own process group each: Ctrl-C is handled here, once, in order.
            processes[name] = subprocess.Popen(command, start_new_session=True, env=environments.get(name))
        self.stdout.write(self.style.SUCCESS(f"ModelArts Console is up: open http://{bind}/  (Ctrl-C stops it)"))

        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        reported = set()
        while not stopping:
            for name, process in processes.items():
                if process.poll() is None or name in reported:
                    continue
                if name == "web":
                    self.stderr.write(f"web exited with code {process.returncode}; stopping the console.")
                    exit_code = process.returncode or 1
                    stopping = True
                    break
                # Without a worker or beat the pages still work and the health page says
                # what is down; an administrator decides when to restart.
                reported.add(name)
                self.stderr.write(
                    f"{name} exited with code {process.returncode}; the web server keeps running and "
                    f"the health page shows {name} down. Restart the console to bring it back."
                )
            time.sleep(0.5)

        self.stdout.write("Stopping web, worker and beat...")
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.stdout.write("Stopped.")
        sys.exit(exit_code)
