"""Service pages (thin: forms → services → redirect; HTMX refreshes the live parts).

"Try it" streams from the service's public address (/v1/infers/<id>/v1/chat/completions) with a
short-lived API key made for the signed-in member (try_key): the browser talks to the same door
as any client, so what it shows is what a caller gets.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from console.accounts.models import Role
from console.accounts.permissions import can, project_view
from console.core.htmx import redirect_after_post, render_page
from console.nodepools.models import Pool
from console.services import charts, selectors, services
from console.services.flavors import flavor_list
from console.services.models import InstanceLogChunk, Service, ServiceApiKey
from console.services.services import ServiceSpec
from console.services.states import ENDED, SCALABLE, ServiceStatus
from console.versions.models import ModelVersion


def _errors(error: ValidationError) -> dict:
    """Field → messages; refusals that name no field under "general" (templates cannot read "__all__")."""
    errors = dict(error.message_dict) if hasattr(error, "error_dict") else {"general": error.messages}
    errors["general"] = errors.pop("__all__", []) + errors.get("general", [])
    return errors


@project_view(Role.VIEWER)
@require_GET
def service_list(request):
    rows = list(selectors.service_list(user=request.user, project=request.project))
    context = {"services": rows, "can_write": can(request, Role.MEMBER)}
    return render_page(request, "services/list.html", context, fragment="service-table")


def _service(request, service_id) -> Service:
    service = selectors.service_get_or_none(user=request.user, project=request.project, service_id=service_id)
    if service is None:
        raise Http404(_("There is no service %(id)s in this project.") % {"id": service_id})
    return service


@project_view(Role.VIEWER)
@require_GET
def service_detail(request, service_id):
    service = _service(request, service_id)
    instances = list(service.instances.select_related("node").order_by("slot"))
    for instance in instances:
        instance.wanted = instance.slot < service.instance_count
    shown = [i for i in instances if i.wanted or i.state not in ENDED]
    base = request.build_absolute_uri(service.access_address)
    context = {
        "service": service,
        "instances": shown,
        "events": service.events.order_by("-at", "-pk")[:50],
        "keys": service.api_keys.filter(expires_at__isnull=True).order_by("-created_at"),
        "can_write": can(request, Role.MEMBER),
        "scalable": service.status in SCALABLE,
        "startable": service.status in (ServiceStatus.STOPPED, ServiceStatus.FAILED),
        "base_url": base,
        "new_key": request.session.pop(f"service-key-{service.pk}", None),
        "max_instances": services.MAX_INSTANCES,
    }
    return render_page(request, "services/detail.html", context, fragment="service-live")


@project_view(Role.VIEWER)
@require_GET
def service_charts(request, service_id):
    """The detail page's live charts (JSON, polled): requests/s, mean latency (ms), tokens/s; t in ms."""
    service = _service(request, service_id)
    return JsonResponse({"service_id": str(service.service_id), **charts.service_series(service)})


@project_view(Role.VIEWER)
@require_GET
def instance_log(request, service_id, instance_id):
    service = _service(request, service_id)
    instance = get_object_or_404(service.instances, pk=instance_id)
    text = "".join(InstanceLogChunk.objects.filter(instance=instance).values_list("text", flat=True))
    context = {"service": service, "instance": instance, "log": text}
    return render_page(request, "services/log.html", context, fragment="log")


