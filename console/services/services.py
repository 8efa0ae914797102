"""Service writes and rules: deploy, scale (the seed's property API), stop, start, delete, API keys.

Pages and the REST API call these same functions, so a rule has one wording. Every refusal is a
ValidationError keyed by the field it names (code = the rule) and nothing is written; the
instances themselves are started, replaced and drained by the reconcile loop (reconcile.py),
kicked after commit here and by beat.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from console.accounts.models import Role
from console.accounts.selectors import project_role
from console.audit.services import audit_record
from console.core.confirm import require_typed_delete
from console.mymodels.models import ModelStatus
from console.nodepools.models import Node, Pool
from console.services.flavors import flavor_get, node_fits
from console.services.models import Service, ServiceApiKey, ServiceEvent, ServiceInstance
from console.services.states import HEARTBEATING, SCALABLE, InstanceState, ServiceStatus
from console.storage import gate
from console.storage.backends import StorageError
from console.storage.paths import PathError
from console.versions.models import ModelVersion, TaskRecord
from console.versions.services import task_record_create_for_inference, task_records_remove_for_deleted_jobs

RECONCILE_TASK = "console.services.tasks.reconcile"
# ModelArts service names (v1 deploy API): 1 to 64 letters, digits, hyphens (-) and underscores (_).
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MIN_INSTANCES, MAX_INSTANCES = 1, 128
API_KEY_PREFIX = "ma-svc-"


@dataclass
class ServiceSpec:
    name: str
    version: ModelVersion | None
    flavor_id: object
    instance_count: object = 1
    description: str = ""
    pool: Pool | None = None
    pool_name: str | None = None  # as the API names it; unknown → refused


def event(service_id: int, kind: str, message: str, *, instance_name: str = "") -> ServiceEvent:
    return ServiceEvent.objects.create(
        service_id=service_id, at=timezone.now(), kind=kind, message=message, instance_name=instance_name
    )


def reconcile_soon(service_id: int | None = None) -> None:
    """After commit: reconcile now on the platform queue (beat does it anyway every few seconds)."""
    args = [[service_id]] if service_id else [None]
    transaction.on_commit(lambda: current_app.send_task(RECONCILE_TASK, args=args, queue="platform"))


# --- rules ----------------------------------------------------------------------------------------


def instance_count_error(value, *, field: str = "instance_count") -> str | None:
    """The rule for a desired instance count: an integer from 1 to 128 (not "2", not 2.5, not true)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return _("%(field)s must be an integer from %(min)s to %(max)s, not %(value)r.") % {
            "field": field,
            "min": MIN_INSTANCES,
            "max": MAX_INSTANCES,
            "value": value,
        }
    if not MIN_INSTANCES <= value <= MAX_INSTANCES:
        return _("%(field)s must be an integer from %(min)s to %(max)s; %(value)s is out of range.") % {
            "field": field,
            "min": MIN_INSTANCES,
            "max": MAX_INSTANCES,
            "value": value,
        }
    return None


def version_status_error(version: ModelVersion) -> str | None:
    """Only a version whose status is 创建成功 (validated, or created with validation off) can be deployed."""
    if version.status == ModelStatus.CREATED:
        return None
    if version.status == ModelStatus.CREATING:
        return _(
            "Model version %(version)s is still being created (创建中): deploy it once its status is 创建成功."
        ) % {"version": str(version)}
    failure = version.failure or {}
    reason = failure.get("message") or version.status_reason
    return _("Model version %(version)s failed (创建失败) and cannot be deployed%(reason)s.") % {
        "version": str(version),
        "reason": f": {reason}" if reason else "",
    }


def weights_bytes(*, actor, version: ModelVersion) -> int:
    """Total size of the version's weights folder on storage (through the gate, as ``actor``)."""
    reader = gate.folder_reader_for(user=actor, project=version.model.project, path=version.weights_path)
    return sum(reader.list_files().values())


def memory_needed_bytes(weights: int) -> int:
    # Weights load once into memory (safetensors, float32 on CPU), plus the interpreter and activations.
    return int(weights * 1.2) + settings.SERVICE_MEMORY_OVERHEAD_BYTES


def _gb(value: int) -> str:
    return f"{value / 1024**3:.2f}"


def check_may_change(*, actor, project) -> str:
    role = project_role(user=actor, project=project)
    if role is None:
        raise PermissionDenied(_("You are not a member of this project."))
    if role == Role.VIEWER:
        raise PermissionDenied(_("Your role in this project (viewer) may read but not change anything."))
    return role


