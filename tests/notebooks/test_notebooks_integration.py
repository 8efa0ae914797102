"""Notebooks for real: a node worker (celery + beat) launches a runner that runs a real JupyterLab."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from console.core.secrets import decrypt_secret
from console.notebooks.jupyter import JupyterClient
from console.notebooks.models import Notebook, NotebookEvent
from console.notebooks.services import NotebookSpec, notebook_create, notebook_start, notebook_stop
from console.notebooks.states import FAILED, State
from tests.notebooks.conftest import TEST_FLAVOR, wait_for

pytestmark = pytest.mark.integration


def state_of(notebook):
    return Notebook.objects.filter(pk=notebook.pk).values_list("state", flat=True).first()


def wait_state(notebook, states, timeout=90):
    states = (states,) if isinstance(states, str) else states
    try:
        wait_for(
            lambda: state_of(notebook) in (*states, *FAILED),
            timeout=timeout,
            message=f"{notebook.name} to reach {states}",
        )
    except AssertionError as error:
        events = list(NotebookEvent.objects.filter(notebook=notebook).values_list("kind", "message"))
        row = Notebook.objects.get(pk=notebook.pk)
        raise AssertionError(f"{error}; it is {row.state} ({row.fail_reason}); events: {events}") from None
    row = Notebook.objects.get(pk=notebook.pk)
    if row.state not in states:
        events = list(NotebookEvent.objects.filter(notebook=notebook).values_list("kind", "message"))
        raise AssertionError(f"{notebook.name} is {row.state} ({row.fail_reason}); events: {events}")
    return row


def client(notebook) -> JupyterClient:
    notebook = Notebook.objects.get(pk=notebook.pk)
    return JupyterClient(
        base_url=f"/nb/{notebook.uuid}/",
        token=decrypt_secret(notebook.token_encrypted),
        socket_path=notebook.socket_path,
    )


def create(project, owner, name, **extra):
    from console.notebooks.models import Image

    image = Image.objects.first()
    return notebook_create(
        actor=owner,
        project=project,
        spec=NotebookSpec(name=name, flavor_id=TEST_FLAVOR["flavor_id"], image_id=str(image.image_id), **extra),
    )


def test_create_run_stop_start_keeps_files_and_runner_kill_is_error(
    storage_project, member, notebook_node, bucket_root, tmp_path
):
    _worker, node = notebook_node()
    (bucket_root / "data").mkdir()
    (bucket_root / "data" / "train.csv").write_text("x,y\n1,2\n")
    notebook = create(storage_project, member, "nb-one", data_path=f"obs://{storage_project.bucket.name}/data/")
    assert notebook.state in (State.CREATING, State.STARTING)
    notebook = wait_state(notebook, State.RUNNING)
    assert notebook.node_id == node.pk and notebook.lease_create_at is not None
    first_token = decrypt_secret(notebook.token_encrypted)
    jupyter = client(notebook)
    assert "started" in jupyter.status()
    jupyter.request("PUT", "api/contents/hello.txt", {"type": "file", "format": "text", "content": "kept\n"})
    # The data folder is there, read-only.
    data = jupyter.request("GET", "api/contents/data/train.csv?content=1")
    assert data["content"] == "x,y\n1,2\n"
    local = Path(Notebook.objects.get(pk=notebook.pk).local_dir) / "data" / "train.csv"
    assert local.stat().st_mode & 0o777 == 0o444

    # A package installed with `pip install --user` lands in the work folder's user site and is saved
    # with it (the image's virtualenv runs through a layered interpreter whose user site is on).
    wheels = tiny_wheel(tmp_path / "wheels")
    printed = execute(
        notebook,
        "import os, subprocess, sys\n"
        f"r = subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-index', '--find-links', '{wheels}', "
        "'--user', 'nbtestpkg'], capture_output=True, text=True)\n"
        "print(r.returncode, r.stdout[-300:], r.stderr[-300:])",
    )
    assert printed.startswith("0 "), printed

    notebook_stop(actor=member, notebook=notebook)
    # A second stop changes nothing (idempotent).
    notebook_stop(actor=member, notebook=notebook)
    notebook = wait_state(notebook, State.STOPPED)
    kinds = list(NotebookEvent.objects.filter(notebook=notebook).values_list("kind", flat=True))
    assert "snapshot" in kinds
    saved = bucket_root / "notebooks" / str(notebook.uuid) / "work"
    assert (saved / "hello.txt").read_text() == "kept\n"
    assert not (saved / "data").exists()  # the data folder is never written back

    notebook_start(actor=member, notebook=notebook)
    notebook = wait_state(notebook, State.RUNNING)
    assert decrypt_secret(notebook.token_encrypted) != first_token  # rotated on every start
    content = client(notebook).request("GET", "api/contents/hello.txt?content=1")
    assert content["content"] == "kept\n"
    assert execute(notebook, "import nbtestpkg; print(nbtestpkg.VALUE * 1)").strip() == "42"

    os.kill(notebook.runner_pid, signal.SIGKILL)
    notebook = wait_state(notebook, State.ERROR, timeout=30)
    assert "no heartbeat" in notebook.fail_reason


def execute(notebook, code: str, *, kernel_id: str | None = None, timeout: float = 120) -> str:
    """Run a cell in a kernel through Jupyter's kernel API on the socket; returns what it printed."""
    import json
    import uuid
    from datetime import UTC, datetime

    from websockets.sync.client import unix_connect

    jupyter = client(notebook)
    if kernel_id is None:
        kernel_id = jupyter.request("POST", "api/kernels", {"name": "python3"}, timeout=30)["id"]
    session = uuid.uuid4().hex
    msg_id = uuid.uuid4().hex
    message = {
        "header": {
            "msg_id": msg_id,
            "username": "test",
            "session": session,
            "msg_type": "execute_request",
            "version": "5.3",
            "date": datetime.now(UTC).isoformat(),
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
        },
        "channel": "shell",
        "buffers": [],
    }
    uri = f"ws://localhost/nb/{notebook.uuid}/api/kernels/{kernel_id}/channels?session_id={session}"
    output = []
    with unix_connect(jupyter.socket_path, uri, additional_headers={"Authorization": f"token {jupyter.token}"}) as ws:
        ws.send(json.dumps(message))
        while True:
            reply = json.loads(ws.recv(timeout=timeout))
            if reply.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if reply.get("msg_type") == "stream":
                output.append(reply["content"]["text"])
            elif reply.get("msg_type") == "error":
                output.append("\n".join(reply["content"]["traceback"]))
            elif reply.get("msg_type") == "status" and reply["content"]["execution_state"] == "idle":
                return "".join(output)


