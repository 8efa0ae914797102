"""A real Jupyter server on a unix socket (one per session) and the front door served by uvicorn."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

NOTEBOOK_ID = "0f0e0d0c-0b0a-4000-8000-000000000042"
BASE_URL = f"/nb/{NOTEBOOK_ID}/"


@dataclass(frozen=True)
class Upstream:
    base_url: str
    unix_socket: str | None
    host: str
    port: int | None
    token: str


class Refusal(Exception):
    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


@pytest.fixture(scope="session")
def jupyter_server():
    """JupyterLab on a unix socket with base_url /nb/<id>/ and a random token, as a node runs it."""
    folder = Path(tempfile.mkdtemp(prefix="nb-"))  # short: a socket path has at most 107 bytes
    sock = folder / "j.sock"
    work = folder / "work"
    work.mkdir()
    token = secrets.token_hex(24)
    env = {
        **os.environ,
        "HOME": str(work),
        "JUPYTER_CONFIG_DIR": str(folder / "cfg"),
        "JUPYTER_DATA_DIR": str(folder / "data"),
    }
    process = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter", "lab", "--no-browser",
            f"--ServerApp.sock={sock}", f"--ServerApp.base_url={BASE_URL}",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
            "--ServerApp.disable_check_xsrf=False", "--allow-root", "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env, stdout=subprocess.DEVNULL, stderr=open(folder / "jupyter.log", "wb"), start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    transport = httpx.HTTPTransport(uds=str(sock))
    while True:
        try:
            answer = httpx.Client(transport=transport).get(
                f"http://localhost{BASE_URL}api/status", headers={"Authorization": f"token {token}"}
            )
            if answer.status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError("Jupyter did not start:\n" + (folder / "jupyter.log").read_text()[-3000:])
        time.sleep(0.3)
    yield Upstream(base_url=BASE_URL, unix_socket=str(sock), host="", port=None, token=token)
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    shutil.rmtree(folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def front_door(transactional_db, jupyter_server, member):
    """The console's ASGI app on 127.0.0.1 with one route to the Jupyter server, owned by `member`."""
    from a2wsgi import WSGIMiddleware

    from console.frontdoor.router import FrontDoor, Route
    from console.wsgi import application as django_wsgi

    def resolve(*, user, notebook_id):
        if notebook_id != NOTEBOOK_ID:
            raise Refusal(404, "Not found", "No such notebook.")
        if user.pk != member.pk:
            raise Refusal(403, "Not yours", "Only the owner of a notebook opens it.")
        return jupyter_server

    app = FrontDoor(
        WSGIMiddleware(django_wsgi), [Route(re.compile(r"^/nb/(?P<notebook_id>[0-9a-f-]{1,64})/"), resolve)]
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", ws="websockets-sansio")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the front door did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def run_async(coroutine):
    """asyncio.run in a thread of its own: Playwright's sync API keeps a loop running in the main thread."""
    result: dict = {}

    def target():
        try:
            result["value"] = asyncio.run(coroutine)
        except BaseException as error:  # re-raised in the caller's thread
            result["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")
