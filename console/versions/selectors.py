"""Reads for versions and task records, always through a model the view already scoped
to its project (``console.mymodels.selectors.model_get``)."""

from __future__ import annotations

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404

from console.mymodels.models import ModelStatus
from console.versions.models import ModelVersion, TaskKind, TaskRecord


def _latest_checks():
    return Prefetch(
        "task_records",
        queryset=TaskRecord.objects.filter(kind=TaskKind.WEIGHT_VALIDATION).order_by("-created_at", "-id"),
        to_attr="validation_records",
    )


def version_list(*, model):
    """A model's versions (at most 10), each with its weight-check records newest first."""
    return (
        ModelVersion.objects.filter(model=model)
        .select_related("base_version__series", "created_by")
        .prefetch_related(_latest_checks())
        .order_by("number")
    )


def version_get(*, model, number: int) -> ModelVersion:
    return get_object_or_404(version_list(model=model), number=number)


def record_list(*, version):
    return TaskRecord.objects.filter(version=version).select_related("created_by").order_by("-created_at", "-id")


def record_get(*, version, record_id: int) -> TaskRecord:
    return get_object_or_404(TaskRecord.objects.select_related("created_by"), pk=record_id, version=version)


def blocking_records(*, model, version=None) -> list[TaskRecord]:
    """Records that keep a model (or one version) from being deleted: every task record,
    finished weight checks included (seed 删除我的模型: 当模型存在任务记录会删除失败). The user
    deletes the finished ones from the version page first."""
    rows = TaskRecord.objects.filter(version__model=model)
    if version is not None:
        rows = rows.filter(version=version)
    return list(rows.select_related("version").order_by("version__number", "created_at"))


def versions_usable(*, project):
    """Versions other apps may build on (training, inference): created successfully, in this project."""
    return (
        ModelVersion.objects.filter(model__project=project, status=ModelStatus.CREATED)
        .select_related("model", "base_version")
        .order_by("model__name", "number")
    )
