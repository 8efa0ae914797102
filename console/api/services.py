"""Inference service API (ModelArts v1 service management): deploy, list, details, start/stop, delete,
and the seed's 更新模型服务单个属性 (PUT …/services/{service_id}/property).

Shapes after ModelArts' public API reference (service_management); every rule lives in
console.services.services, shared with the pages.
"""

from __future__ import annotations

from typing import Any, Literal

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from ninja import Query, Router, Status
from pydantic import Field

from console.accounts.models import Role
from console.api.errors import KINDS, ApiError, ErrorKind, from_validation_error
from console.api.schemas import AUTHED, RequestBody, Schema, with_errors
from console.api.tokens import Scope, scope_for
from console.core.confirm import CONFIRM_WORD
from console.services import selectors, services
from console.services.models import Service
from console.services.services import ServiceSpec
from console.versions.models import ModelVersion

router = Router(tags=["Services"])

# 35xx: inference services. Registered here, next to the only code that raises them.
for _kind in (
    ErrorKind("ModelArts.3500", 400, "The service request breaks a rule (name, model, flavor, pool, instance count)."),
    ErrorKind("ModelArts.3504", 404, "No such service in this project."),
    ErrorKind("ModelArts.3507", 409, "The service's status does not allow this (the message names it)."),
    ErrorKind("ModelArts.3508", 409, "No node of the pool can hold the flavor."),
    ErrorKind("ModelArts.3509", 403, "Only members (not viewers) may change services."),
):
    KINDS.setdefault(_kind.code, _kind)

CODES = {"state": "ModelArts.3507", "no_capacity": "ModelArts.3508"}


def ms(value) -> int | None:
    return int(value.timestamp() * 1000) if value else None


# --- schemas -------------------------------------------------------------------------------------


class ConfigIn(RequestBody):
    model_id: str
    weight: int = Field(default=100, description="Traffic weight; one config per service here, so 100")
    specification: str = Field(description="Flavor, e.g. modelarts.vm.cpu.2u")
    # Any: "2" and 2.5 are refused by the service rule, which names the field and the range.
    instance_count: Any = Field(description="Integer, 1–128")
    envs: dict[str, str] = Field(default_factory=dict)
    pool_name: str | None = Field(default=None, description="Node pool (default: the default pool)")


class DeployIn(RequestBody):
    service_name: str
    description: str = ""
    infer_type: Literal["real-time"]
    config: list[ConfigIn]
    workspace_id: str | None = None


class DeployOut(Schema):
    service_id: str
    resource_ids: list[str]


class ConfigOut(Schema):
    model_id: str
    model_name: str
    model_version: str
    specification: str
    weight: int
    instance_count: int
    envs: dict
    pool_name: str | None


class ServiceOut(Schema):
    service_id: str
    service_name: str
    description: str
    project: str
    owner: str
    infer_type: str
    status: str
    status_reason: str | None
    access_address: str
    invocation_times: int
    failed_times: int
    is_shared: bool
    publish_at: int | None
    update_time: int | None
    config: list[ConfigOut]
    instances: list[dict]


class ServiceListOut(Schema):
    total_count: int
    count: int
    services: list[ServiceOut]


class StatusIn(RequestBody):
    status: Literal["running", "stopped"] | None = None
    description: str | None = None


class UpdateConfigIn(RequestBody):
    model_id: Any
    changed_value: Any = Field(description="Integer, 1–128, other than the current instance count")


class PropertyIn(RequestBody):
    changed_property: str
    configs: list[UpdateConfigIn] | None = None


class PropertyOut(Schema):
    update_time: str
    resource_ids: list[str]


class Empty(Schema):
    pass


# --- helpers -------------------------------------------------------------------------------------


def payload(service: Service, *, request=None) -> dict:
    version = service.version
    address = service.access_address
    if request is not None:
        address = request.build_absolute_uri(address)
    instances = [
        {"name": i.name, "node": i.node_name or None, "state": i.state, "restarts": i.restarts,
         "last_error": i.last_error or None}
        for i in service.instances.order_by("slot") if i.slot < service.instance_count
    ]  # fmt: skip
    return {
        "service_id": str(service.service_id),
        "service_name": service.name,
        "description": service.description,
        "project": service.project.project_id,
        "owner": service.owner.username,
        "infer_type": "real-time",
        "status": service.status,
        "status_reason": service.status_reason or None,
        "access_address": address,
        "invocation_times": service.invocation_times,
        "failed_times": service.failed_times,
        "is_shared": False,
        "publish_at": ms(service.created_at),
        "update_time": ms(service.config_updated_at or service.updated_at),
        "config": [
            {
                "model_id": str(version.pk),
                "model_name": version.model.name,
                "model_version": version.label,
                "specification": (service.flavor_spec or {}).get("flavor_id", ""),
                "weight": 100,
                "instance_count": service.instance_count,
                "envs": {},
                "pool_name": service.pool.name if service.pool else None,
            }
        ],
        "instances": instances,
    }


