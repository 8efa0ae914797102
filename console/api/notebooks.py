"""Notebook API (ModelArts v1 开发环境): images, notebooks, stop/start, the lease.

Field names, units (milliseconds) and states as ModelArts documents them; every rule lives in
console.notebooks.services (and its transition table in console.notebooks.rules).
"""

from __future__ import annotations

from typing import Literal

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from ninja import Query, Router, Status
from pydantic import Field

from console.accounts.models import Role
from console.api.errors import KINDS, ApiError, ErrorKind, from_validation_error
from console.api.schemas import AUTHED, LenientBody, RequestBody, Schema, with_errors
from console.api.tokens import Scope, scope_for
from console.nodepools.models import Pool
from console.notebooks import selectors, services
from console.notebooks.models import Notebook
from console.notebooks.services import NotebookSpec, lease_remaining_ms

router = Router(tags=["Notebooks"])

# 64xx: notebooks. Registered here, next to the only code that raises them.
for _kind in (
    ErrorKind("ModelArts.6400", 400, "The notebook request breaks a rule (name, flavor, image, lease, folder)."),
    ErrorKind(
        "ModelArts.6403", 403, "Only the notebook's owner (or a project administrator, to stop or delete) may do this."
    ),
    ErrorKind("ModelArts.6404", 404, "No such notebook in this project."),
    ErrorKind(
        "ModelArts.6409", 409, "The notebook's state does not allow this action (the message lists what it allows)."
    ),
    ErrorKind("ModelArts.6410", 409, "The per-user cap of running notebooks in the project is reached."),
    ErrorKind("ModelArts.6411", 409, "No node of the pool can hold the flavor or has the image."),
):
    KINDS.setdefault(_kind.code, _kind)

CODES = {"state": "ModelArts.6409", "cap": "ModelArts.6410", "no_capacity": "ModelArts.6411"}
STORAGE_AUTHORIZATION = {
    "no_authorization": "ModelArts.2007",
    "read_only": "ModelArts.2007",
    "bucket_not_covered": "ModelArts.2007",
}


def ms(value) -> int | None:
    return int(value.timestamp() * 1000) if value else None


# --- schemas -------------------------------------------------------------------------------------


class ImageOut(Schema):
    id: str
    name: str
    description: str
    arch: str
    type: str
    version: str
    cpu: bool = True
    gpu: bool = False
    dev_services: list[str]
    service_type: str
    status: str
    create_at: int | None
    update_at: int | None
    nodes: list[str]


class ImageListOut(Schema):
    current: int
    data: list[ImageOut]
    pages: int
    size: int
    total: int


class LeaseIn(RequestBody):
    duration: int | None = Field(default=None, description="ms, 3,600,000–259,200,000")
    type: Literal["TIMING", "IDLE"] | None = None


class VolumeIn(RequestBody):
    category: Literal["OBS", "EFS", "EVS", "OBSFS"] = "OBS"
    ownership: str | None = None
    capacity: int | None = Field(default=None, description="GB: the work folder's quota")


class NotebookIn(LenientBody):
    name: str
    description: str = ""
    flavor: str
    image_id: str
    pool_id: str | None = None
    volume: VolumeIn | None = None
    lease: LeaseIn | None = None
    duration: int | None = None
    data_folder: str | None = Field(default=None, description="obs://bucket/folder/ copied in read-only")


class LeaseOut(Schema):
    create_at: int | None
    duration: int
    enable: bool
    type: str
    update_at: int | None
    remaining: int | None = Field(default=None, description="ms until the automatic stop, when RUNNING")


class NotebookOut(Schema):
    id: str
    name: str
    description: str
    status: str
    fail_reason: str | None = None
    flavor: str
    image: dict
    pool: dict | None
    node: str | None
    lease: LeaseOut
    url: str | None
    volume: dict
    data_folder: str | None
    user: dict
    action_progress: list[dict]
    create_at: int | None
    update_at: int | None


class NotebookListOut(Schema):
    current: int
    data: list[NotebookOut]
    pages: int
    size: int
    total: int


def lease_payload(notebook: Notebook) -> dict:
    return {
        "create_at": ms(notebook.lease_create_at),
        "duration": notebook.lease_duration_ms,
        "enable": notebook.lease_enable,
        "type": notebook.lease_type,
        "update_at": ms(notebook.lease_update_at),
        "remaining": lease_remaining_ms(notebook),
    }


