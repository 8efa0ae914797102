"""IAM tokens: issue (`POST /v3/auth/tokens`), resolve (`X-Auth-Token`), scope checks.

A token is 48 random bytes shown once; only its SHA-256 is stored. It is bound to
one user and one project (the seed's `scope.project.name`), lives 24 hours, and
dies early when the user's password changes or the user is deactivated
(console.accounts.services revokes `user.api_tokens`). Membership and role are
read again on every call, so removing someone from a project takes effect at
once, whatever tokens they hold.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.utils import timezone
from django.utils.translation import gettext as _

from console.accounts.models import ROLE_RANK, ApiToken, Project, Role
from console.accounts.selectors import project_role
from console.api.errors import ApiError

TOKEN_LIFETIME = timedelta(hours=24)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def _lockout_minutes() -> int:
    cooloff = settings.AXES_COOLOFF_TIME
    hours = cooloff.total_seconds() / 3600 if isinstance(cooloff, timedelta) else float(cooloff)
    return max(1, math.ceil(hours * 60))


def _refuse_credentials():
    return ApiError("ModelArts.0111", _("The user name, password or domain name is incorrect."))


def _locked_out():
    return ApiError(
        "ModelArts.0112",
        _(
            "Too many failed attempts for this user from your address: token requests are locked "
            "for %(minutes)d minutes. Wait, or ask an administrator."
        )
        % {"minutes": _lockout_minutes()},
    )


def token_issue(*, request, username: str, password: str, domain_name: str, project_name: str):
    """Check the password (through django-axes, like the sign-in page) and issue a token.

    Returns (raw_token, ApiToken, role). Every refusal is an ApiError; a wrong
    password, a wrong domain and an unknown user look the same to the caller.
    """
    user = authenticate(request=request, username=username, password=password)
    if user is None:
        if getattr(request, "axes_locked_out", False):
            # Answer the lockout ourselves as JSON; AxesMiddleware would swap in the HTML page.
            request.axes_locked_out = False
            raise _locked_out()
        raise _refuse_credentials()

    organization = getattr(getattr(user, "profile", None), "organization", None)
    if organization is None or organization.name.lower() != domain_name.strip().lower():
        # A right password with a wrong domain is still a failed attempt for the lockout.
        user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)
        if getattr(request, "axes_locked_out", False):
            request.axes_locked_out = False
            raise _locked_out()
        raise _refuse_credentials()

    project = Project.objects.filter(organization=organization, name=project_name).first()
    role = project_role(user=user, project=project) if project else None
    if role is None:
        raise ApiError(
            "ModelArts.0113",
            _(
                "scope.project.name: you are not a member of a project named “%(project)s” in domain "
                "“%(domain)s”. Use the name of a project shown in the console's project list."
            )
            % {"project": project_name, "domain": organization.name},
        )

    raw = secrets.token_urlsafe(48)
    now = timezone.now()
    # Dead tokens are useless; dropping the user's old ones here keeps the table small without a sweeper.
    ApiToken.objects.filter(user=user, expires_at__lt=now - TOKEN_LIFETIME).delete()
    token = ApiToken.objects.create(
        user=user, project=project, key_hash=hash_token(raw), expires_at=now + TOKEN_LIFETIME
    )
    # Resets the failure count (AXES_RESET_ON_SUCCESS) and stamps last_login, like a sign-in.
    user_logged_in.send(sender=user.__class__, request=request, user=user)
    return raw, token, role


def token_resolve(raw: str | None) -> ApiToken:
    """The live token for an X-Auth-Token value, or ApiError 401 with the precise reason."""
    if not raw:
        raise ApiError(
            "ModelArts.0101",
            _("Authentication required: send the token from POST /v3/auth/tokens in the X-Auth-Token header."),
        )
    if len(raw) > 512:
        raise ApiError("ModelArts.0102", _("The token in X-Auth-Token is not valid."))
    token = (
        ApiToken.objects.select_related("user", "user__profile", "project", "project__organization")
        .filter(key_hash=hash_token(raw))
        .first()
    )
    if token is None:
        raise ApiError("ModelArts.0102", _("The token in X-Auth-Token is not valid."))
    if token.revoked_at is not None or not token.user.is_active:
        raise ApiError(
            "ModelArts.0104",
            _(
                "The token was revoked (the password was changed or reset, or the user was deactivated). "
                "Request a new token from POST /v3/auth/tokens."
            ),
        )
    if token.expires_at <= timezone.now():
        raise ApiError("ModelArts.0103", _("The token has expired. Request a new token from POST /v3/auth/tokens."))
    return token


@dataclass
class Scope:
    """Who is calling, in which project, with which role (read again on every call)."""

    user: object
    project: Project
    role: str
    token: ApiToken

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


def scope_for(token: ApiToken, project_id: str, *, role: str = Role.VIEWER) -> Scope:
    """Check the path's {project_id} against the token and the user's current membership."""
    if project_id != token.project.project_id:
        # Compared as text: another project's id gets the same answer whether it exists or not.
        raise ApiError(
            "ModelArts.0105",
            _(
                "The token is scoped to another project: the {project_id} in the path must be the id of the "
                "project named in scope.project.name when the token was requested."
            ),
        )
    current = project_role(user=token.user, project=token.project)
    if current is None:
        raise ApiError("ModelArts.0106", _("You are no longer a member of this project."))
    if ROLE_RANK[current] < ROLE_RANK[role]:
        if role == Role.ADMIN:
            raise ApiError("ModelArts.0108", _("Only project administrators may manage agencies and authorizations."))
        raise ApiError("ModelArts.0107", _("Your role in this project (viewer) may read but not change anything."))
    return Scope(user=token.user, project=token.project, role=current, token=token)
