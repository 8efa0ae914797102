"""Notebook pages (thin: forms → services → redirect; HTMX refreshes the live parts)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from console.accounts.models import Role
from console.accounts.permissions import can, project_view
from console.core.htmx import redirect_after_post, render_page
from console.notebooks import rules, selectors, services
from console.notebooks.flavors import flavor_list
from console.notebooks.models import Notebook
from console.notebooks.services import NotebookSpec, automatic_stop_at
from console.notebooks.states import State


def _rows(request):
    rows = list(selectors.notebook_list(user=request.user, project=request.project).select_related("image"))
    for notebook in rows:
        notebook.stop_at = automatic_stop_at(notebook)
    return rows


@project_view(Role.VIEWER)
@require_GET
def notebook_list(request):
    rows = _rows(request)
    warned = [n for n in rows if n.owner_id == request.user.pk and n.lease_warned_at and n.state == State.RUNNING]
    context = {
        "notebooks": rows,
        "warned": warned,
        "can_write": can(request, Role.MEMBER),
        "cap": settings.NOTEBOOK_MAX_RUNNING_PER_USER,
    }
    return render_page(request, "notebooks/list.html", context, fragment="notebook-table")


@project_view(Role.VIEWER)
@require_GET
def notebook_warnings(request):
    """The owner's lease/idle warnings, fetched by every project page (base.html) after it loads."""
    mine = selectors.notebook_list(user=request.user, project=request.project).filter(
        owner=request.user, state=State.RUNNING, lease_warned_at__isnull=False
    )
    rows = list(mine)
    for notebook in rows:
        notebook.stop_at = automatic_stop_at(notebook)
    return render(request, "notebooks/_warning.html", {"warned": rows})


def _notebook(request, notebook_id) -> Notebook:
    notebook = selectors.notebook_get_or_none(user=request.user, project=request.project, notebook_id=notebook_id)
    if notebook is None:
        raise Http404(_("There is no notebook %(id)s in this project.") % {"id": notebook_id})
    return notebook


@project_view(Role.VIEWER)
@require_GET
def notebook_detail(request, notebook_id):
    notebook = _notebook(request, notebook_id)
    notebook.stop_at = automatic_stop_at(notebook)
    is_owner = notebook.owner_id == request.user.pk
    is_admin = can(request, Role.ADMIN)
    actions = {
        a: rules.can(notebook.state, a) and (is_owner or (is_admin and a in (rules.STOP, rules.DELETE)))
        for a in rules.ACTIONS
    }
    context = {
        "notebook": notebook,
        "events": notebook.events.order_by("-at", "-pk")[:50],
        "log": "".join(notebook.log_chunks.values_list("text", flat=True)) if is_owner else "",
        "is_owner": is_owner,
        "actions": actions,
        "remaining_ms": services.lease_remaining_ms(notebook),
    }
    return render_page(request, "notebooks/detail.html", context, fragment="notebook-live")


@project_view(Role.MEMBER)
def notebook_create(request):
    images = selectors.image_list()
    errors: dict = {}
    values = {
        "name": "",
        "description": "",
        "image_id": str(images[0].image_id) if images else "",
        "flavor": "",
        "lease_hours": "1",
        "lease_type": "TIMING",
        "data_folder": "",
    }
    if request.method == "POST":
        values.update({k: request.POST.get(k, "").strip() for k in values})
        try:
            hours = int(values["lease_hours"])
            duration = hours * 3_600_000
        except ValueError:
            duration = values["lease_hours"]
        try:
            notebook = services.notebook_create(
                actor=request.user,
                project=request.project,
                spec=NotebookSpec(
                    name=values["name"],
                    description=values["description"],
                    flavor_id=values["flavor"],
                    image_id=values["image_id"],
                    lease_type=values["lease_type"],
                    lease_duration_ms=duration,
                    data_path=values["data_folder"],
                ),
            )
        except ValidationError as error:
            errors = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
        except PermissionDenied as error:
            errors = {"__all__": [str(error)]}
        else:
            messages.success(request, _("Notebook %(name)s is being created.") % {"name": notebook.name})
            return redirect_after_post(
                request, "notebooks:detail", project_id=request.project.project_id, notebook_id=notebook.uuid
            )
    context = {
        "images": images,
        "flavors": flavor_list(),
        "values": values,
        "errors": errors,
        "cap": settings.NOTEBOOK_MAX_RUNNING_PER_USER,
    }
    return render_page(request, "notebooks/create.html", context, fragment="form", status=400 if errors else 200)


@project_view(Role.MEMBER)
@require_POST
def notebook_action(request, notebook_id, action):
    notebook = _notebook(request, notebook_id)
    try:
        if action == rules.STOP:
            services.notebook_stop(actor=request.user, notebook=notebook)
        elif action == rules.START:
            services.notebook_start(actor=request.user, notebook=notebook)
        elif action == rules.RENEW:
            hours = request.POST.get("hours", "1")
            services.notebook_lease_update(
                actor=request.user, notebook=notebook, duration_ms=int(hours) * 3_600_000 if hours.isdigit() else hours
            )
        elif action == rules.DELETE:
            if request.POST.get("confirm") != "DELETE":
                raise ValidationError(_("Type DELETE to confirm."))
            services.notebook_delete(actor=request.user, notebook=notebook)
            messages.success(request, _("Notebook %(name)s is being deleted.") % {"name": notebook.name})
            return redirect_after_post(request, "notebooks:list", project_id=request.project.project_id)
        else:
            raise Http404
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    except PermissionDenied as error:
        messages.error(request, str(error))
    return redirect_after_post(
        request, "notebooks:detail", project_id=request.project.project_id, notebook_id=notebook.uuid
    )