@project_view(Role.MEMBER)
def service_deploy(request, version_id):
    version = get_object_or_404(
        ModelVersion.objects.select_related("model"), pk=version_id, model__project=request.project
    )
    pools = list(Pool.objects.order_by("name"))
    default_pool = next((p for p in pools if p.is_default), pools[0] if pools else None)
    errors: dict = {}
    values = {
        "service_name": f"{version.model.name}-{version.label}".replace(".", "-")[:64],
        "description": "",
        "pool": default_pool.name if default_pool else "",
        "specification": settings.SERVICE_FLAVORS[0]["flavor_id"] if settings.SERVICE_FLAVORS else "",
        "instance_count": "1",
    }
    if request.method == "POST":
        values.update({k: request.POST.get(k, "").strip() for k in values})
        count = values["instance_count"]
        try:
            count = int(count) if count.lstrip("-").isdigit() else count
        except ValueError:
            pass
        try:
            service = services.service_deploy(
                actor=request.user,
                project=request.project,
                spec=ServiceSpec(
                    name=values["service_name"],
                    description=values["description"],
                    version=version,
                    flavor_id=values["specification"],
                    instance_count=count,
                    pool_name=values["pool"] or None,
                ),
            )
        except ValidationError as error:
            errors = _errors(error)
        except PermissionDenied as error:
            errors = {"general": [str(error)]}
        else:
            messages.success(request, _("Service %(name)s is deploying.") % {"name": service.name})
            return redirect_after_post(
                request, "services:detail", project_id=request.project.project_id, service_id=service.service_id
            )
    context = {
        "version": version,
        "pools": pools,
        "flavors": flavor_list(),
        "values": values,
        "errors": errors,
        "version_problem": services.version_status_error(version),
        "max_instances": services.MAX_INSTANCES,
    }
    return render_page(request, "services/deploy.html", context, fragment="form", status=400 if errors else 200)


@project_view(Role.MEMBER)
@require_POST
def service_action(request, service_id, action):
    service = _service(request, service_id)
    try:
        if action == "stop":
            services.service_stop(actor=request.user, service=service)
        elif action == "start":
            services.service_start(actor=request.user, service=service)
        elif action == "scale":
            raw = request.POST.get("instance_count", "").strip()
            count = int(raw) if raw.lstrip("-").isdigit() else raw
            services.service_scale(actor=request.user, service=service, instance_count=count)
            messages.success(request, _("Scaling to %(count)s instance(s).") % {"count": count})
        elif action == "delete":
            services.service_delete(actor=request.user, service=service, confirm=request.POST.get("confirm"))
            messages.success(request, _("Service %(name)s was deleted.") % {"name": service.name})
            return redirect_after_post(request, "services:list", project_id=request.project.project_id)
        elif action == "keys":
            raw, key = services.api_key_create(actor=request.user, service=service, name=request.POST.get("name", ""))
            # Shown once, on the next page load, then gone from the session.
            request.session[f"service-key-{service.pk}"] = raw
        else:
            raise Http404
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    except PermissionDenied as error:
        messages.error(request, str(error))
    return redirect_after_post(
        request, "services:detail", project_id=request.project.project_id, service_id=service.service_id
    )


@project_view(Role.MEMBER)
@require_POST
def try_key(request, service_id):
    service = _service(request, service_id)
    try:
        raw, key = services.try_key_create(actor=request.user, service=service)
    except (ValidationError, PermissionDenied) as error:
        return JsonResponse({"error": str(error)}, status=403)
    return JsonResponse(
        {
            "api_key": raw,
            "expires_at": key.expires_at.isoformat(),
            "url": f"{service.access_address}/v1/chat/completions",
            "model": service.served_name,
        }
    )


@project_view(Role.MEMBER)
@require_POST
def key_revoke(request, service_id, key_id):
    service = _service(request, service_id)
    key = get_object_or_404(ServiceApiKey, pk=key_id, service=service)
    try:
        services.api_key_revoke(actor=request.user, key=key)
        messages.success(request, _("API key %(prefix)s… was revoked.") % {"prefix": key.prefix})
    except PermissionDenied as error:
        messages.error(request, str(error))
    return redirect_after_post(
        request, "services:detail", project_id=request.project.project_id, service_id=service.service_id
    )


def version_panel(*, request, version) -> str:
    """The version page's section: its services and a Deploy button (registered in ServicesConfig.ready)."""
    rows = list(Service.objects.filter(version=version).order_by("-created_at")[:20])
    return render_to_string(
        "services/_version_panel.html",
        {
            "version": version,
            "services": rows,
            "can_write": can(request, Role.MEMBER),
            "version_problem": services.version_status_error(version),
            "project_id": version.model.project.project_id,
        },
        request=request,
    )
