"""Small display helpers of the training pages."""

from django import template
from django.utils.translation import gettext as _

from console.training.payloads import obs_uri

register = template.Library()


@register.filter
def epoch_ms(value) -> str:
    """A datetime as epoch milliseconds (for the ticking durations); "" when unset."""
    return str(int(value.timestamp() * 1000)) if value else ""


@register.filter
def hms(milliseconds) -> str:
    seconds = int((milliseconds or 0) // 1000)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@register.filter
def obs(api_path) -> str:
    return obs_uri(api_path or "")


@register.filter
def gigabytes(value) -> str:
    return f"{(value or 0) / 1024**3:.1f}"


@register.filter
def task_nodes(job) -> str:
    names = [t.node_name for t in job.tasks.all() if t.node_name]
    return ", ".join(names) if names else "—"


@register.filter
def position_text(position) -> str:
    if not position:
        return ""
    if position == 1:
        return _("next in the queue")
    return _("%(n)s in the queue (%(ahead)s job(s) ahead)") % {"n": position, "ahead": position - 1}
