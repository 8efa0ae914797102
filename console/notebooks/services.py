"""Notebook writes and rules: create, start, stop, delete, lease, freeze; scheduling onto nodes.

Every state change asks ``rules.decide`` first and is a conditional UPDATE naming the state it
expects, so a request, the sweep and a runner can never undo each other. Scheduling holds the
pool's row lock (the training scheduler takes the same lock), so two notebooks — or a notebook
and a training task — never take the same capacity. Launching is after commit, on the node's queue.
"""

from __future__ import annotations

import re
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from console.accounts.models import Membership, Role
from console.accounts.selectors import project_role
from console.audit.services import audit_record
from console.core.secrets import encrypt_secret
from console.nodepools.models import Node, Pool, node_queue_name
from console.nodepools.workloads.registry import occupants_by_node
from console.notebooks import rules
from console.notebooks.flavors import flavor_get, node_fits
from console.notebooks.models import Image, NodeImage, Notebook, NotebookEvent
from console.notebooks.states import OCCUPYING, WAITING, WORKLOAD_KIND, LeaseType, State
from console.storage import gate
from console.storage.models import Bucket
from console.storage.paths import ObsPath, folder_key

LAUNCH_TASK = "console.notebooks.tasks.launch"
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
DESCRIPTION_FORBIDDEN = set("&<>\"'/")
LEASE_MIN_MS = 3_600_000  # 1 h
LEASE_MAX_MS = 259_200_000  # 72 h


@dataclass
class NotebookSpec:
    name: str
    flavor_id: str
    image_id: str
    description: str = ""
    pool: Pool | None = None
    lease_type: str = LeaseType.TIMING
    lease_duration_ms: object = LEASE_MIN_MS
    data_path: str = ""
    volume_capacity_gb: object = None


def event(notebook_id: int, kind: str, message: str, *, at=None) -> NotebookEvent:
    return NotebookEvent.objects.create(notebook_id=notebook_id, at=at or timezone.now(), kind=kind, message=message)


# --- validation --------------------------------------------------------------------------------


def lease_duration_error(value, *, field: str = "duration") -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return _("%(field)s must be an integer number of milliseconds, not %(value)r.") % {
            "field": field,
            "value": value,
        }
    if not LEASE_MIN_MS <= value <= LEASE_MAX_MS:
        return _(
            "%(field)s must be between %(min)s ms (1 hour) and %(max)s ms (72 hours); %(value)s is out of range."
        ) % {"field": field, "min": LEASE_MIN_MS, "max": LEASE_MAX_MS, "value": value}
    return None


def lease_type_error(value) -> str | None:
    if value not in LeaseType.values:
        return _("type must be TIMING or IDLE, not %(value)r.") % {"value": value}
    return None


def _validate_spec(spec: NotebookSpec, *, actor, project) -> dict:
    errors: dict[str, list[ValidationError]] = defaultdict(list)
    if not isinstance(spec.name, str) or not NAME_RE.match(spec.name):
        errors["name"].append(
            ValidationError(
                _("The name must be 1 to 128 letters, digits, hyphens (-) or underscores (_)."), code="name"
            )
        )
    description = spec.description or ""
    if len(description) > 512 or DESCRIPTION_FORBIDDEN & set(description):
        errors["description"].append(
            ValidationError(
                _("The description has at most 512 characters and none of & < > \" ' /."), code="description"
            )
        )
    flavor = flavor_get(spec.flavor_id) if isinstance(spec.flavor_id, str) else None
    if flavor is None:
        errors["flavor"].append(
            ValidationError(
                _("Unknown flavor %(flavor)s: choose one of the notebook flavors.") % {"flavor": spec.flavor_id},
                code="unknown_flavor",
            )
        )
    image = None
    try:
        image = Image.objects.filter(image_id=str(spec.image_id), enabled=True).first()
    except (ValidationError, ValueError):
        image = None
    if image is None:
        errors["image_id"].append(
            ValidationError(
                _("Unknown image %(image)s: choose an image from the image list.") % {"image": spec.image_id},
                code="unknown_image",
            )
        )
    problem = lease_type_error(spec.lease_type)
    if problem:
        errors["lease.type"].append(ValidationError(problem, code="lease"))
    problem = lease_duration_error(spec.lease_duration_ms, field="lease.duration")
    if problem:
        errors["lease.duration"].append(ValidationError(problem, code="lease"))
    capacity = spec.volume_capacity_gb if spec.volume_capacity_gb is not None else settings.NOTEBOOK_WORK_QUOTA_GB
    if (
        isinstance(capacity, bool)
        or not isinstance(capacity, int)
        or not 1 <= capacity <= settings.NOTEBOOK_WORK_QUOTA_GB
    ):
        errors["volume.capacity"].append(
            ValidationError(
                _("volume.capacity must be an integer from 1 to %(max)s (GB).")
                % {"max": settings.NOTEBOOK_WORK_QUOTA_GB},
                code="volume",
            )
        )
    data_path = ""
    if spec.data_path:
        try:
            _backend, folder = gate.folder_check(user=actor, project=project, path=spec.data_path, access=gate.READ)
            data_path = folder.uri
        except gate.StorageRefused as error:
            errors["data_folder"].append(
                ValidationError(str(getattr(error, "message", error)), code=getattr(error, "code", "storage"))
            )
    pool = spec.pool or Pool.objects.filter(is_default=True).first()
    if pool is None:
        errors["pool_id"].append(
            ValidationError(_("There is no node pool: ask an administrator to create one."), code="no_pool")
        )
    elif pool.is_ray:
        errors["pool_id"].append(
            ValidationError(
                _("Pool %(pool)s is a Ray cluster: notebooks run on pools of registered nodes.") % {"pool": pool.name},
                code="ray_pool",
            )
        )
    if errors:
        raise ValidationError(dict(errors))
    return {"flavor": flavor, "image": image, "data_path": data_path, "pool": pool, "capacity": capacity}


