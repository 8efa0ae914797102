"""Pages of a model with its versions (create with V1, detail, delete), of versions and of
task records. Live parts poll while non-terminal and get 286 when done.

The model pages keep their "mymodels:" URL names (console/urls.py registers
``model_urlpatterns`` there); the others are "versions:".
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from console.accounts.models import Role
from console.accounts.permissions import can, project_view
from console.core.forms import apply_validation_error
from console.core.htmx import is_partial, redirect_after_post, render_page
from console.mymodels.forms import ConfirmDeleteForm, ModelCreateForm
from console.mymodels.models import STATUS_BADGE, STATUS_SEED_LABELS
from console.mymodels.selectors import catalog_series, model_get
from console.versions import selectors, services
from console.versions.forms import VersionCreateForm
from console.versions.models import MAX_VERSIONS_PER_MODEL, RECORD_BADGE, RECORD_SEED_LABELS

# HTMX: 286 = "stop polling" (the content is still swapped in).
STOP_POLLING = 286


def _labels():
    return {
        "status_labels": STATUS_SEED_LABELS,
        "status_badges": STATUS_BADGE,
        "record_labels": RECORD_SEED_LABELS,
        "record_badges": RECORD_BADGE,
    }


# --- a model with its versions ------------------------------------------------------------


@project_view(Role.MEMBER)
def model_create(request):
    if request.method == "POST":
        form = ModelCreateForm(request.POST, project=request.project, user=request.user)
        if form.is_valid():
            try:
                model = services.model_create(actor=request.user, project=request.project, **form.cleaned_data)
            except ValidationError as error:
                apply_validation_error(form, error)
            else:
                messages.success(request, _("Model “%(name)s” created with version V1.") % {"name": model.name})
                return redirect_after_post(
                    request, "mymodels:model_detail", project_id=request.project.project_id, model_id=model.pk
                )
    else:
        initial = {}
        if request.GET.get("base_version"):
            initial["base_version"] = request.GET["base_version"]
        form = ModelCreateForm(initial=initial, project=request.project, user=request.user)
    return render_page(
        request,
        "mymodels/model_form.html",
        {"form": form, "series_rows": catalog_series(), "chosen": form.base_version_choice},
        fragment="model-form",
    )


def _model_context(request, model, *, delete_form=None, blockers=None):
    return {
        "model": model,
        "versions": list(selectors.version_list(model=model)),
        "max_versions": MAX_VERSIONS_PER_MODEL,
        "can_edit": can(request, Role.MEMBER),
        "delete_form": delete_form or ConfirmDeleteForm(),
        "blockers": blockers or [],
        "status_labels": STATUS_SEED_LABELS,
        "status_badges": STATUS_BADGE,
    }


@require_GET
@project_view(Role.VIEWER)
def model_detail(request, model_id: int):
    model = model_get(project=request.project, model_id=model_id)
    return render_page(
        request, "versions/model_detail.html", _model_context(request, model), fragment="versions-section"
    )


@require_POST
@project_view(Role.MEMBER)
def model_delete(request, model_id: int):
    model = model_get(project=request.project, model_id=model_id)
    form = ConfirmDeleteForm(request.POST)
    form.is_valid()
    try:
        services.model_delete(actor=request.user, model=model, confirm=form.cleaned_data.get("confirm", ""))
    except ValidationError as error:
        apply_validation_error(form, error)
        context = _model_context(request, model, delete_form=form, blockers=getattr(error, "records", []))
        context["body_only"] = is_partial(request)
        # The dialog again, open, with the reason and the blocking records (nothing changed).
        return render_page(request, "versions/model_detail.html", context, fragment="model-delete-dialog")
    messages.success(
        request,
        _("Model “%(name)s” deleted. Its weight files in storage were not touched.") % {"name": model.name},
    )
    return redirect_after_post(request, "mymodels:model_list", project_id=request.project.project_id)


# --- versions and task records ------------------------------------------------------------


@project_view(Role.MEMBER)
def version_create(request, model_id: int):
    model = model_get(project=request.project, model_id=model_id)
    if request.method == "POST":
        form = VersionCreateForm(request.POST, model=model, user=request.user)
        if form.is_valid():
            try:
                version = services.version_create(actor=request.user, model=model, **form.cleaned_data)
            except ValidationError as error:
                apply_validation_error(form, error)
            else:
                messages.success(request, _("Version %(v)s added.") % {"v": version.label})
                return redirect_after_post(
                    request, "mymodels:model_detail", project_id=request.project.project_id, model_id=model.pk
                )
    else:
        form = VersionCreateForm(model=model, user=request.user)
    return render_page(
        request,
        "versions/version_form.html",
        {
            "model": model,
            "form": form,
            "chosen": form.base_version_choice,
            "next_number": model.version_counter + 1,
            "version_count": model.version_count,
            "max_versions": MAX_VERSIONS_PER_MODEL,
        },
        fragment="version-form",
    )


def _version_context(request, model, version, **extra):
    records = list(selectors.record_list(version=version))
    return {
        "model": model,
        "version": version,
        "records": records,
        # Poll while anything shown can still change.
        "live": not version.is_terminal or any(not record.is_finished for record in records),
        "can_edit": can(request, Role.MEMBER),
        "version_count": model.version_count,
        **_labels(),
        **extra,
    }


@require_GET
@project_view(Role.VIEWER)
def version_detail(request, model_id: int, number: int):
    model = model_get(project=request.project, model_id=model_id)
    version = selectors.version_get(model=model, number=number)
    context = _version_context(request, model, version, delete_form=ConfirmDeleteForm())
    # Polling asks for the live part; once nothing in it can change, tell htmx to stop.
    status = STOP_POLLING if is_partial(request) and not context["live"] else 200
    return render_page(request, "versions/version_detail.html", context, fragment="version-live", status=status)


@require_GET
@project_view(Role.VIEWER)
def version_row(request, model_id: int, number: int):
    """One row of the model page's 我的版本 table, polled while the version is 创建中."""
    model = model_get(project=request.project, model_id=model_id)
    version = selectors.version_get(model=model, number=number)
    return render(
        request,
        "versions/_version_row.html",
        # The model's derived status may change with this version: refreshed out of band.
        {"model": model, "version": version, "refresh_model_status": True, **_labels()},
        status=STOP_POLLING if version.is_terminal else 200,
    )


