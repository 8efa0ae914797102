"""Django's own strings that its Simplified Chinese catalog lacks (Django 6.1).

Listed here so that `makemessages` keeps them in our catalog, where they are
translated; the first one shows in every empty <select>.
"""

from django.utils.translation import gettext_noop

MISSING_FROM_DJANGO_ZH = [
    gettext_noop("- Select an option -"),
    gettext_noop("“%(value)s” is not a valid binary value."),
    gettext_noop("No %s matches the given query."),
]
