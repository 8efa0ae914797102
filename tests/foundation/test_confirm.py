"""The one typed DELETE confirmation (console.core.confirm) every destructive action uses."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from console.core.confirm import CONFIRM_WORD, require_typed_delete, typed_delete_errors

MESSAGE = "Type DELETE (in capitals) to confirm."


def test_exactly_DELETE_passes():
    assert CONFIRM_WORD == "DELETE"
    assert typed_delete_errors("DELETE") == []
    require_typed_delete("DELETE")
    require_typed_delete("DELETE", field="confirm")


@pytest.mark.parametrize("word", ["delete", "Delete", "DELETE ", " DELETE", "", "DELET", None])
def test_anything_else_gets_the_one_message(word):
    assert typed_delete_errors(word) == [MESSAGE]
    with pytest.raises(ValidationError) as plain:
        require_typed_delete(word)
    assert plain.value.messages == [MESSAGE] and plain.value.code == "confirmation"
    with pytest.raises(ValidationError) as keyed:
        require_typed_delete(word, field="confirmation")
    assert keyed.value.message_dict == {"confirmation": [MESSAGE]}


def test_the_message_is_translated():
    with translation.override("zh-hans"):
        (message,) = typed_delete_errors("delete")
    assert message != MESSAGE and "DELETE" in message and "确认" in message
