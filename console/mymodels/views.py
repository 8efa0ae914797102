"""Pages of the base-model catalog and the My Models list. Thin: parse, one service/selector, render.

The pages that show or change a model together with its versions (create with V1,
detail, delete) are the versions app's views, registered under the same
"mymodels:" URL names by console/urls.py.
"""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from console.accounts.models import Role
from console.accounts.permissions import can, project_view
from console.core.htmx import query_without_page, render_page
from console.core.paging import paginate_deferred
from console.mymodels import selectors
from console.mymodels.forms import ModelCreateForm, ModelFilterForm
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
            "page": paginate_deferred(request, rows),
            "query": query_without_page(request),
            "filter_form": form,
            "filtered": any(form.filters().values()) if form.is_bound else False,
            "can_create": can(request, Role.MEMBER),
            "status_labels": STATUS_SEED_LABELS,
            "status_badges": STATUS_BADGE,
        },
        fragment="model-table",
    )


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
def weight_config(request):
    """修改权重配置: for each family the 约束限制 note lists, what to change before custom weights run."""
    return render(request, "mymodels/weight_config.html", {"families": selectors.weight_config_series()})
