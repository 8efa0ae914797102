"""Notebook reads, scoped to the project (members see the project's notebooks; only owners open them)."""

from __future__ import annotations

import uuid

from django.db.models import Prefetch, QuerySet

from console.accounts.selectors import project_role
from console.notebooks.models import Image, NodeImage, Notebook
from console.notebooks.states import State


def image_list(*, name: str | None = None, image_type: str | None = None) -> list[Image]:
    images = Image.objects.filter(enabled=True).prefetch_related(
        Prefetch("node_images", queryset=NodeImage.objects.select_related("node"))
    )
    if name:
        images = images.filter(name__icontains=name)
    if image_type:
        images = images.filter(type=image_type)
    return list(images.order_by("name"))


def notebook_list(*, user, project, status=None, name=None, owner=None) -> QuerySet[Notebook]:
    if project_role(user=user, project=project) is None:
        return Notebook.objects.none()
    rows = (
        Notebook.objects.filter(project=project).exclude(state=State.DELETED).select_related("image", "pool", "owner")
    )
    if status:
        rows = rows.filter(state=status)
    if name:
        rows = rows.filter(name__icontains=name)
    if owner:
        rows = rows.filter(owner__username=owner)
    return rows


def notebook_get_or_none(*, user, project, notebook_id) -> Notebook | None:
    try:
        key = uuid.UUID(str(notebook_id))
    except ValueError:
        return None
    if project_role(user=user, project=project) is None:
        return None
    return (
        Notebook.objects.filter(project=project, uuid=key)
        .exclude(state=State.DELETED)
        .select_related("image", "pool", "owner", "project", "node")
        .first()
    )
