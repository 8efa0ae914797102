"""Server-rendered SVG line charts of a task's resource samples (no chart library, no CDN)."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

WIDTH, HEIGHT = 520, 170
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 22, 24


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000):
        if value <= step:
            return float(step)
    return float(value)


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
) -> SafeString:
    """``points``: (seconds since the first sample, value); a value < 0 means no data and breaks the line."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    values = [v for _t, v in points if v is not None and v >= 0]
    top = y_max if y_max is not None else _nice_max(max(values + ([limit] if limit else []) or [1]) * 1.1)
    span = max((points[-1][0] if points else 0), 1.0)

    def x(t: float) -> float:
        return LEFT + plot_w * (t / span)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - min(v, top) / top)

    id_attr = f' id="{escape(chart_id)}"' if chart_id else ""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
        f' aria-label="{escape(title)}"{id_attr}>',
        f'<text x="{LEFT}" y="14" class="chart-title">{escape(title)}</text>',
    ]
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        gy = TOP + plot_h * (1 - fraction)
        label = top * fraction
        text = f"{label:.0f}" if top >= 10 else f"{label:.2g}"
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}" class="chart-grid"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{gy + 4:.1f}" class="chart-axis" text-anchor="end">{escape(text)}</text>'
        )
    for fraction in (0, 0.5, 1):
        parts.append(
            f'<text x="{LEFT + plot_w * fraction:.1f}" y="{HEIGHT - 6}" class="chart-axis" '
            f'text-anchor="{"start" if fraction == 0 else "end" if fraction == 1 else "middle"}">'
            f"{_clock(span * fraction)}</text>"
        )
    parts.append(f'<text x="{WIDTH - RIGHT}" y="14" class="chart-axis" text-anchor="end">{escape(unit)}</text>')
    if limit:
        ly = y(limit)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ly:.1f}" y2="{ly:.1f}" class="chart-limit"/>')
        if limit_label:
            parts.append(f'<text x="{LEFT + 4}" y="{ly - 4:.1f}" class="chart-axis">{escape(limit_label)}</text>')
    segments, current = [], []
    for t, v in points:
        if v is None or v < 0:
            if current:
                segments.append(current)
            current = []
            continue
        current.append(f"{x(t):.1f},{y(v):.1f}")
    if current:
        segments.append(current)
    for segment in segments:
        if len(segment) == 1:
            cx, cy = segment[0].split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{color}"/>')
        else:
            parts.append(
                f'<polyline points="{" ".join(segment)}" fill="none" stroke="{color}" stroke-width="2" stroke-linejoin="round"/>'
            )
    if not values:
        parts.append(
            f'<text x="{LEFT + plot_w / 2:.0f}" y="{TOP + plot_h / 2:.0f}" class="chart-empty" text-anchor="middle">'
            f"{escape(_('no data yet'))}</text>"
        )
    else:
        last = next(v for _t, v in reversed(points) if v is not None and v >= 0)
        parts.append(
            f'<text x="{WIDTH - RIGHT}" y="{TOP + 12}" class="chart-last" text-anchor="end" fill="{color}">'
            f"{escape(f'{last:.1f} {unit}')}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every interpolated text above is escaped