def _service(scope: Scope, service_id: str) -> Service:
    service = selectors.service_get_or_none(user=scope.user, project=scope.project, service_id=service_id)
    if service is None:
        raise ApiError("ModelArts.3504", _("There is no service %(id)s in this project.") % {"id": service_id})
    return service


def _call(fn, **kwargs):
    try:
        return fn(**kwargs)
    except PermissionDenied as error:
        raise ApiError("ModelArts.3509", str(error)) from None
    except ValidationError as error:
        raise from_validation_error(error, default="ModelArts.3500", codes=CODES) from None


def _version(scope: Scope, model_id: str) -> ModelVersion | None:
    if not str(model_id).isdigit():
        return None
    return ModelVersion.objects.select_related("model").filter(pk=int(model_id), model__project=scope.project).first()


# --- endpoints -----------------------------------------------------------------------------------


@router.post(
    "/v1/{project_id}/services",
    response=with_errors({200: DeployOut}, *AUTHED, 409),
    summary="Deploy a model version as a real-time service",
)
def deploy_service(request, project_id: str, body: DeployIn):
    scope = scope_for(request.auth, project_id, role=Role.MEMBER)
    if len(body.config) != 1:
        raise ApiError(
            "ModelArts.3500", _("config must hold exactly one model configuration (one model version per service).")
        )
    config = body.config[0]
    version = _version(scope, config.model_id)
    if version is None:
        raise ApiError(
            "ModelArts.3500",
            _("config[0].model_id: there is no model version %(id)s in this project.") % {"id": config.model_id},
        )
    spec = ServiceSpec(
        name=body.service_name,
        description=body.description,
        version=version,
        flavor_id=config.specification,
        instance_count=config.instance_count,
        pool_name=config.pool_name,
    )
    service = _call(services.service_deploy, actor=scope.user, project=scope.project, spec=spec)
    return Status(200, {"service_id": str(service.service_id), "resource_ids": [str(service.service_id)]})


class ListQuery(Schema):
    service_name: str | None = None
    status: str | None = None
    offset: int = Field(default=0, ge=0, le=1_000_000_000)  # beyond it, the database's bigint overflows
    limit: int = Field(default=100, ge=1, le=1000)


@router.get("/v1/{project_id}/services", response=with_errors({200: ServiceListOut}, *AUTHED), summary="Query services")
def list_services(request, project_id: str, query: Query[ListQuery]):
    scope = scope_for(request.auth, project_id)
    rows = selectors.service_list(user=scope.user, project=scope.project, status=query.status, name=query.service_name)
    total = rows.count()
    page = list(
        rows.select_related("project", "owner").order_by("-created_at", "pk")[query.offset : query.offset + query.limit]
    )
    data = [payload(s, request=request) for s in page]
    return Status(200, {"total_count": total, "count": len(data), "services": data})


@router.get(
    "/v1/{project_id}/services/{service_id}",
    response=with_errors({200: ServiceOut}, *AUTHED, 404),
    summary="Query the details about a service",
)
def get_service(request, project_id: str, service_id: str):
    scope = scope_for(request.auth, project_id)
    return Status(200, payload(_service(scope, service_id), request=request))


@router.put(
    "/v1/{project_id}/services/{service_id}",
    response=with_errors({200: Empty}, *AUTHED, 404, 409),
    summary="Start or stop a service",
)
def update_service(request, project_id: str, service_id: str, body: StatusIn):
    scope = scope_for(request.auth, project_id, role=Role.MEMBER)
    service = _service(scope, service_id)
    if body.status == "stopped":
        _call(services.service_stop, actor=scope.user, service=service)
    elif body.status == "running":
        _call(services.service_start, actor=scope.user, service=service)
    return Status(200, {})


@router.put(
    "/v1/{project_id}/services/{service_id}/property",
    response=with_errors({200: PropertyOut}, *AUTHED, 404, 409),
    summary="Update a single property of a service (instance_count)",
)
def update_property(request, project_id: str, service_id: str, body: PropertyIn):
    scope = scope_for(request.auth, project_id, role=Role.MEMBER)
    service = _service(scope, service_id)
    configs = [c.model_dump() for c in body.configs] if body.configs is not None else None
    service, resource_ids = _call(
        services.property_update,
        actor=scope.user,
        service=service,
        changed_property=body.changed_property,
        configs=configs,
    )
    return Status(200, {"update_time": str(ms(service.config_updated_at)), "resource_ids": resource_ids})


@router.delete(
    "/v1/{project_id}/services/{service_id}",
    response=with_errors({200: Empty}, *AUTHED, 404),
    summary="Delete a service",
)
def delete_service(request, project_id: str, service_id: str):
    scope = scope_for(request.auth, project_id, role=Role.MEMBER)
    service = _service(scope, service_id)
    # The HTTP DELETE is the API caller's explicit confirmation (the pages ask for the typed word).
    _call(services.service_delete, actor=scope.user, service=service, confirm=CONFIRM_WORD)
    return Status(200, {})
