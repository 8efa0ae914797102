"""Chart specs of a task's resource samples, drawn in the browser by static/js/charts.js (vendored uPlot).

One way to draw a chart in the console: the server says what (aligned columns + options),
``ConsoleCharts.line`` draws it. Nothing here is HTML; the template puts the spec in a
``data-chart`` attribute (escaped by the template engine).
"""

from __future__ import annotations

import json

from django.utils.translation import pgettext


def line_chart(
    *,
    title: str,
    points: list[tuple[float, float]],
    unit: str,
    y_max: float | None = None,
    limit: float | None = None,
    limit_label: str = "",
    color: str = "#2468f2",
    chart_id: str = "",
    time: bool = True,
) -> dict:
    """``points``: (Unix seconds, value); a value < 0 means no data and breaks the line."""
    xs = [round(t, 3) for t, _v in points]
    ys = [None if v is None or v < 0 else round(v, 3) for _t, v in points]
    last = next((v for v in reversed(ys) if v is not None), None)
    opts = {
        "title": title + (f" · {last:.1f} {unit}" if last is not None else ""),
        "labels": [title],
        "unit": unit,
        "time": time,
        "xLabel": pgettext("chart axis", "Time") if time else pgettext("chart axis", "Step"),
        "colors": [color],
        "height": 170,
    }
    if y_max is not None:
        opts["yMax"] = y_max
    if limit:
        opts["limit"] = limit
        opts["limitLabel"] = limit_label
    return {"id": chart_id, "has_data": last is not None, "json": json.dumps({"data": [xs, ys], "opts": opts})}
