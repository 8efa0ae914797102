"""The URLs a Ray pool's bootstrap calls: its spec, its code and inputs, its outputs and log.

No session and no CSRF token (a script on a Ray node has neither): the signed credential in the
path is the only key, it names one task, and every path it reaches is checked to stay inside
that task's folders. Storage goes through the same gate as the console's own nodes.
"""

from __future__ import annotations

import logging

from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from console.storage import gate
from console.storage.backends import StorageError
from console.storage.paths import PathError, folder_key
from console.training.models import EventKind, JobEvent, TrainingTask
from console.training.ray_bootstrap import (
    CredentialRefused,
    folder_named,
    job_spec,
    object_key,
    storage_of,
    task_for_credential,
)

logger = logging.getLogger(__name__)


def _refused(message: str, status: int = 403) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@require_GET
def ray_spec(request, token):
    try:
        task = task_for_credential(token)
        return JsonResponse(job_spec(task, token))
    except CredentialRefused as refusal:
        return _refused(str(refusal))
    except gate.StorageRefused as refusal:
        return _refused(refusal.message)
    except (PathError, StorageError) as error:
        return _refused(f"The job's storage could not be read: {error}", status=502)


@csrf_exempt
@require_http_methods(["GET", "PUT"])
def ray_file(request, token, area, name, path):
    try:
        task = task_for_credential(token)
    except CredentialRefused as refusal:
        return _refused(str(refusal))
    writing = request.method == "PUT"
    if (area == "output") != writing or area not in ("code", "input", "output"):
        return _refused("Code and inputs are read, outputs are written.", status=405)
    folder = folder_named(task, area, name)
    if folder is None:
        raise Http404("The job has no such folder.")
    try:
        backend, base = storage_of(task, folder, gate.WRITE if writing else gate.READ)
        key = object_key(base, path)
        if not writing:
            if not key.startswith(folder_key(base.key)) or backend.stat(key) is None:
                raise Http404("No such file in the job's folder.")
            return FileResponse(backend.open_read(key), content_type="application/octet-stream")
        size = _content_length(request)
        written = backend.write_stream(key, request, size=size)
        TrainingTask.objects.filter(pk=task.pk).update(outputs_uploaded_at=timezone.now())
        return JsonResponse({"stored": written})
    except gate.StorageRefused as refusal:
        return _refused(refusal.message)
    except PathError as error:
        return _refused(f"Not a path inside the job's folder: {error}", status=400)
    except StorageError as error:
        logger.warning("Ray task %s: storage failed for %s/%s: %s", task.pk, area, name, error)
        return _refused(f"Storage failed: {error}", status=502)


@csrf_exempt
@require_http_methods(["PUT"])
def ray_log(request, token):
    try:
        task = task_for_credential(token)
    except CredentialRefused as refusal:
        return _refused(str(refusal))
    job = task.job
    if not job.log_export_path:
        raise Http404("The job exports no log.")
    try:
        backend, base = gate.storage_for_task(
            owner=job.created_by, project=job.project, path=job.log_export_path, access=gate.WRITE
        )
        key = object_key(base, f"modelarts-job-{job.uuid}-{task.name}.log")
        backend.write_stream(key, request, size=_content_length(request))
    except gate.StorageRefused as refusal:
        return _refused(refusal.message)
    except (PathError, StorageError) as error:
        return _refused(f"The log could not be exported: {error}", status=502)
    JobEvent.objects.create(
        job=job,
        at=timezone.now(),
        kind=EventKind.LOG_EXPORT,
        message=f"{task.name}: log exported to obs://{base.bucket}/{key}.",
        task_name=task.name,
    )
    return HttpResponse(status=204)


def _content_length(request) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
