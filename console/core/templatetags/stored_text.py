"""``{{ event.message|localized }}``: a stored message of ours in the reader's language (see core/stored_text.py)."""

from django import template

from console.core.stored_text import localize

register = template.Library()


@register.filter
def localized(value):
    return localize(value)
