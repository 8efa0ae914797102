"""Display helpers of the dashboard and the operations view."""

from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def elapsed(seconds) -> str:
    """12 s, 4 min 05 s, 3 h 07 min, 2 d 4 h."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return _("%(s)s s") % {"s": seconds}
    if seconds < 3600:
        return _("%(m)s min %(s)02d s") % {"m": seconds // 60, "s": seconds % 60}
    if seconds < 86400:
        return _("%(h)s h %(m)02d min") % {"h": seconds // 3600, "m": seconds % 3600 // 60}
    return _("%(d)s d %(h)s h") % {"d": seconds // 86400, "h": seconds % 86400 // 3600}


@register.filter
def metric_value(value) -> str:
    """A logged scalar, short: 4 significant digits (0.0123, 12.35, 1.235e+06)."""
    if value is None:
        return "—"
    return f"{value:.4g}"
