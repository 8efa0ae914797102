"""The front door: one ASGI application in front of the console.

Pages and the REST API stay the Django WSGI application they are (run in a thread pool by
a2wsgi: no view turns async). Paths that need streaming both ways and WebSockets — JupyterLab
at ``/nb/<id>/…`` (and next, inference at ``/v1/infers/<service_id>/…``) — go to the forwarder,
which decides with the console's own session who may pass, finds the upstream through a
resolver the owning app provides, and relays HTTP and WebSockets without buffering. Upstream
addresses and tokens never reach the browser.

A resolver is ``resolve(*, user, **url_groups) -> upstream`` (sync; run in a thread). The
upstream has ``base_url``, ``unix_socket`` (or ``host`` and ``port``) and ``token``; a refusal
is any exception with ``status``, ``title`` and ``message`` attributes.
"""
