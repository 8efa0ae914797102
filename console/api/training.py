"""Training API (v2) — the seed's training-job flow, calling console.training's services.

Flavors, engines, algorithms (CRUD), training jobs (create, get, search,
terminate, delete), a task's log link and metrics. Every rule lives in the
services; this module maps the seed's JSON onto them and their results back.
"""

from __future__ import annotations

import uuid
from typing import Literal

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.utils.translation import gettext as _
from ninja import Query, Router, Status
from pydantic import Field

from console.accounts.models import Role
from console.api import logs
from console.api.errors import ApiError, from_validation_error
from console.api.schemas import AUTHED, Schema, with_errors
from console.api.tokens import Scope, scope_for
from console.api.training_schemas import (
    ActionIn,
    AlgorithmIn,
    AlgorithmListOut,
    AlgorithmOut,
    AlgorithmQuery,
    EngineListOut,
    FlavorListOut,
    JobListOut,
    JobSearchIn,
    LogUrlOut,
    MetricsOut,
    TrainingJobIn,
    TrainingJobOut,
)
from console.core.paging import deferred_slice
from console.nodepools.models import Pool
from console.training import metrics, payloads, selectors, services
from console.training.models import Algorithm, TrainingJob
from console.training.phases import Phase
from console.training.services.jobs import JobSpec

router = Router(tags=["Training"])

# Storage refusals that mean "no authorization" (委托授权): answered 403 with their own message,
# whatever else the request breaks.
STORAGE_AUTHORIZATION = {
    "no_authorization": "ModelArts.2007",
    "read_only": "ModelArts.2007",
    "bucket_not_covered": "ModelArts.2007",
}


def _no_content() -> HttpResponse:
    # The seed: "202 No Content".
    return HttpResponse(status=202)


# --- flavors and engines ---------------------------------------------------------------


class FlavorQuery(Schema):
    flavor_type: Literal["CPU", "GPU", "NPU"] | None = Field(default=None, description="Only flavors of this type.")


@router.get(
    "/v2/{project_id}/training-job-flavors",
    response=with_errors({200: FlavorListOut}, *AUTHED),
    summary="List the public flavors of training jobs",
    description="max_num is how many nodes of the default pool can run one job of the flavor right now.",
    exclude_unset=True,
)
def list_flavors(request, project_id: str, query: Query[FlavorQuery]):
    scope_for(request.auth, project_id)
    return Status(200, payloads.flavors_payload(selectors.flavor_list(flavor_type=query.flavor_type)))


@router.get(
    "/v2/{project_id}/job/training-job-engines",
    response=with_errors({200: EngineListOut}, *AUTHED),
    summary="List the AI engines of training jobs",
    exclude_unset=True,
)
def list_engines(request, project_id: str):
    scope_for(request.auth, project_id)
    return Status(200, payloads.engines_payload(selectors.engine_list().order_by("engine_name", "engine_id")))


# --- algorithms --------------------------------------------------------------------------

_ALGORITHM_CODES = {"unknown_engine": "ModelArts.1002"}
# A taken name is the conflict it is, even when the storage refuses too.
_ALGORITHM_ALONE = {"algorithm_exists": "ModelArts.1004", **STORAGE_AUTHORIZATION}


def _algorithm_kwargs(payload: AlgorithmIn) -> dict:
    if payload.resource_requirements:
        raise ApiError(
            "ModelArts.0202",
            _(
                "resource_requirements: this console does not support resource requirements; send [] (the job chooses its flavor)."
            ),
        )
    config = payload.job_config
    return {
        "name": payload.metadata.name,
        "description": payload.metadata.description,
        "code_dir": config.code_dir,
        "boot_file": config.boot_file,
        "engine_id": config.engine.engine_id,
        "engine_name": config.engine.engine_name,
        "engine_version": config.engine.engine_version,
        "inputs": [item.model_dump(exclude_unset=False) for item in config.inputs],
        "outputs": [item.model_dump(exclude_unset=False) for item in config.outputs],
        "parameters": [item.model_dump(exclude={"i18n_description"}) for item in config.parameters],
        "parameters_customization": config.parameters_customization,
    }