def notebook_payload(notebook: Notebook, *, user, events=True) -> dict:
    progress = []
    if events:
        progress = [
            {"at": ms(e.at), "kind": e.kind, "description": e.message}
            for e in notebook.events.order_by("-at", "-pk")[:20]
        ]
    return {
        "id": str(notebook.uuid),
        "name": notebook.name,
        "description": notebook.description,
        "status": notebook.state,
        "fail_reason": notebook.fail_reason or None,
        "flavor": (notebook.flavor_spec or {}).get("flavor_id", ""),
        "image": {"id": str(notebook.image.image_id), "name": notebook.image.name, "type": notebook.image.type},
        "pool": {"id": notebook.pool.name, "name": notebook.pool.name} if notebook.pool else None,
        "node": notebook.node_name or None,
        "lease": lease_payload(notebook),
        # Only the owner gets the address (the console's own: /nb/<id>/lab).
        "url": f"/nb/{notebook.uuid}/lab" if notebook.owner_id == user.pk else None,
        "volume": {
            "category": "OBS",
            "capacity": notebook.volume_capacity_gb,
            "ownership": "MANAGED",
            "mount_path": notebook.work_path,
        },
        "data_folder": notebook.data_path or None,
        "user": {"id": str(notebook.owner_id), "name": notebook.owner.username},
        "action_progress": progress,
        "create_at": ms(notebook.created_at),
        "update_at": ms(notebook.updated_at),
    }


def _notebook(scope: Scope, notebook_id: str) -> Notebook:
    notebook = selectors.notebook_get_or_none(user=scope.user, project=scope.project, notebook_id=notebook_id)
    if notebook is None:
        raise ApiError("ModelArts.6404", _("There is no notebook %(id)s in this project.") % {"id": notebook_id})
    return notebook


def _call(fn, **kwargs):
    try:
        return fn(**kwargs)
    except PermissionDenied as error:
        raise ApiError("ModelArts.6403", str(error)) from None
    except ValidationError as error:
        raise from_validation_error(error, default="ModelArts.6400", codes=CODES, alone=STORAGE_AUTHORIZATION) from None


# --- images --------------------------------------------------------------------------------------


