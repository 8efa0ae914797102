"""`manage.py serve` on the embedded defaults: the front door (uvicorn), a worker and beat come up together and stop together."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(fn, *, timeout, what, interval=0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = fn()
            if result:
                return result
        except (httpx.HTTPError, OSError) as error:
            last = error
        time.sleep(interval)
    raise AssertionError(f"{what} not seen in {timeout}s (last error: {last!r})")


def health_states(html: str) -> dict[str, str]:
    rows = re.findall(r'<tr data-check="(\w+)">.*?<span class="badge badge-\w+">(\w+)</span>', html, re.S)
    return dict(rows)


def supervision(html: str) -> dict[str, tuple[str, str]]:
    """{part: (restarts, last exit text)} from the health page's supervision columns."""
    rows = re.findall(
        r'<tr data-check="(\w+)">.*?<td data-restarts="(\d*)">.*?<td data-last-exit>(.*?)</td>', html, re.S
    )
    return {name: (restarts, last_exit) for name, restarts, last_exit in rows if restarts}


@pytest.fixture
def embedded_env(tmp_path):
    """The one-machine defaults: no DATABASE_URL / REDIS_URL, everything under a fresh var dir."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    env.update(
        DJANGO_SETTINGS_MODULE="console.settings",
        CONSOLE_VAR_DIR=str(tmp_path / "var"),
        PYTHONUNBUFFERED="1",
        WORKER_CONCURRENCY="1",
    )
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


def test_it_runs_web_worker_and_beat_and_ctrl_c_stops_them_all(embedded_env, tmp_path):
    setup = subprocess.run(
        [sys.executable, "manage.py", "setup_console"],
        cwd=ROOT,
        env=embedded_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert setup.returncode == 0, setup.stderr
    password = re.search(r"password: (\S+)", setup.stdout).group(1)
    assert "Database: sqlite3; broker: filesystem" in setup.stdout

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "serve.log", "w")
    serve = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{port}", "--web-workers", "1"],
        cwd=ROOT,
        env=embedded_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    children = []
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            login = poll(
                lambda: (r := http.get("/accounts/login/")).status_code == 200 and r, timeout=60, what="the front door"
            )
            assert "server" not in login.headers  # --no-server-header: nothing to fingerprint
            assert login.headers["X-Request-Id"]
            assert http.get("/static/css/console.css").status_code == 200  # whitenoise, from collectstatic

            children = psutil.Process(serve.pid).children(recursive=True)
            commands = [" ".join(p.cmdline()) for p in children]
            assert any("uvicorn console.asgi:application" in c for c in commands)
            assert any("celery" in c and " worker" in c for c in commands)
            assert any("celery" in c and " beat" in c for c in commands)

            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
            signed_in = http.post(
                "/accounts/login/",
                data={"username": "admin", "password": password, "csrfmiddlewaretoken": token},
                headers={"Referer": f"{base}/accounts/login/"},
            )
            assert signed_in.status_code == 302, signed_in.text

            def all_up():
                states = health_states(http.get("/admin/health/").text)
                return states if states and set(states.values()) == {"Up"} else None

            states = poll(all_up, timeout=60, what="web, database, broker, worker and beat up", interval=2)
            assert set(states) == {"web", "database", "broker", "worker", "beat"}

            # A worker that exits is started again by the run command; the health page counts it.
            worker = next(
                p for p in children if "celery" in " ".join(p.cmdline()) and " worker" in " ".join(p.cmdline())
            )
            os.killpg(worker.pid, signal.SIGTERM)

            def worker_back():
                html = http.get("/admin/health/").text
                states = health_states(html)
                restarts = supervision(html).get("worker")
                return (states, restarts) if states.get("worker") == "Up" and restarts and restarts[0] == "1" else None

            states, (restarts, last_exit) = poll(
                worker_back, timeout=90, what="the worker restarted and up", interval=2
            )
            assert "exit code 0" in last_exit  # a warm shutdown (SIGTERM) exits 0: restarted all the same
            assert states["web"] == "Up" and states["database"] == "Up"
            assert serve.poll() is None
            children = psutil.Process(serve.pid).children(recursive=True)
            assert worker.pid not in [p.pid for p in children]
    finally:
        if serve.poll() is None:
            serve.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            code = serve.wait(timeout=60)
        finally:
            survivors = [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
            for p in survivors:
                p.kill()
            log.close()
    assert code == 0, (tmp_path / "serve.log").read_text()[-3000:]
    assert survivors == [], f"still running after Ctrl-C: {[p.cmdline() for p in survivors]}"
    assert "Stopped." in (tmp_path / "serve.log").read_text()