def _work_path(project, notebook_uuid) -> str:
    bucket = Bucket.objects.filter(project=project).order_by("pk").first()
    if bucket is None:
        raise ValidationError(
            {"volume": [ValidationError(_("The project has no storage bucket for the work folder."), code="no_bucket")]}
        )
    return ObsPath(bucket.name, folder_key(f"notebooks/{notebook_uuid}/work")).uri


def _check_pool_can_hold(pool: Pool, flavor, image: Image) -> None:
    nodes = Node.objects.members().filter(pool=pool)
    with_image = nodes.filter(notebook_images__image=image).distinct()
    if not with_image.exists():
        raise ValidationError(
            {
                "image_id": [
                    ValidationError(
                        _("No node of pool %(pool)s has image %(image)s.") % {"pool": pool.name, "image": image.name},
                        code="no_capacity",
                    )
                ]
            }
        )
    if not any(node_fits(node, flavor.spec()) for node in with_image):
        raise ValidationError(
            {
                "flavor": [
                    ValidationError(
                        _("No node of pool %(pool)s can hold flavor %(flavor)s (%(cores)s cores, %(memory)s GB).")
                        % {
                            "pool": pool.name,
                            "flavor": flavor.flavor_id,
                            "cores": flavor.cpu_cores,
                            "memory": flavor.memory_gb,
                        },
                        code="no_capacity",
                    )
                ]
            }
        )


def _check_cap(*, owner, project, excluding: int | None = None) -> None:
    # The membership row lock serialises two creates/starts of one user in one project.
    list(Membership.objects.select_for_update().filter(user=owner, project=project))
    active = Notebook.objects.filter(owner=owner, project=project, state__in=(*OCCUPYING, *WAITING))
    if excluding:
        active = active.exclude(pk=excluding)
    count = active.count()
    cap = settings.NOTEBOOK_MAX_RUNNING_PER_USER
    if count >= cap:
        raise ValidationError(
            _(
                "You already have %(count)s running notebook(s) in this project; the limit is %(cap)s per user. "
                "Stop one first."
            )
            % {"count": count, "cap": cap},
            code="cap",
        )


# --- permissions -------------------------------------------------------------------------------


def _role(user, project) -> str | None:
    return project_role(user=user, project=project)


def check_may(*, actor, notebook: Notebook, action: str) -> None:
    """Owner: everything. Project admins: stop, delete, freeze of others'. Viewers and other members: nothing."""
    role = _role(actor, notebook.project)
    if role is None:
        raise PermissionDenied(_("You are not a member of this project."))
    if getattr(actor, "is_staff", False) and action in (rules.FREEZE, rules.UNFREEZE):
        return
    if notebook.owner_id == actor.pk and role != Role.VIEWER:
        return
    if role == Role.ADMIN and action in (rules.STOP, rules.DELETE, rules.FREEZE, rules.UNFREEZE):
        return
    raise PermissionDenied(_("Only the notebook's owner may %(action)s it.") % {"action": rules.ACTION_LABELS[action]})


