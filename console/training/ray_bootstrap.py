"""What a training task on a Ray pool gets: the bootstrap package, its credential and its spec.

The bootstrap (``ray_node/ma_bootstrap.py``, standard library only) is uploaded to the Ray head
as a working-dir package named by its content hash, so every Ray node finds it beside the
entrypoint. The entrypoint is exactly ``shlex.join([interpreter, bootstrap, spec URL])``.

The spec URL carries a job-scoped credential: Django's signing of (task id, submission id),
valid at most RAY_CREDENTIAL_MAX_AGE_SECONDS and only while the task is active (a short grace
after it ends, for the final upload). It reaches only that task's code, inputs, outputs and log
folder, through the same storage gate the console's own nodes use, on behalf of the job's creator.
"""

from __future__ import annotations

import hashlib
import io
import re
import shlex
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from console.nodepools.models import RayCluster
from console.storage import gate
from console.storage.paths import ObsPath, folder_key
from console.training import params
from console.training.arguments import TENSORBOARD_DIR, training_arguments, training_env
from console.training.models import TrainingTask
from console.training.phases import TERMINAL_TASK_STATUSES, Executor

BOOTSTRAP_FILE = "ma_bootstrap.py"
BOOTSTRAP_SOURCE = Path(__file__).with_name("ray_node") / BOOTSTRAP_FILE
WORKSPACE_MARK = "\x00WS\x00"  # the bootstrap puts its workspace folder here (no argument holds a NUL)
SALT = "console.training.ray-task"
# A stopped job's bootstrap still uploads its outputs and log for a moment after Ray reports it.
AFTER_END_GRACE = timedelta(seconds=120)


