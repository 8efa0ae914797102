"""Notebooks as a workload kind of the node-workload layer (console.nodepools.workloads).

A notebook's start is one runner on its node: claim (the row's runner_token, compare-and-set),
prepare (restore the work folder from the project's storage through the gate on behalf of the
owner, copy the data folder in read-only, pick the image's interpreter), then the Jupyter server
as the process group. The reporter's heartbeat is where the row learns the rest: RUNNING once
``/api/status`` answers through the socket, Jupyter's own activity (busy kernels, connections,
last activity) for the idle stop, and a requested stop (STOPPING → SNAPSHOTTING while the work
folder is saved). The work folder syncs back periodically (OutputSync) and at the end.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from console.core.secrets import decrypt_secret
from console.nodepools.models import Node, Pool
from console.nodepools.workloads import (
    HeartbeatAnswer,
    LaunchSpec,
    NodeProbe,
    Occupant,
    Orphan,
    Outcome,
    PoolActivity,
    PrepareError,
    Stopped,
    SyncTarget,
    WorkloadKind,
    WorkloadRun,
)
from console.nodepools.workloads.process import signal_name
from console.nodepools.workloads.runner import message_of
from console.notebooks.jupyter import JupyterClient, JupyterError
from console.notebooks.models import Image, NodeImage, Notebook, NotebookEvent, NotebookLogChunk
from console.notebooks.states import HEARTBEATING, OCCUPYING, WAITING, WORKLOAD_KIND, State
from console.notebooks.userenv import user_site_python
from console.storage import gate
from console.storage.backends import StorageError
from console.storage.paths import PathError

logger = logging.getLogger("console.notebooks.workload")
KIND = WORKLOAD_KIND

# Never saved back: caches and Jupyter's checkpoints (they live beside the files they copy).
EXCLUDED_PARTS = {".cache", ".ipynb_checkpoints", "__pycache__", ".npm", ".jupyter-runtime"}


def excluded(key: str) -> bool:
    return any(part in EXCLUDED_PARTS for part in key.split("/"))


class QuotaBackend:
    """The work folder's backend, as the output sync sees it: excluded files skipped, a size quota.

    OutputSync writes through ``storage_for``; wrapping the backend here keeps the rules of what
    a notebook saves in this app. A file over the quota is not saved and said so once.
    """

    def __init__(self, backend, *, quota_bytes: int, on_refused):
        self._backend = backend
        self.quota_bytes = quota_bytes
        self.sizes: dict[str, int] = {}
        self.on_refused = on_refused
        self.refused: set[str] = set()

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def write_stream(self, key, source, size=None, **kwargs):
        if excluded(key):
            return None
        total = sum(v for k, v in self.sizes.items() if k != key) + int(size or 0)
        if self.quota_bytes and total > self.quota_bytes:
            if key not in self.refused:
                self.refused.add(key)
                self.on_refused(key, total)
            return None
        result = self._backend.write_stream(key, source, size=size, **kwargs)
        self.sizes[key] = int(size or 0)
        return result


class NotebookRun(WorkloadRun):
    def __init__(self, notebook: Notebook):
        self.notebook = notebook
        self.name = notebook.name
        self.node = notebook.node
        self.node_name = notebook.node_name
        self.token = ""
        self.jupyter_token = ""
        self.client: JupyterClient | None = None
        self.process_pid: int | None = None
        self.next_activity = 0.0
        self._quota_backend: QuotaBackend | None = None

    def _mine(self):
        return Notebook.objects.filter(pk=self.notebook.pk, runner_token=self.token)

    # --- reporter (the only writes) -------------------------------------------------------

    def claim(self, *, token: str, runner_pid: int) -> bool:
        now = timezone.now()
        claimed = Notebook.objects.filter(
            pk=self.notebook.pk, state=State.STARTING, node__isnull=False, runner_token=""
        ).update(runner_token=token, runner_pid=runner_pid, started_at=now, heartbeat_at=now, process_pid=None)
        self.token = token
        return bool(claimed)

    def set_local_dir(self, path: str) -> None:
        Notebook.objects.filter(pk=self.notebook.pk).update(local_dir=path)

    def mark_running(self, *, process_pid: int) -> None:
        # The process group exists; RUNNING waits until Jupyter answers (see heartbeat).
        self.process_pid = process_pid
        self._mine().update(process_pid=process_pid, heartbeat_at=timezone.now())

    def heartbeat(self) -> HeartbeatAnswer:
        now = timezone.now()
        alive = self._mine().filter(state__in=HEARTBEATING).update(heartbeat_at=now)
        if not alive:
            return HeartbeatAnswer(alive=False)
        row = (
            Notebook.objects.filter(pk=self.notebook.pk)
            .values("state", "stop_requested", "stop_reason", "lease_create_at")
            .first()
        )
        if row["stop_requested"] or row["state"] in (State.STOPPING, State.DELETING):
            if row["state"] == State.STOPPING:
                moved = self._mine().filter(state=State.STOPPING).update(state=State.SNAPSHOTTING)
                if moved:
                    self.event("snapshot", _("Saving the work folder to %(path)s.") % {"path": self.notebook.work_path})
            return HeartbeatAnswer(alive=True, stop_reason=row["stop_reason"] or _("Stop requested."))
        if self.client is None or self.process_pid is None:
            return HeartbeatAnswer(alive=True)
        if row["state"] == State.STARTING:
            self._check_up(now, lease_started=row["lease_create_at"] is not None)
        elif row["state"] == State.RUNNING and time.monotonic() >= self.next_activity:
            self.next_activity = time.monotonic() + settings.NOTEBOOK_ACTIVITY_SECONDS
            self._record_activity(now)
        return HeartbeatAnswer(alive=True)

    def _check_up(self, now, *, lease_started: bool) -> None:
        try:
            self.client.status(timeout=1.0)
        except JupyterError:
            return  # not up yet; the platform's start timeout decides when that is a failure
        values = {
            "state": State.RUNNING,
            "running_at": now,
            "ever_ran": True,
            "fail_reason": "",
            "last_activity_at": now,
        }
        if not lease_started:
            values.update(lease_create_at=now, lease_update_at=now)
        moved = self._mine().filter(state=State.STARTING).update(**values)
        if moved:
            where = self.notebook.socket_path or f"{self.node.address if self.node else ''}:{self.notebook.port}"
            self.event("running", _("JupyterLab is running on node %(node)s.") % {"node": self.node_name})
            logger.info("notebook %s up at %s", self.notebook.pk, where)

    def _record_activity(self, now) -> None:
        try:
            activity = self.client.activity()
        except JupyterError as error:
            logger.info("notebook %s: activity not readable: %s", self.notebook.pk, error)
            return
        busy_or_open = activity.kernels_busy or activity.connections
        # A busy kernel or an open connection is activity now, whatever Jupyter's timestamps say.
        last = now if busy_or_open else activity.last_activity
        values = {"kernels_busy": activity.kernels_busy, "connections": activity.connections}
        if last is not None:
            values["last_activity_at"] = last
        self._mine().update(**values)

    def store_log(self, *, seq: int, text: str, log_bytes: int, truncated: bool) -> None:
        NotebookLogChunk.objects.create(notebook_id=self.notebook.pk, seq=seq, text=text, at=timezone.now())
        Notebook.objects.filter(pk=self.notebook.pk).update(log_seq=seq, log_bytes=log_bytes)

    def store_samples(self, samples: list[dict]) -> None:
        pass  # a notebook's page shows no charts; memory is still watched by the runner

    def event(self, kind: str, message: str) -> None:
        NotebookEvent.objects.create(notebook_id=self.notebook.pk, at=timezone.now(), kind=kind, message=message)

    def outputs_synced(self) -> None:
        Notebook.objects.filter(pk=self.notebook.pk).update(work_saved_at=timezone.now())

    def finish(self, outcome: Outcome) -> bool:
        now = timezone.now()
        row = self._mine().filter(state__in=HEARTBEATING).values("state", "delete_requested", "ever_ran").first()
        if row is None:
            return False
        state = row["state"]
        values = {
            "process_pid": None,
            "stopped_at": now,
            "heartbeat_at": now,
            "stop_requested": False,
            "kernels_busy": 0,
            "connections": 0,
            "lease_warned_at": None,
        }
        if state == State.DELETING or row["delete_requested"]:
            values.update(state=State.DELETED, deleted_at=now)
            message = _("Deleted.")
        elif state in (State.STOPPING, State.SNAPSHOTTING):
            values.update(state=State.STOPPED)
            message = _("Stopped: %(reason)s") % {"reason": outcome.message}
        elif state == State.STARTING:
            failed = State.CREATE_FAILED if outcome.create_failed and not row["ever_ran"] else State.START_FAILED
            values.update(state=failed, fail_reason=outcome.message[:10000])
            message = outcome.message
        else:  # RUNNING and the server ended by itself (or was killed for its memory)
            values.update(state=State.ERROR, fail_reason=outcome.message[:10000])
            message = outcome.message
        reported = self._mine().filter(state=state).update(**values)
        if reported:
            self.event("exit", message.splitlines()[0] if message else values["state"])
        return bool(reported)

    # --- main thread ------------------------------------------------------------------------

    def workspace_name(self) -> str:
        # Short: the Jupyter socket lives here and a unix socket path has at most 107 bytes.
        return f"nb-{self.notebook.pk}"

    def log_file_name(self) -> str:
        return f"notebook-{self.notebook.uuid}.log"

    def log_cap_bytes(self) -> int:
        return settings.TRAINING_LOG_CAP_BYTES

    def storage_for(self, obs_url: str, access: str):
        notebook = self.notebook
        backend, folder = gate.storage_for_task(
            owner=notebook.owner, project=notebook.project, path=obs_url, access=access
        )
        if access == gate.WRITE and obs_url == notebook.work_path:
            if self._quota_backend is None:
                self._quota_backend = QuotaBackend(
                    backend, quota_bytes=notebook.volume_capacity_gb * 1024**3, on_refused=self._over_quota
                )
            return self._quota_backend, folder
        return backend, folder

    def _over_quota(self, key: str, total: int) -> None:
        message = _(
            "The work folder is over its quota of %(quota)s GB (%(size).2f GB): %(file)s is not saved. "
            "Delete files to save the rest."
        ) % {"quota": self.notebook.volume_capacity_gb, "size": total / 1024**3, "file": key}
        try:
            self.event("quota", message)  # called from the sync thread: its own connection
        except Exception:
            logger.warning("could not record the quota event of notebook %s", self.notebook.pk)

    def prepare(self, workspace, console) -> LaunchSpec:
        notebook = self.notebook
        console.console_line(
            _("Notebook %(name)s (%(id)s) on node %(node)s.")
            % {"name": notebook.name, "id": notebook.uuid, "node": self.node_name}
        )
        python = (
            NodeImage.objects.filter(node=self.node, image=notebook.image).values_list("python_path", flat=True).first()
        )
        if not python:
            raise PrepareError(
                _("Image %(image)s is not installed on node %(node)s.")
                % {"image": notebook.image.name, "node": self.node_name}
            )
        self.jupyter_token = decrypt_secret(notebook.token_encrypted)
        if not self.jupyter_token:
            raise PrepareError(_("The notebook has no Jupyter token for this start; start it again."))
        work = workspace.folder("work")
        started = time.monotonic()
        count = self._fetch(workspace, notebook.work_path, work, what=_("the work folder"), missing_ok=True)
        message = _("Work folder restored from %(path)s: %(count)s file(s) in %(seconds).1f s.") % {
            "path": notebook.work_path,
            "count": count,
            "seconds": time.monotonic() - started,
        }
        console.console_line(message)
        console.post(self.event, "restore", message)
        if notebook.data_path:
            data = workspace.folder("data")
            count = self._fetch(workspace, notebook.data_path, data, what=_("the data folder"))
            read_only(data)
            link = work / ("data" if not (work / "data").exists() else "data-readonly")
            if not link.exists():
                link.symlink_to(data, target_is_directory=True)
            message = _("Data folder %(path)s copied in read-only at %(link)s: %(count)s file(s).") % {
                "path": notebook.data_path,
                "link": link.name,
                "count": count,
            }
            console.console_line(message)
            console.post(self.event, "data", message)
        sock = workspace.root / "jupyter.sock"
        base_url = notebook_base_url(notebook)
        python = user_site_python(python)  # `pip install --user` must work in the notebook
        argv = [
            python,
            "-m",
            "jupyterlab",  # not `jupyter lab`: that looks for a jupyter-lab script beside the interpreter
            "--no-browser",
            f"--ServerApp.base_url={base_url}",
            f"--IdentityProvider.token={self.jupyter_token}",
            f"--ServerApp.root_dir={work}",
            "--ServerApp.allow_remote_access=True",
            "--ServerApp.trust_xheaders=True",
            # Checkpoints outside the work folder: they are never saved back.
            f"--FileCheckpoints.checkpoint_dir={workspace.folder('checkpoints')}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if os.geteuid() == 0:
            argv.append("--allow-root")  # containers run the node as root; Jupyter refuses that unless told
        port = None
        if settings.NOTEBOOK_LISTEN_TCP:
            port = free_port()
            argv += [f"--ServerApp.ip={self.node.address}", f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
            self.client = JupyterClient(base_url=base_url, token=self.jupyter_token, host=self.node.address, port=port)
        else:
            argv += [f"--ServerApp.sock={sock}", "--ServerApp.sock_mode=0600"]
            self.client = JupyterClient(base_url=base_url, token=self.jupyter_token, socket_path=str(sock))
        console.post(self._set_address, "" if port else str(sock), port)
        tmp = workspace.folder("tmp")
        env = {
            "PATH": os.pathsep.join(
                [str(work / ".local" / "bin"), str(Path(python).parent), os.environ.get("PATH", "/usr/bin:/bin")]
            ),
            "HOME": str(work),
            "PYTHONUSERBASE": str(work / ".local"),
            # Also on the path explicitly: a virtualenv interpreter ignores the user site, and
            # `pip install --target <this>` is then how packages land in the work folder.
            "PYTHONPATH": str(
                work / ".local" / "lib" / f"python{python_minor(notebook.image.python_version)}" / "site-packages"
            ),
            "XDG_CACHE_HOME": str(workspace.folder("cache")),
            "PIP_CACHE_DIR": str(workspace.folder("cache", "pip")),
            "JUPYTER_RUNTIME_DIR": str(workspace.folder("runtime")),
            "LANG": "C.UTF-8",
            "TMPDIR": str(tmp),
            "PYTHONUNBUFFERED": "1",
            "SHELL": "/bin/bash",
            "MA_NOTEBOOK_ID": str(notebook.uuid),
        }
        spec = notebook.flavor_spec or {}
        self._start_facts = (python, base_url)
        return LaunchSpec(
            argv=argv,
            env=env,
            cwd=work,
            cpu_cores=int(spec.get("cpu_cores") or 0),
            memory_limit_bytes=int(spec.get("memory_gb") or 0) * 1024**3,
            secrets=[self.jupyter_token],
            outputs=[SyncTarget("work", work, notebook.work_path)],
        )

    def _set_address(self, socket_path: str, port: int | None) -> None:
        self._mine().update(socket_path=socket_path, port=port)

    def _fetch(self, workspace, obs_url: str, into: Path, *, what: str, missing_ok: bool = False) -> int:
        try:
            backend, folder = self.storage_for(obs_url, gate.READ)
            if missing_ok and backend.stat(folder.key) is None:
                return 0  # the first start: nothing saved yet
            return workspace.fetch(backend, folder, into)
        except (gate.StorageRefused, PathError, StorageError, OSError) as error:
            raise PrepareError(
                _("Could not restore %(what)s from %(path)s: %(error)s")
                % {"what": what, "path": obs_url, "error": message_of(error)}
            ) from None

    def start_line(self, *, cores: int) -> str:
        python, base_url = self._start_facts
        return _("Starting JupyterLab with %(python)s at %(url)s on %(cores)s core(s).") % {
            "python": python,
            "url": base_url,
            "cores": cores,
        }

    def describe_exit(self, returncode: int) -> tuple[str, str]:
        if returncode < 0:
            return "failed", _("The Jupyter server was killed by %(signal)s.") % {"signal": signal_name(-returncode)}
        return "failed", _("The Jupyter server exited with code %(code)s.") % {"code": returncode}

    def memory_exceeded_message(self, rss_bytes: int) -> str:
        spec = self.notebook.flavor_spec or {}
        return _(
            "Stopped: the notebook used %(used).2f GB of memory, more than the %(limit)s GB of flavor %(flavor)s."
        ) % {"used": rss_bytes / 1024**3, "limit": spec.get("memory_gb"), "flavor": spec.get("flavor_id")}


def read_only(root: Path) -> None:
    """Files 0444: the data folder is a copy nobody edits by mistake (and it is never saved back).

    Folders stay writable by the runner so that it can remove the workspace at the end.
    """
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            if not path.is_symlink():
                path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def python_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def notebook_base_url(notebook: Notebook) -> str:
    return f"/nb/{notebook.uuid}/"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def notebook_url(notebook: Notebook) -> str:
    return reverse("notebooks:detail", kwargs={"project_id": notebook.project.project_id, "notebook_id": notebook.uuid})


class NotebookKind(WorkloadKind):
    name = KIND

    def run_for(self, workload_id: int) -> NotebookRun | None:
        notebook = Notebook.objects.select_related("project", "owner", "image", "node").filter(pk=workload_id).first()
        return NotebookRun(notebook) if notebook is not None else None

    def occupants(self, *, node_ids: list[int]) -> list[Occupant]:
        rows = (
            Notebook.objects.filter(node__in=node_ids, state__in=OCCUPYING)
            .select_related("project")
            .order_by("node_id", "created_at")
        )
        return [occupant_of(notebook) for notebook in rows]

    def orphans(self, *, node_id: int, since: datetime) -> list[Orphan]:
        # The runner token stays on the row after the end: it is what the group's marker carries.
        rows = (
            Notebook.objects.filter(node_id=node_id, stopped_at__gte=since)
            .exclude(state__in=HEARTBEATING)
            .exclude(runner_token="")
            .values_list("pk", "runner_token", "process_pid", "runner_pid", "local_dir")
        )
        return [Orphan(pk, token, pid, runner_pid, local_dir) for pk, token, pid, runner_pid, local_dir in rows]

    def stop_on_node(self, *, node: Node, actor, reason: str) -> list[Stopped]:
        from_state = list(
            Notebook.objects.filter(node=node, state__in=(State.STARTING, State.RUNNING)).values_list(
                "pk", "name", "uuid"
            )
        )
        Notebook.objects.filter(
            pk__in=[pk for pk, _n, _u in from_state], state__in=(State.STARTING, State.RUNNING)
        ).update(state=State.STOPPING, stop_requested=True, stop_reason=reason)
        now = timezone.now()
        NotebookEvent.objects.bulk_create(
            NotebookEvent(notebook_id=pk, at=now, kind="stop", message=reason) for pk, _n, _u in from_state
        )
        return [Stopped(name=name, ident=str(uid)) for _pk, name, uid in from_state]

    def waiting_in_pool(self, *, pool: Pool) -> list[str]:
        return list(
            Notebook.objects.filter(pool=pool, state__in=WAITING, node__isnull=True).values_list("name", flat=True)[:10]
        )

    def pool_activity(self, *, pool: Pool) -> list[PoolActivity]:
        rows = Notebook.objects.filter(pool=pool, state__in=(*OCCUPYING, *WAITING)).select_related("project")
        return [
            PoolActivity(
                kind=KIND,
                label=notebook.name,
                url=notebook_url(notebook),
                project_name=notebook.project.name,
                status=notebook.state,
                badge=notebook.badge,
                reason=notebook.fail_reason,
                flavor_id=(notebook.flavor_spec or {}).get("flavor_id", ""),
                nodes=[notebook.node_name] if notebook.node_name else [],
                created_at=notebook.created_at,
            )
            for notebook in rows.order_by("created_at")
        ]

    def active_counts_by_pool(self) -> dict[int, int]:
        rows = (
            Notebook.objects.filter(state__in=(*OCCUPYING, *WAITING), pool__isnull=False)
            .values("pool_id")
            .annotate(n=Count("pk"))
        )
        return {row["pool_id"]: row["n"] for row in rows}


def occupant_of(notebook: Notebook) -> Occupant:
    spec = notebook.flavor_spec or {}
    return Occupant(
        kind=KIND,
        workload_id=notebook.pk,
        node_id=notebook.node_id,
        label=_("notebook %(name)s") % {"name": notebook.name},
        owner_label=notebook.name,
        owner_status=notebook.state,
        project_name=notebook.project.name,
        url=notebook_url(notebook),
        status=notebook.state,
        cpu_cores=int(spec.get("cpu_cores") or 0),
        memory_gb=int(spec.get("memory_gb") or 0),
        gpu_count=int(spec.get("gpu_count") or 0),
        since=notebook.running_at or notebook.started_at or notebook.assigned_at,
    )


# --- images: a node probe ----------------------------------------------------------------------

PROBE = (
    "import json, platform, sys\n"
    "import jupyterlab, jupyter_server, ipykernel\n"
    "print(json.dumps({'jupyterlab': jupyterlab.__version__, 'python': platform.python_version(),"
    " 'machine': platform.machine()}))\n"
)


def probe_image(python_path: str) -> dict | None:
    """What this interpreter offers as a notebook image, or None when it cannot run JupyterLab."""
    import json  # noqa: PLC0415 — only the node agent probes

    try:
        result = subprocess.run([python_path, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    try:
        found = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return {"python_path": python_path, **found}


def images_sync_for_node(*, node: Node, found: list[dict]) -> list[Image]:
    images = []
    for item in found:
        name = f"jupyterlab{item['jupyterlab']}-python{item['python']}"
        image, _created = Image.objects.get_or_create(
            name=name,
            defaults={
                "description": f"JupyterLab {item['jupyterlab']}, Python {item['python']}",
                "jupyterlab_version": item["jupyterlab"],
                "python_version": item["python"],
                "arch": "AARCH64" if item.get("machine") in ("aarch64", "arm64") else "X86_64",
            },
        )
        NodeImage.objects.update_or_create(node=node, image=image, defaults={"python_path": item["python_path"]})
        images.append(image)
    NodeImage.objects.filter(node=node).exclude(image__in=images).delete()
    return images


def _image_probe_registered(node: Node, facts: list[dict]) -> None:
    """Every interpreter the node reported (training's engines) and its own: those that import jupyterlab."""
    paths, seen, found = [sys.executable] + [f.get("python_path", "") for f in facts], set(), []
    for path in paths:
        if not path or path in seen or not os.path.exists(path):
            continue
        seen.add(path)
        item = probe_image(path)
        if item:
            found.append(item)
    images_sync_for_node(node=node, found=found)


def image_probe() -> NodeProbe:
    # facts() adds nothing to the node's interpreter list (training owns its format); the images
    # are found in registered(), on the node, from the interpreters every probe reported.
    return NodeProbe(facts=lambda accelerator: [], registered=_image_probe_registered)