def _locked(notebook: Notebook) -> Notebook:
    return (
        Notebook.objects.select_for_update(of=("self",))
        .select_related("project", "owner", "image", "pool")
        .get(pk=notebook.pk)
    )


# --- create, start ----------------------------------------------------------------------------


@transaction.atomic
def notebook_create(*, actor, project, spec: NotebookSpec) -> Notebook:
    role = _role(actor, project)
    if role is None or role == Role.VIEWER:
        raise PermissionDenied(_("Your role in this project (viewer) may read but not change anything."))
    found = _validate_spec(spec, actor=actor, project=project)
    _check_pool_can_hold(found["pool"], found["flavor"], found["image"])
    _check_cap(owner=actor, project=project)
    notebook = Notebook(
        project=project,
        owner=actor,
        name=spec.name,
        description=spec.description or "",
        image=found["image"],
        flavor_spec=found["flavor"].spec(),
        pool=found["pool"],
        state=State.INIT,
        lease_type=spec.lease_type,
        lease_duration_ms=spec.lease_duration_ms,
        data_path=found["data_path"],
        volume_capacity_gb=found["capacity"],
    )
    notebook.work_path = _work_path(project, notebook.uuid)
    notebook.save()
    now = timezone.now()
    Notebook.objects.filter(pk=notebook.pk, state=State.INIT).update(
        state=State.CREATING,
        start_requested_at=now,
        token_encrypted=encrypt_secret(secrets.token_hex(24)),
    )
    event(
        notebook.pk,
        "created",
        _("Created by %(user)s: image %(image)s, flavor %(flavor)s, work folder %(path)s.")
        % {
            "user": actor.username,
            "image": found["image"].name,
            "flavor": found["flavor"].flavor_id,
            "path": notebook.work_path,
        },
    )
    audit_record(
        actor=actor,
        action="notebook.create",
        obj=notebook,
        project=project,
        after={"name": notebook.name, "flavor": found["flavor"].flavor_id, "image": found["image"].name},
    )
    schedule_soon(found["pool"].pk)
    notebook.refresh_from_db()
    return notebook


@transaction.atomic
def notebook_start(*, actor, notebook: Notebook, duration_ms=None) -> Notebook:
    check_may(actor=actor, notebook=notebook, action=rules.START)
    if duration_ms is not None:
        problem = lease_duration_error(duration_ms)
        if problem:
            raise ValidationError({"duration": [ValidationError(problem, code="lease")]})
    notebook = _locked(notebook)
    if rules.decide(notebook.state, rules.START) == rules.NOTHING:
        return notebook
    _check_cap(owner=notebook.owner, project=notebook.project, excluding=notebook.pk)
    now = timezone.now()
    values = {
        "state": State.STARTING,
        "node": None,
        "runner_token": "",
        "stop_requested": False,
        "stop_reason": "",
        "fail_reason": "",
        "start_requested_at": now,
        "assigned_at": None,
        "running_at": None,
        "lease_create_at": None,
        "lease_warned_at": None,
        "last_activity_at": None,
        # A new Jupyter token for every start: an old one is worth nothing.
        "token_encrypted": encrypt_secret(secrets.token_hex(24)),
    }
    if duration_ms is not None:
        values["lease_duration_ms"] = duration_ms
    Notebook.objects.filter(pk=notebook.pk, state=notebook.state).update(**values)
    event(notebook.pk, "start", _("Start requested by %(user)s.") % {"user": actor.username})
    audit_record(actor=actor, action="notebook.start", obj=notebook, project=notebook.project)
    schedule_soon(notebook.pool_id)
    notebook.refresh_from_db()
    return notebook


# --- stop, delete ------------------------------------------------------------------------------


