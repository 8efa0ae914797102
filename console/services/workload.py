"""Service instances as a workload kind of the node-workload layer (console.nodepools.workloads).

An instance's run is one runner on its node: claim (compare-and-set assigned → starting), prepare
(download the version's weights folder through the storage gate on behalf of the service's owner),
then the serving engine (``python -m console.services.engine``, an argument list) as the process
group, pinned to the flavor's cores. The reporter's heartbeat is where the row learns the rest:
READY once the engine's ``/health`` says ready (a real one-token generation), its counters while
it serves, and — for a draining instance — ``POST /drain`` then the stop once nothing is
outstanding, so a scale down loses no request. When the engine exits by itself the instance is
FAILED with its last error and log tail, and the service is reconciled at once (a replacement).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from console.nodepools.models import Node, Pool
from console.nodepools.workloads import (
    HeartbeatAnswer,
    LaunchSpec,
    Occupant,
    Orphan,
    Outcome,
    PoolActivity,
    PrepareError,
    Stopped,
    WorkloadKind,
    WorkloadRun,
)
from console.nodepools.workloads.process import signal_name
from console.nodepools.workloads.runner import message_of
from console.services.charts import sample_seconds
from console.services.client import EngineClient, EngineError
from console.services.models import InstanceLogChunk, Service, ServiceEvent, ServiceInstance, ServiceSample
from console.services.reconcile import reconcile
from console.services.states import ENDED, HEARTBEATING, OCCUPYING, WORKLOAD_KIND, InstanceState, ServiceStatus
from console.storage import gate
from console.storage.backends import StorageError
from console.storage.paths import PathError

logger = logging.getLogger("console.services.workload")
KIND = WORKLOAD_KIND
# The engine's counters are read this often while it serves (the heartbeat itself is more frequent).
HEALTH_EVERY_SECONDS = 2.0
BASE_DIR = Path(__file__).resolve().parents[2]


class InstanceRun(WorkloadRun):
    def __init__(self, instance: ServiceInstance):
        self.instance = instance
        self.service = instance.service
        self.name = f"{self.service.name}/{instance.name}"
        self.node = instance.node
        self.node_name = instance.node_name
        self.token = ""
        self.client: EngineClient | None = None
        self.process_pid: int | None = None
        self.next_health = 0.0
        self.next_sample = 0.0
        self.drain_started = 0.0
        self.was_ready = False

    def _mine(self):
        return ServiceInstance.objects.filter(pk=self.instance.pk, runner_token=self.token)

    # --- reporter (the only writes) -------------------------------------------------------

    def claim(self, *, token: str, runner_pid: int) -> bool:
        now = timezone.now()
        claimed = ServiceInstance.objects.filter(
            pk=self.instance.pk, state=InstanceState.ASSIGNED, node__isnull=False, runner_token=""
        ).update(
            state=InstanceState.STARTING,
            since=now,
            runner_token=token,
            runner_pid=runner_pid,
            started_at=now,
            heartbeat_at=now,
            process_pid=None,
            outstanding=0,
        )
        self.token = token
        return bool(claimed)

    def set_local_dir(self, path: str) -> None:
        ServiceInstance.objects.filter(pk=self.instance.pk).update(local_dir=path)

    def mark_running(self, *, process_pid: int) -> None:
        # The process group exists; READY waits until the engine's /health says so (see heartbeat).
        self.process_pid = process_pid
        self._mine().update(process_pid=process_pid, heartbeat_at=timezone.now())

    def heartbeat(self) -> HeartbeatAnswer:
        now = timezone.now()
        alive = self._mine().filter(state__in=HEARTBEATING).update(heartbeat_at=now)
        if not alive:
            return HeartbeatAnswer(alive=False)
        row = (
            ServiceInstance.objects.filter(pk=self.instance.pk)
            .values("state", "stop_requested", "stop_reason", "drain_sent")
            .first()
        )
        if row["stop_requested"] or row["state"] == InstanceState.STOPPING:
            return HeartbeatAnswer(alive=True, stop_reason=row["stop_reason"] or _("Stop requested."))
        if self.client is None or self.process_pid is None:
            return HeartbeatAnswer(alive=True)
        if row["state"] == InstanceState.DRAINING:
            return self._drain(row, now)
        if row["state"] == InstanceState.STARTING:
            problem = self._check_ready(now)
            if problem:
                return HeartbeatAnswer(alive=True, stop_reason=problem)
        elif time.monotonic() >= self.next_health:
            self.next_health = time.monotonic() + HEALTH_EVERY_SECONDS
            try:
                self._store_health(self.client.health())
            except EngineError as error:
                logger.info("instance %s: /health not readable: %s", self.instance.pk, error)
        return HeartbeatAnswer(alive=True)

    def _store_health(self, health: dict) -> None:
        mine = self._mine().update(
            outstanding=int(health.get("outstanding") or 0),
            served=int(health.get("served") or 0),
            failed=int(health.get("failed") or 0),
        )
        # The charts' readings: at most one per SERVICE_SAMPLE_SECONDS, however often /health is read.
        if mine and time.monotonic() >= self.next_sample:
            self.next_sample = time.monotonic() + sample_seconds()
            ServiceSample.objects.create(
                service_id=self.service.pk,
                instance_id=self.instance.pk,
                at=timezone.now(),
                served=int(health.get("served") or 0),
                failed=int(health.get("failed") or 0),
                tokens_generated=int(health.get("tokens_generated") or 0),
                latency_seconds_total=float(health.get("latency_seconds_total") or 0.0),
            )

    def _check_ready(self, now) -> str | None:
        """Moves the row to READY once the engine says so; returns why to stop when loading failed."""
        try:
            health = self.client.health()
        except EngineError:
            return None  # not listening yet; the start timeout decides when that is a failure
        if health.get("state") == "failed":
            return _("The engine could not load the model: %(error)s") % {"error": health.get("error") or "?"}
        if not health.get("ready"):
            return None
        self.was_ready = True
        moved = (
            self._mine().filter(state=InstanceState.STARTING).update(state=InstanceState.READY, since=now, ready_at=now)
        )
        if moved:
            self.event("ready", _("Ready on node %(node)s.") % {"node": self.node_name})
            reconcile(service_ids=[self.service.pk])  # running shows without waiting for beat
        return None

    def _drain(self, row: dict, now) -> HeartbeatAnswer:
        """Scale down: the engine refuses new requests, finishes the open ones, then the instance stops."""
        if not self.was_ready:
            return HeartbeatAnswer(alive=True, stop_reason=_("Scaled down before it was ready."))
        if not row["drain_sent"]:
            # POST /drain answers only once the open requests are done: a short wait, then /health says
            # whether the engine took it (state "draining"); if not, it is asked again next heartbeat.
            try:
                self.client.drain(timeout=1.0)
            except EngineError as error:
                logger.info("instance %s: /drain not answered yet: %s", self.instance.pk, error)
            try:
                taken = self.client.health().get("state") in ("draining", None)
            except EngineError:
                taken = False
            if not taken:
                return HeartbeatAnswer(alive=True)
            self.drain_started = time.monotonic()
            self._mine().update(drain_sent=True)
        try:
            health = self.client.health()
        except EngineError:
            return HeartbeatAnswer(alive=True, stop_reason=_("Scaled down: the engine no longer answers."))
        outstanding = int(health.get("outstanding") or 0)
        self._store_health(health)
        if outstanding == 0:
            return HeartbeatAnswer(alive=True, stop_reason=_("Scaled down: drained, no request open."))
        if self.drain_started and time.monotonic() - self.drain_started > settings.SERVICE_DRAIN_TIMEOUT_SECONDS:
            return HeartbeatAnswer(
                alive=True,
                stop_reason=_("Scaled down: %(count)s request(s) still open after %(seconds)s s of draining.")
                % {"count": outstanding, "seconds": settings.SERVICE_DRAIN_TIMEOUT_SECONDS},
            )
        return HeartbeatAnswer(alive=True)

    def store_log(self, *, seq: int, text: str, log_bytes: int, truncated: bool) -> None:
        InstanceLogChunk.objects.create(instance_id=self.instance.pk, seq=seq, text=text, at=timezone.now())
        ServiceInstance.objects.filter(pk=self.instance.pk).update(log_seq=seq, log_bytes=log_bytes)

    def store_samples(self, samples: list[dict]) -> None:
        if samples:
            last = samples[-1]
            ServiceInstance.objects.filter(pk=self.instance.pk).update(
                cpu_usage=last.get("cpu_usage", -1), mem_bytes=last.get("mem_bytes", -1)
            )

    def event(self, kind: str, message: str) -> None:
        ServiceEvent.objects.create(
            service_id=self.service.pk, at=timezone.now(), kind=kind, message=message, instance_name=self.instance.name
        )

    def outputs_synced(self) -> None:
        pass  # an instance has no outputs

    def finish(self, outcome: Outcome) -> bool:
        now = timezone.now()
        row = self._mine().filter(state__in=HEARTBEATING).values("state").first()
        if row is None:
            return False
        state = row["state"]
        first, _sep, rest = (outcome.message or outcome.status).partition("\n")
        values = {"process_pid": None, "ended_at": now, "since": now, "heartbeat_at": now, "outstanding": 0}
        if state in (InstanceState.DRAINING, InstanceState.STOPPING):
            values.update(state=InstanceState.STOPPED, stop_reason=first)
            kind = "stopped"
        else:  # the engine ended by itself, was killed, or never got ready in time
            values.update(state=InstanceState.FAILED, last_error=first[:10000], log_tail=rest.strip()[-8000:])
            kind = "exit"
        reported = self._mine().filter(state=state).update(**values)
        if reported:
            self.event(kind, first)
        return bool(reported)

    def after_finish(self) -> None:
        reconcile(service_ids=[self.service.pk])  # concerning (and the replacement) without waiting for beat

    # --- main thread ------------------------------------------------------------------------

    def workspace_name(self) -> str:
        # Short: the engine's socket lives here and a unix socket path has at most 107 bytes.
        return f"svc-{self.instance.pk}"

    def log_file_name(self) -> str:
        return f"service-{self.service.service_id}-{self.instance.slot}.log"

    def log_cap_bytes(self) -> int:
        return settings.TRAINING_LOG_CAP_BYTES

    def storage_for(self, obs_url: str, access: str):
        service = self.service
        return gate.storage_for_task(owner=service.owner, project=service.project, path=obs_url, access=access)

    def prepare(self, workspace, console) -> LaunchSpec:
        service, version = self.service, self.service.version
        console.console_line(
            _("Service %(name)s (%(id)s), %(instance)s on node %(node)s: %(version)s.")
            % {
                "name": service.name,
                "id": service.service_id,
                "instance": self.instance.name,
                "node": self.node_name,
                "version": str(version),
            }
        )
        weights = workspace.folder("model")
        started = time.monotonic()
        try:
            backend, folder = self.storage_for(version.weights_path, gate.READ)
            count = workspace.fetch(backend, folder, weights)
        except (gate.StorageRefused, PathError, StorageError, OSError) as error:
            raise PrepareError(
                _("Could not download the weights from %(path)s: %(error)s")
                % {"path": version.weights_path, "error": message_of(error)}
            ) from None
        message = _("Weights downloaded from %(path)s: %(count)s file(s) in %(seconds).1f s.") % {
            "path": version.weights_path,
            "count": count,
            "seconds": time.monotonic() - started,
        }
        console.console_line(message)
        console.post(self.event, "download", message)
        sock = workspace.root / "engine.sock"
        argv = [
            sys.executable,
            "-m",
            "console.services.engine",
            "--model",
            str(weights),
            "--socket",
            str(sock),
            "--name",
            service.served_name,
            "--max-concurrency",
            str(settings.SERVICE_MAX_CONCURRENCY),
            "--max-new-tokens-cap",
            str(settings.SERVICE_MAX_NEW_TOKENS_CAP),
            "--request-timeout",
            str(settings.SERVICE_REQUEST_TIMEOUT_SECONDS),
        ]
        self.client = EngineClient(socket_path=str(sock))
        console.post(self._set_address, str(sock))
        tmp = workspace.folder("tmp")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workspace.root),
            # The engine is this repository's package; nothing is fetched from a hub (no network here).
            "PYTHONPATH": str(BASE_DIR),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HOME": str(workspace.folder("cache")),
            "TMPDIR": str(tmp),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "MA_SERVICE_ID": str(service.service_id),
        }
        spec = service.flavor_spec or {}
        return LaunchSpec(
            argv=argv,
            env=env,
            cwd=workspace.root,
            cpu_cores=int(spec.get("cpu_cores") or 0),
            memory_limit_bytes=int(spec.get("memory_gb") or 0) * 1024**3,
        )

    def _set_address(self, socket_path: str) -> None:
        self._mine().update(socket_path=socket_path, port=None)

    def start_line(self, *, cores: int) -> str:
        return _("Starting the serving engine for %(name)s on %(cores)s core(s).") % {
            "name": self.service.served_name,
            "cores": cores,
        }

    def describe_exit(self, returncode: int) -> tuple[str, str]:
        if returncode < 0:
            return "failed", _("The engine was killed by %(signal)s.") % {"signal": signal_name(-returncode)}
        return "failed", _("The engine exited with code %(code)s.") % {"code": returncode}

    def memory_exceeded_message(self, rss_bytes: int) -> str:
        spec = self.service.flavor_spec or {}
        return _(
            "Stopped: the instance used %(used).2f GB of memory, more than the %(limit)s GB of flavor %(flavor)s."
        ) % {"used": rss_bytes / 1024**3, "limit": spec.get("memory_gb"), "flavor": spec.get("flavor_id")}


def service_detail_url(service: Service) -> str:
    return reverse(
        "services:detail", kwargs={"project_id": service.project.project_id, "service_id": service.service_id}
    )


class ServiceInstanceKind(WorkloadKind):
    name = KIND

    def run_for(self, workload_id: int) -> InstanceRun | None:
        instance = (
            ServiceInstance.objects.select_related(
                "service", "service__project", "service__owner", "service__version", "service__version__model", "node"
            )
            .filter(pk=workload_id)
            .first()
        )
        return InstanceRun(instance) if instance is not None else None

    def occupants(self, *, node_ids: list[int]) -> list[Occupant]:
        rows = (
            ServiceInstance.objects.filter(node__in=node_ids, state__in=OCCUPYING)
            .select_related("service", "service__project")
            .order_by("node_id", "pk")
        )
        return [occupant_of(instance) for instance in rows]

    def orphans(self, *, node_id: int, since: datetime) -> list[Orphan]:
        rows = (
            ServiceInstance.objects.filter(node_id=node_id, ended_at__gte=since, state__in=ENDED)
            .exclude(runner_token="")
            .values_list("pk", "runner_token", "process_pid", "runner_pid", "local_dir")
        )
        return [Orphan(pk, token, pid, runner_pid, local_dir) for pk, token, pid, runner_pid, local_dir in rows]

    def stop_on_node(self, *, node: Node, actor, reason: str) -> list[Stopped]:
        rows = list(ServiceInstance.objects.filter(node=node, state__in=OCCUPYING).select_related("service"))
        now = timezone.now()
        # Stopped here; the reconcile loop starts the wanted ones again on another node.
        ServiceInstance.objects.filter(
            pk__in=[i.pk for i in rows], state=InstanceState.ASSIGNED, runner_token=""
        ).update(state=InstanceState.STOPPED, since=now, ended_at=now, stop_reason=reason)
        ServiceInstance.objects.filter(pk__in=[i.pk for i in rows], state__in=HEARTBEATING).update(
            state=InstanceState.STOPPING, since=now, stop_requested=True, stop_reason=reason
        )
        ServiceEvent.objects.bulk_create(
            ServiceEvent(service_id=i.service_id, at=now, kind="stop", message=reason, instance_name=i.name)
            for i in rows
        )
        return [Stopped(name=f"{i.service.name}/{i.name}", ident=str(i.service.service_id)) for i in rows]

    def waiting_in_pool(self, *, pool: Pool) -> list[str]:
        return list(
            ServiceInstance.objects.filter(service__pool=pool, state=InstanceState.PENDING)
            .exclude(service__status=ServiceStatus.STOPPED)
            .values_list("service__name", flat=True)
            .distinct()[:10]
        )

    def pool_activity(self, *, pool: Pool) -> list[PoolActivity]:
        services = Service.objects.filter(pool=pool).exclude(status=ServiceStatus.STOPPED).select_related("project")
        nodes: dict[int, list[str]] = {}
        for service_id, node_name in ServiceInstance.objects.filter(
            service__in=services, state__in=OCCUPYING
        ).values_list("service_id", "node_name"):
            nodes.setdefault(service_id, []).append(node_name)
        return [
            PoolActivity(
                kind=KIND,
                label=service.name,
                url=service_detail_url(service),
                project_name=service.project.name,
                status=service.status,
                badge=service.badge,
                reason=service.status_reason,
                flavor_id=(service.flavor_spec or {}).get("flavor_id", ""),
                nodes=sorted(set(nodes.get(service.pk, []))),
                created_at=service.created_at,
            )
            for service in services.order_by("created_at")
        ]

    def active_counts_by_pool(self) -> dict[int, int]:
        rows = (
            Service.objects.filter(pool__isnull=False)
            .exclude(status__in=(ServiceStatus.STOPPED, ServiceStatus.FAILED))
            .values("pool_id")
            .annotate(n=Count("pk"))
        )
        return {row["pool_id"]: row["n"] for row in rows}


def occupant_of(instance: ServiceInstance) -> Occupant:
    service = instance.service
    spec = service.flavor_spec or {}
    return Occupant(
        kind=KIND,
        workload_id=instance.pk,
        node_id=instance.node_id,
        label=_("service %(name)s / %(instance)s") % {"name": service.name, "instance": instance.name},
        owner_label=service.name,
        owner_status=service.status,
        project_name=service.project.name,
        url=service_detail_url(service),
        status=instance.state,
        cpu_cores=int(spec.get("cpu_cores") or 0),
        memory_gb=int(spec.get("memory_gb") or 0),
        gpu_count=int(spec.get("gpu_count") or 0),
        since=instance.ready_at or instance.started_at or instance.assigned_at,
    )
