"""Algorithm parameter definitions and the values a job gives them (pure rules, no database).

A definition is the seed's::

    {"name": "world_size", "description": "", "value": "1",
     "constraint": {"type": "Integer", "editable": true, "required": false,
                    "sensitive": false, "valid_type": "None", "valid_range": []}}

``valid_type`` is "None", "Range" (valid_range = [min, max], inclusive; for a
String it bounds the length) or "Choice" (valid_range = the allowed values).
Values travel as strings, as the seed sends them, and reach the script as one
argument each: ``--name=value``. Nothing here ever goes near a shell.
"""

from __future__ import annotations

import math
import re

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TYPES = ("String", "Integer", "Float", "Boolean")
VALID_TYPES = ("None", "Range", "Choice")
MAX_VALUE_CHARS = 4096
DESCRIPTION_MAX = 256
# Masked wherever a sensitive value would be shown.
MASK = "******"

_INT_RE = re.compile(r"^[+-]?[0-9]+$")


class ParameterErrors(Exception):
    """Errors keyed like form fields: {"parameters": [...], "param:<name>": [...]}."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__(errors)


def name_error(name) -> str | None:
    """Why ``name`` is not a valid name (of a job, an algorithm, a parameter, an input or an output), or None."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        return _(
            "%(name)s is not a valid name: use 1–64 characters, only letters, digits, underscores (_) and hyphens (-)."
        ) % {"name": repr(name) if isinstance(name, str) else _("(missing)")}
    return None


def description_error(description, *, of: str | None = None) -> str | None:
    """Why a description (of a job or an algorithm; ``of`` names a parameter, input or output) is refused, or None."""
    if not description or (isinstance(description, str) and len(description) <= DESCRIPTION_MAX):
        return None
    if of is None:
        return _("The description may have at most %(max)s characters.") % {"max": DESCRIPTION_MAX}
    return _("The description of %(name)s must be at most %(max)s characters.") % {"name": of, "max": DESCRIPTION_MAX}


def entry_error(raw: dict, seen: set[str]) -> str | None:
    """Why one named entry of an algorithm (a parameter, an input, an output) is refused, or None.

    Its name must be valid and not in ``seen`` (the names listed before it; this one is added),
    its description short enough. Every entry becomes a --name argument, so they share these rules.
    """
    name = raw.get("name")
    problem = name_error(name)
    if problem:
        return problem
    if name in seen:
        return _("%(name)s is listed twice.") % {"name": name}
    seen.add(name)
    return description_error(raw.get("description"), of=name)