@require_POST
@project_view(Role.MEMBER)
def version_delete(request, model_id: int, number: int):
    model = model_get(project=request.project, model_id=model_id)
    version = selectors.version_get(model=model, number=number)
    form = ConfirmDeleteForm(request.POST)
    form.is_valid()
    try:
        services.version_delete(actor=request.user, version=version, confirm=form.cleaned_data.get("confirm", ""))
    except ValidationError as error:
        apply_validation_error(form, error)
        context = _version_context(request, model, version, delete_form=form, blockers=getattr(error, "records", []))
        context["body_only"] = is_partial(request)
        return render_page(request, "versions/version_detail.html", context, fragment="version-delete-dialog")
    messages.success(
        request,
        _("Version %(v)s deleted. Its weight files in storage were not touched; its number is not reused.")
        % {"v": version.label},
    )
    return redirect_after_post(
        request, "mymodels:model_detail", project_id=request.project.project_id, model_id=model.pk
    )


@require_POST
@project_view(Role.MEMBER)
def version_revalidate(request, model_id: int, number: int):
    model = model_get(project=request.project, model_id=model_id)
    version = selectors.version_get(model=model, number=number)
    try:
        services.weight_validation_rerun(actor=request.user, version=version)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("The weight check of %(v)s runs again.") % {"v": version.label})
    return redirect_after_post(
        request, "versions:version_detail", project_id=request.project.project_id, model_id=model.pk, number=number
    )


@require_GET
@project_view(Role.VIEWER)
def record_detail(request, model_id: int, number: int, record_id: int):
    model = model_get(project=request.project, model_id=model_id)
    version = selectors.version_get(model=model, number=number)
    record = selectors.record_get(version=version, record_id=record_id)
    status = STOP_POLLING if is_partial(request) and record.is_finished else 200
    return render_page(
        request,
        "versions/record_detail.html",
        {"model": model, "version": version, "record": record, "can_edit": can(request, Role.MEMBER), **_labels()},
        fragment="record-live",
        status=status,
    )


@require_POST
@project_view(Role.MEMBER)
def record_delete(request, model_id: int, number: int, record_id: int):
    model = model_get(project=request.project, model_id=model_id)
    version = selectors.version_get(model=model, number=number)
    record = selectors.record_get(version=version, record_id=record_id)
    try:
        services.task_record_delete(actor=request.user, record=record)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Task record deleted."))
    return redirect_after_post(
        request, "versions:version_detail", project_id=request.project.project_id, model_id=model.pk, number=number
    )
