"""The one place that says what each notebook state allows (the strict transition table).

Every service asks ``decide(state, action)`` before it changes anything: an action the state
does not allow is refused with the current state and the actions it allows (the API answers a
4xx, the pages do not offer the button). Stop and start are idempotent: stopping a notebook
that is stopping or stopped, or starting one that is starting, changes nothing and succeeds.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from console.notebooks.states import State

START, STOP, DELETE, RENEW, OPEN, FREEZE, UNFREEZE = "start", "stop", "delete", "renew", "open", "freeze", "unfreeze"
ACTIONS = (START, STOP, DELETE, RENEW, OPEN, FREEZE, UNFREEZE)

ACTION_LABELS = {
    START: gettext_lazy("start"),
    STOP: gettext_lazy("stop"),
    DELETE: gettext_lazy("delete"),
    RENEW: gettext_lazy("renew the lease"),
    OPEN: gettext_lazy("open"),
    FREEZE: gettext_lazy("freeze"),
    UNFREEZE: gettext_lazy("unfreeze"),
}

# state → actions that change something.
ALLOWED: dict[str, frozenset[str]] = {
    State.INIT: frozenset({DELETE}),
    State.CREATING: frozenset({STOP, DELETE}),
    State.STARTING: frozenset({STOP, DELETE}),
    State.RUNNING: frozenset({STOP, DELETE, RENEW, OPEN}),
    State.STOPPING: frozenset({DELETE}),
    State.SNAPSHOTTING: frozenset({DELETE}),
    State.DELETING: frozenset(),
    State.STOPPED: frozenset({START, DELETE, FREEZE}),
    State.CREATE_FAILED: frozenset({START, DELETE, FREEZE}),
    State.START_FAILED: frozenset({START, DELETE, FREEZE}),
    State.DELETE_FAILED: frozenset({DELETE}),
    State.ERROR: frozenset({START, DELETE, FREEZE}),
    State.DELETED: frozenset(),
    State.FROZEN: frozenset({UNFREEZE, DELETE}),
}

# state → actions that are already done (idempotent: succeed without a change).
ALREADY: dict[str, frozenset[str]] = {
    State.STARTING: frozenset({START}),
    State.STOPPING: frozenset({STOP}),
    State.SNAPSHOTTING: frozenset({STOP}),
    State.STOPPED: frozenset({STOP}),
    State.DELETING: frozenset({DELETE}),
    State.FROZEN: frozenset({FREEZE}),
}

DO, NOTHING = "do", "nothing"


def allowed_actions(state: str) -> list[str]:
    return sorted(ALLOWED.get(state, frozenset()))


def can(state: str, action: str) -> bool:
    return action in ALLOWED.get(state, frozenset())


def refusal_message(state: str, action: str) -> str:
    allowed = allowed_actions(state)
    label = State(state).label if state in State.values else state
    if allowed:
        return _("A notebook in state %(state)s (%(label)s) cannot %(action)s; it allows: %(allowed)s.") % {
            "state": state,
            "label": label,
            "action": ACTION_LABELS[action],
            "allowed": ", ".join(str(ACTION_LABELS[a]) for a in allowed),
        }
    return _("A notebook in state %(state)s (%(label)s) cannot %(action)s; it allows no action now.") % {
        "state": state,
        "label": label,
        "action": ACTION_LABELS[action],
    }


def decide(state: str, action: str) -> str:
    """DO (change it), NOTHING (already so: succeed unchanged), or raise ValidationError(code="state")."""
    if action in ALLOWED.get(state, frozenset()):
        return DO
    if action in ALREADY.get(state, frozenset()):
        return NOTHING
    raise ValidationError(refusal_message(state, action), code="state")