def _validate(spec: ServiceSpec, *, actor, project) -> dict:
    errors: dict[str, list[ValidationError]] = {}

    def add(field, message, code):
        errors.setdefault(field, []).append(ValidationError(message, code=code))

    if not isinstance(spec.name, str) or not NAME_RE.match(spec.name):
        add(
            "service_name",
            _("service_name must be 1 to 64 characters: only letters, digits, hyphens (-) and underscores (_)."),
            "name",
        )
    elif Service.objects.filter(project=project, name=spec.name).exists():
        add("service_name", _("A service named %(name)s already exists in this project.") % {"name": spec.name}, "name")
    if not isinstance(spec.description, str) or len(spec.description) > 100:
        add("description", _("The description has at most 100 characters."), "description")
    version = spec.version
    if version is None or version.model.project_id != project.pk:
        add("model_id", _("Unknown model version: choose a version of a model of this project."), "model_id")
        version = None
    else:
        problem = version_status_error(version)
        if problem:
            add("model_id", problem, "version_status")
    problem = instance_count_error(spec.instance_count)
    if problem:
        add("instance_count", problem, "instance_count")
    flavor = flavor_get(spec.flavor_id) if isinstance(spec.flavor_id, str) else None
    if flavor is None:
        add(
            "specification",
            _("Unknown flavor %(flavor)s: choose one of %(known)s.")
            % {"flavor": spec.flavor_id, "known": ", ".join(item["flavor_id"] for item in settings.SERVICE_FLAVORS)},
            "unknown_flavor",
        )
    pool = spec.pool
    if pool is None and spec.pool_name:
        pool = Pool.objects.filter(name=spec.pool_name).first()
        if pool is None:
            add("pool_name", _("Unknown pool %(pool)s.") % {"pool": spec.pool_name}, "unknown_pool")
    elif pool is None:
        pool = Pool.objects.filter(is_default=True).first()
        if pool is None:
            add("pool_name", _("There is no node pool: ask an administrator to create one."), "unknown_pool")
    if pool is not None and pool.is_ray:
        add(
            "pool_name",
            _("Pool %(pool)s is a Ray cluster: service instances run on pools of registered nodes.")
            % {"pool": pool.name},
            "ray_pool",
        )
    needed = 0
    if version is not None and "model_id" not in errors and flavor is not None:
        try:
            needed = memory_needed_bytes(weights_bytes(actor=actor, version=version))
        except (gate.StorageRefused, PathError, StorageError, OSError) as error:
            add(
                "model_id",
                _("The weights of %(version)s at %(path)s cannot be read: %(error)s")
                % {"version": str(version), "path": version.weights_path, "error": getattr(error, "message", error)},
                "weights",
            )
        else:
            if flavor.memory_gb * 1024**3 < needed:
                add(
                    "specification",
                    _(
                        "Flavor %(flavor)s has %(memory)s GB of memory; the model needs about %(needed)s GB "
                        "(its weights plus %(overhead)s GB for the engine). Choose a larger flavor."
                    )
                    % {
                        "flavor": flavor.flavor_id,
                        "memory": flavor.memory_gb,
                        "needed": _gb(needed),
                        "overhead": _gb(settings.SERVICE_MEMORY_OVERHEAD_BYTES),
                    },
                    "flavor_too_small",
                )
    if pool is not None and flavor is not None and "specification" not in errors:
        nodes = list(Node.objects.members().filter(pool=pool))
        if not any(node_fits(node, flavor.spec()) for node in nodes):
            add(
                "specification",
                _("No node of pool %(pool)s can hold flavor %(flavor)s (%(cores)s cores, %(memory)s GB).")
                % {
                    "pool": pool.name,
                    "flavor": flavor.flavor_id,
                    "cores": flavor.cpu_cores,
                    "memory": flavor.memory_gb,
                },
                "no_capacity",
            )
    if errors:
        raise ValidationError(errors)
    return {"version": version, "flavor": flavor, "pool": pool, "needed": needed}


def service_url(service: Service) -> str:
    return reverse(
        "services:detail", kwargs={"project_id": service.project.project_id, "service_id": service.service_id}
    )


# --- deploy, scale ------------------------------------------------------------------------------


