"""Reads for the catalog and My Models. Project-scoped reads take the project the
view resolved through ``@project_view`` (membership already checked)."""

from __future__ import annotations

from django.db.models import Case, CharField, Count, Prefetch, Q, Value, When
from django.shortcuts import get_object_or_404

from console.mymodels.models import BaseModelSeries, BaseModelVersion, ModelStatus, MyModel, pick


def catalog_series(*, series: str = "", type: str = "", language: str = "", scenario: str = ""):
    """Seed table 2, filterable; each series carries its active versions (one extra query)."""
    rows = BaseModelSeries.objects.prefetch_related(
        Prefetch("versions", queryset=BaseModelVersion.objects.filter(active=True).order_by("position", "slug"))
    )
    if series:
        rows = rows.filter(slug=series)
    for facet, value in (("type", type), ("language", language), ("scenario", scenario)):
        if value:
            rows = rows.filter(facets__contains=f"|{facet}:{value}|")
    return rows


def series_list():
    return BaseModelSeries.objects.all()


def catalog_facets() -> dict[str, list[tuple[str, str]]]:
    """Filter choices: (value = the seed's Chinese term, label in the user's language)."""
    options: dict[str, dict[str, str]] = {"type": {}, "language": {}, "scenario": {}}
    for row in BaseModelSeries.objects.all():
        options["type"].setdefault(row.type_zh, pick(row.type_zh, row.type_en))
        for zh, en in zip(row.languages_zh, row.languages_en, strict=False):
            options["language"].setdefault(zh, pick(zh, en))
        for zh, en in zip(row.scenarios_zh, row.scenarios_en, strict=False):
            options["scenario"].setdefault(zh, pick(zh, en))
    return {key: list(values.items()) for key, values in options.items()}


def base_version_choices():
    return BaseModelVersion.objects.filter(active=True).select_related("series")


def base_version_get(*, pk) -> BaseModelVersion | None:
    try:
        return BaseModelVersion.objects.select_related("series").filter(active=True, pk=int(pk)).first()
    except (TypeError, ValueError):
        return None


def model_list(*, project, search: str = "", status: str = "", series: str = ""):
    """The project's models with their version count and derived status, in one query.

    Status rule: 创建成功 if any version was created successfully (the model is usable);
    otherwise 创建中 while any version is being created; otherwise 创建失败 (every version
    failed). With the single V1 of a new model this is exactly V1's status.
    """
    rows = (
        MyModel.objects.filter(project=project)
        .select_related("base_version__series", "created_by")
        .annotate(
            version_count=Count("versions", distinct=True),
            created_count=Count("versions", filter=Q(versions__status=ModelStatus.CREATED), distinct=True),
            creating_count=Count("versions", filter=Q(versions__status=ModelStatus.CREATING), distinct=True),
        )
        .annotate(
            status=Case(
                When(created_count__gt=0, then=Value(ModelStatus.CREATED.value)),
                When(creating_count__gt=0, then=Value(ModelStatus.CREATING.value)),
                default=Value(ModelStatus.FAILED.value),
                output_field=CharField(),
            )
        )
    )
    if search:
        rows = rows.filter(name__icontains=search)
    if status in ModelStatus.values:
        rows = rows.filter(status=status)
    if series:
        rows = rows.filter(base_version__series__slug=series)
    return rows.order_by("-created_at", "-id")


def model_get(*, project, model_id: int) -> MyModel:
    """One model of the project, with its derived status; 404 for another project's model."""
    return get_object_or_404(model_list(project=project), pk=model_id)


def weight_config_series():
    """The series the 约束限制 note lists (a version needing 修改权重配置), each with those versions."""
    versions = BaseModelVersion.objects.filter(weight_config_change=True, active=True).order_by("position", "slug")
    return (
        BaseModelSeries.objects.filter(versions__in=versions)
        .distinct()
        .order_by("position", "slug")
        .prefetch_related(Prefetch("versions", queryset=versions, to_attr="weight_config_versions"))
    )
