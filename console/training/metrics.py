"""Reads of the scalars a training script logged (loss, accuracy, …): names, curves, latest and summary values.

Permission-free helpers: the views and selectors that call them check access to the job first.
Jobs are given as ``TrainingJob`` rows or primary keys (``job.pk``), and results are keyed by pk.
The runner writes the points (``TaskScalar``) and, with them, one summary row per task and
name (``TaskScalarSeries``); lists and dashboards read the summaries, so their cost does not
grow with the number of points.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction

from console.training.models import TaskScalar, TaskScalarSeries, TrainingJob, TrainingTask

DEFAULT_MAX_POINTS = 2000
MAX_POINTS_LIMIT = 20000
X_STEP, X_TIME = "step", "time"

# Words in a metric's name that say which way is better ("best" in summaries); neither: no best.
_LOWER_IS_BETTER = ("loss", "error", "err", "perplexity", "ppl", "mse", "mae", "rmse", "wer", "cer", "nll")
_HIGHER_IS_BETTER = ("acc", "precision", "recall", "f1", "auc", "map", "iou", "bleu", "rouge", "score", "reward")


def scalar_cap() -> int:
    """Points stored per job (across its tasks); past it, later points are dropped with a warning."""
    return int(getattr(settings, "TRAINING_SCALAR_CAP", 200_000))


def scalar_name_cap() -> int:
    """Metric names stored per job."""
    return int(getattr(settings, "TRAINING_SCALAR_NAME_CAP", 50))


def metric_direction(name: str) -> str | None:
    """ "min" when a lower value is better (loss), "max" when higher is (accuracy), else None."""
    words = name.lower().replace("/", "_").replace("-", "_").replace(".", "_").split("_")
    for word in reversed(words):  # "train/loss" → loss; "val_acc" → acc
        if any(word.startswith(w) for w in _LOWER_IS_BETTER):
            return "min"
        if any(word.startswith(w) for w in _HIGHER_IS_BETTER):
            return "max"
    return None


def _job_pk(job: TrainingJob | int) -> int:
    return job.pk if isinstance(job, TrainingJob) else int(job)


def scalar_names(job: TrainingJob | int) -> list[str]:
    """The metric names the job's tasks logged, sorted (one query)."""
    return sorted(
        set(TaskScalarSeries.objects.filter(task__job_id=_job_pk(job)).values_list("name", flat=True).distinct())
    )


def scalar_usage(job: TrainingJob | int) -> dict:
    """Stored points and names against the job's caps (said in the UI when reached)."""
    rows = list(TaskScalarSeries.objects.filter(task__job_id=_job_pk(job)).values_list("name", "points"))
    points = sum(p for _n, p in rows)
    names = len({n for n, _p in rows})
    cap, name_cap = scalar_cap(), scalar_name_cap()
    return {
        "points": points,
        "names": names,
        "cap": cap,
        "name_cap": name_cap,
        "capped": points >= cap,
        "names_capped": names >= name_cap,
    }


def scalar_series(job: TrainingJob | int, name: str, *, x: str = X_STEP, max_points: int = DEFAULT_MAX_POINTS) -> dict:
    """One metric's curve per task, downsampled on the server to ``max_points`` per task.

    ``x="step"``: xs are steps; ``x="time"``: xs are Unix seconds (wall time of the point).
    Downsampling is LTTB that also keeps the first, last, lowest and highest point, so a spike
    or the best value never disappears from the chart.
    """
    if x not in (X_STEP, X_TIME):
        raise ValueError(f"x must be {X_STEP!r} or {X_TIME!r}")
    max_points = max(3, min(int(max_points), MAX_POINTS_LIMIT))
    job_pk = _job_pk(job)
    tasks = dict(TrainingTask.objects.filter(job_id=job_pk).values_list("pk", "name"))
    order = ("task_id", "step", "id") if x == X_STEP else ("task_id", "wall_time", "id")
    column = "step" if x == X_STEP else "wall_time"
    rows = (
        TaskScalar.objects.filter(task_id__in=list(tasks), name=name)
        .order_by(*order)
        .values_list("task_id", column, "value")
    )
    per_task: dict[int, tuple[list, list]] = {}
    for task_id, at, value in rows.iterator(chunk_size=20000):
        xs, ys = per_task.setdefault(task_id, ([], []))
        xs.append(at if x == X_STEP else round(at.timestamp(), 3))
        ys.append(value)
    series = []
    downsampled = False
    for task_id, (xs, ys) in sorted(per_task.items(), key=lambda item: tasks.get(item[0], "")):
        total = len(xs)
        if total > max_points:
            keep = lttb_indices(xs, ys, max_points)
            xs, ys = [xs[i] for i in keep], [ys[i] for i in keep]
            downsampled = True
        series.append({"task": tasks.get(task_id, ""), "xs": xs, "ys": ys, "points": total, "shown": len(xs)})
    return {"name": name, "x": x, "downsampled": downsampled, "tasks": series}


def latest_scalars(job_ids: Iterable[int]) -> dict[int, list[dict]]:
    """job pk → [{"name", "value", "step"}] sorted by name: each metric's latest value (one query)."""
    summary = scalar_summary(job_ids)
    return {
        job_pk: [{"name": name, "value": s["last"], "step": s["step"]} for name, s in sorted(metrics.items())]
        for job_pk, metrics in summary.items()
    }


