"""Messages stored as text when something happens, shown in the reader's language.

A job's timeline events, its phase reason, a task's message and the billing sentence
of an audit entry are written once, as text, in whatever language was active (a worker
runs in English; a request in its user's language). Rather than a message id and
parameters in new columns, the text itself is read back: each app lists the
gettext message ids it stores (a ``stored_messages`` module with ``MESSAGES``, found
like Django's admin modules), and at display time a stored text that is one of them
in any of our languages — with any parameters — is parsed back into that id and its
parameters, the parameters are themselves read back (a reason quoted inside another
message), and the message is rendered again in the active language. Text that is no
message of ours (a process's own error line, user data) is shown exactly as stored.

An entry of ``MESSAGES`` is a message id, or ``(template, {param: [message ids]})``
for a sentence put together without gettext (``f"{label}: {reason}"``): it only
matches when each listed parameter is one of those ids.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import cache

from django.apps import apps
from django.conf import settings
from django.utils import translation
from django.utils.module_loading import autodiscover_modules

# %(name)s, and numbers: %(n)d, %(gb).1f. "%%" is a literal percent sign.
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[sdifr]|%%")
MAX_DEPTH = 4
NUMBER = r"-?\d+(?:\.\d+)?"
NUMBER_NAMES = {"count", "n", "seconds", "code", "hours", "days", "cores", "able", "free", "busy", "sent", "minutes"}


@dataclass(frozen=True)
class _Entry:
    msgid: str
    choices: tuple  # ((param, (msgid, ...)), ...)
    translated: bool  # rendered with gettext (False: a template put together in code)


@cache
def _entries() -> tuple[_Entry, ...]:
    # Found like Django's admin modules: no static import of an upper app from here.
    autodiscover_modules("stored_messages")
    entries: list[_Entry] = []
    for config in apps.get_app_configs():
        module = sys.modules.get(f"{config.name}.stored_messages")
        for item in getattr(module, "MESSAGES", ()):
            if isinstance(item, tuple):
                template, choices = item
                frozen = tuple((name, tuple(ids)) for name, ids in choices.items())
                entries.append(_Entry(template, frozen, translated=False))
            else:
                entries.append(_Entry(item, (), translated=True))
    # A sentence whose parameter must be one of a few words ("Failed: …") first: it cannot
    # match by accident, and a wider template would swallow its word into a parameter. Then
    # the most specific template: more fixed text, fewer free parameters.
    entries.sort(key=lambda e: (not e.choices, -len(PLACEHOLDER.sub("", e.msgid)), e.msgid))
    return tuple(entries)


def _pattern(text: str) -> re.Pattern:
    parts, last = [], 0
    seen: set[str] = set()
    for match in PLACEHOLDER.finditer(text):
        parts.append(re.escape(text[last : match.start()]))
        name = match.group(1)
        if name is None:  # %%
            parts.append("%")
            last = match.end()
            continue
        # A parameter used twice must match the same text twice; a count is a number, so that
        # "code: %(count)s file(s)" cannot swallow the rest of a list.
        numeric = match.group(0)[-1] in "dif" or name in NUMBER_NAMES
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>{NUMBER if numeric else '.*?'})")
        seen.add(name)
        last = match.end()
    parts.append(re.escape(text[last:]))
    return re.compile("".join(parts), re.S)


@cache
def _patterns(language: str) -> tuple[tuple[_Entry, re.Pattern], ...]:
    with translation.override(language):
        return tuple(
            (entry, _pattern(translation.gettext(entry.msgid) if entry.translated else entry.msgid))
            for entry in _entries()
        )


@cache
def _choice_texts(msgid: str) -> frozenset[str]:
    texts = {msgid}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            texts.add(translation.gettext(msgid))
    return frozenset(texts)


def localize(text, depth: int = 0):
    """The stored ``text`` in the active language when it is one of our messages, else unchanged."""
    if not isinstance(text, str) or not text.strip() or depth > MAX_DEPTH:
        return text
    core = text.strip()
    if core != text:  # " (node-a has …)" put after a sentence: keep the spacing, read the words
        start = text.index(core)
        return text[:start] + localize(core, depth) + text[start + len(core) :]
    for code, _name in settings.LANGUAGES:
        for entry, pattern in _patterns(code):
            match = pattern.fullmatch(text)
            if match is None:
                continue
            params = match.groupdict()
            if any(
                params.get(name) not in {t for msgid in ids for t in _choice_texts(msgid)}
                for name, ids in entry.choices
            ):
                continue
            for name, ids in entry.choices:
                value = params[name]
                params[name] = next(
                    (translation.gettext(msgid) for msgid in ids if value in _choice_texts(msgid)), value
                )
            params = {
                name: value if dict(entry.choices).get(name) else localize(value, depth + 1)
                for name, value in params.items()
            }
            template = translation.gettext(entry.msgid) if entry.translated else entry.msgid
            try:
                numeric = {m.group(1) for m in PLACEHOLDER.finditer(template) if m.group(1) and m.group(0)[-1] in "dif"}
                values = {name: _number(value) if name in numeric else value for name, value in params.items()}
                return template % values if params else template
            except (KeyError, ValueError, TypeError):  # a translation that lost a placeholder
                return text
    return text


def _number(value: str):
    """A parameter read back from text, as the number a %d / %.1f placeholder wants (else the text)."""
    for kind in (int, float):
        try:
            return kind(value)
        except (TypeError, ValueError):
            pass
    return value
