"""The typed DELETE confirmation the seed asks for before a destructive action.

One word, one rule, one message for every page and the API: the value must be
exactly ``DELETE`` — capitals, no surrounding spaces (what the dialog's
``data-confirm-word`` check in console.js enables the button for).

    from console.core.confirm import require_typed_delete
    require_typed_delete(confirm, field="confirm")   # ValidationError({"confirm": [message]})
    require_typed_delete(confirm)                    # ValidationError(message): for a flash message
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

CONFIRM_WORD = "DELETE"
CONFIRM_CODE = "confirmation"


def typed_delete_message() -> str:
    return _("Type DELETE (in capitals) to confirm.")


def typed_delete_errors(value) -> list[str]:
    """[] when ``value`` is exactly DELETE, else the one message."""
    return [] if value == CONFIRM_WORD else [typed_delete_message()]


def require_typed_delete(value, *, field: str | None = None) -> None:
    """Raise a ValidationError with the one message unless ``value`` is exactly DELETE.

    With ``field`` the error is keyed by it (a form or an API error names the field);
    without, it is a plain error for a page's flash message.
    """
    if value == CONFIRM_WORD:
        return
    if field is None:
        raise ValidationError(typed_delete_message(), code=CONFIRM_CODE)
    raise ValidationError({field: [ValidationError(typed_delete_message(), code=CONFIRM_CODE)]})
