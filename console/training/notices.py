"""Notices of the owner's jobs that ended (Completed, Failed, Abnormal) since they last looked.

Every console page asks for them after it loaded, and every 30 s while it stays open (base.html
holds an element that HTMX fills from ``job_notices_url``, given by the context processor
below, which itself costs no query): a page's own query budget is untouched, and each ask is one
query (the user's jobs by created_by, newest end first, at most MAX_NOTICES). "Since they last
looked" is a time in the session: set on the first ask of a session (nothing old is announced),
moved to the query's time whenever notices were shown (each is shown once).
"""

from __future__ import annotations

from datetime import datetime

from django.urls import reverse
from django.utils import timezone

from console.training.models import TrainingJob
from console.training.phases import PHASE_BADGE, Phase

SESSION_KEY = "training_jobs_seen_at"
MAX_NOTICES = 5
NOTICE_PHASES = (Phase.COMPLETED, Phase.FAILED, Phase.ABNORMAL)


def jobs_ended_since(*, user, since: datetime, limit: int = MAX_NOTICES) -> list[TrainingJob]:
    """The user's own jobs that finished or failed after ``since`` (one query)."""
    return list(
        TrainingJob.objects.filter(
            created_by=user, end_time__gt=since, phase__in=NOTICE_PHASES, deleted_at__isnull=True
        )
        .select_related("project")
        .only("uuid", "name", "phase", "phase_reason", "end_time", "project__project_id", "project__name")
        .order_by("-end_time")[:limit]
    )


def _notices(request) -> list[dict]:
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    if user is None or not user.is_authenticated or session is None:
        return []
    now = timezone.now()
    seen = session.get(SESSION_KEY)
    try:
        since = datetime.fromisoformat(seen) if seen else None
    except (TypeError, ValueError):
        since = None
    if since is None:
        session[SESSION_KEY] = now.isoformat()
        return []
    jobs = jobs_ended_since(user=user, since=since)
    if not jobs:
        return []
    session[SESSION_KEY] = now.isoformat()
    return [
        {
            "name": job.name,
            "phase": job.phase,
            "label": job.get_phase_display(),
            "badge": PHASE_BADGE.get(job.phase, "muted"),
            "reason": job.phase_reason if job.phase != Phase.COMPLETED else "",
            "project": job.project.name,
            "url": reverse("training:job_detail", kwargs={"project_id": job.project.project_id, "job_id": job.uuid}),
        }
        for job in jobs
    ]


def job_notices(request) -> dict:
    """Context processor: where base.html asks for the notices (signed-in users only; no query)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"job_notices_url": reverse("training:job_notices")}


def notices_for(request) -> list[dict]:
    return _notices(request)
