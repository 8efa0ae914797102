"""Metric columns of the job list: chosen metrics' last / best value per job, and sorting by them.

``?metric=loss,accuracy`` chooses the columns (at most MAX_COLUMNS); ``?sort=loss:last`` or
``?sort=-accuracy:best`` sorts by one of them (``-``: descending). Shown values come from
metrics.scalar_summary for the page's jobs only (one query); sorting annotates the list with
worker-0's summary row of that metric (TaskScalarSeries: one row per task and name), so the
database sorts and pages as usual. Jobs without the metric come last either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, OuterRef, Subquery
from django.utils.http import urlencode

from console.training import metrics
from console.training.models import TaskScalarSeries

MAX_COLUMNS = 3
MAX_NAME = 200
VALUES = ("last", "best")


@dataclass(frozen=True)
class MetricSort:
    name: str
    value: str  # "last" | "best"
    descending: bool

    @property
    def param(self) -> str:
        return ("-" if self.descending else "") + f"{self.name}:{self.value}"


def columns_from(request) -> list[str]:
    names = []
    for raw in request.GET.getlist("metric"):
        for name in raw.split(","):
            name = name.strip()[:MAX_NAME]
            if name and name not in names:
                names.append(name)
    return names[:MAX_COLUMNS]


def sort_from(request, columns: list[str]) -> MetricSort | None:
    raw = request.GET.get("sort", "")
    descending = raw.startswith("-")
    name, _sep, value = raw.lstrip("-").rpartition(":")
    if name in columns and value in VALUES:
        return MetricSort(name=name, value=value, descending=descending)
    return None


def _column_for(sort: MetricSort) -> str:
    if sort.value == "best":
        direction = metrics.metric_direction(sort.name)
        if direction:
            return "min_value" if direction == "min" else "max_value"
    return "last_value"


def sort_jobs(jobs, sort: MetricSort):
    """``jobs`` ordered by the metric (worker-0's value), jobs without it last, newest first on ties."""
    series = TaskScalarSeries.objects.filter(task__job=OuterRef("pk"), task__index=0, name=sort.name)
    value = F("metric_sort")
    order = value.desc(nulls_last=True) if sort.descending else value.asc(nulls_last=True)
    return jobs.annotate(metric_sort=Subquery(series.values(_column_for(sort))[:1])).order_by(
        order, "-created_at", "-id"
    )


def attach(jobs, columns: list[str]) -> list[str]:
    """Set ``job.metric_cells`` (one {"last", "best"} or None per column) on each job; return the
    metric names these jobs logged (offered as columns). One query."""
    jobs = list(jobs)
    summary = metrics.scalar_summary([job.pk for job in jobs]) if jobs else {}
    for job in jobs:
        logged = summary.get(job.pk) or {}
        job.metric_cells = [
            {"last": logged[name]["last"], "best": logged[name].get("best")} if name in logged else None
            for name in columns
        ]
    return sorted({name for logged in summary.values() for name in logged})


def headers(request, columns: list[str], sort: MetricSort | None) -> list[dict]:
    """Each chosen column with its sort links (a click on the sorted one turns the order around)."""
    params = request.GET.copy()
    params.pop("page", None)
    result = []
    for name in columns:
        links = {}
        for value in VALUES:
            current = sort is not None and sort.name == name and sort.value == value
            # First click: loss-like metrics ascending (best first), others descending.
            descending = (not sort.descending) if current else metrics.metric_direction(name) != "min"
            params["sort"] = MetricSort(name=name, value=value, descending=descending).param
            links[value] = {"url": "?" + params.urlencode(), "active": current,
                            "arrow": ("↓" if sort.descending else "↑") if current else ""}  # fmt: skip
        result.append({"name": name, "links": links})
    return result


def row_query(columns: list[str]) -> str:
    """The query string a polled row carries, so it keeps its metric columns."""
    return urlencode({"metric": ",".join(columns)}) if columns else ""
