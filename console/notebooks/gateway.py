"""What the front door's forwarder asks before it forwards ``/nb/<id>/…`` to a notebook's Jupyter server."""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from console.accounts.models import Role
from console.accounts.selectors import project_role
from console.core.secrets import decrypt_secret
from console.notebooks.models import Notebook
from console.notebooks.states import State

# Recording every request would write on every keystroke's HTTP call; once a minute is enough for the idle stop.
ACTIVITY_WRITE_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class Upstream:
    base_url: str  # "/nb/<id>/" (the Jupyter server's base_url)
    unix_socket: str | None  # path of the Jupyter server's unix socket when the node is this host
    host: str  # else the node's address
    port: int | None
    token: str  # the Jupyter server's token (decrypted), sent as "Authorization: token …"


class GatewayRefusal(Exception):
    def __init__(self, status: int, title: str, message: str):
        super().__init__(f"{status} {title}: {message}")
        self.status, self.title, self.message = status, title, message


def _not_running_message(notebook: Notebook) -> tuple[str, str]:
    state = notebook.state
    if state in (State.CREATING, State.STARTING, State.INIT):
        return _("Notebook starting"), _(
            "Notebook %(name)s is %(state)s: JupyterLab is not up yet. Reload this page in a few seconds."
        ) % {"name": notebook.name, "state": state}
    if state in (State.STOPPING, State.SNAPSHOTTING):
        return _("Notebook stopping"), _(
            "Notebook %(name)s is %(state)s (saving its work folder). Start it again from the console once it is STOPPED."
        ) % {"name": notebook.name, "state": state}
    if state in (State.DELETING, State.DELETED):
        return _("Notebook deleted"), _("Notebook %(name)s was deleted; create a new one from the console.") % {
            "name": notebook.name
        }
    if state == State.FROZEN:
        return _("Notebook frozen"), _(
            "Notebook %(name)s is frozen by an administrator: it cannot start until it is unfrozen."
        ) % {"name": notebook.name}
    reason = f" {notebook.fail_reason}" if notebook.fail_reason else ""
    return _("Notebook not running"), _(
        "Notebook %(name)s is %(state)s.%(reason)s Start it from the console's Notebooks page to open it."
    ) % {"name": notebook.name, "state": state, "reason": reason}


def open_upstream(*, user, notebook_id: str) -> Upstream:
    """Sync (the forwarder calls it in a thread). `user` is the signed-in Django user (never anonymous).

    Raises GatewayRefusal: 404 unknown id / another project's notebook for a non-member; 403 another
    user's notebook (only the owner opens it; a viewer cannot); 409 with a clear message when it is not
    RUNNING. Records activity (console_activity_at) at most once a minute.
    """
    not_found = GatewayRefusal(404, _("Notebook not found"), _("There is no notebook %(id)s.") % {"id": notebook_id})
    try:
        key = uuid.UUID(str(notebook_id))
    except ValueError:
        raise not_found from None
    notebook = Notebook.objects.select_related("project", "node").filter(uuid=key).first()
    if notebook is None:
        raise not_found
    role = project_role(user=user, project=notebook.project)
    if role is None:
        raise not_found  # a non-member learns nothing about another project's notebooks
    if notebook.owner_id != user.pk or role == Role.VIEWER:
        raise GatewayRefusal(
            403, _("Not your notebook"), _("Only the owner of notebook %(name)s can open it.") % {"name": notebook.name}
        )
    if notebook.state != State.RUNNING:
        title, message = _not_running_message(notebook)
        raise GatewayRefusal(409, title, message)
    token = decrypt_secret(notebook.token_encrypted)
    node = notebook.node
    here = node is not None and node.hostname in (socket.gethostname(), socket.getfqdn())
    now = timezone.now()
    if notebook.console_activity_at is None or now - notebook.console_activity_at > ACTIVITY_WRITE_EVERY:
        Notebook.objects.filter(pk=notebook.pk).update(console_activity_at=now, last_activity_at=now)
    if notebook.socket_path and (here or not notebook.port):
        return Upstream(
            base_url=f"/nb/{notebook.uuid}/", unix_socket=notebook.socket_path, host="", port=None, token=token
        )
    return Upstream(
        base_url=f"/nb/{notebook.uuid}/",
        unix_socket=None,
        host=node.address if node else "",
        port=notebook.port,
        token=token,
    )