def _algorithm_in_project(scope: Scope, algorithm_id: str) -> Algorithm:
    try:
        return selectors.algorithm_get(user=scope.user, project=scope.project, algorithm_id=algorithm_id)
    except Http404:
        raise ApiError(
            "ModelArts.1003", _("There is no algorithm %(id)s in this project.") % {"id": algorithm_id}
        ) from None


@router.post(
    "/v2/{project_id}/algorithms",
    response=with_errors({200: AlgorithmOut}, *AUTHED, 409, 413),
    summary="Create an algorithm",
    description="code_dir must be the boot file's parent folder in a bucket of the project (/bucket/path/ or obs://bucket/path/).",
    exclude_unset=True,
)
def create_algorithm(request, project_id: str, payload: AlgorithmIn):
    scope = scope_for(request.auth, project_id, role=Role.MEMBER)
    kwargs = _algorithm_kwargs(payload)
    try:
        algorithm = services.algorithm_create(actor=scope.user, project=scope.project, **kwargs)
    except ValidationError as error:
        raise from_validation_error(error, codes=_ALGORITHM_CODES, alone=_ALGORITHM_ALONE) from None
    return Status(200, payloads.algorithm_payload(_algorithm_in_project(scope, str(algorithm.uuid))))


@router.get(
    "/v2/{project_id}/algorithms",
    response=with_errors({200: AlgorithmListOut}, *AUTHED),
    summary="List algorithms",
    exclude_unset=True,
)
def list_algorithms(request, project_id: str, query: Query[AlgorithmQuery]):
    scope = scope_for(request.auth, project_id)
    algorithms = selectors.algorithm_list(user=scope.user, project=scope.project, search=query.searches).select_related(
        "project__organization"
    )
    field = {"create_time": "created_at", "name": "name"}[query.sort_by]
    algorithms = algorithms.order_by(f"-{field}" if query.order == "desc" else field, "pk")
    total = algorithms.count()
    items = [payloads.algorithm_payload(a) for a in algorithms[query.offset : query.offset + query.limit]]
    return Status(
        200,
        {
            "total": total,
            "count": len(items),
            "limit": query.limit,
            "offset": query.offset,
            "sort_by": query.sort_by,
            "order": query.order,
            "items": items,
        },
    )


@router.get(
    "/v2/{project_id}/algorithms/{algorithm_id}",
    response=with_errors({200: AlgorithmOut}, *AUTHED, 404),
    summary="Get an algorithm",
    exclude_unset=True,
)
def get_algorithm(request, project_id: str, algorithm_id: str):
    scope = scope_for(request.auth, project_id)
    return Status(200, payloads.algorithm_payload(_algorithm_in_project(scope, algorithm_id)))


@router.put(
    "/v2/{project_id}/algorithms/{algorithm_id}",
    response=with_errors({200: AlgorithmOut}, *AUTHED, 404, 409, 413),
    summary="Update an algorithm",
    description="Replaces the definition (same body as create). Jobs already created keep the definition they ran with.",
    exclude_unset=True,
)
def update_algorithm(request, project_id: str, algorithm_id: str, payload: AlgorithmIn):
    scope = scope_for(request.auth, project_id, role=Role.MEMBER)
    algorithm = _algorithm_in_project(scope, algorithm_id)
    kwargs = _algorithm_kwargs(payload)
    try:
        services.algorithm_update(actor=scope.user, algorithm=algorithm, **kwargs)
    except ValidationError as error:
        raise from_validation_error(error, codes=_ALGORITHM_CODES, alone=_ALGORITHM_ALONE) from None
    return Status(200, payloads.algorithm_payload(_algorithm_in_project(scope, algorithm_id)))


@router.delete(
    "/v2/{project_id}/algorithms/{algorithm_id}",
    response=with_errors({202: None}, *AUTHED, 404, 409),
    summary="Delete an algorithm",
)
def delete_algorithm(request, project_id: str, algorithm_id: str):
    scope = scope_for(request.auth, project_id, role=Role.MEMBER)
    algorithm = _algorithm_in_project(scope, algorithm_id)
    try:
        services.algorithm_delete(actor=scope.user, algorithm=algorithm)
    except ValidationError as error:
        raise from_validation_error(
            error, codes={"algorithm_in_use": "ModelArts.1005", "algorithm_gone": "ModelArts.1003"}
        ) from None
    return _no_content()