def _stop_row(notebook: Notebook, *, reason: str, delete: bool) -> str:
    """The state the notebook moves to: without a runner it stops (or is deleted) at once."""
    now = timezone.now()
    has_runner = notebook.state in (State.RUNNING, State.STOPPING, State.SNAPSHOTTING) or (
        notebook.state == State.STARTING and notebook.runner_token
    )
    if has_runner:
        target = State.DELETING if delete else State.STOPPING
        Notebook.objects.filter(pk=notebook.pk, state=notebook.state).update(
            state=target, stop_requested=True, stop_reason=reason, delete_requested=delete
        )
        return target
    target = State.DELETED if delete else State.STOPPED
    values = {"state": target, "stop_reason": reason, "stopped_at": now, "stop_requested": False}
    if delete:
        values["deleted_at"] = now
    Notebook.objects.filter(pk=notebook.pk, state=notebook.state, runner_token=notebook.runner_token).update(**values)
    return target


@transaction.atomic
def notebook_stop(*, actor, notebook: Notebook, reason: str | None = None) -> Notebook:
    check_may(actor=actor, notebook=notebook, action=rules.STOP)
    notebook = _locked(notebook)
    if rules.decide(notebook.state, rules.STOP) == rules.NOTHING:
        return notebook
    reason = reason or _("Stopped by %(user)s.") % {"user": actor.username}
    _stop_row(notebook, reason=reason, delete=False)
    event(notebook.pk, "stop", reason)
    audit_record(actor=actor, action="notebook.stop", obj=notebook, project=notebook.project)
    notebook.refresh_from_db()
    return notebook


@transaction.atomic
def notebook_delete(*, actor, notebook: Notebook) -> Notebook:
    check_may(actor=actor, notebook=notebook, action=rules.DELETE)
    notebook = _locked(notebook)
    if rules.decide(notebook.state, rules.DELETE) == rules.NOTHING:
        return notebook
    reason = _("Deleted by %(user)s.") % {"user": actor.username}
    _stop_row(notebook, reason=reason, delete=True)
    event(notebook.pk, "delete", reason)
    audit_record(
        actor=actor,
        action="notebook.delete",
        obj=notebook,
        project=notebook.project,
        before={"name": notebook.name, "state": notebook.state},
    )
    notebook.refresh_from_db()
    return notebook


# --- lease -------------------------------------------------------------------------------------


@transaction.atomic
def notebook_lease_update(*, actor, notebook: Notebook, duration_ms, lease_type: str | None = None) -> Notebook:
    """Renew: the lease runs ``duration`` from now (at most 72 h), for both lease types."""
    check_may(actor=actor, notebook=notebook, action=rules.RENEW)
    errors = {}
    problem = lease_duration_error(duration_ms)
    if problem:
        errors["duration"] = [ValidationError(problem, code="lease")]
    if lease_type is not None and lease_type_error(lease_type):
        errors["type"] = [ValidationError(lease_type_error(lease_type), code="lease")]
    if errors:
        raise ValidationError(errors)
    notebook = _locked(notebook)
    rules.decide(notebook.state, rules.RENEW)
    now = timezone.now()
    values = {
        "lease_duration_ms": duration_ms,
        "lease_create_at": now,
        "lease_update_at": now,
        "lease_warned_at": None,
        "lease_enable": True,
        "last_activity_at": now,
    }
    if lease_type:
        values["lease_type"] = lease_type
    Notebook.objects.filter(pk=notebook.pk, state=State.RUNNING).update(**values)
    kind = lease_type or notebook.lease_type
    event(
        notebook.pk,
        "renew",
        _("Lease renewed by %(user)s: %(type)s, %(hours).2g h from now.")
        % {"user": actor.username, "type": kind, "hours": duration_ms / 3_600_000},
    )
    notebook.refresh_from_db()
    return notebook


def lease_remaining_ms(notebook: Notebook, now=None) -> int | None:
    """Milliseconds until the automatic stop (TIMING: the lease's end; IDLE: idle time left)."""
    now = now or timezone.now()
    deadline = automatic_stop_at(notebook)
    if deadline is None:
        return None
    return max(0, int((deadline - now).total_seconds() * 1000))


def automatic_stop_at(notebook: Notebook):
    if notebook.state != State.RUNNING or not notebook.lease_enable or notebook.lease_create_at is None:
        return None
    duration = timedelta(milliseconds=notebook.lease_duration_ms)
    if notebook.lease_type == LeaseType.IDLE:
        if notebook.kernels_busy or notebook.connections:
            return None  # busy or connected: never idle-stopped
        since = max(t for t in (notebook.last_activity_at, notebook.lease_create_at, notebook.running_at) if t)
        deadline = since + duration
    else:
        deadline = notebook.lease_create_at + duration
    if notebook.lease_warned_at:
        deadline = max(deadline, notebook.lease_warned_at + timedelta(seconds=settings.NOTEBOOK_STOP_WARNING_SECONDS))
    return deadline


