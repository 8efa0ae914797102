"""A database that is down or out of connections answers 503 "try again", not a 500 "our bug".

The outage reaches a request in several places, all answered the same way:
- a view's query fails: process_exception;
- a query fails where a 500 is made before any process_exception sees it (a middleware inside
  this one loading the session; the REST API, which turns every exception into its own
  ModelArts.0500 body): Django's got_request_exception signal or an execute wrapper notes the
  outage on the request, and the 500 becomes a 503;
- for the API, the connection is taken up front, so a server that is down, `too many clients`
  or the pool's PoolTimeout answers at once instead of inside the API's own error handler.

Pages get a self-contained HTML page (it must render without the database: no context
processors, no user), the API (/v1/, /v2/, /v3/) its `{"error_code", "error_msg"}` body.
"""

import logging
import sys

from django.core.signals import got_request_exception
from django.db import OperationalError, connection
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

API_PREFIXES = ("/v1/", "/v2/", "/v3/")
ERROR_CODE = "ModelArts.0503"
RETRY_AFTER_SECONDS = 10

# psycopg's PoolTimeout and "too many clients" are OperationalErrors once Django wraps them.
OUTAGE_ERRORS = (OperationalError,)


class _FailedQueries:
    """An execute wrapper that notes the queries that failed because the database is away."""

    def __init__(self):
        self.errors = []

    def __call__(self, execute, sql, params, many, context):
        try:
            return execute(sql, params, many, context)
        except OUTAGE_ERRORS as error:
            self.errors.append(error)
            raise


def _note_outage(sender, request=None, **kwargs):
    # Sent from inside Django's `except` block: the exception is the one being handled.
    error = sys.exc_info()[1]
    if request is not None and isinstance(error, OUTAGE_ERRORS):
        request.database_outage = error


got_request_exception.connect(_note_outage, dispatch_uid="console.core.db_outage")


def is_api(request) -> bool:
    return request.path.startswith(API_PREFIXES)


def outage_response(request, error) -> HttpResponse:
    request_id = getattr(request, "request_id", "")
    logger.warning("database unavailable, answered 503: %s %s: %s", request.method, request.path, error)
    if is_api(request):
        message = _(
            "The database is unavailable or has no free connection. Try again shortly; "
            "quote request id %(request_id)s if it goes on."
        ) % {"request_id": request_id}
        response = JsonResponse({"error_code": ERROR_CODE, "error_msg": message}, status=503)
    else:
        html = render_to_string("errors/503.html", {"request_id": request_id})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseOutageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # (The API's own catch-all handler turns an outage inside a call into the same 503.)
        failed = _FailedQueries()
        try:
            with connection.execute_wrapper(failed):
                response = self.get_response(request)
        except OUTAGE_ERRORS as error:
            # Django's own 500 handler failed too: console.core.views.error_500 renders with the
            # context processors, which read the user from the database that is away.
            return outage_response(request, error)
        if response.status_code == 500:
            error = getattr(request, "database_outage", None) or (failed.errors[-1] if failed.errors else None)
            if error is not None:
                return outage_response(request, error)
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, OUTAGE_ERRORS):
            return outage_response(request, exception)
        return None
