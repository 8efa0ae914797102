"""``{% load sizes %}`` then ``{{ bytes|binary_size }}``: see console.core.sizes."""

from django import template

from console.core.sizes import binary_size as _binary_size

register = template.Library()


@register.filter
def binary_size(value) -> str:
    return _binary_size(value)
