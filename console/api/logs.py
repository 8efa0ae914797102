"""Temporary log links, like OBS presigned URLs: signed, valid 5 minutes, no token needed.

`GET …/tasks/{task_id}/logs/url` answers a link to one task's log. The link
carries an expiry and an HMAC over (job, task, disposition, expiry) keyed by
SECRET_KEY, so it opens exactly that log, in that way, until it expires — and
nothing else. `text/plain` asks for a preview (shown in the browser),
`application/octet-stream` for a download (saved as a file).
"""

from __future__ import annotations

import time
import uuid

from django.http import JsonResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from console.api.errors import error_body
from console.training.models import TrainingJob
from console.training.selectors import task_log_stream

LINK_LIFETIME_SECONDS = 5 * 60
PREVIEW, DOWNLOAD = "inline", "attachment"
_SALT = "console.api.training-log-link"


def log_file_name(job_uuid, task_name: str) -> str:
    # The seed's object name: modelarts-job-<job id>-worker-0.log
    return f"modelarts-job-{job_uuid}-{task_name}.log"


def _signature(job_uuid: str, task_name: str, disposition: str, expires: int) -> str:
    message = f"{job_uuid}\n{task_name}\n{disposition}\n{expires}"
    return salted_hmac(_SALT, message, algorithm="sha256").hexdigest()


def signed_log_url(request, *, job: TrainingJob, task_name: str, disposition: str, now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + LINK_LIFETIME_SECONDS)
    path = reverse(
        "api:training_log",
        kwargs={"job_id": job.uuid, "task_name": task_name, "file_name": log_file_name(job.uuid, task_name)},
    )
    query = urlencode(
        {
            "disposition": disposition,
            "Expires": expires,
            "Signature": _signature(str(job.uuid), task_name, disposition, expires),
        }
    )
    return request.build_absolute_uri(f"{path}?{query}")


def _refuse(code: str, message: str, status: int):
    return JsonResponse(error_body(code, message), status=status)


@require_GET
def training_log(request, job_id: uuid.UUID, task_name: str, file_name: str):
    """Serve one task's log to whoever holds a valid link (no session, no token)."""
    disposition = request.GET.get("disposition", "")
    expires_raw = request.GET.get("Expires", "")
    signature = request.GET.get("Signature", "")
    if disposition not in (PREVIEW, DOWNLOAD) or not expires_raw.isdigit() or not signature:
        return _refuse("ModelArts.1010", _("This log link is incomplete or was altered."), 403)
    expires = int(expires_raw)
    expected = _signature(str(job_id), task_name, disposition, expires)
    if not constant_time_compare(signature, expected) or file_name != log_file_name(job_id, task_name):
        return _refuse("ModelArts.1010", _("This log link is invalid: it was altered or is for another log."), 403)
    if expires < time.time():
        return _refuse(
            "ModelArts.1010",
            _("This log link expired (links last 5 minutes). Request a new one with GET …/logs/url."),
            403,
        )
    job = TrainingJob.objects.filter(uuid=job_id, deleted_at__isnull=True).first()
    task = job.tasks.filter(name=task_name).first() if job else None
    if task is None:
        return _refuse("ModelArts.1006", _("The training job of this log was deleted."), 404)

    response = StreamingHttpResponse(
        (text.encode("utf-8") for text in task_log_stream(task)),
        content_type="text/plain; charset=utf-8",
    )
    response["Content-Disposition"] = f'{disposition}; filename="{file_name}"'
    response["Cache-Control"] = "private, no-store"
    return response
