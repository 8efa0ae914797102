"""The runner's work (see console.training.runner for the whole story)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import traceback
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import psutil
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from console.storage import gate
from console.storage.backends import StorageError
from console.storage.paths import ObsPath, PathError, folder_key
from console.training import params
from console.training.models import EventKind, JobEvent, TaskLogChunk, TaskMetricSample, TrainingJob, TrainingTask
from console.training.phases import HEARTBEATING_STATUSES, TaskStatus

logger = logging.getLogger("console.training.runner")

CONSOLE_PREFIX = "[ModelArts Console] "
LAST_LINES = 10
MAX_LINE_BYTES = 64 * 1024
RENDEZVOUS_TIMEOUT = 120

# Run by the engine's interpreter before it becomes the training script (exec keeps the pid):
# die with the runner, stay on the flavor's cores. No shell, arguments passed through as they are.
EXEC_WRAPPER = """\
import ctypes, os, sys
try:
    ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG = SIGKILL: the runner's death ends the script
except Exception:
    pass
if os.getppid() != int(sys.argv[1]):
    os._exit(70)  # the runner died before the line above took effect
if sys.argv[2]:
    try:
        os.sched_setaffinity(0, [int(core) for core in sys.argv[2].split(",")])
    except OSError:
        pass
os.execv(sys.argv[3], sys.argv[3:])
"""


class PrepareError(Exception):
    """The task could not start (download, missing boot file, rendezvous): the job shows CreateFailed."""


@dataclass
class Outcome:
    status: str
    message: str
    exit_code: int | None = None
    create_failed: bool = False


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


class Runner:
    def __init__(self, task_id: int):
        self.task_id = task_id
        self.token = uuid.uuid4().hex
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.done = threading.Event()
        self.pending: list[str] = []
        self.samples: list[TaskMetricSample] = []
        self.recent: deque[str] = deque(maxlen=LAST_LINES)
        self.log_bytes = 0
        self.truncated = False
        self.seq = 0
        self.secrets: list[str] = []
        self.proc: subprocess.Popen | None = None
        self.stop_reason: str | None = None
        self.memory_exceeded: str | None = None
        self.claim_lost = False
        self.tracked: dict[int, psutil.Process] = {}
        self.uploaded: dict[str, tuple[int, int]] = {}
        self.upload_lock = threading.Lock()
        self.log_file = None

    # --- top level -------------------------------------------------------------------

    def run(self) -> int:
        task = (
            TrainingTask.objects.select_related("job", "job__project", "job__created_by", "job__engine", "node")
            .filter(pk=self.task_id)
            .first()
        )
        if task is None:
            return 0
        now = timezone.now()
        claimed = TrainingTask.objects.filter(pk=task.pk, status=TaskStatus.ASSIGNED).update(
            status=TaskStatus.STARTING, runner_pid=os.getpid(), runner_token=self.token, started_at=now, heartbeat_at=now
        )
        if not claimed:
            logger.info("task %s is not waiting for a runner (%s); exiting", task.pk, task.status)
            return 0
        self.task, self.job, self.node = task, task.job, task.node
        spec = self.job.algorithm_spec
        secret_names = params.sensitive_names(spec.get("parameters", []))
        self.secrets = sorted(
            {v["value"] for v in self.job.parameters if v["name"] in secret_names and len(v.get("value", "")) >= 3},
            key=len,
            reverse=True,
        )
        self.root = settings.TRAINING_WORK_DIR / str(self.job.uuid) / task.name
        shutil.rmtree(self.root, ignore_errors=True)
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        self.log_path = self.root / "logs" / f"modelarts-job-{self.job.uuid}-{task.name}.log"
        self.log_file = open(self.log_path, "w", encoding="utf-8")
        TrainingTask.objects.filter(pk=task.pk).update(local_dir=str(self.root))
        signal.signal(signal.SIGTERM, self._on_sigterm)
        self.samples.append(TaskMetricSample(task_id=task.pk, at=now))  # "no data yet", as the seed shows -1
        reporter = threading.Thread(target=self._report_loop, name="reporter", daemon=True)
        reporter.start()
        try:
            outcome = self._run_task()
        except Exception as error:  # report it on the task instead of dying silently
            logger.exception("runner of task %s failed", task.pk)
            self.console_line(f"Internal error in the runner: {error}")
            outcome = Outcome(TaskStatus.FAILED, f"Internal error in the runner: {error}", create_failed=self.proc is None)
        self._finish(outcome, reporter)
        return 0

    def _run_task(self) -> Outcome:
        job, task = self.job, self.task
        self.console_line(f"Task {task.name} of job {job.name} ({job.uuid}) on node {self.node.name}.")
        try:
            self._download()
            if self.stop_reason:
                return Outcome(TaskStatus.TERMINATED, self.stop_reason)
            python = self._interpreter()
            master_addr, master_port = self._rendezvous()
        except PrepareError as error:
            self.console_line(str(error))
            return Outcome(TaskStatus.FAILED, str(error), create_failed=True)
        if self.stop_reason:
            return Outcome(TaskStatus.TERMINATED, self.stop_reason)
        self._start(python, master_addr, master_port)
        uploader = threading.Thread(target=self._upload_loop, name="uploader", daemon=True)
        uploader.start()
        reader = threading.Thread(target=self._read_output, name="reader", daemon=True)
        reader.start()
        returncode = self.proc.wait()
        reader.join(timeout=30)
        self._kill_group(signal.SIGKILL)  # whatever the script left behind in its group
        if self.memory_exceeded:
            return Outcome(TaskStatus.FAILED, self.memory_exceeded, exit_code=_exit_code(returncode))
        if self.stop_reason:
            return Outcome(TaskStatus.TERMINATED, self.stop_reason, exit_code=_exit_code(returncode))
        if returncode == 0:
            return Outcome(TaskStatus.SUCCEEDED, "The training process exited with code 0.", exit_code=0)
        if returncode < 0:
            message = (
                f"The training process was killed by {signal_name(-returncode)} "
                f"(exit code {_exit_code(returncode)})."
            )
        else:
            message = f"The training process exited with code {returncode}."
        return Outcome(TaskStatus.FAILED, message + self._last_lines(), exit_code=_exit_code(returncode))

    def _last_lines(self) -> str:
        with self.lock:
            lines = [line.rstrip("\n") for line in self.recent]
        return ("\nLast log lines:\n" + "\n".join(lines)) if lines else ""

    # --- preparing -------------------------------------------------------------------

    def _storage(self, path: str, access: str):
        return gate.storage_for_task(owner=self.job.created_by, project=self.job.project, path=path, access=access)

    def _download(self) -> None:
        started = time.monotonic()
        spec = self.job.algorithm_spec
        self.code_dir = self.root / "code"
        try:
            backend, folder = self._storage(spec["code_dir"], gate.READ)
            code_files = backend.download_dir(folder_key(folder.key), self.code_dir)
        except (gate.StorageRefused, PathError, StorageError, OSError) as error:
            raise PrepareError(f"Could not download the code from {spec['code_dir']}: {_message(error)}") from None
        boot = gate.parse_path(spec["boot_file"])
        self.boot_local = self.code_dir / boot.name
        if not self.boot_local.is_file():
            raise PrepareError(f"The boot file {spec['boot_file']} is not in the code directory any more.")
        counts = [f"code: {code_files} file(s)"]
        self.input_dirs = {}
        for item in self.job.inputs:
            local = self.root / "inputs" / f"{item['name']}_0"
            local.mkdir(parents=True, exist_ok=True)
            try:
                backend, folder = self._storage(item["obs_url"], gate.READ)
                count = backend.download_dir(folder_key(folder.key), local)
            except (gate.StorageRefused, PathError, StorageError, OSError) as error:
                raise PrepareError(f"Could not download input {item['name']} from {item['obs_url']}: {_message(error)}") from None
            self.input_dirs[item["name"]] = local
            counts.append(f"{item['name']}: {count} file(s)")
        self.output_dirs = {}
        for item in self.job.outputs:
            local = self.root / "outputs" / f"{item['name']}_0"
            local.mkdir(parents=True, exist_ok=True)
            self.output_dirs[item["name"]] = local
        elapsed = time.monotonic() - started
        message = f"{self.task.name}: downloaded {', '.join(counts)} in {elapsed:.1f} s."
        self.console_line(message)
        JobEvent.objects.create(job_id=self.job.pk, at=timezone.now(), kind=EventKind.DOWNLOAD, message=message, task_name=self.task.name)

    def _rendezvous(self) -> tuple[str, int]:
        """worker-0 publishes a free port of its node; every task learns MASTER_ADDR/MASTER_PORT."""
        job = self.job
        if self.task.index == 0:
            TrainingJob.objects.filter(pk=job.pk, master_port__isnull=True).update(master_port=free_port())
        deadline = time.monotonic() + RENDEZVOUS_TIMEOUT
        while True:
            row = TrainingJob.objects.filter(pk=job.pk).values("master_port").first()
            port = row and row["master_port"]
            if port:
                break
            if self.stop_reason:
                return "", 0
            if time.monotonic() > deadline:
                raise PrepareError(f"worker-0 did not publish its rendezvous port within {RENDEZVOUS_TIMEOUT} s.")
            time.sleep(0.2)
        master = TrainingTask.objects.filter(job_id=job.pk, index=0).select_related("node").first()
        address = master.node.address if master and master.node else "127.0.0.1"
        return address, port

    def _cores(self) -> list[int]:
        """The flavor's number of cores, where the node has that many (else all of them)."""
        want = int(self.job.flavor_spec.get("cpu_cores") or 0)
        try:
            available = sorted(os.sched_getaffinity(0))
        except AttributeError:
            return []
        if want and len(available) >= want:
            return available[:want]
        return available

    def _start(self, python: str, master_addr: str, master_port: int) -> None:
        job, task = self.job, self.task
        spec = job.algorithm_spec
        argv = [python, str(self.boot_local)]
        argv += params.argv_for(job.parameters)
        argv += [f"--{name}={path}" for name, path in self.input_dirs.items()]
        argv += [f"--{name}={path}" for name, path in self.output_dirs.items()]
        cores = self._cores()
        tmp = self.root / "tmp"
        tmp.mkdir(exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(self.root)),
            "LANG": "C.UTF-8",
            "TMPDIR": str(tmp),
            "PYTHONUNBUFFERED": "1",
            "PYTHONIOENCODING": "utf-8",
            "RANK": str(task.index),
            "NODE_RANK": str(task.index),
            "WORLD_SIZE": str(job.node_count),
            "LOCAL_RANK": "0",
            "LOCAL_WORLD_SIZE": "1",
            "MASTER_ADDR": master_addr,
            "MASTER_PORT": str(master_port),
            "MA_JOB_ID": str(job.uuid),
            "MA_TASK_NAME": task.name,
            "MA_NUM_HOSTS": str(job.node_count),
            "VC_TASK_INDEX": str(task.index),
            "OMP_NUM_THREADS": str(max(1, len(cores) or 1)),
            "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in range(int(job.flavor_spec.get("gpu_count") or 0))),
            # Lets the node agent recognise this task's processes (and only them) if they outlive the runner.
            "MA_CONSOLE_TASK": f"{task.pk}:{self.token}",
        }
        if master_addr.startswith("127."):
            env["GLOO_SOCKET_IFNAME"] = "lo"
        self.console_line(
            f"Starting {Path(spec['boot_file']).name} with {python} on {len(cores)} core(s)"
            + (f", rank {task.index} of {job.node_count} (master {master_addr}:{master_port})" if job.node_count > 1 else "")
            + "."
        )
        self.proc = subprocess.Popen(
            [python, "-c", EXEC_WRAPPER, str(os.getpid()), ",".join(str(c) for c in cores), *argv],
            cwd=str(self.code_dir),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a stop kills the whole group
            close_fds=True,
        )
        now = timezone.now()
        TrainingTask.objects.filter(pk=task.pk, runner_token=self.token, status=TaskStatus.STARTING).update(
            status=TaskStatus.RUNNING, running_at=now, process_pid=self.proc.pid, heartbeat_at=now
        )
        self._reconcile()

    def _interpreter(self) -> str:
        from console.training.models import NodeEngine

        entry = NodeEngine.objects.filter(node=self.node, engine_id=self.job.engine_id).values_list("python_path", flat=True).first()
        if not entry:
            raise PrepareError(f"Engine {self.job.algorithm_spec['engine']['engine_id']} is not installed on node {self.node.name}.")
        return entry

    # --- while it runs -----------------------------------------------------------------

    def console_line(self, text: str) -> None:
        for line in text.splitlines() or [""]:
            self._add_line(CONSOLE_PREFIX + line + "\n", redact=False)

    def _read_output(self) -> None:
        stream = self.proc.stdout
        while True:
            raw = stream.readline(MAX_LINE_BYTES)
            if not raw:
                break
            line = raw.decode("utf-8", "replace")
            if not line.endswith("\n"):
                line += "\n"
            self._add_line(line)

    def _add_line(self, line: str, *, redact: bool = True) -> None:
        if redact:
            for secret in self.secrets:
                if secret in line:
                    line = line.replace(secret, params.MASK)
        size = len(line.encode("utf-8"))
        with self.lock:
            if self.truncated:
                return
            cap = settings.TRAINING_LOG_CAP_BYTES
            if self.log_bytes + size > cap:
                self.truncated = True
                line = (
                    f"{CONSOLE_PREFIX}Log truncated: this task's log reached its cap of {cap} bytes "
                    "(TRAINING_LOG_CAP_BYTES); further output is discarded while the process keeps running.\n"
                )
                size = len(line.encode("utf-8"))
            self.log_bytes += size
            self.pending.append(line)
            self.recent.append(line)
            self.log_file.write(line)

    def _report_loop(self) -> None:
        """The one thread that writes to the database while the task runs."""
        flush_every = settings.TRAINING_LOG_FLUSH_SECONDS
        beat_every = settings.TRAINING_RUNNER_HEARTBEAT_SECONDS
        sample_every = settings.TRAINING_METRIC_INTERVAL_SECONDS
        next_beat = next_sample = time.monotonic()
        try:
            while True:
                finishing = self.done.is_set()
                now = time.monotonic()
                try:
                    self._flush_logs()
                    if now >= next_beat and not finishing:
                        next_beat = now + beat_every
                        self._heartbeat()
                    if now >= next_sample and not finishing:
                        next_sample = now + sample_every
                        self._sample()
                    self._flush_samples()
                except Exception:
                    logger.exception("reporting failed; retrying")
                    close_old_connections()
                if finishing:
                    return
                self.wake.wait(flush_every)
                self.wake.clear()
        finally:
            connection.close()

    def _flush_logs(self) -> None:
        with self.lock:
            if not self.pending:
                return
            text = "".join(self.pending)
            self.pending = []
            log_bytes, truncated = self.log_bytes, self.truncated
        self.seq += 1
        TaskLogChunk.objects.create(task_id=self.task_id, seq=self.seq, text=text, at=timezone.now())
        TrainingTask.objects.filter(pk=self.task_id).update(log_seq=self.seq, log_bytes=log_bytes, log_truncated=truncated)

    def _flush_samples(self) -> None:
        with self.lock:
            samples, self.samples = self.samples, []
        if samples:
            TaskMetricSample.objects.bulk_create(samples)

    def _heartbeat(self) -> None:
        alive = TrainingTask.objects.filter(
            pk=self.task_id, runner_token=self.token, status__in=HEARTBEATING_STATUSES
        ).update(heartbeat_at=timezone.now())
        if not alive:
            # The poller gave up on us (we were silent too long): the job is already Abnormal; end quietly.
            if not self.claim_lost:
                self.claim_lost = True
                self.request_stop("The task was marked lost by the poller; the runner stops its process.")
            return
        row = TrainingTask.objects.filter(pk=self.task_id).values("stop_requested", "stop_reason").first()
        if row and row["stop_requested"] and not self.stop_reason:
            self.request_stop(row["stop_reason"] or "Stop requested.")

    def _sample(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            root = psutil.Process(proc.pid)
            members = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        cpu = 0.0
        rss = 0
        for member in members:
            tracked = self.tracked.setdefault(member.pid, member)
            try:
                cpu += tracked.cpu_percent(None)
                rss += tracked.memory_info().rss
            except psutil.Error:
                continue
        cores = max(1, len(self._cores()))
        memory_limit = int(self.job.flavor_spec.get("memory_gb") or 0) * 1024**3
        sample = TaskMetricSample(
            task_id=self.task_id,
            at=timezone.now(),
            cpu_usage=round(min(100.0, cpu / cores), 3),
            mem_usage=round(100.0 * rss / memory_limit, 3) if memory_limit else -1,
            mem_bytes=rss,
        )
        with self.lock:
            self.samples.append(sample)
        if memory_limit and rss > memory_limit and not self.memory_exceeded:
            self.memory_exceeded = (
                f"Stopped: the training process used {rss / 1024**3:.2f} GB of memory, more than the "
                f"{self.job.flavor_spec.get('memory_gb')} GB of flavor {self.job.flavor_spec.get('flavor_id')}."
            )
            self.console_line(self.memory_exceeded)
            self._kill_group(signal.SIGKILL)

    def request_stop(self, reason: str) -> None:
        """SIGTERM to the process group, SIGKILL after the grace period."""
        if self.stop_reason:
            return
        self.stop_reason = reason
        self.console_line(f"Stopping: {reason}")
        if self.proc is None:
            return
        self._kill_group(signal.SIGTERM)

        def escalate():
            if self.proc.poll() is None:
                self._kill_group(signal.SIGKILL)

        timer = threading.Timer(settings.TRAINING_STOP_GRACE_SECONDS, escalate)
        timer.daemon = True
        timer.start()

    def _on_sigterm(self, signum, frame) -> None:
        threading.Thread(
            target=self.request_stop, args=(f"The runner on node {self.node.name} was terminated (SIGTERM).",), daemon=True
        ).start()

    def _kill_group(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    # --- outputs and logs ------------------------------------------------------------------

    def _upload_loop(self) -> None:
        period = settings.TRAINING_OUTPUT_UPLOAD_PERIOD
        try:
            while not self.done.wait(period):
                if self.proc is not None and self.proc.poll() is not None:
                    return
                try:
                    if self._upload_outputs():
                        TrainingTask.objects.filter(pk=self.task_id).update(outputs_uploaded_at=timezone.now())
                except Exception as error:
                    self.console_line(f"Periodic output upload failed: {_message(error)}")
        finally:
            connection.close()

    def _upload_outputs(self) -> int:
        """Upload new or changed files of every output folder; returns files uploaded."""
        uploaded = 0
        with self.upload_lock:
            for item in self.job.outputs:
                local = self.output_dirs.get(item["name"])
                if local is None or not local.is_dir():
                    continue
                backend, folder = self._storage(item["obs_url"], gate.WRITE)
                prefix = folder_key(folder.key)
                for dirpath, dirnames, filenames in os.walk(local):
                    base = Path(dirpath)
                    # Links are not followed: a script must not publish files from outside its folder.
                    dirnames[:] = [d for d in dirnames if not (base / d).is_symlink()]
                    for name in filenames:
                        path = base / name
                        if path.is_symlink() or not path.is_file():
                            continue
                        info = path.stat()
                        key = prefix + path.relative_to(local).as_posix()
                        stamp = (info.st_size, info.st_mtime_ns)
                        if self.uploaded.get(key) == stamp:
                            continue
                        with open(path, "rb") as source:
                            backend.write_stream(key, source, size=info.st_size)
                        self.uploaded[key] = stamp
                        uploaded += 1
        return uploaded

    def _export_log(self) -> None:
        if not self.job.log_export_path:
            return
        self.log_file.flush()
        backend, folder = self._storage(self.job.log_export_path, gate.WRITE)
        target = ObsPath(folder.bucket, folder_key(folder.key)).child(self.log_path.name)
        with open(self.log_path, "rb") as source:
            backend.write_stream(target.key, source, size=os.fstat(source.fileno()).st_size)
        JobEvent.objects.create(
            job_id=self.job.pk, at=timezone.now(), kind=EventKind.LOG_EXPORT,
            message=f"{self.task.name}: log exported to {target.uri}.", task_name=self.task.name,
        )

    # --- the end ---------------------------------------------------------------------------

    def _finish(self, outcome: Outcome, reporter: threading.Thread) -> None:
        if self.proc is not None:
            try:
                sent = self._upload_outputs()
                destinations = ", ".join(gate.parse_path(o["obs_url"]).uri for o in self.job.outputs)
                message = (
                    f"{self.task.name}: outputs uploaded to {destinations}: {len(self.uploaded)} file(s)"
                    f" ({sent} sent at the end, the rest while it ran)."
                )
                self.console_line(message)
                JobEvent.objects.create(job_id=self.job.pk, at=timezone.now(), kind=EventKind.UPLOAD, message=message, task_name=self.task.name)
                TrainingTask.objects.filter(pk=self.task_id).update(outputs_uploaded_at=timezone.now())
            except Exception as error:
                text = f"Uploading the outputs failed: {_message(error)}"
                self.console_line(text)
                if outcome.status == TaskStatus.SUCCEEDED:
                    outcome = Outcome(TaskStatus.FAILED, text, exit_code=outcome.exit_code)
        self.console_line(f"{self.task.name} ended: {outcome.message.splitlines()[0] if outcome.message else outcome.status}")
        try:
            self._export_log()
        except Exception as error:
            logger.warning("log export of task %s failed: %s", self.task_id, error)
            JobEvent.objects.create(
                job_id=self.job.pk, at=timezone.now(), kind=EventKind.PROBLEM,
                message=f"{self.task.name}: the log could not be exported: {_message(error)}", task_name=self.task.name,
            )
        self.done.set()
        self.wake.set()
        reporter.join(timeout=30)
        self._flush_logs()
        self._flush_samples()
        if self.log_file is not None:
            self.log_file.close()
        # The node keeps no copy of the job's code, inputs or outputs once it ends.
        shutil.rmtree(self.root, ignore_errors=True)
        now = timezone.now()
        reported = TrainingTask.objects.filter(
            pk=self.task_id, runner_token=self.token, status__in=HEARTBEATING_STATUSES
        ).update(
            status=outcome.status,
            message=outcome.message[:10000],
            exit_code=outcome.exit_code,
            create_failed=outcome.create_failed,
            finished_at=now,
            heartbeat_at=now,
        )
        if reported:
            JobEvent.objects.create(
                job_id=self.job.pk, at=now, kind=EventKind.TASK_EXIT,
                message=f"{self.task.name}: {outcome.message.splitlines()[0] if outcome.message else outcome.status}",
                task_name=self.task.name,
            )
        self._reconcile()

    def _reconcile(self) -> None:
        from console.training.services.reconcile import reconcile_jobs

        try:
            reconcile_jobs(job_ids=[self.job.pk])
        except Exception:
            logger.warning("reconcile after report failed:\n%s", traceback.format_exc())


def _exit_code(returncode: int) -> int:
    """Exit codes as a shell (and ModelArts) show them: a signal N is 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def _message(error: Exception) -> str:
    return getattr(error, "message", None) or str(error) or error.__class__.__name__