# --- freeze ------------------------------------------------------------------------------------


@transaction.atomic
def notebook_freeze(*, actor, notebook: Notebook, frozen: bool) -> Notebook:
    action = rules.FREEZE if frozen else rules.UNFREEZE
    check_may(actor=actor, notebook=notebook, action=action)
    notebook = _locked(notebook)
    if rules.decide(notebook.state, action) == rules.NOTHING:
        return notebook
    target = State.FROZEN if frozen else State.STOPPED
    Notebook.objects.filter(pk=notebook.pk, state=notebook.state).update(state=target)
    message = (_("Frozen by %(user)s: it cannot start until unfrozen.") if frozen else _("Unfrozen by %(user)s.")) % {
        "user": actor.username
    }
    event(notebook.pk, "freeze", message)
    audit_record(actor=actor, action=f"notebook.{action}", obj=notebook, project=notebook.project)
    notebook.refresh_from_db()
    return notebook


# --- scheduling --------------------------------------------------------------------------------


def schedule_soon(pool_id: int | None) -> None:
    """After commit: give free capacity to the pool's waiting notebooks and launch their runners."""
    if pool_id is None:
        return
    transaction.on_commit(lambda: dispatch(pool_schedule(pool_id=pool_id)))


def pool_schedule(*, pool_id: int) -> list[tuple[int, str]]:
    """(notebook id, node name) of each notebook given a node now; oldest request first."""
    now = timezone.now()
    launches: list[tuple[int, str]] = []
    with transaction.atomic():
        pool = Pool.objects.select_for_update().filter(pk=pool_id).first()
        if pool is None:
            return []
        waiting = list(
            Notebook.objects.filter(pool=pool, state__in=WAITING, node__isnull=True).order_by(
                "start_requested_at", "pk"
            )
        )
        if not waiting:
            return []
        live = list(Node.objects.live(now).filter(pool=pool).order_by("name"))
        occupants = occupants_by_node([n.pk for n in live])
        # A node with a training task (or any other kind) is not shared; notebooks share by their flavors.
        used: dict[int, list[int]] = {}
        for node in live:
            rows = occupants.get(node.pk, [])
            if any(o.kind != WORKLOAD_KIND for o in rows):
                continue
            used[node.pk] = [sum(o.cpu_cores for o in rows), sum(o.memory_gb for o in rows)]
        images = defaultdict(set)
        for node_id, image_id in NodeImage.objects.filter(node__in=live).values_list("node_id", "image_id"):
            images[node_id].add(image_id)
        locked = {n.pk for n in Node.objects.select_for_update().filter(pk__in=list(used)).live(now)}
        events = []
        for notebook in waiting:
            spec = notebook.flavor_spec
            candidates = [
                n
                for n in live
                if n.pk in locked
                and notebook.image_id in images[n.pk]
                and node_fits(n, spec, used_cores=used[n.pk][0], used_memory_gb=used[n.pk][1])
            ]
            if not candidates:
                continue  # waits; the sweep tries again, and the start timeout says why it gave up
            node = min(candidates, key=lambda n: used[n.pk][0])
            moved = Notebook.objects.filter(pk=notebook.pk, state=notebook.state, node__isnull=True).update(
                state=State.STARTING, node=node, node_name=node.name, assigned_at=now, runner_token=""
            )
            if not moved:
                continue
            used[node.pk][0] += int(spec.get("cpu_cores") or 0)
            used[node.pk][1] += int(spec.get("memory_gb") or 0)
            launches.append((notebook.pk, node.name))
            events.append(
                NotebookEvent(
                    notebook_id=notebook.pk,
                    at=now,
                    kind="assigned",
                    message=_("Starting on node %(node)s.") % {"node": node.name},
                )
            )
        NotebookEvent.objects.bulk_create(events)
    return launches


def dispatch(launches: list[tuple[int, str]]) -> None:
    for notebook_id, node_name in launches:
        current_app.send_task(LAUNCH_TASK, args=[notebook_id], queue=node_queue_name(node_name))


__all__ = [
    "NotebookSpec",
    "notebook_create",
    "notebook_delete",
    "notebook_freeze",
    "notebook_lease_update",
    "notebook_start",
    "notebook_stop",
    "pool_schedule",
]
