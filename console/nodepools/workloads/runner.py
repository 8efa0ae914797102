"""The runner beside one workload: a short orchestrator over the parts of this package.

claim → workspace → kind.prepare → process group → (reporter, output sync, output reader)
→ exit → final sync → log export → kind.finish → workspace removed. If the runner itself
dies (kill -9), the process dies with it (PR_SET_PDEATHSIG) and the kind's poller marks the
workload lost when its heartbeat stops.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import traceback
import uuid

from django.conf import settings
from django.db import connection
from django.utils import timezone

from console.nodepools.workloads.kinds import Outcome, PrepareError, WorkloadRun
from console.nodepools.workloads.logbuffer import LogBuffer
from console.nodepools.workloads.process import ProcessGroup, cores_for, exit_code, signal_name
from console.nodepools.workloads.registry import kind_for
from console.nodepools.workloads.reporter import Reporter, no_data_sample
from console.nodepools.workloads.scalars import ScalarReader
from console.nodepools.workloads.sync import OutputSync
from console.nodepools.workloads.workspace import Workspace

logger = logging.getLogger("console.nodepools.workloads.runner")

FAILED, TERMINATED, SUCCEEDED = "failed", "terminated", "succeeded"


def marker(kind: str, workload_id: int, token: str) -> str:
    """The environment value that lets the node agent recognise a workload's processes (and only them)."""
    return f"{kind}:{workload_id}:{token}"


