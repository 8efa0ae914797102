"""Training tasks as a workload kind of the node-workload layer (console.nodepools.workloads).

What a training task plugs into the generic runner: its row (``TrainingTask``) is claimed,
heartbeated and finished here; the code and inputs are fetched through the storage gate on
behalf of the job's creator; the boot file runs with the engine's interpreter and the
algorithm's arguments (``--<param>=<value>``, ``--<input>=<dir>``, ``--<output>=<dir>``);
distributed jobs meet at worker-0's rendezvous port; outputs sync to their storage folders;
the log is exported to the job's log folder; the job is reconciled as soon as a task reports.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Prefetch, Q
from django.urls import reverse
from django.utils import timezone

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
from console.storage import gate
from console.storage.backends import StorageError
from console.storage.paths import ObsPath, PathError, folder_key
from console.training import params
from console.training.arguments import METRIC_PREFIX, TENSORBOARD_DIR, training_arguments, training_env
from console.training.engines import EngineProbeError, current_os_user, identity_for, probe_interpreter
from console.training.metrics import scalar_cap, scalar_name_cap, scalars_store
from console.training.models import (
    EventKind,
    JobEvent,
    NodeEngine,
    TaskLogChunk,
    TaskMetricSample,
    TrainingJob,
    TrainingTask,
)
from console.training.phases import (
    ACTIVE_PHASES,
    HEARTBEATING_STATUSES,
    OCCUPYING_STATUSES,
    TERMINAL_TASK_STATUSES,
    WORKLOAD_KIND,
    TaskStatus,
)
from console.training.services.catalog import admin_engine_paths, engines_sync_for_node
from console.training.services.jobs import training_jobs_stop_on_node
from console.training.services.reconcile import reconcile_jobs

KIND = WORKLOAD_KIND
logger = logging.getLogger("console.training.workload")
RENDEZVOUS_TIMEOUT = 120
# TensorBoard event files go under $MA_TENSORBOARD_DIR, an output folder or ./runs (MA_METRIC lines: arguments.py).


class TrainingTaskRun(WorkloadRun):
    def __init__(self, task: TrainingTask):
        self.task = task
        self.job = task.job
        self.node = task.node
        self.name = task.name
        self.node_name = task.node.name if task.node else task.node_name
        self.token = ""

    # --- reporter (the only writes) -------------------------------------------------------

    def claim(self, *, token: str, runner_pid: int) -> bool:
        now = timezone.now()
        claimed = TrainingTask.objects.filter(pk=self.task.pk, status=TaskStatus.ASSIGNED).update(
            status=TaskStatus.STARTING, runner_pid=runner_pid, runner_token=token, started_at=now, heartbeat_at=now
        )
        self.token = token
        return bool(claimed)

    def _mine(self):
        return TrainingTask.objects.filter(pk=self.task.pk, runner_token=self.token)

    def set_local_dir(self, path: str) -> None:
        TrainingTask.objects.filter(pk=self.task.pk).update(local_dir=path)

    def mark_running(self, *, process_pid: int) -> None:
        now = timezone.now()
        self._mine().filter(status=TaskStatus.STARTING).update(
            status=TaskStatus.RUNNING, running_at=now, process_pid=process_pid, heartbeat_at=now
        )
        reconcile_jobs(job_ids=[self.job.pk])  # Running shows without waiting for beat

    def heartbeat(self) -> HeartbeatAnswer:
        alive = self._mine().filter(status__in=HEARTBEATING_STATUSES).update(heartbeat_at=timezone.now())
        if not alive:
            return HeartbeatAnswer(alive=False)
        row = TrainingTask.objects.filter(pk=self.task.pk).values("stop_requested", "stop_reason").first()
        if row and row["stop_requested"]:
            return HeartbeatAnswer(alive=True, stop_reason=row["stop_reason"] or "Stop requested.")
        return HeartbeatAnswer(alive=True)

    def store_log(self, *, seq: int, text: str, log_bytes: int, truncated: bool) -> None:
        TaskLogChunk.objects.create(task_id=self.task.pk, seq=seq, text=text, at=timezone.now())
        TrainingTask.objects.filter(pk=self.task.pk).update(log_seq=seq, log_bytes=log_bytes, log_truncated=truncated)

    def store_samples(self, samples: list[dict]) -> None:
        TaskMetricSample.objects.bulk_create(TaskMetricSample(task_id=self.task.pk, **sample) for sample in samples)

    def store_scalars(self, points: list[dict]) -> None:
        scalars_store(task_id=self.task.pk, points=points)

    def event(self, kind: str, message: str) -> None:
        JobEvent.objects.create(job_id=self.job.pk, at=timezone.now(), kind=kind, message=message, task_name=self.name)

    def outputs_synced(self) -> None:
        TrainingTask.objects.filter(pk=self.task.pk).update(outputs_uploaded_at=timezone.now())

    def finish(self, outcome: Outcome) -> bool:
        now = timezone.now()
        reported = (
            self._mine()
            .filter(status__in=HEARTBEATING_STATUSES)
            .update(
                status=outcome.status,
                message=outcome.message[:10000],
                exit_code=outcome.exit_code,
                create_failed=outcome.create_failed,
                finished_at=now,
                heartbeat_at=now,
            )
        )
        if reported:
            first_line = outcome.message.splitlines()[0] if outcome.message else outcome.status
            self.event(EventKind.TASK_EXIT, f"{self.name}: {first_line}")
        return bool(reported)

    def after_finish(self) -> None:
        reconcile_jobs(job_ids=[self.job.pk])

    # --- main thread ------------------------------------------------------------------------

    def workspace_name(self) -> str:
        return f"{self.job.uuid}/{self.name}"

    def log_file_name(self) -> str:
        return f"modelarts-job-{self.job.uuid}-{self.name}.log"

    def log_cap_bytes(self) -> int:
        return settings.TRAINING_LOG_CAP_BYTES

    def storage_for(self, obs_url: str, access: str):
        return gate.storage_for_task(owner=self.job.created_by, project=self.job.project, path=obs_url, access=access)

    def prepare(self, workspace, console) -> LaunchSpec:
        job, task = self.job, self.task
        console.console_line(f"Task {task.name} of job {job.name} ({job.uuid}) on node {self.node_name}.")
        code_dir, boot_local, inputs, outputs = self._download(workspace, console)
        if console.stopping():
            return self._launch_spec(code_dir, boot_local, inputs, outputs, python="", master=("", 0))
        python = self._interpreter()
        master = self._rendezvous(console)
        return self._launch_spec(code_dir, boot_local, inputs, outputs, python=python, master=master)

    def _download(self, workspace, console):
        started = time.monotonic()
        spec = self.job.algorithm_spec
        code_dir = workspace.folder("code")
        code_files = self._fetch(workspace, spec["code_dir"], code_dir, what="the code")
        boot = gate.parse_path(spec["boot_file"])
        boot_local = code_dir / boot.name
        if not boot_local.is_file():
            raise PrepareError(f"The boot file {spec['boot_file']} is not in the code directory any more.")
        counts = [f"code: {code_files} file(s)"]
        inputs: dict[str, Path] = {}
        for item in self.job.inputs:
            local = workspace.folder("inputs", f"{item['name']}_0")
            count = self._fetch(workspace, item["obs_url"], local, what=f"input {item['name']}")
            inputs[item["name"]] = local
            counts.append(f"{item['name']}: {count} file(s)")
        outputs = [
            SyncTarget(
                name=item["name"], local_dir=workspace.folder("outputs", f"{item['name']}_0"), obs_url=item["obs_url"]
            )
            for item in self.job.outputs
        ]
        message = f"{self.name}: downloaded {', '.join(counts)} in {time.monotonic() - started:.1f} s."
        console.console_line(message)
        console.post(self.event, EventKind.DOWNLOAD, message)
        return code_dir, boot_local, inputs, outputs

    def _fetch(self, workspace, obs_url: str, into: Path, *, what: str) -> int:
        try:
            backend, folder = self.storage_for(obs_url, gate.READ)
            return workspace.fetch(backend, folder, into)
        except (gate.StorageRefused, PathError, StorageError, OSError) as error:
            raise PrepareError(f"Could not download {what} from {obs_url}: {message_of(error)}") from None

    def _interpreter(self) -> str:
        path = (
            NodeEngine.objects.filter(node=self.node, engine_id=self.job.engine_id)
            .values_list("python_path", flat=True)
            .first()
        )
        if not path:
            engine = self.job.algorithm_spec["engine"]["engine_id"]
            raise PrepareError(f"Engine {engine} is not installed on node {self.node_name}.")
        return path

    def _rendezvous(self, console) -> tuple[str, int]:
        """worker-0 publishes a free port of its node; every task learns MASTER_ADDR/MASTER_PORT."""
        job = self.job
        if self.task.index == 0:
            port = free_port()
            console.call(
                lambda: TrainingJob.objects.filter(pk=job.pk, master_port__isnull=True).update(master_port=port)
            )
        deadline = time.monotonic() + RENDEZVOUS_TIMEOUT
        while True:
            port = TrainingJob.objects.filter(pk=job.pk).values_list("master_port", flat=True).first()
            if port:
                break
            if console.stopping():
                return "", 0
            if time.monotonic() > deadline:
                raise PrepareError(f"worker-0 did not publish its rendezvous port within {RENDEZVOUS_TIMEOUT} s.")
            time.sleep(0.2)
        master = TrainingTask.objects.filter(job_id=job.pk, index=0).select_related("node").first()
        address = master.node.address if master and master.node else "127.0.0.1"
        return address, port

    def _launch_spec(self, code_dir, boot_local, inputs, outputs, *, python: str, master) -> LaunchSpec:
        job, task = self.job, self.task
        master_addr, master_port = master
        argv = [
            python,
            *training_arguments(
                job,
                boot=str(boot_local),
                inputs={name: str(path) for name, path in inputs.items()},
                outputs={target.name: str(target.local_dir) for target in outputs},
            ),
        ]
        tensorboard_dir = code_dir.parent / TENSORBOARD_DIR
        tensorboard_dir.mkdir(exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(code_dir.parent)),
            "LANG": "C.UTF-8",
            **training_env(
                job,
                task,
                tmp_dir=str(code_dir.parent / "tmp"),
                tensorboard_dir=str(tensorboard_dir),
                master_addr=master_addr,
                master_port=master_port,
            ),
            "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in range(int(job.flavor_spec.get("gpu_count") or 0))),
        }
        names = params.sensitive_names(job.algorithm_spec.get("parameters", []))
        self._start_facts = (Path(job.algorithm_spec["boot_file"]).name, python, master_addr, master_port)
        return LaunchSpec(
            argv=argv,
            env=env,
            cwd=code_dir,
            cpu_cores=int(job.flavor_spec.get("cpu_cores") or 0),
            memory_limit_bytes=int(job.flavor_spec.get("memory_gb") or 0) * 1024**3,
            secrets=[v.get("value", "") for v in job.parameters if v["name"] in names],
            outputs=[SyncTarget(t.name, t.local_dir, gate.parse_path(t.obs_url).uri) for t in outputs],
            metric_prefix=METRIC_PREFIX,
            # SummaryWriter() with no folder writes under ./runs (the code folder is the cwd).
            scalar_dirs=[tensorboard_dir, code_dir.parent / "logs", code_dir / "runs", *(t.local_dir for t in outputs)],
            # The job's cap is shared by its tasks (each runner counts its own).
            scalar_cap=max(1, scalar_cap() // max(1, job.node_count)),
            scalar_name_cap=scalar_name_cap(),
        )

    def start_line(self, *, cores: int) -> str:
        boot_name, python, master_addr, master_port = self._start_facts
        job, task = self.job, self.task
        distributed = (
            f", rank {task.index} of {job.node_count} (master {master_addr}:{master_port})"
            if job.node_count > 1
            else ""
        )
        return f"Starting {boot_name} with {python} on {cores} core(s){distributed}."

    def describe_exit(self, returncode: int) -> tuple[str, str]:
        if returncode == 0:
            return TaskStatus.SUCCEEDED, "The training process exited with code 0."
        if returncode < 0:
            return TaskStatus.FAILED, (
                f"The training process was killed by {signal_name(-returncode)} (exit code {128 - returncode})."
            )
        return TaskStatus.FAILED, f"The training process exited with code {returncode}."

    def memory_exceeded_message(self, rss_bytes: int) -> str:
        spec = self.job.flavor_spec
        return (
            f"Stopped: the training process used {rss_bytes / 1024**3:.2f} GiB of memory, more than the "
            f"{spec.get('memory_gb')} GiB of flavor {spec.get('flavor_id')}."
        )

    def export_log(self, log_path: Path) -> str | None:
        if not self.job.log_export_path:
            return None
        backend, folder = self.storage_for(self.job.log_export_path, gate.WRITE)
        target = ObsPath(folder.bucket, folder_key(folder.key)).child(log_path.name)
        with open(log_path, "rb") as source:
            backend.write_stream(target.key, source, size=os.fstat(source.fileno()).st_size)
        return f"{self.name}: log exported to {target.uri}."


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


class TrainingKind(WorkloadKind):
    name = KIND

    def run_for(self, workload_id: int) -> TrainingTaskRun | None:
        task = (
            TrainingTask.objects.select_related("job", "job__project", "job__created_by", "job__engine", "node")
            .filter(pk=workload_id)
            .first()
        )
        return TrainingTaskRun(task) if task is not None else None

    def occupants(self, *, node_ids: list[int]) -> list[Occupant]:
        tasks = (
            TrainingTask.objects.filter(node__in=node_ids, status__in=OCCUPYING_STATUSES)
            .select_related("job", "job__project")
            .order_by("node_id", "job__created_at", "index")
        )
        return [occupant_of(task) for task in tasks]

    def orphans(self, *, node_id: int, since: datetime) -> list[Orphan]:
        rows = TrainingTask.objects.filter(
            node_id=node_id, status__in=TERMINAL_TASK_STATUSES, finished_at__gte=since
        ).values_list("pk", "runner_token", "process_pid", "runner_pid", "local_dir")
        return [Orphan(pk, token, pid, runner_pid, local_dir) for pk, token, pid, runner_pid, local_dir in rows]

    def stop_on_node(self, *, node: Node, actor, reason: str) -> list[Stopped]:
        jobs = training_jobs_stop_on_node(actor=actor, node=node, reason=reason)
        return [Stopped(name=job.name, ident=str(job.uuid)) for job in jobs]

    def waiting_in_pool(self, *, pool: Pool) -> list[str]:
        return list(
            TrainingJob.objects.filter(pool=pool, phase__in=ACTIVE_PHASES, deleted_at__isnull=True).values_list(
                "name", flat=True
            )[:10]
        )

    def pool_activity(self, *, pool: Pool) -> list[PoolActivity]:
        jobs = (
            TrainingJob.objects.filter(
                Q(pool=pool) | Q(tasks__node__pool=pool), phase__in=ACTIVE_PHASES, deleted_at__isnull=True
            )
            .select_related("project")
            .prefetch_related(Prefetch("tasks", queryset=TrainingTask.objects.order_by("index")))
            .distinct()
            .order_by("created_at")
        )
        return [
            PoolActivity(
                kind=KIND,
                label=job.name,
                url=job_url(job),
                project_name=job.project.name,
                status=job.phase,
                badge=job.badge,
                reason=job.phase_reason,
                flavor_id=(job.flavor_spec or {}).get("flavor_id", ""),
                nodes=[t.node_name for t in job.tasks.all() if t.node_name],
                created_at=job.created_at,
            )
            for job in jobs
        ]

    def active_counts_by_pool(self) -> dict[int, int]:
        rows = (
            TrainingJob.objects.filter(phase__in=ACTIVE_PHASES, deleted_at__isnull=True)
            .values("pool_id")
            .annotate(n=Count("pk"))
        )
        return {row["pool_id"]: row["n"] for row in rows}


def job_url(job: TrainingJob) -> str:
    return reverse("training:job_detail", kwargs={"project_id": job.project.project_id, "job_id": job.uuid})


def occupant_of(task: TrainingTask) -> Occupant:
    job = task.job
    spec = job.flavor_spec or {}
    return Occupant(
        kind=KIND,
        workload_id=task.pk,
        node_id=task.node_id,
        label=f"{job.name} / {task.name}",
        owner_label=job.name,
        owner_status=job.phase,
        project_name=job.project.name,
        url=job_url(job),
        status=task.status,
        cpu_cores=int(spec.get("cpu_cores") or 0),
        memory_gb=int(spec.get("memory_gb") or 0),
        gpu_count=int(spec.get("gpu_count") or 0),
        since=task.running_at or task.started_at or task.assigned_at,
    )


# --- engines: training's node probe ------------------------------------------------------------


class _EngineProbe:
    """Which interpreters a node can run (its own, plus those administrators registered)."""

    def __init__(self):
        self.paths: set[str] = set()

    def facts(self, accelerator: str) -> list[dict]:
        paths = [sys.executable]
        try:
            registered = admin_engine_paths()
            paths += registered
            self.paths = set(registered)
        except Exception:
            logger.exception("could not read registered engines")
        found, seen = [], set()
        for path in paths:
            real = os.path.realpath(path)
            if real in seen or not os.path.exists(path):
                continue
            seen.add(real)
            try:
                identity = identity_for(probe_interpreter(path), python_path=path, accelerator=accelerator)
            except EngineProbeError as error:
                logger.warning("interpreter %s not usable: %s", path, error)
                continue
            # Training processes run as this worker's OS user: that is the engine's run_user.
            found.append({**identity.as_dict(), "run_user": current_os_user()})
        return found

    def registered(self, node: Node, facts: list[dict]) -> None:
        engines_sync_for_node(node=node, identities=facts)

    def changed(self) -> bool:
        return set(admin_engine_paths()) != self.paths


def engine_probe() -> NodeProbe:
    probe = _EngineProbe()
    return NodeProbe(facts=probe.facts, registered=probe.registered, changed=probe.changed)
