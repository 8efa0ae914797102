"""Pages of the base-model catalog and My Models. Thin: parse, one service/selector, render."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from console.accounts.models import Role
from console.accounts.permissions import can, project_view
from console.core.forms import apply_validation_error
from console.core.htmx import is_partial, paginate, query_without_page, redirect_after_post, render_page
from console.mymodels import selectors, services
from console.mymodels.forms import ConfirmDeleteForm, ModelCreateForm, ModelFilterForm
from console.mymodels.models import STATUS_BADGE, STATUS_SEED_LABELS


@require_GET
@project_view(Role.VIEWER)
def catalog(request):
    filters = {key: request.GET.get(key, "").strip() for key in ("series", "type", "language", "scenario")}
    return render_page(
        request,
        "mymodels/catalog.html",
        {
            "rows": selectors.catalog_series(**filters),
            "filters": filters,
            "facets": selectors.catalog_facets(),
            "all_series": selectors.series_list(),
        },
        fragment="catalog-table",
    )


@require_GET
@project_view(Role.VIEWER)
def model_list(request):
    form = ModelFilterForm(request.GET or None)
    rows = selectors.model_list(project=request.project, **form.filters())
    return render_page(
        request,
        "mymodels/model_list.html",
        {
            "page": paginate(request, rows),
            "query": query_without_page(request),
            "filter_form": form,
            "filtered": any(form.filters().values()) if form.is_bound else False,
            "can_create": can(request, Role.MEMBER),
            "status_labels": STATUS_SEED_LABELS,
            "status_badges": STATUS_BADGE,
        },
        fragment="model-table",
    )


def _create_context(request, form):
    return {
        "form": form,
        "series_rows": selectors.catalog_series(),
        "chosen": form.base_version_choice,
    }


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
    return render_page(request, "mymodels/model_form.html", _create_context(request, form), fragment="model-form")


@require_GET
@project_view(Role.VIEWER)
def base_version_info(request):
    """The chosen base model's notes (约束限制, unsupported validation) and the validation
    toggle, swapped into the create / add-version form when the choice changes."""
    form = ModelCreateForm(
        initial={"base_version": request.GET.get("base_version", "")}, project=request.project, user=request.user
    )
    return render(
        request,
        "mymodels/_base_version_info.html",
        {"form": form, "chosen": form.base_version_choice, "standalone": True, "oob": True},
    )


@require_GET
@project_view(Role.VIEWER)
def model_detail(request, model_id: int):
    from console.versions.selectors import version_list

    model = selectors.model_get(project=request.project, model_id=model_id)
    return render_page(
        request,
        "mymodels/model_detail.html",
        _detail_context(request, model, versions=list(version_list(model=model))),
        fragment="versions-section",
    )


def _detail_context(request, model, *, versions, delete_form=None, blockers=None):
    from console.versions.models import MAX_VERSIONS_PER_MODEL

    return {
        "model": model,
        "versions": versions,
        "max_versions": MAX_VERSIONS_PER_MODEL,
        "can_edit": can(request, Role.MEMBER),
        "delete_form": delete_form or ConfirmDeleteForm(),
        "blockers": blockers or [],
        "status_labels": STATUS_SEED_LABELS,
        "status_badges": STATUS_BADGE,
    }


@require_POST
@project_view(Role.MEMBER)
def model_delete(request, model_id: int):
    from console.versions.selectors import version_list

    model = selectors.model_get(project=request.project, model_id=model_id)
    form = ConfirmDeleteForm(request.POST)
    form.is_valid()
    try:
        services.model_delete(actor=request.user, model=model, confirm=form.cleaned_data.get("confirm", ""))
    except ValidationError as error:
        apply_validation_error(form, error)
        context = _detail_context(
            request, model, versions=list(version_list(model=model)), delete_form=form,
            blockers=getattr(error, "records", []),
        )  # fmt: skip
        context["body_only"] = is_partial(request)
        # The dialog again, open, with the reason and the blocking records (nothing changed).
        return render_page(request, "mymodels/model_detail.html", context, fragment="model-delete-dialog")
    messages.success(
        request,
        _("Model “%(name)s” deleted. Its weight files in storage were not touched.") % {"name": model.name},
    )
    return redirect_after_post(request, "mymodels:model_list", project_id=request.project.project_id)