class Runner:
    def __init__(self, kind: str, workload_id: int):
        self.kind = kind
        self.workload_id = workload_id
        self.token = uuid.uuid4().hex
        self.stop_reason: str | None = None
        self.memory_exceeded: str | None = None
        self.claim_lost = False
        self.group: ProcessGroup | None = None
        self.sync: OutputSync | None = None
        self.done = threading.Event()

    def run(self) -> int:
        run = kind_for(self.kind).run_for(self.workload_id)
        if run is None or not run.claim(token=self.token, runner_pid=os.getpid()):
            logger.info("%s %s is not waiting for a runner; exiting", self.kind, self.workload_id)
            return 0
        self.run_ = run
        self.workspace = Workspace(settings.TRAINING_WORK_DIR / run.workspace_name())
        self.workspace.create()
        self.log_path = self.workspace.root / "logs" / run.log_file_name()
        self.log = LogBuffer(log_file=open(self.log_path, "w", encoding="utf-8"), cap_bytes=run.log_cap_bytes())
        self.reporter = Reporter(
            run=run,
            log=self.log,
            sample=self._sample,
            on_heartbeat=self._on_heartbeat,
            flush_seconds=settings.TRAINING_LOG_FLUSH_SECONDS,
            heartbeat_seconds=settings.TRAINING_RUNNER_HEARTBEAT_SECONDS,
            sample_seconds=settings.TRAINING_METRIC_INTERVAL_SECONDS,
        )
        self.reporter.heartbeating = True
        self.reporter.add_sample(no_data_sample())
        self.reporter.post(run.set_local_dir, str(self.workspace.root))
        self.reporter.start()
        signal.signal(signal.SIGTERM, self._on_sigterm)
        try:
            outcome = self._run()
        except Exception as error:  # report it on the workload instead of dying silently
            logger.exception("runner of %s %s failed", self.kind, self.workload_id)
            self.log.console_line(f"Internal error in the runner: {error}")
            outcome = Outcome(FAILED, f"Internal error in the runner: {error}", create_failed=self.group is None)
        self._finish(outcome)
        return 0

    def _run(self) -> Outcome:
        run = self.run_
        try:
            spec = run.prepare(self.workspace, self)
        except PrepareError as error:
            self.log.console_line(str(error))
            return Outcome(FAILED, str(error), create_failed=True)
        if self.stop_reason:
            return Outcome(TERMINATED, self.stop_reason)
        self.spec = spec
        connection.close()  # the main thread is done reading; an idle connection per workload adds up
        self.log.set_secrets(spec.secrets)
        self.group = ProcessGroup(cores=cores_for(spec.cpu_cores))
        env = dict(spec.env)
        env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS") or str(max(1, len(self.group.cores) or 1))
        env["MA_CONSOLE_WORKLOAD"] = marker(self.kind, self.workload_id, self.token)
        self.log.console_line(run.start_line(cores=len(self.group.cores)))
        self.group.start(spec.argv, env=env, cwd=spec.cwd)
        self.reporter.call(run.mark_running, process_pid=self.group.pid)
        self.sync = OutputSync(targets=spec.outputs, storage_for=run.storage_for)
        scalars = ScalarReader(
            prefix=spec.metric_prefix,
            dirs=spec.scalar_dirs,
            cap=spec.scalar_cap,
            name_cap=spec.scalar_name_cap,
            who=run.name,
        )
        self.reporter.scalars = scalars
        scalars_done = threading.Event()
        threads = [
            threading.Thread(target=self._sync_loop, name="output-sync", daemon=True),
            threading.Thread(
                target=self.log.read_stream,
                args=(self.group.stdout,),
                kwargs={"on_line": scalars.feed_line},
                name="reader",
                daemon=True,
            ),
            threading.Thread(
                target=scalars.run_periodically,
                kwargs={"period": settings.TRAINING_SCALAR_POLL_SECONDS, "done": scalars_done},
                name="scalars",
                daemon=True,
            ),
        ]
        for thread in threads:
            thread.start()
        returncode = self.group.wait()
        # Whatever the workload left behind in its group goes now: a child still holding the
        # output pipe would keep the reader waiting. What is already in the pipe is still read.
        self.group.signal(signal.SIGKILL)
        threads[1].join(timeout=30)
        self._last_scalars(scalars, scalars_done, threads[2])
        if self.memory_exceeded:
            return Outcome(FAILED, self.memory_exceeded, exit_code=exit_code(returncode))
        if self.stop_reason:
            return Outcome(TERMINATED, self.stop_reason, exit_code=exit_code(returncode))
        status, message = run.describe_exit(returncode)
        if status != SUCCEEDED:
            message += self.log.last_lines()
        return Outcome(status, message, exit_code=exit_code(returncode))

    def _last_scalars(self, scalars: ScalarReader, done: threading.Event, poller: threading.Thread) -> None:
        """The events written as the process ended (a writer's close flushes), then the problem totals."""
        done.set()
        poller.join(timeout=30)
        try:
            scalars.poll_files(final=True)
        except Exception:
            logger.exception("reading event files failed")
        for line in scalars.totals():
            self.reporter.post(self.run_.event, "problem", line)

    # --- what the parts call back --------------------------------------------------------

    def console_line(self, text: str) -> None:
        self.log.console_line(text)

    def post(self, fn, *args, **kwargs) -> None:
        """For a kind's prepare: a database write, in order, through the reporter."""
        self.reporter.post(fn, *args, **kwargs)

    def call(self, fn, *args, **kwargs):
        return self.reporter.call(fn, *args, **kwargs)

    def stopping(self) -> bool:
        return self.stop_reason is not None

    def _sample(self) -> dict | None:
        if self.group is None:
            return None
        sample = self.group.sample()
        if sample is None:
            return None
        limit = self.spec.memory_limit_bytes
        if limit and sample.mem_bytes > limit and not self.memory_exceeded:
            self.memory_exceeded = self.run_.memory_exceeded_message(sample.mem_bytes)
            self.log.console_line(self.memory_exceeded)
            self.group.signal(signal.SIGKILL)
        return {
            "at": timezone.now(),
            "cpu_usage": sample.cpu_usage,
            "mem_usage": round(100.0 * sample.mem_bytes / limit, 3) if limit else -1,
            "mem_bytes": sample.mem_bytes,
        }

    def _on_heartbeat(self, answer) -> None:
        if not answer.alive:
            # The platform gave up on us (we were silent too long): end quietly.
            if not self.claim_lost:
                self.claim_lost = True
                self.request_stop("The task was marked lost by the poller; the runner stops its process.")
            return
        if answer.stop_reason and not self.stop_reason:
            self.request_stop(answer.stop_reason)

    def request_stop(self, reason: str) -> None:
        """SIGTERM to the process group, SIGKILL after the grace period."""
        if self.stop_reason:
            return
        self.stop_reason = reason
        self.log.console_line(f"Stopping: {reason}")
        if self.group is not None:
            self.group.stop(grace_seconds=settings.TRAINING_STOP_GRACE_SECONDS)

    def _on_sigterm(self, signum, frame) -> None:
        reason = f"The runner on node {self.run_.node_name} was terminated (SIGTERM)."
        threading.Thread(target=self.request_stop, args=(reason,), daemon=True).start()

    def _sync_loop(self) -> None:
        try:
            self.sync.run_periodically(
                period=settings.TRAINING_OUTPUT_UPLOAD_PERIOD,
                done=self.done,
                alive=self.group.running,
                on_sent=lambda: self.reporter.post(self.run_.outputs_synced),
                on_error=lambda error: self.log.console_line(f"Periodic output upload failed: {message_of(error)}"),
            )
        finally:
            connection.close()  # the gate read authorizations on this thread

    # --- the end ---------------------------------------------------------------------------

    def _finish(self, outcome: Outcome) -> None:
        run = self.run_
        self.done.set()
        if self.group is not None and self.sync is not None:
            outcome = self._final_sync(outcome)
        first_line = outcome.message.splitlines()[0] if outcome.message else outcome.status
        self.log.console_line(f"{run.name} ended: {first_line}")
        self.log.log_file.flush()
        try:
            exported = run.export_log(self.log_path)
            if exported:
                self.reporter.post(run.event, "log_export", exported)
        except Exception as error:
            logger.warning("log export of %s %s failed: %s", self.kind, self.workload_id, error)
            self.reporter.post(run.event, "problem", f"{run.name}: the log could not be exported: {message_of(error)}")
        self.reporter.heartbeating = False
        self.reporter.call(self.reporter.flush)  # every line and sample is stored before the exit is
        self.log.close()
        self.workspace.remove()
        try:
            self.reporter.call(run.finish, outcome)
            self.reporter.call(run.after_finish)
        except Exception:
            logger.warning(
                "reporting the end of %s %s failed:\n%s", self.kind, self.workload_id, traceback.format_exc()
            )
        finally:
            self.reporter.stop()

    def _final_sync(self, outcome: Outcome) -> Outcome:
        run = self.run_
        try:
            sent = self.sync.upload_changed()
            destinations = ", ".join(t.obs_url for t in self.sync.targets)
            message = (
                f"{run.name}: outputs uploaded to {destinations}: {len(self.sync.uploaded)} file(s)"
                f" ({sent} sent at the end, the rest while it ran)."
            )
            self.log.console_line(message)
            self.reporter.post(run.event, "upload", message)
            self.reporter.post(run.outputs_synced)
        except Exception as error:
            text = f"Uploading the outputs failed: {message_of(error)}"
            self.log.console_line(text)
            if outcome.status == SUCCEEDED:
                return Outcome(FAILED, text, exit_code=outcome.exit_code)
        return outcome


def message_of(error: Exception) -> str:
    return getattr(error, "message", None) or str(error) or error.__class__.__name__


__all__ = ["Runner", "marker", "message_of", "signal_name", "WorkloadRun"]
