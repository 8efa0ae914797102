"""NUL characters and lone surrogates in request data: refused once, here, with a 400 naming where.

No field, name, path or parameter of the console can hold either: PostgreSQL refuses
NUL in text (DataError, a 500 wherever a value reaches a query) and a lone surrogate
is not text at all (UnicodeEncodeError when it is encoded). They reach Django from:
- the path and the query string (``%00`` is decoded to NUL; invalid UTF-8 such as a
  surrogate's bytes is replaced by U+FFFD, which is harmless);
- form fields (the same decoding);
- JSON bodies, where ``"\\u0000"`` and an unpaired ``"\\ud800"`` are valid escapes;
- cookies (``"\\000"`` octal escapes in a quoted value): the session key is looked up
  in the database before any view runs.

Rather than teaching every form, selector and schema about them, this middleware
answers 400 before the view: an HTML page for pages (``{"error": ...}`` for the pages'
own XMLHttpRequests, as the storage upload answers), the API's
``{"error_code": "ModelArts.0202", "error_msg": ...}`` for /v1/, /v2/, /v3/. A
cookie holding one is dropped (as a browser would drop an unreadable one): the
request goes on without it.

The checks run in ``process_view``, after the session, the user and the language
are known, so the refusal is a normal page in the user's language; the cookies are
cleaned in ``__call__``, before the session middleware reads them.
"""

from __future__ import annotations

import json
import re

from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

API_PREFIXES = ("/v1/", "/v2/", "/v3/")
API_ERROR_CODE = "ModelArts.0202"  # the API's "a parameter is … invalid" (console.api.errors)
# The API refuses larger bodies itself (ModelArts.0203); no need to parse them here.
MAX_JSON_BYTES = 4 * 1024 * 1024
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_BAD = re.compile("[\x00\ud800-\udfff]")


def problem_in(text: str) -> str | None:
    """ "nul" or "surrogate" when `text` holds one, else None."""
    match = _BAD.search(text)
    if match is None:
        return None
    return "nul" if match.group(0) == "\x00" else "surrogate"


def find_in_json(value, where: str = ""):
    """(place, problem) of the first NUL or lone surrogate in decoded JSON, or None.

    The place is dotted like the API's own messages: ``auth.identity.password.user.name``,
    ``parameters[2].value``; "" is the body itself.
    """
    if isinstance(value, str):
        problem = problem_in(value)
        return (where, problem) if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            place = f"{where}.{key}" if where else str(key)
            problem = problem_in(key)
            if problem:
                return _clean(place), problem
            found = find_in_json(item, place)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_in_json(item, f"{where}[{index}]")
            if found:
                return found
    return None


def _clean(text: str) -> str:
    # The place is shown back to the caller: never echo the offending character itself.
    return _BAD.sub("?", text)


class HostileInputMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        cookies = request.COOKIES
        if any(problem_in(name) or problem_in(value) for name, value in cookies.items()):
            request.COOKIES = {
                name: value for name, value in cookies.items() if not (problem_in(name) or problem_in(value))
            }
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        found = self.find(request)
        if found is None:
            return None
        kind, name, problem = found
        return refusal(request, kind, name, problem)

    def find(self, request):
        """(kind, name, problem) for the first bad value: kind is path, query, field or body."""
        problem = problem_in(request.path)
        if problem:
            return "path", "", problem
        for name, values in request.GET.lists():
            for text in (name, *values):
                problem = problem_in(text)
                if problem:
                    return "query", _clean(name), problem
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        if request.content_type in _FORM_TYPES:
            # Form fields only: a multipart file's bytes are data, and its name is checked
            # by the storage path rules it must pass anyway.
            for name, values in request.POST.lists():
                for text in (name, *values):
                    problem = problem_in(text)
                    if problem:
                        return "field", _clean(name), problem
        elif is_api(request):
            return self.find_in_api_body(request)
        return None

    def find_in_api_body(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if not 0 < length <= MAX_JSON_BYTES:
            return None
        try:
            data = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None  # the API's parser says exactly what is wrong with it
        found = find_in_json(data)
        if found is None:
            return None
        place, problem = found
        return "body", place, problem


def is_api(request) -> bool:
    return request.path.startswith(API_PREFIXES)


def _what(problem: str) -> str:
    if problem == "nul":
        return _("NUL characters (\\u0000) are not allowed.")
    return _("lone surrogates (\\ud800-\\udfff) are not valid Unicode text.")


def api_message(kind: str, name: str, problem: str) -> str:
    """The API's style: "<where>: <rule>", like its other ModelArts.0202 messages."""
    where = {
        "path": _("path"),
        "query": _("query parameter %(name)s") % {"name": name},
        "field": name,
        "body": name or _("request body"),
    }[kind]
    return f"{where}: {_what(problem)}"


def page_message(kind: str, name: str, problem: str) -> str:
    if problem == "nul":
        messages = {
            "path": _("The address may not contain NUL characters."),
            "query": _("The query parameter “%(name)s” may not contain NUL characters."),
            "field": _("The field “%(name)s” may not contain NUL characters."),
            "body": _("The request body may not contain NUL characters."),
        }
    else:
        messages = {
            "path": _("The address is not valid Unicode text."),
            "query": _("The query parameter “%(name)s” is not valid Unicode text."),
            "field": _("The field “%(name)s” is not valid Unicode text."),
            "body": _("The request body is not valid Unicode text."),
        }
    message = messages[kind]
    return message % {"name": name} if kind in ("query", "field") else message


def refusal(request, kind: str, name: str, problem: str) -> HttpResponse:
    if is_api(request):
        return JsonResponse({"error_code": API_ERROR_CODE, "error_msg": api_message(kind, name, problem)}, status=400)
    message = page_message(kind, name, problem)
    if request.headers.get("X-Requested-With") == "XMLHttpRequest" and not request.headers.get("HX-Request"):
        # The pages' own scripts (storage uploads) read {"error": "..."} from a refusal.
        return JsonResponse({"error": message}, status=400)
    html = render_to_string("errors/400.html", {"reason": message}, request=request)
    return HttpResponse(html, status=400)
