"""The reconcile loop: make each service's instances what its desired count says, and say how it is.

Run by beat every SERVICE_RECONCILE_SECONDS and kicked after commit by deploy, scale and start, and
by a runner as soon as its instance becomes ready or ends. A cycle with nothing to change costs a
constant number of queries (the services, their instances, the silent runners); every change is a
conditional UPDATE naming the state it expects, and services are locked with SKIP LOCKED, so two
cycles at once never act on one service twice. Placement holds the pool's row lock, like the
training and notebook schedulers, so two kinds never take the same capacity.

Instances are slots: slot s of a service with desired count n is wanted while s < n. A wanted slot
that ended (failed, or stopped after a scale down) is started again on free capacity — a failure
counts a restart and keeps its last error and log tail for the page; an unwanted slot drains: its
runner sends POST /drain to the engine (which refuses new requests and finishes the open ones) and
stops it once nothing is outstanding.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from console.nodepools.models import Node, Pool, node_queue_name
from console.nodepools.workloads.registry import occupants_by_node
from console.services.charts import samples_prune
from console.services.flavors import node_fits
from console.services.models import Service, ServiceEvent, ServiceInstance
from console.services.sql import update_returning
from console.services.states import HEARTBEATING, WORKLOAD_KIND, InstanceState, ServiceStatus

logger = logging.getLogger(__name__)
LAUNCH_TASK = "console.services.tasks.launch"


def _n(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _fail_silent(now, events: list) -> None:
    """Runners that stopped heartbeating, runners that never started, engines that never got ready."""
    timeout = settings.TRAINING_RUNNER_TIMEOUT_SECONDS
    lost = _("Its node stopped reporting: no heartbeat from the instance's runner for %(seconds)s seconds.") % {
        "seconds": _n(timeout)
    }
    ended = {"state": InstanceState.FAILED, "since": now, "ended_at": now, "process_pid": None}
    for pk in update_returning(
        ServiceInstance.objects.filter(
            state__in=HEARTBEATING, heartbeat_at__lt=now - timedelta(seconds=timeout)
        ).exclude(runner_token=""),
        {**ended, "last_error": lost},
    ):
        events.append(("lost", pk, lost))
    launch = settings.TRAINING_LAUNCH_TIMEOUT_SECONDS
    no_runner = _("The runner did not start on its node within %(seconds)s seconds.") % {"seconds": _n(launch)}
    for pk in update_returning(
        ServiceInstance.objects.filter(
            state=InstanceState.ASSIGNED, runner_token="", assigned_at__lt=now - timedelta(seconds=launch)
        ),
        {**ended, "last_error": no_runner},
    ):
        events.append(("start_failed", pk, no_runner))
    start = settings.SERVICE_START_TIMEOUT_SECONDS
    slow = _("The engine was not ready within %(seconds)s seconds of its start.") % {"seconds": _n(start)}
    for pk in update_returning(
        ServiceInstance.objects.filter(
            state=InstanceState.STARTING, stop_requested=False, started_at__lt=now - timedelta(seconds=start)
        ),
        {"stop_requested": True, "stop_reason": slow},
    ):
        events.append(("start_timeout", pk, slow))


def reconcile(*, service_ids: list[int] | None = None) -> dict[str, int]:
    now = timezone.now()
    counts = {"started": 0, "drained": 0, "launched": 0}
    raw_events: list[tuple[str, int, str]] = []
    launches: list[tuple[int, str]] = []
    if not service_ids:  # the beat cycle (a kick names its services): bound the charts' samples
        samples_prune(now=now)
    with transaction.atomic():
        _fail_silent(now, raw_events)
        services = Service.objects.select_for_update(skip_locked=True, of=("self",)).exclude(
            status=ServiceStatus.STOPPED
        )
        if service_ids:
            services = services.filter(pk__in=service_ids)
        services = list(services.select_related("pool"))
        by_service: dict[int, list[ServiceInstance]] = {s.pk: [] for s in services}
        for instance in ServiceInstance.objects.filter(service__in=list(by_service)).order_by("slot"):
            by_service[instance.service_id].append(instance)
        for service in services:
            _converge(service, by_service[service.pk], now, counts, raw_events)
        pools = {s.pool_id for s in services if s.pool_id and s.status != ServiceStatus.FAILED}
        for pool_id in sorted(pools):
            launches += _place(pool_id, now, raw_events)
        # Statuses last: they read what the steps above changed.
        instances = ServiceInstance.objects.filter(service__in=list(by_service)).order_by("slot")
        fresh: dict[int, list[ServiceInstance]] = {pk: [] for pk in by_service}
        for instance in instances:
            fresh[instance.service_id].append(instance)
        for service in services:
            _derive_status(service, fresh[service.pk], now)
        _store_events(raw_events, now)
        transaction.on_commit(lambda: dispatch(launches))
    counts["launched"] = len(launches)
    return counts


def _store_events(raw: list[tuple[str, int, str]], now) -> None:
    if not raw:
        return
    rows = {i.pk: i for i in ServiceInstance.objects.filter(pk__in=[pk for _k, pk, _m in raw])}
    ServiceEvent.objects.bulk_create(
        ServiceEvent(service_id=rows[pk].service_id, at=now, kind=kind, message=message, instance_name=rows[pk].name)
        for kind, pk, message in raw
        if pk in rows
    )


def _converge(service: Service, instances: list[ServiceInstance], now, counts, events) -> None:
    if service.status == ServiceStatus.FAILED:
        return
    desired = service.instance_count
    by_slot = {i.slot: i for i in instances}
    create = []
    for slot in range(desired):
        instance = by_slot.get(slot)
        if instance is None:
            create.append(ServiceInstance(service=service, slot=slot, state=InstanceState.PENDING))
            continue
        if instance.state == InstanceState.FAILED:
            if instance.restarts >= settings.SERVICE_MAX_RESTARTS:
                reason = _("%(instance)s failed %(count)s times in a row; the last error: %(error)s") % {
                    "instance": instance.name,
                    "count": instance.restarts + 1,
                    "error": instance.last_error,
                }
                moved = (
                    Service.objects.filter(pk=service.pk)
                    .exclude(status=ServiceStatus.FAILED)
                    .update(status=ServiceStatus.FAILED, status_reason=reason)
                )
                if moved:
                    service.status = ServiceStatus.FAILED
                    events.append(("failed", instance.pk, reason))
                    _stop_all(service, reason=reason, now=now)
                return
            moved = ServiceInstance.objects.filter(pk=instance.pk, state=InstanceState.FAILED).update(
                state=InstanceState.PENDING, since=now, node=None, node_name="", runner_token="",
                restarts=instance.restarts + 1, draining=False, drain_sent=False, stop_requested=False,
                stop_reason="", pending_reason="", ready_at=None,
            )  # fmt: skip
            if moved:
                counts["started"] += 1
                events.append(("replace", instance.pk, _("Replacing %(instance)s.") % {"instance": instance.name}))
        elif instance.state == InstanceState.STOPPED:
            moved = ServiceInstance.objects.filter(pk=instance.pk, state=InstanceState.STOPPED).update(
                state=InstanceState.PENDING, since=now, node=None, node_name="", runner_token="",
                draining=False, drain_sent=False, stop_requested=False, stop_reason="", pending_reason="",
                ready_at=None,
            )  # fmt: skip
            counts["started"] += moved
    if create:
        ServiceInstance.objects.bulk_create(create)
        counts["started"] += len(create)
    for instance in instances:
        if instance.slot < desired:
            continue
        if instance.state in (InstanceState.PENDING,) or (
            instance.state == InstanceState.ASSIGNED and not instance.runner_token
        ):
            moved = ServiceInstance.objects.filter(pk=instance.pk, state=instance.state, runner_token="").update(
                state=InstanceState.STOPPED, since=now, ended_at=now, stop_reason=_("Scaled down.")
            )
            counts["drained"] += moved
        elif instance.state in (InstanceState.STARTING, InstanceState.READY):
            moved = ServiceInstance.objects.filter(pk=instance.pk, state=instance.state).update(
                state=InstanceState.DRAINING, since=now, draining=True
            )
            if moved:
                counts["drained"] += 1
                events.append(
                    (
                        "drain",
                        instance.pk,
                        _("Scaled down: %(instance)s drains, then stops.") % {"instance": instance.name},
                    )
                )


def _stop_all(service: Service, *, reason: str, now) -> None:
    ServiceInstance.objects.filter(
        service=service, state__in=(InstanceState.PENDING, InstanceState.ASSIGNED), runner_token=""
    ).update(state=InstanceState.STOPPED, since=now, ended_at=now, stop_reason=reason)
    ServiceInstance.objects.filter(service=service, state__in=HEARTBEATING).exclude(
        state=InstanceState.STOPPING
    ).update(state=InstanceState.STOPPING, since=now, stop_requested=True, stop_reason=reason)


def _place(pool_id: int, now, events) -> list[tuple[int, str]]:
    """Give free capacity of the pool to its pending instances (oldest service first)."""
    pool = Pool.objects.select_for_update().filter(pk=pool_id).first()
    if pool is None:
        return []
    pending = list(
        ServiceInstance.objects.filter(service__pool=pool, state=InstanceState.PENDING, service__status__in=_ACTIVE)
        .select_related("service")
        .order_by("service__created_at", "slot")
    )
    if not pending:
        return []
    live = list(Node.objects.live(now).filter(pool=pool).order_by("name"))
    occupants = occupants_by_node([n.pk for n in live])
    # A node with a training task (or a notebook) is not shared; instances share a node by their flavors.
    used: dict[int, list[int]] = {}
    for node in live:
        rows = occupants.get(node.pk, [])
        if any(o.kind != WORKLOAD_KIND for o in rows):
            continue
        used[node.pk] = [sum(o.cpu_cores for o in rows), sum(o.memory_gb for o in rows)]
    locked = {n.pk for n in Node.objects.select_for_update().filter(pk__in=list(used)).live(now)}
    launches = []
    for instance in pending:
        spec = instance.service.flavor_spec or {}
        candidates = [
            n for n in live
            if n.pk in locked and node_fits(n, spec, used_cores=used[n.pk][0], used_memory_gb=used[n.pk][1])
        ]  # fmt: skip
        if not candidates:
            reason = _waiting_reason(pool, live, used, spec)
            if reason != instance.pending_reason:
                ServiceInstance.objects.filter(pk=instance.pk, state=InstanceState.PENDING).update(
                    pending_reason=reason
                )
            continue
        # Spread: the node with the fewest cores taken; instances of one service apart when possible.
        node = min(candidates, key=lambda n: used[n.pk][0])
        moved = ServiceInstance.objects.filter(pk=instance.pk, state=InstanceState.PENDING).update(
            state=InstanceState.ASSIGNED, node=node, node_name=node.name, assigned_at=now, since=now,
            runner_token="", pending_reason="", heartbeat_at=None, process_pid=None,
        )  # fmt: skip
        if not moved:
            continue
        used[node.pk][0] += int(spec.get("cpu_cores") or 0)
        used[node.pk][1] += int(spec.get("memory_gb") or 0)
        launches.append((instance.pk, node.name))
        events.append(("assigned", instance.pk, _("Starting on node %(node)s.") % {"node": node.name}))
    return launches


def _waiting_reason(pool: Pool, live: list[Node], used: dict, spec: dict) -> str:
    flavor = spec.get("flavor_id", "?")
    if not live:
        return _("No node of pool %(pool)s is online: the instance starts when one registers.") % {"pool": pool.name}
    return _(
        "No free capacity for flavor %(flavor)s (%(cores)s cores, %(memory)s GB) in pool %(pool)s: "
        "%(nodes)s online node(s), %(shared)s not taken by other work, all full."
    ) % {
        "flavor": flavor,
        "cores": spec.get("cpu_cores"),
        "memory": spec.get("memory_gb"),
        "pool": pool.name,
        "nodes": len(live),
        "shared": len(used),
    }


_ACTIVE = (ServiceStatus.DEPLOYING, ServiceStatus.RUNNING, ServiceStatus.CONCERNING, ServiceStatus.PENDING)


def _derive_status(service: Service, instances: list[ServiceInstance], now) -> None:
    """running: every desired instance ready; concerning: some not (once it ran); pending: none placeable."""
    if service.status in (ServiceStatus.FAILED, ServiceStatus.STOPPED):
        return
    desired = service.instance_count
    wanted = [i for i in instances if i.slot < desired]
    ready = [i for i in wanted if i.state == InstanceState.READY]
    ever_ran = service.ever_ran
    if len(ready) == desired:
        status, reason, ever_ran = ServiceStatus.RUNNING, "", True
    else:
        troubled = [i for i in wanted if i.last_error and i.state != InstanceState.READY]
        waiting = [i for i in wanted if i.state == InstanceState.PENDING and i.pending_reason]
        reason = _("%(ready)s of %(desired)s instance(s) ready.") % {"ready": len(ready), "desired": desired}
        if troubled:
            first = troubled[0]
            reason += " " + _("%(instance)s: %(error)s") % {
                "instance": first.name,
                "error": first.last_error.splitlines()[0],
            }
        elif waiting:
            reason += " " + waiting[0].pending_reason
        if service.ever_ran:
            status = ServiceStatus.CONCERNING
        elif wanted and len(waiting) == len(wanted):
            status = ServiceStatus.PENDING
        else:
            status = ServiceStatus.DEPLOYING
    if (status, reason, ever_ran) == (service.status, service.status_reason, service.ever_ran):
        return
    Service.objects.filter(pk=service.pk, status=service.status).update(
        status=status, status_reason=reason, ever_ran=ever_ran
    )
    if status != service.status:
        ServiceEvent.objects.create(
            service_id=service.pk,
            at=now,
            kind="status",
            message=_("Status %(status)s.") % {"status": status} + (f" {reason}" if reason else ""),
        )


def dispatch(launches: list[tuple[int, str]]) -> None:
    for instance_id, node_name in launches:
        current_app.send_task(LAUNCH_TASK, args=[instance_id], queue=node_queue_name(node_name))


__all__ = ["dispatch", "reconcile"]
