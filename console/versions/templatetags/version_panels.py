from django import template
from django.utils.safestring import mark_safe

from console.versions.panels import version_panels

register = template.Library()


@register.simple_tag(takes_context=True)
def version_extra_panels(context, version):
    """The sections other apps registered for a version's page (console.versions.panels)."""
    # Each panel renders through its own template, which escapes what it shows.
    return mark_safe("".join(version_panels(request=context.get("request"), version=version)))  # noqa: S308