def service_deploy(*, actor, project, spec: ServiceSpec) -> Service:
    check_may_change(actor=actor, project=project)
    # Storage (the weights' size) is read before the transaction: a slow bucket must not hold a lock.
    found = _validate(spec, actor=actor, project=project)
    version, flavor = found["version"], found["flavor"]
    try:
        with transaction.atomic():
            service = Service.objects.create(
                project=project,
                owner=actor,
                name=spec.name,
                description=spec.description or "",
                version=version,
                pool=found["pool"],
                flavor_spec=flavor.spec(),
                memory_needed_bytes=found["needed"],
                instance_count=spec.instance_count,
                status=ServiceStatus.DEPLOYING,
                config_updated_at=timezone.now(),
            )
            record = task_record_create_for_inference(
                version=version, job_name=service.name, job_url=service_url(service), actor=actor
            )
            Service.objects.filter(pk=service.pk).update(task_record_id=record.pk)
            event(
                service.pk,
                "deploy",
                _("Deployed by %(user)s: %(version)s, flavor %(flavor)s, %(count)s instance(s) in pool %(pool)s.")
                % {
                    "user": actor.username,
                    "version": str(version),
                    "flavor": flavor.flavor_id,
                    "count": spec.instance_count,
                    "pool": found["pool"].name,
                },
            )
            audit_record(
                actor=actor,
                action="service.deploy",
                obj=service,
                project=project,
                after={"name": service.name, "version": str(version), "flavor": flavor.flavor_id,
                       "instance_count": spec.instance_count},
            )  # fmt: skip
            reconcile_soon(service.pk)
    except IntegrityError:
        raise ValidationError(
            {"service_name": [ValidationError(_("A service named %(name)s already exists in this project.")
                                              % {"name": spec.name}, code="name")]}
        ) from None  # fmt: skip
    service.refresh_from_db()
    return service


def _locked(service: Service) -> Service:
    return Service.objects.select_for_update(of=("self",)).select_related("project", "version").get(pk=service.pk)


