"""Pages that build on finished jobs: compare 2–5 jobs, create a similar job, register an output as a model version."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from console.accounts.models import Role
from console.accounts.permissions import can, project_view
from console.core.htmx import redirect_after_post
from console.storage import gate
from console.training import compare, selectors
from console.training import views as job_views
from console.training.lineage_forms import RegisterVersionForm, rerun_initial
from console.training.notices import notices_for
from console.training.phases import Phase
from console.training.services.lineage import job_version_register


@project_view(Role.VIEWER)
@require_GET
def job_compare(request):
    """?jobs=<uuid>&jobs=<uuid>…: 2–5 jobs of this project side by side; otherwise back to the list with why."""
    try:
        jobs = compare.compare_jobs_get(user=request.user, project=request.project, job_ids=request.GET.getlist("jobs"))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("training:job_list", project_id=request.project.project_id)
    context = {"jobs": jobs, **compare.comparison(jobs=jobs)}
    return render(request, "training/compare.html", context)


@project_view(Role.MEMBER)
@require_GET
def job_rerun(request, job_id):
    """The job form prefilled from a job ("Create a similar job"); it posts to the ordinary create page."""
    job = selectors.job_get(user=request.user, project=request.project, job_id=job_id)
    algorithm = job_views._algorithm_from(request, job.algorithm.uuid if job.algorithm else None)  # noqa: SLF001
    form = job_views._job_form(request, algorithm=algorithm)  # noqa: SLF001
    form.initial = rerun_initial(job, algorithm=algorithm)
    if algorithm is None:
        messages.warning(request, _("The algorithm of %(name)s was deleted: choose an algorithm.") % {"name": job.name})
    context = {"form": form, "algorithm": algorithm, "has_algorithms": form.fields["algorithm"].queryset.exists(),
               "rerun_of": job}  # fmt: skip
    return render(request, "training/job_form.html", context)


@project_view(Role.MEMBER)
def job_register_version(request, job_id):
    """ "Register as model version": an output folder of a completed job becomes a new version (weight check as usual)."""
    job = selectors.job_get(user=request.user, project=request.project, job_id=job_id)
    if job.phase != Phase.COMPLETED or not job.outputs:
        raise Http404("Only a completed job with outputs can be registered.")
    form = RegisterVersionForm(request.POST if request.method == "POST" else None, job=job)
    if request.method == "POST" and form.is_valid():
        try:
            version = job_version_register(actor=request.user, job=job, **form.service_args())
        except ValidationError as error:
            _apply_errors(form, error)
        except gate.StorageRefused as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(
                request,
                _("%(model)s %(version)s registered from %(job)s; its weight check runs now.")
                % {"model": version.model.name, "version": version.label, "job": job.name},
            )
            return redirect_after_post(
                request, "versions:version_detail", project_id=request.project.project_id,
                model_id=version.model_id, number=version.number,
            )  # fmt: skip
    context = {"job": job, "form": form, "can_write": can(request, Role.MEMBER)}
    return render(request, "training/register_version.html", context)


# The services' field names that are not this form's.
_FIELD_ALIASES = {"weights_path": "subfolder", "name": "new_model_name", "confirm": None}


def _apply_errors(form, error: ValidationError) -> None:
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for field, texts in error.message_dict.items():
        target = _FIELD_ALIASES.get(field, field)
        form.add_error(target if target in form.fields else None, texts)


@login_required
@require_GET
def job_notices(request):
    """The signed-in user's jobs that ended since they last looked (console.training.notices); 204 when none."""
    notices = notices_for(request)
    if not notices:
        return HttpResponse(status=204)
    return render(request, "training/_job_notices.html", {"job_notices": notices})
