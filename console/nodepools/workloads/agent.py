"""The node agent: inside a Celery worker started with CONSOLE_NODE_POOL, it makes the worker a node.

When the worker is ready it measures the machine (cores, memory, disk, GPUs via
NVML when pynvml is installed), asks the registered node probes what they find
(training's: the interpreters it can run, as engines), registers the node, and only then starts consuming
the pool's queue (``pool.<pool>``) and its own (``node.<name>``). A node an
administrator removed is refused and consumes neither, so restarting its worker
does not bring it back. A thread heartbeats; when the node has been removed
meanwhile it cancels both consumers (the platform queue keeps running), and it
kills processes of workloads that ended while their process group lived on.

Environment: CONSOLE_NODE_POOL (pool name), CONSOLE_NODE_NAME (default: host
name; distinct names let several workers of one machine be several nodes),
CONSOLE_NODE_ADDRESS (how other nodes reach this one; default: the host's
outward address).
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import signal
import socket
import threading
import time
from datetime import timedelta

import psutil
from celery import current_app
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from console.nodepools.models import Node
from console.nodepools.services import (
    NodeFacts,
    NodeRegistrationRefused,
    node_heartbeat,
    node_queue_names,
    node_register,
)
from console.nodepools.workloads.launch import start_zygote
from console.nodepools.workloads.registry import node_probes, registered_kinds
from console.nodepools.workloads.runner import marker

logger = logging.getLogger("console.nodepools.workloads.agent")

_agent: NodeAgent | None = None


def detect_gpus() -> list[dict]:
    """GPUs through NVML; none when pynvml (or a driver) is absent."""
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            gpus.append(
                {
                    "index": index,
                    "name": name.decode() if isinstance(name, bytes) else str(name),
                    "memory_bytes": int(pynvml.nvmlDeviceGetMemoryInfo(handle).total),
                }
            )
        return gpus
    except Exception:  # no driver, no device: a CPU node
        logger.info("NVML present but no usable GPU")
        return []


def outward_address() -> str:
    address = os.environ.get("CONSOLE_NODE_ADDRESS")
    if address:
        return address
    try:
        # No packet is sent: connecting a UDP socket only picks the interface that would be used.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def probe_facts(accelerator: str) -> list[dict]:
    """What every registered probe finds on this node (training's: usable interpreters)."""
    found: list[dict] = []
    for probe in node_probes():
        try:
            found += probe.facts(accelerator)
        except Exception:
            logger.exception("a node probe failed")
    return found


def node_facts() -> NodeFacts:
    settings.TRAINING_WORK_DIR.mkdir(parents=True, exist_ok=True)
    gpus = detect_gpus()
    return NodeFacts(
        hostname=socket.gethostname(),
        address=outward_address(),
        cpu_arch=platform.machine(),
        cpu_cores=usable_cores(),
        memory_bytes=psutil.virtual_memory().total,
        disk_bytes=psutil.disk_usage(str(settings.TRAINING_WORK_DIR)).total,
        gpus=gpus,
        interpreters=probe_facts("cuda" if gpus else "cpu"),
    )


class NodeAgent:
    def __init__(self, *, consumer, pool_name: str, node_name: str):
        self.consumer = consumer
        self.pool_name = pool_name
        self.node_name = node_name
        self.worker_name = getattr(consumer, "hostname", "") or ""
        self.node_id: int | None = None
        self.queues: list[str] = []
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.zygote = None

    def start(self) -> bool:
        facts = node_facts()
        try:
            node = node_register(
                name=self.node_name, pool_name=self.pool_name, worker_name=self.worker_name, facts=facts
            )
        except NodeRegistrationRefused as refusal:
            logger.warning("node %s not registered: %s", self.node_name, refusal.message)
            return False
        for probe in node_probes():
            probe.registered(node, facts.interpreters)
        self.node_id = node.pk
        self.queues = node_queue_names(node)
        for queue in self.queues:
            self.consumer.add_task_queue(queue)
        logger.info(
            "node %s joined pool %s (%s cores, %.1f GB, %s GPU(s), engines: %s); consuming %s",
            node.name, node.pool.name, facts.cpu_cores, facts.memory_bytes / 1024**3, len(facts.gpus),
            ", ".join(i.get("engine_id", "?") for i in facts.interpreters) or "none", ", ".join(self.queues),
        )  # fmt: skip
        self._start_zygote()
        self.thread = threading.Thread(target=self._loop, name="node-agent", daemon=True)
        self.thread.start()
        return True

    def stop(self) -> None:
        self.stop_event.set()
        if self.zygote is not None and self.zygote.poll() is None:
            self.zygote.terminate()

    def _start_zygote(self) -> None:
        """The warm runner of this node (see console.nodepools.workloads.__main__); restarted if it dies."""
        try:
            self.zygote = start_zygote(self.node_name)
        except OSError:
            logger.exception("could not start the warm runner; runners start cold")
            self.zygote = None

    def _loop(self) -> None:
        while not self.stop_event.wait(settings.NODE_HEARTBEAT_SECONDS):
            try:
                close_old_connections()
                if not self._beat():
                    return
            except Exception:  # the database may be away for a moment; keep trying
                logger.exception("node heartbeat failed")

    def _beat(self) -> bool:
        if not node_heartbeat(node_id=self.node_id):
            self._leave_pool()
            return False
        self._refresh_probes()
        reap_orphans(self.node_id)
        if self.zygote is not None and self.zygote.poll() is not None:
            logger.warning("warm runner exited (%s); starting another", self.zygote.returncode)
            self._start_zygote()
        return True

    def _leave_pool(self) -> None:
        """Removed by an administrator: stop taking the pool's work; the platform queue keeps running."""
        logger.warning(
            "node %s was removed from its pool; no longer consuming %s", self.node_name, ", ".join(self.queues)
        )
        for queue in self.queues:
            # Through remote control: the consumer belongs to the worker's main loop, not to this thread.
            current_app.control.cancel_consumer(queue, destination=[self.worker_name])

    def _refresh_probes(self) -> None:
        """A probe's inputs changed (e.g. an administrator registered an interpreter): look again."""
        probes = [probe for probe in node_probes() if probe.changed()]
        if not probes:
            return
        node = Node.objects.get(pk=self.node_id)
        facts = probe_facts("cuda" if node.gpu_count else "cpu")
        Node.objects.filter(pk=node.pk).update(interpreters=facts)
        for probe in probes:
            probe.registered(node, facts)


def reap_orphans(node_id: int) -> int:
    """Clean up after workloads of this node that ended without their runner (e.g. it was killed).

    Their process groups are killed — only if the group leader still carries the workload's
    marker in its environment, so a reused pid never takes an unrelated process down — and
    their local folders are removed.
    """
    recent = timezone.now() - timedelta(hours=1)
    killed = 0
    for kind in registered_kinds():
        for orphan in kind.orphans(node_id=node_id, since=recent):
            pid = orphan.process_pid
            if pid and process_is_workload(pid, kind.name, orphan.workload_id, orphan.token):
                try:
                    os.killpg(pid, signal.SIGKILL)
                    killed += 1
                    logger.warning("killed orphaned process group %s of %s %s", pid, kind.name, orphan.workload_id)
                except (ProcessLookupError, PermissionError):
                    pass
            if orphan.local_dir and os.path.isdir(orphan.local_dir) and not _alive(orphan.runner_pid):
                # The runner removes it itself when it ends normally; a killed one could not.
                shutil.rmtree(orphan.local_dir, ignore_errors=True)
    return killed


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def process_is_workload(pid: int, kind: str, workload_id: int, token: str) -> bool:
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return process.environ().get("MA_CONSOLE_WORKLOAD") == marker(kind, workload_id, token)
    except (psutil.Error, OSError):
        return False


# --- worker signals (connected in NodepoolsConfig.ready) -------------------------------------


def on_worker_ready(sender=None, **kwargs) -> None:
    global _agent
    pool_name = os.environ.get("CONSOLE_NODE_POOL", "").strip()
    if not pool_name:
        return
    node_name = os.environ.get("CONSOLE_NODE_NAME", "").strip() or socket.gethostname()
    agent = NodeAgent(consumer=sender, pool_name=pool_name, node_name=node_name)
    for attempt in range(5):
        try:
            if agent.start():
                _agent = agent
            return
        except Exception:
            logger.exception("node registration failed (attempt %s)", attempt + 1)
            time.sleep(2)


def on_worker_shutdown(sender=None, **kwargs) -> None:
    if _agent is not None:
        _agent.stop()