# --- training jobs -------------------------------------------------------------------------

# The service's refusal codes → the seed's error codes; the first refusal with a mapped code chooses.
_JOB_CODES = {
    "unknown_algorithm": "ModelArts.1011",
    "engine_unavailable": "ModelArts.1011",
    "no_pool": "ModelArts.1011",
    "unknown_flavor": "ModelArts.1001",
    "no_capacity": "ModelArts.1012",
    "over_capacity": "ModelArts.1012",
    "ray_multi_node": "ModelArts.1012",
}


def _job_in_project(scope: Scope, job_id: str) -> TrainingJob:
    try:
        return selectors.job_get(user=scope.user, project=scope.project, job_id=job_id)
    except Http404:
        raise ApiError(
            "ModelArts.1006", _("There is no training job %(id)s in this project.") % {"id": job_id}
        ) from None


def _pool_for(pool_id: str | None) -> Pool | None:
    if not pool_id:
        return None
    pool = Pool.objects.filter(name=pool_id).first()
    if pool is None:
        raise ApiError(
            "ModelArts.1011", _("spec.resource.pool_id: there is no node pool named %(pool)s.") % {"pool": pool_id}
        )
    return pool


def _algorithm_for_job(scope: Scope, algorithm_id: str) -> Algorithm:
    try:
        return selectors.algorithm_get(user=scope.user, project=scope.project, algorithm_id=algorithm_id)
    except Http404:
        raise ApiError(
            "ModelArts.1011",
            "algorithm.id: "
            + _("Unknown algorithm %(id)s: choose an algorithm of this project.") % {"id": algorithm_id},
        ) from None


def _folders(items) -> dict[str, str]:
    # The seed's [{"name", "remote": {"obs": {"obs_url"}}}] → {name: folder}.
    return {item.name: item.remote.obs.obs_url for item in items}


@router.post(
    "/v2/{project_id}/training-jobs",
    response=with_errors({201: TrainingJobOut}, *AUTHED, 404, 409, 413),
    summary="Create a training job",
    description=(
        "Runs the algorithm's boot file on the flavor's nodes. Inputs are downloaded to local_dir, outputs "
        "uploaded every 30 s and at the end. Refused with ModelArts.2007 when the user has no storage "
        "authorization (委托授权), and with ModelArts.1012 when no node can run the flavor."
    ),
    exclude_unset=True,
)
def create_training_job(request, project_id: str, payload: TrainingJobIn):
    scope = scope_for(request.auth, project_id, role=Role.MEMBER)
    algorithm_in = payload.algorithm
    spec = JobSpec(
        name=payload.metadata.name,
        description=payload.metadata.description,
        algorithm=_algorithm_for_job(scope, algorithm_in.id),
        parameters=[item.model_dump() for item in algorithm_in.parameters],
        inputs=_folders(algorithm_in.inputs),
        outputs=_folders(algorithm_in.outputs),
        flavor_id=payload.spec.resource.flavor_id,
        node_count=payload.spec.resource.node_count,
        log_export_path=payload.spec.log_export_path.obs_url if payload.spec.log_export_path else "",
        pool=_pool_for(payload.spec.resource.pool_id),
    )
    try:
        job = services.training_job_create(actor=scope.user, project=scope.project, spec=spec)
    except ValidationError as error:
        raise from_validation_error(error, codes=_JOB_CODES, alone=STORAGE_AUTHORIZATION) from None
    return Status(201, payloads.job_payload(_job_in_project(scope, str(job.uuid))))


def _uuid_or_none(value: str):
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError):
        return None


@router.get(
    "/v2/{project_id}/training-jobs/{training_job_id}",
    response=with_errors({200: TrainingJobOut}, *AUTHED, 404),
    summary="Get a training job",
    exclude_unset=True,
)
def get_training_job(request, project_id: str, training_job_id: str):
    scope = scope_for(request.auth, project_id)
    return Status(200, payloads.job_payload(_job_in_project(scope, training_job_id)))