def _bool_text(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return None


def typed(value: str, type_: str):
    """The value as its type, or raise ValueError."""
    if type_ == "Integer":
        if not _INT_RE.match(value.strip()):
            raise ValueError
        return int(value.strip())
    if type_ == "Float":
        number = float(value.strip())
        if not math.isfinite(number):
            raise ValueError
        return number
    if type_ == "Boolean":
        result = _bool_text(value)
        if result is None:
            raise ValueError
        return result
    return value


TYPE_MESSAGES = {
    "Integer": gettext_noop("an integer (such as 1 or -3)"),
    "Float": gettext_noop("a number (such as 0.01)"),
    "Boolean": gettext_noop("True or False"),
}


def value_error(definition: dict, value: str) -> str | None:
    """Why ``value`` breaks the definition's constraint, or None."""
    name = definition["name"]
    constraint = definition.get("constraint") or {}
    type_ = constraint.get("type", "String")
    if "\x00" in value:
        return _("Parameter %(name)s contains a NUL character, which cannot be passed to a program.") % {"name": name}
    if len(value) > MAX_VALUE_CHARS:
        return _("Parameter %(name)s is longer than %(max)s characters.") % {"name": name, "max": MAX_VALUE_CHARS}
    if value == "":
        return None
    try:
        typed_value = typed(value, type_)
    except ValueError:
        return _("Parameter %(name)s must be %(what)s, not %(value)s.") % {
            "name": name,
            "what": _(TYPE_MESSAGES[type_]),
            "value": MASK if constraint.get("sensitive") else repr(value),
        }
    valid_type = constraint.get("valid_type") or "None"
    valid_range = constraint.get("valid_range") or []
    if valid_type == "Range" and len(valid_range) == 2:
        low, high = float(valid_range[0]), float(valid_range[1])
        measured = len(value) if type_ == "String" else typed_value
        if type_ == "Boolean":
            return None
        if not (low <= measured <= high):
            if type_ == "String":
                return _("Parameter %(name)s must be %(low)s to %(high)s characters long.") % {
                    "name": name,
                    "low": _fmt(valid_range[0]),
                    "high": _fmt(valid_range[1]),
                }
            return _("Parameter %(name)s must be between %(low)s and %(high)s (valid_range), not %(value)s.") % {
                "name": name,
                "low": _fmt(valid_range[0]),
                "high": _fmt(valid_range[1]),
                "value": MASK if constraint.get("sensitive") else value,
            }
    if valid_type == "Choice" and valid_range:
        choices = [str(choice) for choice in valid_range]
        if not any(_same(value, choice, type_) for choice in choices):
            return _("Parameter %(name)s must be one of %(choices)s.") % {"name": name, "choices": ", ".join(choices)}
    return None


def _fmt(number) -> str:
    number = float(number)
    return str(int(number)) if number.is_integer() else str(number)


def _same(value: str, choice: str, type_: str) -> bool:
    try:
        return typed(value, type_) == typed(choice, type_)
    except ValueError:
        return value == choice


def _as_bool(raw, default: bool) -> bool:
    if isinstance(raw, bool):
        return raw
    if raw is None:
        return default
    if isinstance(raw, str) and _bool_text(raw) is not None:
        return _bool_text(raw)
    raise ValueError


def normalize_definitions(parameters) -> list[dict]:
    """Check an algorithm's parameter definitions; return them in the seed's full shape.

    Raises ParameterErrors naming each broken rule.
    """
    errors: list[str] = []
    if parameters is None:
        return []
    if not isinstance(parameters, list):
        raise ParameterErrors({"parameters": [_("Parameters must be a list.")]})
    seen = set()
    result = []
    for position, raw in enumerate(parameters, start=1):
        if not isinstance(raw, dict):
            errors.append(_("Parameter %(n)s is not an object.") % {"n": position})
            continue
        problem = entry_error(raw, seen)
        if problem:
            errors.append(problem)
            continue
        name = raw["name"]
        description = raw.get("description") or ""
        value = raw.get("value", "")
        if value is None:
            value = ""
        if isinstance(value, bool):
            value = "True" if value else "False"
        if isinstance(value, (int, float)):
            value = str(value)
        if not isinstance(value, str):
            errors.append(_("The default value of parameter %(name)s must be text.") % {"name": name})
            continue
        constraint = raw.get("constraint") or {}
        if not isinstance(constraint, dict):
            errors.append(_("The constraint of parameter %(name)s must be an object.") % {"name": name})
            continue
        type_ = constraint.get("type", "String") or "String"
        if type_ not in TYPES:
            errors.append(
                _("Parameter %(name)s has type %(type)s; the type must be String, Integer, Float or Boolean.")
                % {"name": name, "type": repr(type_)}
            )
            continue
        try:
            editable = _as_bool(constraint.get("editable"), True)
            required = _as_bool(constraint.get("required"), False)
            sensitive = _as_bool(constraint.get("sensitive"), False)
        except ValueError:
            errors.append(
                _("editable, required and sensitive of parameter %(name)s must be true or false.") % {"name": name}
            )
            continue
        valid_type = constraint.get("valid_type") or "None"
        if valid_type not in VALID_TYPES:
            errors.append(
                _("Parameter %(name)s has valid_type %(valid_type)s; use None, Range or Choice.")
                % {"name": name, "valid_type": repr(valid_type)}
            )
            continue
        valid_range = constraint.get("valid_range") or []
        if not isinstance(valid_range, list):
            errors.append(_("valid_range of parameter %(name)s must be a list.") % {"name": name})
            continue
        if valid_type == "Range":
            try:
                low, high = (float(v) for v in valid_range)
                if not (math.isfinite(low) and math.isfinite(high)) or low > high:
                    raise ValueError
            except (TypeError, ValueError):
                errors.append(
                    _("valid_range of parameter %(name)s must be [minimum, maximum] with minimum ≤ maximum.")
                    % {"name": name}
                )
                continue
            if type_ == "Boolean":
                errors.append(_("A Boolean parameter (%(name)s) cannot have a Range.") % {"name": name})
                continue
        if valid_type == "Choice":
            if not valid_range:
                errors.append(_("valid_range of parameter %(name)s must list the allowed values.") % {"name": name})
                continue
            bad = [
                str(choice)
                for choice in valid_range
                if value_error({"name": name, "constraint": {"type": type_}}, str(choice))
            ]
            if bad:
                errors.append(
                    _("The choices of parameter %(name)s must all be of type %(type)s.") % {"name": name, "type": type_}
                )
                continue
        definition = {
            "name": name,
            "description": description,
            "i18n_description": None,
            "value": value,
            "constraint": {
                "type": type_,
                "editable": editable,
                "required": required,
                "sensitive": sensitive,
                "valid_type": valid_type,
                "valid_range": [str(v) if not isinstance(v, (int, float)) else v for v in valid_range],
            },
        }
        if value != "":
            problem = value_error(definition, value)
            if problem:
                errors.append(_("Default value: %(problem)s") % {"problem": problem})
                continue
        elif required and not editable:
            errors.append(
                _("Parameter %(name)s is required and not editable, so it needs a default value.") % {"name": name}
            )
            continue
        result.append(definition)
    if errors:
        raise ParameterErrors({"parameters": errors})
    return result


def resolve_values(definitions: list[dict], given, *, customization: bool) -> list[dict]:
    """The job's parameter values: each definition's value (given or default), plus custom ones.

    ``given`` is the seed's list of {"name", "value"}. Raises ParameterErrors.
    """
    errors: list[str] = []
    given = given or []
    if not isinstance(given, list):
        raise ParameterErrors({"parameters": [_("Parameters must be a list of {name, value}.")]})
    supplied: dict[str, str] = {}
    for position, item in enumerate(given, start=1):
        if not isinstance(item, dict) or "name" not in item:
            errors.append(_("Parameter %(n)s needs a name and a value.") % {"n": position})
            continue
        name = item["name"]
        problem = name_error(name)
        if problem:
            errors.append(problem)
            continue
        if name in supplied:
            errors.append(_("Parameter %(name)s is given twice.") % {"name": name})
            continue
        value = item.get("value", "")
        if value is None:
            value = ""
        if isinstance(value, bool):
            value = "True" if value else "False"
        elif isinstance(value, (int, float)):
            value = str(value)
        if not isinstance(value, str):
            errors.append(_("The value of parameter %(name)s must be text.") % {"name": name})
            continue
        supplied[name] = value
    by_name = {definition["name"]: definition for definition in definitions}
    result = []
    for definition in definitions:
        name = definition["name"]
        constraint = definition["constraint"]
        default = definition.get("value", "")
        if name in supplied:
            value = supplied[name]
            if not constraint.get("editable", True) and value != default:
                errors.append(
                    _("Parameter %(name)s is not editable: it must keep the algorithm's value.") % {"name": name}
                )
                continue
        else:
            value = default
        if value == "" and constraint.get("required"):
            errors.append(_("Parameter %(name)s is required.") % {"name": name})
            continue
        problem = value_error(definition, value)
        if problem:
            errors.append(problem)
            continue
        if value != "" or name in supplied:
            result.append({"name": name, "value": value})
    for name, value in supplied.items():
        if name in by_name:
            continue
        if not customization:
            errors.append(
                _(
                    "Parameter %(name)s is not defined by the algorithm, and the algorithm does not allow custom parameters."
                )
                % {"name": name}
            )
            continue
        problem = value_error({"name": name, "constraint": {"type": "String"}}, value)
        if problem:
            errors.append(problem)
            continue
        result.append({"name": name, "value": value})
    if errors:
        raise ParameterErrors({"parameters": errors})
    return result


def sensitive_names(definitions: list[dict]) -> set[str]:
    return {d["name"] for d in definitions if (d.get("constraint") or {}).get("sensitive")}


def keeps_stored_secret(definition: dict, value) -> bool:
    """A sensitive value is never shown again, so its field comes back empty: empty means "keep the stored value"."""
    return bool((definition.get("constraint") or {}).get("sensitive")) and value in (None, "")


def with_stored_secrets(definitions: list[dict], stored: list[dict]) -> list[dict]:
    """An edited algorithm's definitions, each sensitive default left empty given back its stored value."""
    old = {d["name"]: d for d in stored}
    result = []
    for definition in definitions:
        kept = old.get(definition["name"])
        if kept is not None and keeps_stored_secret(definition, definition.get("value")):
            definition = {**definition, "value": kept.get("value", "")}
        result.append(definition)
    return result


def masked(values: list[dict], definitions: list[dict]) -> list[dict]:
    """Values safe to show: sensitive ones replaced by the mask."""
    secret = sensitive_names(definitions)
    return [{**v, "value": MASK if v["name"] in secret and v.get("value") else v.get("value", "")} for v in values]


def masked_definitions(definitions: list[dict]) -> list[dict]:
    """Definitions safe to show: a sensitive default value is masked."""
    result = []
    for definition in definitions:
        if (definition.get("constraint") or {}).get("sensitive") and definition.get("value"):
            definition = {**definition, "value": MASK}
        result.append(definition)
    return result


def argv_for(values: list[dict]) -> list[str]:
    """One argument per parameter, as the seed's scripts parse them: --name=value (never through a shell)."""
    return [f"--{item['name']}={item['value']}" for item in values]
