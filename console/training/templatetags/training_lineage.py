"""Lineage on a job's page: the model versions registered from its outputs."""

from django import template

from console.training.lineage import job_produced_versions

register = template.Library()


@register.simple_tag
def produced_versions(job):
    # Only a completed job can produce versions: an active job (polled every 2 s) costs no query.
    if job.phase != "Completed":
        return []
    return job_produced_versions(job)
