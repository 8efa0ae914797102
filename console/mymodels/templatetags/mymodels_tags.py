"""Status badges of models, versions and task records, with the seed's Chinese labels
and, for failures, the seed message + explanation + advice on hover and on tap."""

from django import template
from django.utils.translation import get_language

from console.core.models import WorkState
from console.mymodels.models import STATUS_BADGE, STATUS_SEED_LABELS, ModelStatus

register = template.Library()


def _english(label) -> str:
    # The seed's Chinese label stands alone in a Chinese page; English pages show both.
    return "" if (get_language() or "").lower().startswith("zh") else str(label)


@register.inclusion_tag("mymodels/_status_badge.html")
def status_badge(status, failure=None, link=""):
    """创建中 / 创建成功 / 创建失败 of a model or version."""
    status = ModelStatus(status)
    return {
        "badge": STATUS_BADGE[status],
        "zh": STATUS_SEED_LABELS[status],
        "en": _english(status.label),
        "failure": failure if status == ModelStatus.FAILED else None,
        "link": link,
        "live": status == ModelStatus.CREATING,
    }


@register.inclusion_tag("mymodels/_status_badge.html")
def record_badge(record, link=""):
    """等待中 / 运行中 / 运行成功 / 运行失败 of a task record."""
    from console.versions.models import RECORD_BADGE, RECORD_SEED_LABELS

    state = WorkState(record.state)
    return {
        "badge": RECORD_BADGE[state],
        "zh": RECORD_SEED_LABELS[state],
        "en": _english(state.label),
        "failure": record.failure,
        "link": link,
        "live": not record.is_finished,
    }
