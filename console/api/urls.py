"""The API's URLs, with JSON answers for what ninja answers in plain text or Django in HTML.

ninja answers a known path with an unsupported method by a bare 405, and a path
under /v2/ or /v3/ that matches nothing would get the console's HTML 404 page;
scripts get the seed's error body for both.
"""

from functools import wraps

from django.http import HttpResponseNotAllowed, JsonResponse
from django.urls import URLPattern, URLResolver, path, re_path
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from console.api import logs
from console.api.api import api
from console.api.errors import error_body


def _json_method_not_allowed(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            response = JsonResponse(
                error_body(
                    "ModelArts.0205",
                    _("%(method)s is not allowed on this path; use %(allowed)s.")
                    % {"method": request.method, "allowed": allowed},
                ),
                status=405,
            )
            response["Allow"] = allowed
        return response

    return wrapper


def _wrap(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = _json_method_not_allowed(pattern.callback)
        elif isinstance(pattern, URLResolver):
            _wrap(pattern.url_patterns)
    return patterns


@csrf_exempt
def api_not_found(request, rest=""):
    return JsonResponse(
        error_body("ModelArts.0204", _("No API operation at %(path)s.") % {"path": request.path}), status=404
    )


# ninja reverses "api:<name>" (urls_namespace="api"); the module's app_name provides it.
app_name = "api"
urlpatterns = [
    *_wrap(api.urls[0]),
    # A signed temporary link to one task's log (no token: the signature is the permission).
    path(
        "v2/training-logs/<uuid:job_id>/<str:task_name>/<str:file_name>",
        logs.training_log,
        name="training_log",
    ),
    # Last in the console's URLs: only what nothing else matched arrives here.
    re_path(r"^v[1-3]/(?P<rest>.*)$", api_not_found, name="api_not_found"),
]