def service_scale(*, actor, service: Service, instance_count, model_id=None, field: str = "instance_count") -> Service:
    """The seed's property rule: an integer 1–128 other than the current count, only while running or concerning."""
    check_may_change(actor=actor, project=service.project)
    errors = {}
    if model_id is not None and str(model_id) != str(service.version_id):
        errors["configs.model_id"] = [
            ValidationError(
                _("model_id %(given)s is not the model of service %(name)s (its model_id is %(id)s).")
                % {"given": model_id, "name": service.name, "id": service.version_id},
                code="model_id",
            )
        ]
    problem = instance_count_error(instance_count, field=field)
    if problem:
        errors[field] = [ValidationError(problem, code="instance_count")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        service = _locked(service)
        if service.status not in SCALABLE:
            raise ValidationError(
                {"status": [ValidationError(
                    _("The instance count can be changed only while the service is running or concerning; "
                      "service %(name)s is %(status)s.") % {"name": service.name, "status": service.status},
                    code="state")]}
            )  # fmt: skip
        if instance_count == service.instance_count:
            raise ValidationError(
                {field: [ValidationError(
                    _("%(field)s must differ from the current instance count (%(count)s).")
                    % {"field": field, "count": service.instance_count}, code="instance_count")]}
            )  # fmt: skip
        before = service.instance_count
        now = timezone.now()
        Service.objects.filter(pk=service.pk).update(instance_count=instance_count, config_updated_at=now)
        event(
            service.pk,
            "scale",
            _("Instance count changed from %(before)s to %(after)s by %(user)s.")
            % {"before": before, "after": instance_count, "user": actor.username},
        )
        audit_record(
            actor=actor, action="service.scale", obj=service, project=service.project,
            before={"instance_count": before}, after={"instance_count": instance_count},
        )  # fmt: skip
        reconcile_soon(service.pk)
    service.refresh_from_db()
    return service


SUPPORTED_PROPERTY = "instance_count"


def property_update(*, actor, service: Service, changed_property, configs) -> tuple[Service, list[str]]:
    """PUT …/services/{id}/property. Returns the service and the ids of the resources changed."""
    if changed_property != SUPPORTED_PROPERTY:
        raise ValidationError(
            {"changed_property": [ValidationError(
                _("changed_property %(value)r is not supported: the only supported value is instance_count.")
                % {"value": changed_property}, code="property")]}
        )  # fmt: skip
    if not isinstance(configs, list) or len(configs) != 1 or not isinstance(configs[0], dict):
        raise ValidationError(
            {"configs": [ValidationError(
                _("configs must hold exactly one object {\"model_id\", \"changed_value\"} for the service's model."),
                code="configs")]}
        )  # fmt: skip
    config = configs[0]
    if "model_id" not in config or "changed_value" not in config:
        raise ValidationError(
            {"configs": [ValidationError(_("configs[0] needs both model_id and changed_value."), code="configs")]}
        )
    service = service_scale(
        actor=actor,
        service=service,
        instance_count=config["changed_value"],
        model_id=config["model_id"],
        field="configs.changed_value",
    )
    return service, [str(service.service_id)]


# --- stop, start, delete ----------------------------------------------------------------------


def _stop_instances(service: Service, *, reason: str) -> None:
    now = timezone.now()
    ServiceInstance.objects.filter(service=service, state__in=(InstanceState.PENDING, InstanceState.ASSIGNED)).update(
        state=InstanceState.STOPPED, since=now, ended_at=now, stop_reason=reason, runner_token=""
    )
    ServiceInstance.objects.filter(service=service, state__in=HEARTBEATING).exclude(
        state=InstanceState.STOPPING
    ).update(state=InstanceState.STOPPING, since=now, stop_requested=True, stop_reason=reason)


def service_stop(*, actor, service: Service) -> Service:
    check_may_change(actor=actor, project=service.project)
    with transaction.atomic():
        service = _locked(service)
        if service.status == ServiceStatus.STOPPED:
            return service
        reason = _("Stopped by %(user)s.") % {"user": actor.username}
        _stop_instances(service, reason=reason)
        Service.objects.filter(pk=service.pk).update(
            status=ServiceStatus.STOPPED, status_reason="", config_updated_at=timezone.now()
        )
        event(service.pk, "stop", reason)
        audit_record(actor=actor, action="service.stop", obj=service, project=service.project)
    service.refresh_from_db()
    return service


def service_start(*, actor, service: Service) -> Service:
    check_may_change(actor=actor, project=service.project)
    with transaction.atomic():
        service = _locked(service)
        if service.status not in (ServiceStatus.STOPPED, ServiceStatus.FAILED):
            raise ValidationError(
                {"status": [ValidationError(
                    _("Service %(name)s is %(status)s: only a stopped or failed service can be started.")
                    % {"name": service.name, "status": service.status}, code="state")]}
            )  # fmt: skip
        # A fresh start: failures of the last run are history, not a reason to give up at once.
        ServiceInstance.objects.filter(service=service).update(restarts=0)
        Service.objects.filter(pk=service.pk).update(
            status=ServiceStatus.DEPLOYING, status_reason="", ever_ran=False, config_updated_at=timezone.now()
        )
        event(service.pk, "start", _("Started by %(user)s.") % {"user": actor.username})
        audit_record(actor=actor, action="service.start", obj=service, project=service.project)
        reconcile_soon(service.pk)
    service.refresh_from_db()
    return service


def service_delete(*, actor, service: Service, confirm) -> None:
    """Typed DELETE. Instances stop (their runners find their rows gone) and the version's inference
    task record goes, so it no longer blocks deleting the model."""
    check_may_change(actor=actor, project=service.project)
    require_typed_delete(confirm, field="confirm")
    with transaction.atomic():
        service = _locked(service)
        records = [service.task_record_id] if service.task_record_id else []
        task_records_remove_for_deleted_jobs(record_ids=records)
        audit_record(
            actor=actor, action="service.delete", obj=service, project=service.project,
            before={"name": service.name, "status": service.status, "version": str(service.version)},
        )  # fmt: skip
        service.delete()


def task_record_of(service: Service) -> TaskRecord | None:
    return TaskRecord.objects.filter(pk=service.task_record_id).first() if service.task_record_id else None


# --- API keys ------------------------------------------------------------------------------------


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def api_key_create(*, actor, service: Service, name: str = "", lifetime: timedelta | None = None):
    """Returns (raw key — shown once, never stored —, ServiceApiKey)."""
    check_may_change(actor=actor, project=service.project)
    name = (name or "").strip()
    if len(name) > 64:
        raise ValidationError({"name": [ValidationError(_("The key name has at most 64 characters."), code="name")]})
    raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ServiceApiKey.objects.create(
        service=service,
        name=name,
        key_hash=hash_key(raw),
        prefix=raw[: len(API_KEY_PREFIX) + 6],
        created_by=actor,
        expires_at=timezone.now() + lifetime if lifetime else None,
    )
    if lifetime is None:
        audit_record(actor=actor, action="service.api_key_create", obj=service, project=service.project,
                     after={"key": key.prefix + "…", "name": name})  # fmt: skip
    return raw, key


def try_key_create(*, actor, service: Service):
    """The page's Try it panel: a key for the signed-in member that lives minutes."""
    return api_key_create(
        actor=actor, service=service, name="try-it", lifetime=timedelta(seconds=settings.SERVICE_TRY_KEY_SECONDS)
    )


def api_key_revoke(*, actor, key: ServiceApiKey) -> None:
    check_may_change(actor=actor, project=key.service.project)
    if ServiceApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
        audit_record(actor=actor, action="service.api_key_revoke", obj=key.service, project=key.service.project,
                     before={"key": key.prefix + "…"})  # fmt: skip