@cache
def bootstrap_package() -> tuple[str, bytes]:
    """(package name, zip bytes): the same bytes, hence the same name, for the same bootstrap."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(BOOTSTRAP_FILE, date_time=(2026, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        archive.writestr(info, BOOTSTRAP_SOURCE.read_bytes())
    data = buffer.getvalue()
    return f"_ray_pkg_{hashlib.sha256(data).hexdigest()[:32]}.zip", data


def credential_for(task: TrainingTask) -> str:
    return signing.dumps([task.pk, task.ray_submission_id], salt=SALT)


class CredentialRefused(Exception):
    pass


def task_for_credential(token: str) -> TrainingTask:
    """The task a credential names, while it may still use it; CredentialRefused otherwise."""
    try:
        task_id, submission_id = signing.loads(token, salt=SALT, max_age=settings.RAY_CREDENTIAL_MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        raise CredentialRefused("This job credential has expired.") from None
    except (signing.BadSignature, ValueError, TypeError):
        raise CredentialRefused("This job credential is not valid.") from None
    task = (
        TrainingTask.objects.select_related("job", "job__project", "job__created_by", "job__pool__ray")
        .filter(pk=task_id, executor=Executor.RAY, ray_submission_id=submission_id)
        .first()
    )
    if task is None or not submission_id:
        raise CredentialRefused("This job credential names no task of this console.")
    if task.status in TERMINAL_TASK_STATUSES and (
        task.finished_at is None or timezone.now() - task.finished_at > AFTER_END_GRACE
    ):
        raise CredentialRefused("The job has ended: its credential is no longer valid.")
    return task


def entrypoint_for(task: TrainingTask, cluster: RayCluster) -> str:
    """Exactly three words, each quoted for the shell Ray runs it through: no value is interpreted."""
    return shlex.join([cluster.interpreter, BOOTSTRAP_FILE, spec_url(task, cluster)])


def _url(cluster: RayCluster, token: str, *parts: str) -> str:
    """The console's address for the bootstrap, under the credential's folder ``/executor/ray/<token>/``."""
    root = reverse("training:ray_spec", kwargs={"token": token}).removesuffix("spec")
    return cluster.console_url.rstrip("/") + root + "".join(quote(part) for part in parts)


def spec_url(task: TrainingTask, cluster: RayCluster) -> str:
    return _url(cluster, credential_for(task), "spec")


# --- the spec -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Folder:
    """One storage folder of the task (code, an input, an output) and the workspace folder it maps to."""

    area: str  # code / input / output
    name: str
    obs_url: str
    local: str


def folders_of(task: TrainingTask) -> list[Folder]:
    job = task.job
    folders = [Folder("code", "code", job.algorithm_spec["code_dir"], "code")]
    folders += [Folder("input", i["name"], i["obs_url"], f"inputs/{i['name']}_0") for i in job.inputs]
    folders += [Folder("output", o["name"], o["obs_url"], f"outputs/{o['name']}_0") for o in job.outputs]
    return folders


def folder_named(task: TrainingTask, area: str, name: str) -> Folder | None:
    return next((f for f in folders_of(task) if f.area == area and f.name == name), None)


def storage_of(task: TrainingTask, folder: Folder, access: str):
    job = task.job
    return gate.storage_for_task(owner=job.created_by, project=job.project, path=folder.obs_url, access=access)


def object_key(base: ObsPath, relative: str) -> str:
    """The key of ``relative`` inside a folder; PathError when it would leave it."""
    parts = relative.split("/")
    target = ObsPath(base.bucket, folder_key(base.key))
    # child() refuses empty names, "." and "..", backslashes and control characters.
    for part in parts[:-1]:
        target = target.child(part + "/")
    return target.child(parts[-1]).key


def job_spec(task: TrainingTask, token: str) -> dict:
    """What the bootstrap needs, with a signed URL for every file it reads or writes."""
    job = task.job
    cluster = job.pool.ray
    files: dict = {"code": [], "inputs": {}}
    input_dirs = {}
    for folder in folders_of(task):
        if folder.area == "output":
            continue
        backend, base = storage_of(task, folder, gate.READ)
        prefix = folder_key(base.key)
        listing = [
            {
                "path": entry.path[len(prefix) :],
                "size": entry.size,
                "url": _url(cluster, token, f"files/{folder.area}/{folder.name}/", entry.path[len(prefix) :]),
            }
            for entry in backend.walk(prefix)
        ]
        if folder.area == "code":
            files["code"] = listing
        else:
            files["inputs"][folder.name] = listing
            input_dirs[folder.name] = folder.local
    outputs = [
        {
            "name": f.name,
            "dir": f.local,
            "upload": _url(cluster, token, f"files/output/{f.name}/"),
        }
        for f in folders_of(task)
        if f.area == "output"
    ]
    ws = WORKSPACE_MARK
    boot = gate.parse_path(job.algorithm_spec["boot_file"]).name
    arguments = training_arguments(
        job,
        boot=f"{ws}/code/{boot}",
        inputs={name: f"{ws}/{local}" for name, local in input_dirs.items()},
        outputs={o["name"]: f"{ws}/{o['dir']}" for o in outputs},
    )
    # One node: the bootstrap picks a free rendezvous port there ("0" asks it to). Ray sets
    # CUDA_VISIBLE_DEVICES itself from entrypoint_num_gpus.
    env = training_env(
        job,
        task,
        tmp_dir=f"{ws}/tmp",
        tensorboard_dir=f"{ws}/{TENSORBOARD_DIR}",
        master_addr="127.0.0.1",
        master_port=0,
    )
    return {
        "job": str(job.uuid),
        "task": task.name,
        "boot_name": boot,
        "code_dir": "code",
        "argv": [cluster.interpreter, *arguments],
        "env": env,
        "files": files,
        "input_dirs": input_dirs,
        "outputs": outputs,
        "log_name": f"modelarts-job-{job.uuid}-{task.name}.log",
        "log_upload": _url(cluster, token, "log") if job.log_export_path else None,
        "upload_period": settings.TRAINING_OUTPUT_UPLOAD_PERIOD,
    }


def secrets_of(task: TrainingTask) -> list[str]:
    """Sensitive parameter values, masked in the stored log as on the console's own nodes."""
    job = task.job
    names = params.sensitive_names(job.algorithm_spec.get("parameters", []))
    return [v.get("value", "") for v in job.parameters if v["name"] in names and v.get("value")]


# Ray prints the entrypoint (with the spec URL) at the top of the job's log: the credential in it
# never reaches the console's stored log.
CREDENTIAL_IN_URL = re.compile(r"(/executor/ray/)[^/\s]+")


def mask_credentials(text: str) -> str:
    return CREDENTIAL_IN_URL.sub(r"\1…", text)
