"""Reads of lineage (job ↔ model version), both directions, and the panel training adds to a version's page."""

from __future__ import annotations

from django.template.loader import render_to_string

from console.training.models import JobOutputVersion, TrainingJob


def job_produced_versions(job: TrainingJob) -> list[JobOutputVersion]:
    """The versions registered from this job's outputs (newest first), with their models."""
    return list(JobOutputVersion.objects.filter(job=job).select_related("version__model"))


def version_lineage(version) -> dict:
    """What training knows of a version: the job that produced it, the jobs that took it as input."""
    produced = JobOutputVersion.objects.filter(version=version).select_related("job").first()
    used_by = list(
        TrainingJob.objects.filter(model_version=version, deleted_at__isnull=True)
        .only("uuid", "name", "phase", "created_at", "project_id")
        .order_by("-created_at")[:20]
    )
    return {"produced": produced, "used_by": used_by}


def version_panel(*, request, version) -> str:
    """The "Lineage" section of a version's page (registered in TrainingConfig.ready)."""
    lineage = version_lineage(version)
    if lineage["produced"] is None and not lineage["used_by"]:
        return ""
    # A job deleted since keeps its name on the link row; only a live one is linked.
    produced = lineage["produced"]
    live_job = produced.job if produced is not None and produced.job and produced.job.deleted_at is None else None
    context = {**lineage, "live_job": live_job, "project": version.model.project}
    return render_to_string("training/_version_lineage.html", context, request=request)
