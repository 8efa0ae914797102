"""Status badges of models and versions, with the seed's Chinese labels and, for
failures, the seed message + explanation + advice on hover and on tap. (The
task-record badge, drawn with the same template, is in versions_tags.)"""

from django import template
from django.utils.translation import get_language

from console.mymodels.models import STATUS_BADGE, STATUS_SEED_LABELS, ModelStatus

register = template.Library()


def english_label(label) -> str:
    # The seed's Chinese label stands alone in a Chinese page; English pages show both.
    return "" if (get_language() or "").lower().startswith("zh") else str(label)


@register.inclusion_tag("mymodels/_status_badge.html")
def status_badge(status, failure=None, link=""):
    """创建中 / 创建成功 / 创建失败 of a model or version."""
    status = ModelStatus(status)
    return {
        "badge": STATUS_BADGE[status],
        "zh": STATUS_SEED_LABELS[status],
        "en": english_label(status.label),
        "failure": failure if status == ModelStatus.FAILED else None,
        "link": link,
        "live": status == ModelStatus.CREATING,
    }