def tiny_wheel(folder: Path) -> Path:
    """A one-module wheel (nbtestpkg 1.0) pip can install offline."""
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "nbtestpkg-1.0-py3-none-any.whl"
    info = "nbtestpkg-1.0.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("nbtestpkg.py", "VALUE = 42\n")
        wheel.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: nbtestpkg\nVersion: 1.0\n")
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{info}/RECORD", "")
    return folder


def busy_kernel(notebook, seconds: int) -> str:
    """Start a kernel and run a cell that sleeps, through Jupyter's kernel API on the socket; returns its id."""
    import json
    import uuid
    from datetime import UTC, datetime

    from websockets.sync.client import unix_connect

    jupyter = client(notebook)
    kernel = jupyter.request("POST", "api/kernels", {"name": "python3"}, timeout=30)
    session = uuid.uuid4().hex
    message = {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "username": "test",
            "session": session,
            "msg_type": "execute_request",
            "version": "5.3",
            "date": datetime.now(UTC).isoformat(),
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": f"import time; time.sleep({seconds})",
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
        },
        "channel": "shell",
        "buffers": [],
    }
    uri = f"ws://localhost/nb/{notebook.uuid}/api/kernels/{kernel['id']}/channels?session_id={session}"
    with unix_connect(jupyter.socket_path, uri, additional_headers={"Authorization": f"token {jupyter.token}"}) as ws:
        ws.send(json.dumps(message))
        while True:
            reply = json.loads(ws.recv(timeout=30))
            if reply.get("msg_type") == "status" and reply["content"].get("execution_state") == "busy":
                if reply.get("parent_header", {}).get("msg_id") == message["header"]["msg_id"]:
                    break
    return kernel["id"]


def test_lease_expiry_warns_then_stops_and_idle_stop_spares_a_busy_kernel(storage_project, member, notebook_node):
    from datetime import timedelta

    from django.utils import timezone

    notebook_node()
    timed = create(storage_project, member, "nb-timed")
    idle = create(storage_project, member, "nb-idle")
    busy = create(storage_project, member, "nb-busy")
    for notebook in (timed, idle, busy):
        wait_state(notebook, State.RUNNING)

    busy_kernel(busy, 120)
    wait_for(lambda: Notebook.objects.get(pk=busy.pk).kernels_busy >= 1, timeout=20, message="the busy kernel seen")
    # Shortened leases: TIMING runs out in a second; IDLE stops after 3 s of idleness.
    now = timezone.now()
    Notebook.objects.filter(pk=timed.pk).update(lease_create_at=now - timedelta(milliseconds=3_600_000 - 1000))
    Notebook.objects.filter(pk__in=[idle.pk, busy.pk]).update(
        lease_type="IDLE", lease_duration_ms=3000, last_activity_at=now
    )

    timed = wait_state(timed, State.STOPPED, timeout=40)
    assert timed.stop_reason == "Stopped automatically: the lease ran out."
    idle = wait_state(idle, State.STOPPED, timeout=40)
    assert "idle" in idle.stop_reason
    for notebook in (timed, idle):
        kinds = list(
            NotebookEvent.objects.filter(notebook=notebook).order_by("at", "pk").values_list("kind", flat=True)
        )
        assert kinds.index("lease_warning") < kinds.index("auto_stop"), kinds
        warned = NotebookEvent.objects.get(notebook=notebook, kind="lease_warning").at
        stopped = NotebookEvent.objects.get(notebook=notebook, kind="auto_stop").at
        assert (stopped - warned).total_seconds() >= 2  # NOTEBOOK_STOP_WARNING_SECONDS in these tests
    # The busy kernel's notebook is idle by the clock for far longer than 3 s, and still runs.
    busy = Notebook.objects.get(pk=busy.pk)
    assert busy.state == State.RUNNING, busy.fail_reason
    assert not NotebookEvent.objects.filter(notebook=busy, kind__in=("auto_stop", "lease_warning")).exists()