def scalar_summary(job_ids: Iterable[int], names: Iterable[str] | None = None) -> dict[int, dict[str, dict]]:
    """job pk → name → {"last", "step", "min", "max", "points", "best"?} across the job's tasks (one query).

    "last" is the value at the highest step any task reached (worker-0 first on a tie);
    "best" is there when the name says which way is better (``metric_direction``).
    """
    job_ids = [int(j) for j in job_ids]
    if not job_ids:
        return {}
    rows = TaskScalarSeries.objects.filter(task__job_id__in=job_ids)
    if names is not None:
        rows = rows.filter(name__in=list(names))
    rows = rows.order_by("task__job_id", "name", "task__index").values_list(
        "task__job_id", "name", "last_step", "last_value", "min_value", "max_value", "points"
    )
    result: dict[int, dict[str, dict]] = {job_pk: {} for job_pk in job_ids}
    for job_pk, name, step, last, low, high, points in rows:
        entry = result[job_pk].get(name)
        if entry is None:
            result[job_pk][name] = {"last": last, "step": step, "min": low, "max": high, "points": points}
            continue
        if step > entry["step"]:
            entry["last"], entry["step"] = last, step
        entry["min"] = min(entry["min"], low)
        entry["max"] = max(entry["max"], high)
        entry["points"] += points
    for metrics in result.values():
        for name, entry in metrics.items():
            direction = metric_direction(name)
            if direction:
                entry["best"] = entry[direction]
    return result


def lttb_indices(xs: list[float], ys: list[float], threshold: int) -> list[int]:
    """Largest-Triangle-Three-Buckets: indices of ``threshold`` points that keep the curve's shape.

    Plus the global minimum and maximum (a chart of a loss must show its lowest point), so a few
    more than ``threshold`` may come back. ``xs`` must be sorted.
    """
    n = len(xs)
    if threshold >= n or threshold < 3:
        return list(range(n))
    keep = [0]
    every = (n - 2) / (threshold - 2)
    a = 0
    for i in range(threshold - 2):
        # the average of the next bucket is the third corner of the triangle
        start_next = int(math.floor((i + 1) * every)) + 1
        end_next = min(int(math.floor((i + 2) * every)) + 1, n)
        count = max(1, end_next - start_next)
        avg_x = sum(xs[start_next:end_next]) / count
        avg_y = sum(ys[start_next:end_next]) / count
        start = int(math.floor(i * every)) + 1
        end = int(math.floor((i + 1) * every)) + 1
        ax, ay = xs[a], ys[a]
        best, best_area = start, -1.0
        for j in range(start, end):
            area = abs((ax - avg_x) * (ys[j] - ay) - (ax - xs[j]) * (avg_y - ay))
            if area > best_area:
                best_area, best = area, j
        keep.append(best)
        a = best
    keep.append(n - 1)
    low = min(range(n), key=ys.__getitem__)
    high = max(range(n), key=ys.__getitem__)
    return sorted(set(keep) | {low, high})


def scalar_points(job: TrainingJob | int, *, name: str | None = None):
    """Every stored point of the job (or of one metric), for downloads: dicts, streamed from the database."""
    rows = TaskScalar.objects.filter(task__job_id=_job_pk(job))
    if name is not None:
        rows = rows.filter(name=name)
    rows = rows.order_by("name", "task__index", "step", "id").values_list(
        "task__name", "name", "step", "wall_time", "value"
    )
    for task, metric, step, wall_time, value in rows.iterator(chunk_size=5000):
        yield {"task": task, "name": metric, "step": step, "wall_time": wall_time.isoformat(), "value": value}


def points_csv(points):
    """CSV lines (header first) of ``scalar_points``; names are quoted as CSV needs."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["task", "name", "step", "wall_time", "value"])
    for point in points:
        name = point["name"]
        if name[:1] in ("=", "+", "-", "@"):  # a spreadsheet must not read a metric name as a formula
            name = "'" + name
        writer.writerow([point["task"], name, point["step"], point["wall_time"], repr(point["value"])])
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@transaction.atomic
def scalars_store(*, task_id: int, points: list[dict]) -> None:
    """Store points of one task and keep its per-name summary rows (last / min / max) in step."""
    TaskScalar.objects.bulk_create(TaskScalar(task_id=task_id, **point) for point in points)
    by_name: dict[str, list[dict]] = {}
    for point in points:
        by_name.setdefault(point["name"], []).append(point)
    existing = {s.name: s for s in TaskScalarSeries.objects.filter(task_id=task_id, name__in=list(by_name))}
    changed = []
    for name, items in by_name.items():
        series = existing.get(name)
        last = max(items, key=lambda p: p["step"])  # in arrival order on a tie: the later one
        values = [p["value"] for p in items]
        if series is None:
            series = TaskScalarSeries(
                task_id=task_id,
                name=name,
                points=0,
                last_step=last["step"],
                last_value=last["value"],
                last_wall_time=last["wall_time"],
                min_value=min(values),
                max_value=max(values),
            )
        elif last["step"] >= series.last_step:
            series.last_step, series.last_value, series.last_wall_time = (
                last["step"],
                last["value"],
                last["wall_time"],
            )
        series.points += len(items)
        series.min_value = min(series.min_value, *values)
        series.max_value = max(series.max_value, *values)
        changed.append(series)
    TaskScalarSeries.objects.bulk_create(
        changed,
        update_conflicts=True,
        unique_fields=["task", "name"],
        update_fields=["points", "last_step", "last_value", "last_wall_time", "min_value", "max_value"],
    )
