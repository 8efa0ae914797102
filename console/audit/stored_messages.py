"""What the audit log stores as text of ours (see console/core/stored_text.py): the actor of an
action nobody did (beat, the set-up)."""

from django.utils.translation import gettext_noop

MESSAGES = [gettext_noop("system")]
