"""Writing the audit log. Every administrative or destructive service calls `audit_record`."""

from typing import Any

from console.audit.models import AuditEntry
from console.core.request_context import current_request


def audit_record(
    *,
    actor,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    project=None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry:
    if obj is not None:
        object_type = object_type or obj._meta.model_name
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)
    request = current_request()
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=getattr(actor, "username", "") or "system",
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr[:255],
        project=project,
        project_name=project.name if project else "",
        before=before,
        after=after,
        ip_address=request.META.get("REMOTE_ADDR") if request else None,
        request_id=getattr(request, "request_id", "") if request else "",
    )
