"""The task-record badge (等待中 / 运行中 / 运行成功 / 运行失败), drawn like a model's status badge."""

from django import template

from console.core.models import WorkState
from console.mymodels.templatetags.mymodels_tags import english_label
from console.versions.models import RECORD_BADGE, RECORD_SEED_LABELS

register = template.Library()


@register.inclusion_tag("mymodels/_status_badge.html")
def record_badge(record, link=""):
    """等待中 / 运行中 / 运行成功 / 运行失败 of a task record."""
    state = WorkState(record.state)
    return {
        "badge": RECORD_BADGE[state],
        "zh": RECORD_SEED_LABELS[state],
        "en": english_label(state.label),
        "failure": record.failure,
        "link": link,
        "live": not record.is_finished,
    }
