"""Job comparison: 2–5 jobs of one project side by side (curves overlaid, parameters and metrics in a table).

Reads only: the jobs come through the permission-filtered job selector, the curves and the
last/min/max of each logged scalar through console.training.metrics.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from console.training import metrics, params, selectors
from console.training.models import TrainingJob

MIN_JOBS = 2
MAX_JOBS = 5
MAX_POINTS = 1000  # per curve on the comparison page (downsampled on the server)


def compare_jobs_get(*, user, project, job_ids: list[str]) -> list[TrainingJob]:
    """The chosen jobs in the order given; ValidationError (code count / unknown_job) otherwise."""
    unique = list(dict.fromkeys(str(j).strip() for j in job_ids if str(j).strip()))
    if len(unique) < MIN_JOBS or len(unique) > MAX_JOBS:
        raise ValidationError(
            _("Select from %(min)s to %(max)s jobs to compare; %(n)s were selected.")
            % {"min": MIN_JOBS, "max": MAX_JOBS, "n": len(unique)},
            code="count",
        )
    found = {
        str(job.uuid): job for job in selectors.job_list(user=user, project=project).filter(uuid__in=_uuids(unique))
    }
    if len(found) != len(unique):
        raise ValidationError(_("A selected job is not a job of this project (deleted?)."), code="unknown_job")
    return [found[key] for key in unique]


def _uuids(values):
    result = []
    for value in values:
        try:
            result.append(uuid.UUID(value))
        except ValueError:
            continue
    return result


def _aligned(series_by_job: list[list[tuple[float, float]]]) -> list[list]:
    """uPlot's aligned columns: the union of x values, then one y column per job (None where it has no point)."""
    xs = sorted({x for series in series_by_job for x, _y in series})
    index = {x: i for i, x in enumerate(xs)}
    columns: list[list] = [xs]
    for series in series_by_job:
        column: list = [None] * len(xs)
        for x, y in series:
            column[index[x]] = y
        columns.append(column)
    return columns


def _worker0_points(curve: dict) -> list[tuple[float, float]]:
    """worker-0's points of metrics.scalar_series' answer (a job's curve is its first task's)."""
    tasks = curve.get("tasks") or []
    if not tasks:
        return []
    return list(zip(tasks[0]["xs"], tasks[0]["ys"], strict=False))


def comparison(*, jobs: list[TrainingJob]) -> dict:
    """Everything the comparison page shows: charts (one per metric), metric rows, parameter rows, facts."""
    summary = metrics.scalar_summary([job.pk for job in jobs])
    names = sorted({name for job in jobs for name in (summary.get(job.pk) or {})})
    charts = []
    for name in names:
        series = [_worker0_points(metrics.scalar_series(job, name, x="step", max_points=MAX_POINTS)) for job in jobs]
        charts.append({"name": name, "data": _aligned(series), "labels": [job.name for job in jobs]})

    metric_rows = []
    for name in names:
        direction = metrics.metric_direction(name)
        cells = [(summary.get(job.pk) or {}).get(name) for job in jobs]
        cells = [None if c is None else {"last": c["last"], "best": c.get("best"), "step": c["step"]} for c in cells]
        known = [c for c in cells if c is not None]
        # The winner: the best final value, when the name says which way is better.
        if direction and len(known) > 1:
            top = (min if direction == "min" else max)(c["last"] for c in known)
            for cell in known:
                cell["winner"] = cell["last"] == top
        metric_rows.append(
            {"name": name, "direction": direction, "cells": cells,
             "differs": _differs([None if c is None else c["last"] for c in cells])}
        )  # fmt: skip

    parameter_rows = []
    shown = [
        {p["name"]: p["value"] for p in params.masked(job.parameters, job.algorithm_spec.get("parameters", []))}
        for job in jobs
    ]
    for name in sorted({name for values in shown for name in values}):
        cells = [values.get(name) for values in shown]
        parameter_rows.append({"name": name, "cells": cells, "differs": _differs(cells)})

    def fact(label, values):
        return {"name": label, "cells": values, "differs": _differs(values)}

    facts = [
        fact(_("Algorithm"), [job.algorithm_spec.get("name", "") for job in jobs]),
        fact(_("Phase"), [job.get_phase_display() for job in jobs]),
        fact(_("Flavor"), [job.flavor_spec.get("flavor_id", "") for job in jobs]),
        fact(_("Nodes"), [job.node_count for job in jobs]),
    ]
    return {"charts": charts, "metric_rows": metric_rows, "parameter_rows": parameter_rows, "facts": facts}


def _differs(values: list) -> bool:
    return len({repr(v) for v in values}) > 1
