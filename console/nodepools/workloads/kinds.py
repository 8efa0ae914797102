"""What a workload kind provides (see the package docstring for what the layer guarantees)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.nodepools.models import Node, Pool


@dataclass(frozen=True)
class Occupant:
    """A workload holding (part of) a node: shown on node pages, counted as the node's load."""

    kind: str
    workload_id: int
    node_id: int
    label: str  # e.g. "job-name / worker-0"
    owner_label: str  # what the workload belongs to, e.g. the job's name
    owner_status: str  # e.g. the job's phase
    project_name: str
    url: str
    status: str
    cpu_cores: int = 0
    memory_gb: int = 0
    gpu_count: int = 0
    since: datetime | None = None


@dataclass(frozen=True)
class PoolActivity:
    """Something that runs or waits in a pool, for the pool's page (a job, a notebook, a service)."""

    kind: str
    label: str
    url: str
    project_name: str
    status: str
    badge: str  # success | danger | warning | info | muted
    reason: str
    flavor_id: str
    nodes: list[str]
    created_at: datetime


@dataclass(frozen=True)
class Stopped:
    """A workload (or what owns it, e.g. a job) stopped because its node left the pool."""

    name: str
    ident: str

    def __str__(self) -> str:
        return f"{self.name} ({self.ident})"


@dataclass(frozen=True)
class Orphan:
    """A workload of this node that ended while its process group may live on."""

    workload_id: int
    token: str
    process_pid: int | None
    runner_pid: int | None
    local_dir: str


@dataclass(frozen=True)
class SyncTarget:
    """A local folder whose changed files go to a storage folder while it runs and at the end."""

    name: str
    local_dir: Path
    obs_url: str


@dataclass
class LaunchSpec:
    """What to run: an argument list (never a shell), its environment and where."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    cpu_cores: int = 0  # 0: every core of the node
    memory_limit_bytes: int = 0  # 0: not watched
    secrets: list[str] = field(default_factory=list)  # masked in the log
    outputs: list[SyncTarget] = field(default_factory=list)
    # Logged scalars (scalars.ScalarReader): stdout lines starting with this prefix, event files
    # under these folders; at most scalar_cap points and scalar_name_cap names (0: none read).
    metric_prefix: str = ""
    scalar_dirs: list[Path] = field(default_factory=list)
    scalar_cap: int = 0
    scalar_name_cap: int = 0


@dataclass
class Outcome:
    status: str
    message: str
    exit_code: int | None = None
    create_failed: bool = False


@dataclass(frozen=True)
class HeartbeatAnswer:
    alive: bool  # False: the platform gave up on this workload (the runner stops it quietly)
    stop_reason: str | None = None  # a stop was requested, with the reason shown to people


class PrepareError(Exception):
    """The workload could not start (download, missing file, rendezvous): reported as a failed start."""


class WorkloadRun:
    """One workload on this node, as the runner sees it. Made by ``WorkloadKind.run_for``.

    ``claim`` is the runner's first act, on its main thread, before any other part exists.
    From then on the methods under *reporter* are called only from the reporter's thread:
    they are the only database writes of a runner. ``prepare`` runs on the runner's main
    thread (it downloads) and may read the database; its writes go through ``post``/``call``.
    """

    name: str = ""  # shown in console lines, e.g. "worker-0"
    node_name: str = ""

    def claim(self, *, token: str, runner_pid: int) -> bool:
        """Compare-and-set the row from "assigned" to "starting"; False: not ours to run."""
        raise NotImplementedError

    # --- reporter -----------------------------------------------------------------

    def set_local_dir(self, path: str) -> None:
        raise NotImplementedError

    def mark_running(self, *, process_pid: int) -> None:
        raise NotImplementedError

    def heartbeat(self) -> HeartbeatAnswer:
        raise NotImplementedError

    def store_log(self, *, seq: int, text: str, log_bytes: int, truncated: bool) -> None:
        raise NotImplementedError

    def store_samples(self, samples: list[dict]) -> None:
        """Samples: {"at", "cpu_usage", "mem_usage", "mem_bytes"} (-1 = no data)."""
        raise NotImplementedError

    def store_scalars(self, points: list[dict]) -> None:
        """Logged scalars: {"name", "step", "wall_time", "value"} (finite, within the caps), all or none."""
        raise NotImplementedError

    def event(self, kind: str, message: str) -> None:
        raise NotImplementedError

    def outputs_synced(self) -> None:
        raise NotImplementedError

    def finish(self, outcome: Outcome) -> bool:
        """Report the exit once (only while the row is still ours); True when it was recorded."""
        raise NotImplementedError

    def after_finish(self) -> None:
        """Anything the kind does once its row is final (e.g. reconcile the job at once)."""

    # --- main thread ---------------------------------------------------------------
    def prepare(self, workspace, console) -> LaunchSpec:
        """Fetch what the process needs into ``workspace`` and say what to run. Raise PrepareError."""
        raise NotImplementedError

    def storage_for(self, obs_url: str, access: str):
        """(backend, folder) for a storage folder, through the authorization gate."""
        raise NotImplementedError

    def start_line(self, *, cores: int) -> str:
        """The console line printed as the process starts, once its cores are known."""
        return f"Starting {self.name} on {cores} core(s)."

    def describe_exit(self, returncode: int) -> tuple[str, str]:
        """(status, message) for a process that ended by itself."""
        raise NotImplementedError

    def export_log(self, log_path: Path) -> str | None:
        """Copy the finished log where the kind keeps it; returns a line to report, or None."""
        return None

    def log_cap_bytes(self) -> int:
        raise NotImplementedError

    def workspace_name(self) -> str:
        """The workload's folder under the node's work dir (unique per workload)."""
        raise NotImplementedError

    def log_file_name(self) -> str:
        raise NotImplementedError

    def memory_exceeded_message(self, rss_bytes: int) -> str:
        """Why the process group was killed for using more memory than its flavor holds."""
        raise NotImplementedError


class WorkloadKind:
    """A kind of workload (training task, notebook, service instance). Registered once per process."""

    name: str = ""

    # --- node side -----------------------------------------------------------------
    def run_for(self, workload_id: int) -> WorkloadRun | None:
        """The runner's view of one workload, or None when the row is gone."""
        raise NotImplementedError

    # --- platform side -------------------------------------------------------------
    def occupants(self, *, node_ids: list[int]) -> list[Occupant]:
        """Workloads of this kind that hold any of these nodes now."""
        raise NotImplementedError

    def orphans(self, *, node_id: int, since: datetime) -> list[Orphan]:
        """Workloads of this node that ended after ``since`` (their groups may outlive their runner)."""
        raise NotImplementedError

    def stop_on_node(self, *, node: Node, actor, reason: str) -> list[Stopped]:
        """Stop every workload on a node that leaves its pool; returns what was stopped (for the audit)."""
        raise NotImplementedError

    def waiting_in_pool(self, *, pool: Pool) -> list[str]:
        """Names of workloads waiting for this pool (a pool with waiting work cannot be deleted)."""
        return []

    def pool_activity(self, *, pool: Pool) -> list[PoolActivity]:
        """What of this kind runs or waits in the pool now, oldest first."""
        return []

    def active_counts_by_pool(self) -> dict[int, int]:
        """Pool id → number of live workloads of this kind (running or waiting), for the pools list."""
        return {}
