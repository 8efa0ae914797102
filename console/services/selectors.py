"""Service reads, scoped to the project (every member reads its services; viewers change nothing)."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from console.accounts.selectors import project_role
from console.services.models import Service


def service_list(*, user, project, status=None, name=None) -> QuerySet[Service]:
    if project_role(user=user, project=project) is None:
        return Service.objects.none()
    rows = Service.objects.filter(project=project).select_related("version", "version__model", "pool", "owner")
    if status:
        rows = rows.filter(status=status)
    if name:
        rows = rows.filter(name__icontains=name)
    return rows


def service_get_or_none(*, user, project, service_id) -> Service | None:
    try:
        key = uuid.UUID(str(service_id))
    except ValueError:
        return None
    if project_role(user=user, project=project) is None:
        return None
    return (
        Service.objects.filter(project=project, service_id=key)
        .select_related("version", "version__model", "pool", "owner", "project")
        .first()
    )