class ImageQuery(Schema):
    limit: int = Field(default=200, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    name: str | None = None
    type: Literal["BUILD_IN", "DEDICATED"] | None = None


@router.get(
    "/v1/{project_id}/images", response=with_errors({200: ImageListOut}, *AUTHED), summary="Query supported images"
)
def list_images(request, project_id: str, query: Query[ImageQuery]):
    scope_for(request.auth, project_id)
    images = selectors.image_list(name=query.name, image_type=query.type)
    total = len(images)
    page = images[query.offset : query.offset + query.limit]
    data = [
        {
            "id": str(image.image_id),
            "name": image.name,
            "description": image.description,
            "arch": image.arch,
            "type": image.type,
            "version": image.jupyterlab_version,
            "cpu": True,
            "gpu": False,
            "dev_services": ["NOTEBOOK"],
            "service_type": "DEV",
            "status": "ACTIVE",
            "create_at": ms(image.created_at),
            "update_at": ms(image.updated_at),
            "nodes": sorted({ni.node.name for ni in image.node_images.all()}),
        }
        for image in page
    ]
    return Status(
        200,
        {
            "current": query.offset // query.limit,
            "data": data,
            "pages": -(-total // query.limit),
            "size": len(data),
            "total": total,
        },
    )


# --- notebooks -----------------------------------------------------------------------------------


@router.post(
    "/v1/{project_id}/notebooks",
    response=with_errors({201: NotebookOut}, *AUTHED, 409),
    summary="Create a notebook instance",
    exclude_unset=True,
)
def create_notebook(request, project_id: str, payload: NotebookIn):
    scope = scope_for(request.auth, project_id, role=Role.MEMBER)
    pool = None
    if payload.pool_id:
        pool = Pool.objects.filter(name=payload.pool_id).first()
        if pool is None:
            raise ApiError(
                "ModelArts.6400", _("pool_id: there is no node pool named %(pool)s.") % {"pool": payload.pool_id}
            )
    lease = payload.lease or LeaseIn()
    duration = payload.duration if payload.duration is not None else lease.duration
    spec = NotebookSpec(
        name=payload.name,
        description=payload.description,
        flavor_id=payload.flavor,
        image_id=payload.image_id,
        pool=pool,
        lease_type="TIMING" if payload.duration is not None else (lease.type or "TIMING"),
        lease_duration_ms=duration if duration is not None else services.LEASE_MIN_MS,
        data_path=payload.data_folder or "",
        volume_capacity_gb=payload.volume.capacity if payload.volume else None,
    )
    notebook = _call(services.notebook_create, actor=scope.user, project=scope.project, spec=spec)
    return Status(201, notebook_payload(_notebook(scope, str(notebook.uuid)), user=scope.user))


class NotebookQuery(Schema):
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    status: str | None = None
    name: str | None = None
    owner: str | None = None
    sort_dir: Literal["ASC", "DESC"] = "DESC"
    sort_key: Literal["create_at", "name", "status"] = "create_at"


@router.get(
    "/v1/{project_id}/notebooks",
    response=with_errors({200: NotebookListOut}, *AUTHED),
    summary="Query notebook instances",
    exclude_unset=True,
)
def list_notebooks(request, project_id: str, query: Query[NotebookQuery]):
    scope = scope_for(request.auth, project_id)
    rows = selectors.notebook_list(
        user=scope.user, project=scope.project, status=query.status, name=query.name, owner=query.owner
    )
    field = {"create_at": "created_at", "name": "name", "status": "state"}[query.sort_key]
    rows = rows.order_by(field if query.sort_dir == "ASC" else f"-{field}", "pk")
    total = rows.count()
    page = list(rows[query.offset : query.offset + query.limit])
    data = [notebook_payload(n, user=scope.user, events=False) for n in page]
    return Status(
        200,
        {
            "current": query.offset // query.limit,
            "data": data,
            "pages": -(-total // query.limit),
            "size": len(data),
            "total": total,
        },
    )


@router.get(
    "/v1/{project_id}/notebooks/{instance_id}",
    response=with_errors({200: NotebookOut}, *AUTHED, 404),
    summary="Query notebook details",
    exclude_unset=True,
)
def get_notebook(request, project_id: str, instance_id: str):
    scope = scope_for(request.auth, project_id)
    return Status(200, notebook_payload(_notebook(scope, instance_id), user=scope.user))


@router.delete(
    "/v1/{project_id}/notebooks/{instance_id}",
    response=with_errors({200: NotebookOut}, *AUTHED, 404, 409),
    summary="Delete a notebook instance",
    exclude_unset=True,
)
def delete_notebook(request, project_id: str, instance_id: str):
    scope = scope_for(request.auth, project_id, role=Role.MEMBER)
    notebook = _call(services.notebook_delete, actor=scope.user, notebook=_notebook(scope, instance_id))
    return Status(200, notebook_payload(notebook, user=scope.user))


@router.post(
    "/v1/{project_id}/notebooks/{instance_id}/stop",
    response=with_errors({200: NotebookOut}, *AUTHED, 404, 409),
    summary="Stop a notebook instance",
    exclude_unset=True,
)
def stop_notebook(request, project_id: str, instance_id: str):
    scope = scope_for(request.auth, project_id, role=Role.MEMBER)
    notebook = _call(services.notebook_stop, actor=scope.user, notebook=_notebook(scope, instance_id))
    return Status(200, notebook_payload(notebook, user=scope.user))


class StartQuery(Schema):
    duration: int | None = Field(default=None, description="ms: the lease of this start")


@router.post(
    "/v1/{project_id}/notebooks/{instance_id}/start",
    response=with_errors({200: NotebookOut}, *AUTHED, 404, 409),
    summary="Start a notebook instance",
    exclude_unset=True,
)
def start_notebook(request, project_id: str, instance_id: str, query: Query[StartQuery]):
    scope = scope_for(request.auth, project_id, role=Role.MEMBER)
    notebook = _call(
        services.notebook_start, actor=scope.user, notebook=_notebook(scope, instance_id), duration_ms=query.duration
    )
    return Status(200, notebook_payload(notebook, user=scope.user))


class RenewQuery(Schema):
    duration: int | None = Field(default=None, description="ms (the older API's query parameter)")
    type: Literal["TIMING", "IDLE"] | None = None


@router.patch(
    "/v1/{project_id}/notebooks/{instance_id}/lease",
    response=with_errors({200: LeaseOut}, *AUTHED, 404, 409),
    summary="Prolong a notebook instance",
    exclude_unset=True,
)
def renew_lease(request, project_id: str, instance_id: str, query: Query[RenewQuery], payload: LeaseIn | None = None):
    scope = scope_for(request.auth, project_id, role=Role.MEMBER)
    duration = payload.duration if payload and payload.duration is not None else query.duration
    lease_type = payload.type if payload and payload.type else query.type
    if duration is None:
        raise ApiError("ModelArts.0202", _("duration: is required (milliseconds, 3600000–259200000)."))
    notebook = _call(
        services.notebook_lease_update,
        actor=scope.user,
        notebook=_notebook(scope, instance_id),
        duration_ms=duration,
        lease_type=lease_type,
    )
    return Status(200, lease_payload(notebook))


@router.get(
    "/v1/{project_id}/notebooks/{instance_id}/lease",
    response=with_errors({200: LeaseOut}, *AUTHED, 404),
    summary="Query the available duration of a notebook instance",
    exclude_unset=True,
)
def get_lease(request, project_id: str, instance_id: str):
    scope = scope_for(request.auth, project_id)
    return Status(200, lease_payload(_notebook(scope, instance_id)))