@router.post(
    "/v2/{project_id}/training-job-searches",
    response=with_errors({200: JobListOut}, *AUTHED, 413),
    summary="List training jobs",
    description='filters: {"key": "phase", "value": ["Running"]}, {"key": "name", "operator": "like", "value": ["pytorch"]}, {"key": "algorithm_id", "value": [id]}.',
    exclude_unset=True,
)
def search_training_jobs(request, project_id: str, payload: JobSearchIn):
    scope = scope_for(request.auth, project_id)
    jobs = selectors.job_list(user=scope.user, project=scope.project)
    for item in payload.filters:
        if item.key == "phase":
            unknown = sorted(set(item.value) - set(Phase.values))
            if unknown:
                raise ApiError(
                    "ModelArts.0202",
                    _("filters: unknown phase %(phase)s; phases are %(phases)s.")
                    % {"phase": ", ".join(unknown), "phases": ", ".join(Phase.values)},
                )
            jobs = jobs.filter(phase__in=item.value)
        elif item.key == "name":
            condition = Q()
            for value in item.value:
                condition |= Q(name__icontains=value) if item.operator == "like" else Q(name=value)
            jobs = jobs.filter(condition)
        else:
            keys = [key for key in (_uuid_or_none(value) for value in item.value) if key]
            jobs = jobs.filter(algorithm__uuid__in=keys)
    field = {"create_time": "created_at", "name": "name", "phase": "phase"}[payload.sort_by]
    jobs = jobs.order_by(f"-{field}" if payload.order == "desc" else field, "-pk")
    total = jobs.count()
    # Constant queries in ``limit`` (tasks and node-count events prefetched) and in ``offset``
    # (a deferred join: the page's ids from the list index, then those rows).
    page = deferred_slice(
        selectors.with_node_count_events(jobs), payload.offset, payload.offset + payload.limit, total=total
    )
    items = [payloads.job_payload(job) for job in page]
    return Status(
        200,
        {
            "total": total,
            "count": len(items),
            "limit": payload.limit,
            "offset": payload.offset,
            "sort_by": payload.sort_by,
            "order": payload.order,
            "items": items,
        },
    )


@router.post(
    "/v2/{project_id}/training-jobs/{training_job_id}/actions",
    response=with_errors({202: TrainingJobOut}, *AUTHED, 404, 409, 413),
    summary="Terminate a training job",
    description='{"action_type": "terminate"} stops a Creating, Pending or Running job (→ Terminating → Terminated).',
    exclude_unset=True,
)
def training_job_action(request, project_id: str, training_job_id: str, payload: ActionIn):
    scope = scope_for(request.auth, project_id, role=Role.MEMBER)
    job = _job_in_project(scope, training_job_id)
    try:
        services.training_job_stop(actor=scope.user, job=job)
    except ValidationError as error:
        raise from_validation_error(error, codes={"phase": "ModelArts.1008", "job_gone": "ModelArts.1006"}) from None
    return Status(202, payloads.job_payload(_job_in_project(scope, training_job_id)))


@router.delete(
    "/v2/{project_id}/training-jobs/{training_job_id}",
    response=with_errors({202: None}, *AUTHED, 404),
    summary="Delete a training job",
    description="Stops the job first if it still runs. Its logs and metrics go; its outputs in storage stay.",
)
def delete_training_job(request, project_id: str, training_job_id: str):
    scope = scope_for(request.auth, project_id, role=Role.MEMBER)
    job = _job_in_project(scope, training_job_id)
    try:
        services.training_job_delete(actor=scope.user, job=job)
    except ValidationError as error:
        raise from_validation_error(error, codes={"job_gone": "ModelArts.1006"}) from None
    return _no_content()


def _task_of(job: TrainingJob, task_id: str):
    try:
        return selectors.task_get(job=job, task_name=task_id)
    except Http404:
        names = ", ".join(t.name for t in selectors.job_tasks(job))
        raise ApiError(
            "ModelArts.1007",
            _("The training job has no task %(task)s; its tasks are %(tasks)s.") % {"task": task_id, "tasks": names},
        ) from None


