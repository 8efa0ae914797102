"""What the front door's forwarder asks before it forwards ``/v1/infers/<service_id>/…`` to an instance.

Sync (the forwarder calls it in a thread). The caller is authenticated here, in the service's own
terms: an IAM ``X-Auth-Token`` (POST /v3/auth/tokens) of a member of the service's project, or one
of the service's API keys (``Authorization: Bearer ma-svc-…``). Tokens are read from
console.accounts (the rows and their SHA-256), not through console.api: the API sits above this app.
Refusals carry the seed's body: ``{"error_code", "error_msg"}``.
"""

from __future__ import annotations

import hashlib
import socket
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from console.accounts.models import ApiToken
from console.accounts.selectors import project_role
from console.services.models import Service, ServiceApiKey, ServiceInstance
from console.services.states import InstanceState, ServiceStatus


@dataclass(frozen=True)
class InstanceUpstream:
    instance_id: int
    base_url: str  # "" (the engine serves /v1/... at its root)
    unix_socket: str | None
    host: str
    port: int | None
    token: str  # "" if none
    max_concurrency: int
    served_name: str  # what the engine's /v1/models calls the model (the forwarder sets "model" to it)


class GatewayRefusal(Exception):
    def __init__(self, status: int, error_code: str, message: str):
        super().__init__(f"{status} {error_code}: {message}")
        self.status, self.error_code, self.message = status, error_code, message
        self.title = error_code

    def body(self) -> dict:
        return {"error_code": self.error_code, "error_msg": self.message}


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def _unauthenticated() -> GatewayRefusal:
    return GatewayRefusal(
        401,
        "ModelArts.0101",
        _(
            "Authentication required: send the token from POST /v3/auth/tokens in the X-Auth-Token header, "
            "or one of the service's API keys as Authorization: Bearer <key>."
        ),
    )


def _user_of_token(raw: str):
    """The live token's user, or a 401 with the reason (the same rules as the REST API's tokens)."""
    if len(raw) > 512:
        raise GatewayRefusal(401, "ModelArts.0102", _("The token in X-Auth-Token is not valid."))
    token = ApiToken.objects.select_related("user", "project").filter(key_hash=_hash(raw)).first()
    if token is None:
        raise GatewayRefusal(401, "ModelArts.0102", _("The token in X-Auth-Token is not valid."))
    if token.revoked_at is not None or not token.user.is_active:
        raise GatewayRefusal(
            401,
            "ModelArts.0104",
            _("The token was revoked (the password was changed or reset, or the user was deactivated). "
              "Request a new token from POST /v3/auth/tokens."),
        )  # fmt: skip
    if token.expires_at <= timezone.now():
        raise GatewayRefusal(
            401, "ModelArts.0103", _("The token has expired. Request a new token from POST /v3/auth/tokens.")
        )
    return token


def _service(service_id: str) -> Service:
    not_found = GatewayRefusal(404, "ModelArts.3504", _("There is no service %(id)s.") % {"id": service_id})
    try:
        key = uuid.UUID(str(service_id))
    except ValueError:
        raise not_found from None
    service = Service.objects.filter(service_id=key).first()
    if service is None:
        raise not_found
    return service


def authenticate(*, service_id: str, x_auth_token: str | None, api_key: str | None) -> tuple[Service, int | None]:
    """(service, api key id or None) for an authorised caller; GatewayRefusal otherwise."""
    api_key = (api_key or "").strip()
    if api_key.lower().startswith("bearer "):
        api_key = api_key[7:].strip()
    if not x_auth_token and not api_key:
        raise _unauthenticated()
    if x_auth_token:
        token = _user_of_token(x_auth_token)
        service = _service(service_id)
        if token.project_id != service.project_id or project_role(user=token.user, project=service.project) is None:
            raise GatewayRefusal(
                403,
                "ModelArts.0106",
                _("You are not a member of the project of service %(id)s.") % {"id": service_id},
            )
        return service, None
    if len(api_key) > 512:
        raise GatewayRefusal(401, "ModelArts.3501", _("The API key is not valid for this service."))
    key = ServiceApiKey.objects.filter(key_hash=_hash(api_key)).select_related("service").first()
    now = timezone.now()
    if key is None or str(key.service.service_id) != str(service_id).lower():
        raise GatewayRefusal(401, "ModelArts.3501", _("The API key is not valid for this service."))
    if key.revoked_at is not None:
        raise GatewayRefusal(
            401, "ModelArts.3502", _("The API key was revoked. Create a new one on the service's page.")
        )
    if key.expires_at is not None and key.expires_at <= now:
        raise GatewayRefusal(
            401, "ModelArts.3503", _("The API key has expired. Create a new one on the service's page.")
        )
    ServiceApiKey.objects.filter(pk=key.pk).update(call_count=F("call_count") + 1, last_used_at=now)
    return key.service, key.pk


def ready_instances(*, service_id: str, x_auth_token: str | None, api_key: str | None) -> list[InstanceUpstream]:
    """Authenticate the caller and return the service's ready instances (possibly empty: the lead answers 503).

    401 without (valid) credentials; 403 a token of someone outside the project; 404 unknown service;
    409 a stopped or failed service, 503 one that is deploying or pending. Counts the call.
    """
    service, _key_id = authenticate(service_id=service_id, x_auth_token=x_auth_token, api_key=api_key)
    if service.status in (ServiceStatus.STOPPED, ServiceStatus.FAILED):
        reason = f" {service.status_reason}" if service.status_reason else ""
        raise GatewayRefusal(
            409,
            "ModelArts.3505",
            _("Service %(name)s is %(status)s.%(reason)s Start it from the console to call it.")
            % {"name": service.name, "status": service.status, "reason": reason},
        )
    if service.status in (ServiceStatus.DEPLOYING, ServiceStatus.PENDING):
        raise GatewayRefusal(
            503,
            "ModelArts.3506",
            _("Service %(name)s is %(status)s: no instance is ready yet. Retry in a few seconds.")
            % {"name": service.name, "status": service.status},
        )
    Service.objects.filter(pk=service.pk).update(invocation_times=F("invocation_times") + 1)
    here = {socket.gethostname(), socket.getfqdn()}
    rows = (
        ServiceInstance.objects.filter(service=service, state=InstanceState.READY)
        .select_related("node")
        .order_by("slot")
    )
    upstreams = []
    for instance in rows:
        node = instance.node
        local = node is None or node.hostname in here
        upstreams.append(
            InstanceUpstream(
                instance_id=instance.pk,
                base_url="",
                unix_socket=instance.socket_path if (instance.socket_path and (local or not instance.port)) else None,
                host=node.address if node else "",
                port=instance.port,
                token="",
                max_concurrency=settings.SERVICE_MAX_CONCURRENCY,
                served_name=service.served_name,
            )
        )
    return upstreams


def record_call(*, service_id: str, instance_id: int, ok: bool, api_key_id: int | None, tokens: int | None) -> None:
    """After a forwarded call: failed_times (and the key's failures) when it failed, tokens generated."""
    try:
        key = uuid.UUID(str(service_id))
    except ValueError:
        return
    values = {}
    if not ok:
        values["failed_times"] = F("failed_times") + 1
    if tokens:
        values["tokens_generated"] = F("tokens_generated") + int(tokens)
    if values:
        Service.objects.filter(service_id=key).update(**values)
    if api_key_id and not ok:
        ServiceApiKey.objects.filter(pk=api_key_id).update(failed_count=F("failed_count") + 1)
