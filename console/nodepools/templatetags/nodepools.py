"""Template tags of the node-pool pages (loaded as ``nodepools``; none needed today)."""

from django import template

register = template.Library()
