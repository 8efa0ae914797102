"""Benchmark of the front door (issue 13). Not part of CI. See bench/FRONTDOOR.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ma_bench_frontdoor REDIS_URL=redis://127.0.0.1:6379/6 \\
    CONSOLE_VAR_DIR=$PWD/var/bench-frontdoor .venv/bin/python -m bench.frontdoor [--pages 300] [--cells 300]

1. Pages: the same signed-in page (the project list) through gunicorn (console.wsgi, as before the
   front door) and through uvicorn (console.asgi: the front door, pages through a2wsgi), each with
   2 workers on a free 127.0.0.1 port; a NEW connection per request; p50/p95.
2. Kernel round trip: a real JupyterLab on a unix socket; ``execute_request`` → ``execute_reply``
   for the cell ``1``, over a WebSocket straight to Jupyter (with its token) and over the console's
   forwarder (session cookie, Origin), the same kernel, alternating; p50/p95.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BASE_URL = "/nb/00000000-0000-4000-8000-0000000000be/"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def setup() -> tuple[str, str]:
    from bench.training import ensure_database, setup_django

    ensure_database()
    setup_django()
    from django.contrib.auth import get_user_model

    from console.accounts.models import Membership, Organization, Profile, Project, Role

    tag = uuid.uuid4().hex[:6]
    password = uuid.uuid4().hex
    org, _ = Organization.objects.get_or_create(name="bench")
    user = get_user_model().objects.create_user(username=f"door-{tag}", password=password)
    Profile.objects.create(user=user, organization=org)
    project = Project.objects.create(organization=org, name=f"door-{tag}")
    Membership.objects.create(project=project, user=user, role=Role.MEMBER)
    return user.username, password


def start_server(argv: list[str], port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/accounts/login/").status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"{argv[2]} did not start")


def sign_in(base: str, username: str, password: str) -> dict:
    with httpx.Client(base_url=base) as client:
        client.get("/accounts/login/")
        client.post(
            "/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
            headers={"Referer": f"{base}/accounts/login/"},
        )
        return dict(client.cookies)


def time_pages(base: str, cookies: dict, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        with httpx.Client(base_url=base, cookies=cookies) as client:  # a new connection each time
            answer = client.get("/projects/")
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.status_code
    return times


def bench_pages(username: str, password: str, count: int) -> dict:
    python = sys.executable
    results = {}
    servers = {
        "gunicorn (console.wsgi)": lambda port: [
            python, "-m", "gunicorn", "console.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "2",
            "--threads", "8", "--worker-class", "gthread",
        ],
        "uvicorn front door (console.asgi)": lambda port: [
            python, "-m", "uvicorn", "console.asgi:application", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "2", "--ws", "websockets-sansio", "--log-level", "warning",
        ],
    }  # fmt: skip
    for name, argv in servers.items():
        port = free_port()
        process = start_server(argv(port), port)
        try:
            base = f"http://127.0.0.1:{port}"
            cookies = sign_in(base, username, password)
            time_pages(base, cookies, 20)  # warm-up
            results[name] = time_pages(base, cookies, count)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)
    return results


@dataclass(frozen=True)
class Upstream:
    base_url: str
    unix_socket: str
    host: str
    port: int | None
    token: str


def start_jupyter(folder: Path) -> tuple[subprocess.Popen, Upstream]:
    token = secrets.token_hex(24)
    sock = folder / "j.sock"
    (folder / "work").mkdir()
    env = {
        **os.environ,
        "HOME": str(folder / "work"),
        "JUPYTER_CONFIG_DIR": str(folder / "cfg"),
        "JUPYTER_DATA_DIR": str(folder / "data"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--ServerApp.sock={sock}",
         f"--ServerApp.base_url={BASE_URL}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder / 'work'}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    client = httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if (
                client.get(
                    f"http://localhost{BASE_URL}api/status", headers={"Authorization": f"token {token}"}
                ).status_code
                == 200
            ):
                return process, Upstream(BASE_URL, str(sock), "", None, token)
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit("Jupyter did not start")


def start_front_door(upstream: Upstream, owner_id: int) -> tuple[str, object]:
    import uvicorn
    from a2wsgi import WSGIMiddleware

    from console.frontdoor.router import FrontDoor, Route
    from console.wsgi import application as django_wsgi

    def resolve(*, user, notebook_id):
        return upstream

    app = FrontDoor(WSGIMiddleware(django_wsgi), [Route(re.compile(r"^/nb/(?P<notebook_id>[0-9a-f-]+)/"), resolve)])
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def execute_request(msg_id: str) -> str:
    return json.dumps(
        {
            "header": {"msg_id": msg_id, "username": "bench", "session": "bench", "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": "1", "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False},
        }
    )  # fmt: skip


async def round_trips(ws, count: int) -> list[float]:
    times = []
    for _ in range(count):
        msg_id = uuid.uuid4().hex
        started = time.perf_counter()
        await ws.send(execute_request(msg_id))
        while True:
            message = json.loads(await ws.recv())
            if message.get("parent_header", {}).get("msg_id") == msg_id and message["msg_type"] == "execute_reply":
                break
        times.append((time.perf_counter() - started) * 1000)
    return times


async def bench_kernel(base: str, cookies: dict, upstream: Upstream, count: int) -> dict:
    from websockets.asyncio.client import connect, unix_connect

    async with httpx.AsyncClient(base_url=base, cookies=cookies) as client:
        kernel = (
            await client.post(f"{BASE_URL}api/kernels", json={"name": "python3"}, headers={"Origin": base})
        ).json()
    path = f"{BASE_URL}api/kernels/{kernel['id']}/channels"
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    direct = unix_connect(
        upstream.unix_socket,
        f"ws://localhost{path}",
        additional_headers={"Authorization": f"token {upstream.token}"},
        max_size=None,
    )
    forwarded = connect(
        base.replace("http", "ws") + path, additional_headers={"Cookie": cookie, "Origin": base}, max_size=None
    )
    results = {"direct to Jupyter": [], "through the forwarder": []}
    async with direct as ws_direct, forwarded as ws_forwarded:
        await round_trips(ws_direct, 20)
        await round_trips(ws_forwarded, 20)
        for _ in range(count // 10):  # alternate in blocks: both see the same machine load
            results["direct to Jupyter"] += await round_trips(ws_direct, 10)
            results["through the forwarder"] += await round_trips(ws_forwarded, 10)
    return results


def report(title: str, results: dict) -> None:
    print(title)
    for name, times in results.items():
        print(
            f"  {name:36s} p50 {statistics.median(times):7.2f} ms   p95 {percentile(times, 0.95):7.2f} ms   (n={len(times)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--cells", type=int, default=300)
    args = parser.parse_args()
    username, password = setup()
    report("Page /projects/ (signed in, new connection per request):", bench_pages(username, password, args.pages))
    folder = Path(tempfile.mkdtemp(prefix="nbb-"))
    jupyter, upstream = start_jupyter(folder)
    try:
        base, server = start_front_door(upstream, owner_id=0)
        cookies = sign_in(base, username, password)
        report(
            "Kernel round trip (execute_request → execute_reply, cell `1`):",
            asyncio.run(bench_kernel(base, cookies, upstream, args.cells)),
        )
        server.should_exit = True
    finally:
        os.killpg(jupyter.pid, signal.SIGTERM)
        jupyter.wait(20)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