@router.get(
    "/v2/{project_id}/training-jobs/{training_job_id}/tasks/{task_id}/logs/url",
    response=with_errors({200: LogUrlOut}, *AUTHED, 404),
    summary="Get the log link of a task",
    description=(
        "Content-Type: text/plain (or none) → a temporary preview link; application/octet-stream → a "
        "temporary download link. Links are signed, work without a token for that log only, and expire "
        "after 5 minutes."
    ),
    exclude_unset=True,
)
def training_log_url(request, project_id: str, training_job_id: str, task_id: str):
    scope = scope_for(request.auth, project_id)
    job = _job_in_project(scope, training_job_id)
    task = _task_of(job, task_id)
    content_type = (request.content_type or "text/plain").lower()
    if content_type not in ("text/plain", "application/octet-stream"):
        raise ApiError(
            "ModelArts.0202",
            _("Content-Type: use text/plain for a preview link or application/octet-stream for a download link."),
        )
    if task.started_at is None and not task.log_bytes:
        raise ApiError(
            "ModelArts.1009",
            _("%(task)s has not started yet, so it has no log. Ask again once the job is Running.")
            % {"task": task.name},
        )
    disposition = logs.DOWNLOAD if content_type == "application/octet-stream" else logs.PREVIEW
    return Status(200, {"obs_url": logs.signed_log_url(request, job=job, task_name=task.name, disposition=disposition)})


@router.get(
    "/v2/{project_id}/training-jobs/{training_job_id}/metrics/{task_id}",
    response=with_errors({200: MetricsOut}, *AUTHED, 404),
    summary="Get the metrics of a task",
    description="One value per sample, oldest first; -1 where there was no data (not started yet, no GPU/NPU).",
    exclude_unset=True,
)
def training_metrics(request, project_id: str, training_job_id: str, task_id: str):
    scope = scope_for(request.auth, project_id)
    job = _job_in_project(scope, training_job_id)
    task = _task_of(job, task_id)
    body = selectors.task_metrics(task)
    for series in body["metrics"]:
        # -1 as the seed writes it (an integer), not -1.0.
        series["value"] = [-1 if value == -1 else value for value in series["value"]]
    return Status(200, body)


# --- scalars the script logged (ours, not the seed's) ---------------------------------------


class ScalarQuery(Schema):
    name: str | None = Field(default=None, max_length=200, description="Only this metric (default: every one).")
    x: Literal["step", "time"] = Field(default="step", description="x values: steps, or Unix seconds of wall time.")
    max_points: int = Field(default=2000, ge=3, le=20000, description="Points per task and metric (downsampled).")


class ScalarTaskSeriesOut(Schema):
    task: str = Field(description="worker-0 … worker-N-1")
    xs: list[float]
    ys: list[float]
    points: int = Field(description="Points stored for this task and metric.")
    shown: int = Field(description="Points returned after downsampling (LTTB keeping first, last, min and max).")


class ScalarSeriesOut(Schema):
    name: str
    x: str
    downsampled: bool
    tasks: list[ScalarTaskSeriesOut]


class ScalarsOut(Schema):
    names: list[str]
    capped: bool = Field(description="The job reached TRAINING_SCALAR_CAP points: later points were not stored.")
    scalars: list[ScalarSeriesOut]


@router.get(
    "/v2/{project_id}/training-jobs/{training_job_id}/scalars",
    response=with_errors({200: ScalarsOut}, *AUTHED, 404),
    summary="Get the scalars a job's script logged (loss, accuracy…)",
    description=(
        "Console extension. Scalars from TensorBoard event files and `MA_METRIC {json}` lines of the job's"
        " tasks, one curve per task, downsampled on the server to `max_points`."
    ),
)
def training_scalars(request, project_id: str, training_job_id: str, query: Query[ScalarQuery]):
    scope = scope_for(request.auth, project_id)
    job = _job_in_project(scope, training_job_id)
    names = metrics.scalar_names(job)
    shown = [n for n in names if n == query.name] if query.name else names
    return Status(
        200,
        {
            "names": names,
            "capped": metrics.scalar_usage(job)["capped"],
            "scalars": [metrics.scalar_series(job, n, x=query.x, max_points=query.max_points) for n in shown],
        },
    )
