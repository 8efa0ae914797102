"""The ModelArts-compatible REST API: one NinjaAPI, its error handling and its OpenAPI document.

Paths are the seed's own (`/v3/auth/tokens`, `/v2/{project_id}/...`), so a script
written for ModelArts only changes its endpoint. The document is at
/v2/openapi.json and browsable at /v2/docs (Swagger UI served from our own
static files: the console runs offline).
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest
from django.shortcuts import render
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.docs import DocsBase
from ninja.parser import Parser
from ninja.security import APIKeyHeader

from console.api.errors import KINDS, ApiError, error_body, pydantic_message, validation_message
from console.api.tokens import token_resolve
from console.core.db_outage import OUTAGE_ERRORS, outage_response

logger = logging.getLogger(__name__)

# Seed bodies are a few kilobytes; 1 MiB leaves room for long parameter lists and nothing else.
MAX_BODY_BYTES = getattr(settings, "API_MAX_BODY_BYTES", 1024 * 1024)


class JsonParser(Parser):
    """JSON bodies only, with the exact reason when one cannot be read."""

    def parse_body(self, request: HttpRequest):
        if len(request.body) > MAX_BODY_BYTES:
            raise _too_large()
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ApiError(
                "ModelArts.0201",
                _("The request body is not UTF-8 text (byte %(position)d).") % {"position": error.start},
            ) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ApiError(
                "ModelArts.0201",
                _("The request body is not valid JSON: %(reason)s at line %(line)d column %(column)d.")
                % {"reason": error.msg, "line": error.lineno, "column": error.colno},
            ) from None
        # NUL characters and lone surrogates never get here: console.core.hostile_input refuses
        # them (with their place in the body) before any view runs.
        return data


def _too_large() -> ApiError:
    return ApiError(
        "ModelArts.0203",
        _("The request body is larger than %(limit)d bytes.") % {"limit": MAX_BODY_BYTES},
    )


class TokenAuth(APIKeyHeader):
    """`X-Auth-Token: <token from POST /v3/auth/tokens>` on every call but the token request."""

    param_name = "X-Auth-Token"

    def authenticate(self, request, key):
        request.api_token = token_resolve(key)
        return request.api_token


class LocalSwagger(DocsBase):
    """Swagger UI from the console's own static files, not ninja's CDN template."""

    def render_page(self, request, api, **kwargs):
        return render(request, "api/docs.html", {"api": api, "openapi_url": self.get_openapi_url(api, kwargs)})


class ConsoleApi(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        return _document_headers(schema)


api = ConsoleApi(
    title="ModelArts Console API",
    version="2",
    description=(
        "ModelArts-compatible REST API. Request a token with POST /v3/auth/tokens (the token is in the "
        "X-Subject-Token response header) and send it as X-Auth-Token on every other call. Errors are "
        '{"error_code": "ModelArts.XXXX", "error_msg": "…"}; every response carries X-Request-Id.'
    ),
    urls_namespace="api",
    openapi_url="/v2/openapi.json",
    docs_url="/v2/docs",
    docs=LocalSwagger(),
    auth=TokenAuth(),
    parser=JsonParser(),
)


# --- errors: everything becomes {"error_code", "error_msg"} -------------------------------


def _respond(request, code: str, message: str, *, headers: dict | None = None):
    response = api.create_response(request, error_body(code, message), status=KINDS[code].status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


@api.exception_handler(ApiError)
def _api_error(request, exc: ApiError):
    return _respond(request, exc.code, exc.message, headers=exc.headers)


@api.exception_handler(NinjaValidationError)
def _invalid(request, exc: NinjaValidationError):
    return _respond(request, "ModelArts.0202", pydantic_message(exc.errors))


@api.exception_handler(DjangoValidationError)
def _service_invalid(request, exc: DjangoValidationError):
    # A service rule the endpoint did not map to a more specific code.
    return _respond(request, "ModelArts.0202", validation_message(exc))


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    return _respond(request, "ModelArts.0203", _too_large().message)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return _respond(request, "ModelArts.0101", token_missing_message())


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    cause = exc.__cause__
    if isinstance(cause, ApiError):
        return _api_error(request, cause)
    if isinstance(cause, RequestDataTooBig):
        return _too_big(request, cause)
    # ninja's own refusals (body that cannot be parsed): keep the status, use our body.
    code = {400: "ModelArts.0201", 404: "ModelArts.0204", 405: "ModelArts.0205"}.get(exc.status_code)
    if code is None:
        code = "ModelArts.0202" if exc.status_code < 500 else "ModelArts.0500"
    return _respond(request, code, str(exc))


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _respond(request, "ModelArts.0204", _("Not found."))


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return _respond(request, "ModelArts.0107", str(exc) or _("Your role does not allow this."))


@api.exception_handler(Exception)
def _unexpected(request, exc):
    if isinstance(exc, OUTAGE_ERRORS):
        # The database is away or out of connections: 503 with Retry-After, as for pages.
        return outage_response(request, exc)
    # Logged with the traceback for the operator; the caller gets the request id, never the trace.
    logger.exception("API call failed: %s %s", request.method, request.path)
    return _respond(request, "ModelArts.0500", internal_error_message(request))


def token_missing_message() -> str:
    return _("Authentication required: send the token from POST /v3/auth/tokens in the X-Auth-Token header.")


def internal_error_message(request) -> str:
    return _("Internal error. Quote request id %(request_id)s when reporting it.") % {
        "request_id": getattr(request, "request_id", "")
    }


# --- the OpenAPI document: the seed's headers -----------------------------------------------

_REQUEST_ID = {
    "description": "链路追踪ID (request trace id).",
    "schema": {"type": "string"},
    "required": True,
}


def _document_headers(schema: dict) -> dict:
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for response in operation["responses"].values():
                response.setdefault("headers", {})["X-Request-Id"] = _REQUEST_ID
    token = schema.get("paths", {}).get("/v3/auth/tokens", {}).get("post")
    created = token and (token["responses"].get(201) or token["responses"].get("201"))
    if created:
        created["headers"]["X-Subject-Token"] = {
            "description": "The token: send it as X-Auth-Token on every other call. Valid 24 hours.",
            "schema": {"type": "string"},
            "required": True,
        }
    return schema


def _register_routers():
    from console.api import authorizations, iam, notebooks, services, training

    api.add_router("", iam.router)
    api.add_router("", authorizations.router)
    api.add_router("", training.router)
    api.add_router("", notebooks.router)
    api.add_router("", services.router)


_register_routers()
