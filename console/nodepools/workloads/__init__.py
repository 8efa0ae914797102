"""The node-workload layer: everything that runs as a process on a pool's node goes through here.

A *workload* is one process group on one node: a training task today, a notebook instance
and a service instance next. This package knows nodes, not training: a *workload kind*
plugs in what its rows are and what its states mean. The interface a kind implements is
``WorkloadKind`` (platform side: what occupies a node, how to stop it, what to clean up)
and ``WorkloadRun`` (node side: claim, prepare, report, finish) in ``kinds.py``; a kind
registers itself with ``register_kind`` in its app's ``AppConfig.ready()``.

What the layer guarantees to a kind:

- **Launch.** ``launch.launch_runner(kind, id)`` starts a runner for the workload on this
  node, detached from the Celery worker (through the node's warm zygote when it has one,
  else cold): killing or restarting the worker leaves the workload running. A duplicate
  launch is harmless: the runner claims the row by compare-and-set (``WorkloadRun.claim``)
  and exits when the claim fails.
- **The runner** (``runner.Runner``) is a short orchestrator over small parts, each
  testable alone: ``workspace`` (a private folder, downloads, cleanup), ``process``
  (one process group from an argument list — never a shell — pinned to the flavor's
  cores, dies with the runner, memory watched, signalled and reaped), ``logbuffer``
  (lines, secret masking, the log cap, the last lines), ``sync`` (changed files of local
  folders to storage, periodically and at the end) and ``reporter`` (the ONLY part that
  writes to the database: one thread fed by a queue, batching log chunks and samples,
  heartbeating and reading stop requests).
- **Reporting.** Heartbeats every ``TRAINING_RUNNER_HEARTBEAT_SECONDS`` while the
  process lives; a workload whose heartbeat stops is the kind's to mark lost (its poller).
  A stop request (``WorkloadRun.heartbeat`` answering a reason) → SIGTERM to the group,
  SIGKILL after ``TRAINING_STOP_GRACE_SECONDS``.
- **The node.** The agent (``agent``) registers the worker as a node, heartbeats, leaves
  the pool when an administrator removes it, and kills process groups of workloads that
  ended without their runner (``WorkloadKind.orphans``: only a process carrying the
  workload's marker ``MA_CONSOLE_WORKLOAD=<kind>:<id>:<token>`` is ever killed).
- **Hooks upward.** Lower layers never import a kind's app: capacity (``occupants``),
  stopping what runs on a leaving node (``stop_on_node``), what waits for a pool
  (``waiting_in_pool``) and engine detection on a node (``register_node_probe``) are
  asked of the registered kinds.

A workload's life on a node::

    scheduler (kind) ──assign──> launch_runner(kind, id) ──> zygote fork / cold start
    runner: claim ─> workspace.prepare (kind: download, argv, env) ─> process.start
          ─> [reporter: logs, samples, heartbeat ⇄ stop request] [sync: outputs every N s]
          ─> process exits ─> final sync ─> kind.finish(outcome) ─> workspace removed
"""

from console.nodepools.workloads.kinds import (
    HeartbeatAnswer,
    LaunchSpec,
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
from console.nodepools.workloads.registry import (
    NodeProbe,
    kind_for,
    node_probes,
    register_kind,
    register_node_probe,
    registered_kinds,
)

__all__ = [
    "HeartbeatAnswer",
    "LaunchSpec",
    "Occupant",
    "Orphan",
    "NodeProbe",
    "Outcome",
    "PoolActivity",
    "PrepareError",
    "Stopped",
    "SyncTarget",
    "WorkloadKind",
    "WorkloadRun",
    "kind_for",
    "node_probes",
    "register_kind",
    "register_node_probe",
    "registered_kinds",
]
