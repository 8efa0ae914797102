"""The console's ASGI entry point: the front door (console.frontdoor) around the WSGI pages.

    uvicorn console.asgi:application

Pages and the REST API run as the WSGI application they are (in a2wsgi's thread pool);
``/nb/<id>/…`` (JupyterLab, HTTP and WebSockets) goes through the forwarder.
"""

import os
import re

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

import django  # noqa: E402

django.setup()

from a2wsgi import WSGIMiddleware  # noqa: E402

from console.frontdoor.calls import CallRoute  # noqa: E402
from console.frontdoor.router import FrontDoor, Route  # noqa: E402
from console.notebooks.gateway import open_upstream  # noqa: E402
from console.services import gateway as services_gateway  # noqa: E402
from console.wsgi import application as django_wsgi  # noqa: E402

ROUTES = [
    # JupyterLab of a notebook instance: only its owner passes (console.notebooks.gateway).
    Route(
        re.compile(r"^/nb/(?P<notebook_id>[0-9a-fA-F-]{1,64})/"),
        lambda *, user, notebook_id: open_upstream(user=user, notebook_id=notebook_id),
    ),
    # Calls to an inference service: an IAM token or the service's API key (console.services.gateway).
    CallRoute(
        re.compile(r"^/v1/infers/(?P<service_id>[0-9a-fA-F-]{1,64})/(?P<rest>v1/.*)$"),
        services_gateway.ready_instances,
        services_gateway.record_call,
    ),
]

application = FrontDoor(WSGIMiddleware(django_wsgi, workers=16), ROUTES)
