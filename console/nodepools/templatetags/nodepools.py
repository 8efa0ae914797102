from django import template
from django.urls import NoReverseMatch, reverse

register = template.Library()


@register.simple_tag
def job_url(job) -> str:
    """The job's page in its project, when the training pages exist ("" otherwise: shown as plain text)."""
    for kwargs in (
        {"project_id": job.project.project_id, "job_id": job.uuid},
        {"project_id": job.project.project_id, "job_id": job.pk},
    ):
        try:
            return reverse("training:job_detail", kwargs=kwargs)
        except NoReverseMatch:
            continue
    return ""
