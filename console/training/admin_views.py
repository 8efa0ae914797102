"""Site administrators' pages: flavors, engines and the registered nodes."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from console.accounts.permissions import site_admin_required
from console.core.forms import apply_validation_error
from console.core.htmx import redirect_after_post
from console.training import selectors
from console.training.forms import EngineForm, EngineTagsForm, FlavorForm
from console.training.models import Engine, Flavor
from console.training.services import (
    engine_create,
    engine_delete,
    engine_set_enabled,
    engine_set_tags,
    flavor_create,
    flavor_delete,
    flavor_update,
    flavors_with_max_num,
)


@site_admin_required
@require_GET
def flavor_list(request):
    flavors = flavors_with_max_num(pool=None, enabled_only=False)
    return render(request, "training/admin/flavor_list.html", {"flavors": flavors})


@site_admin_required
def flavor_edit(request, pk=None):
    flavor = get_object_or_404(Flavor, pk=pk) if pk else None
    form = FlavorForm(request.POST or None, instance=flavor)
    if flavor is not None:
        form.fields["flavor_id"].disabled = True
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "flavor_id"}
        try:
            if flavor is None:
                saved = flavor_create(actor=request.user, flavor_id=form.cleaned_data["flavor_id"], **data)
            else:
                saved = flavor_update(actor=request.user, flavor=Flavor.objects.get(pk=flavor.pk), **data)
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("Flavor %(id)s saved.") % {"id": saved.flavor_id})
            return redirect_after_post(request, "training:flavor_list")
    return render(request, "training/admin/flavor_form.html", {"form": form, "flavor": flavor})


@site_admin_required
@require_POST
def flavor_delete_view(request, pk):
    flavor = get_object_or_404(Flavor, pk=pk)
    try:
        flavor_delete(actor=request.user, flavor=flavor)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Flavor %(id)s deleted.") % {"id": flavor.flavor_id})
    return redirect_after_post(request, "training:flavor_list")


@site_admin_required
def engine_list(request):
    form = EngineForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            engine = engine_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(
                request,
                _("Engine %(id)s registered; nodes that have %(path)s offer it from their next heartbeat.")
                % {"id": engine.engine_id, "path": engine.python_path},
            )
            return redirect_after_post(request, "training:engine_list")
    engines = selectors.engine_list(enabled_only=False)
    return render(request, "training/admin/engine_list.html", {"engines": engines, "form": form})


@site_admin_required
@require_POST
def engine_toggle(request, pk):
    engine = get_object_or_404(Engine, pk=pk)
    engine_set_enabled(actor=request.user, engine=engine, enabled=not engine.enabled)
    return redirect_after_post(request, "training:engine_list")


@site_admin_required
@require_POST
def engine_tags(request, pk):
    """Set an engine's tags (the API's engine ``tags``), detected engines included."""
    engine = get_object_or_404(Engine, pk=pk)
    form = EngineTagsForm(request.POST)
    if form.is_valid():
        try:
            engine_set_tags(actor=request.user, engine=engine, tags=form.cleaned_data["tags"])
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Tags of engine %(id)s saved.") % {"id": engine.engine_id})
    else:
        messages.error(request, " ".join(m for errors in form.errors.values() for m in errors))
    return redirect_after_post(request, "training:engine_list")


@site_admin_required
@require_POST
def engine_delete_view(request, pk):
    engine = get_object_or_404(Engine, pk=pk)
    try:
        engine_delete(actor=request.user, engine=engine)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Engine %(id)s deleted.") % {"id": engine.engine_id})
    return redirect_after_post(request, "training:engine_list")


@site_admin_required
@require_GET
def node_list(request):
    return render(request, "training/admin/node_list.html", {"nodes": selectors.node_list()})
