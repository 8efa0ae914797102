"""`POST /v3/auth/tokens` — seed section 调用认证鉴权接口获取用户的Token."""

from __future__ import annotations

from typing import Annotated, Literal

from django.http import HttpResponse
from ninja import Router, Status
from pydantic import Field

from console.api.errors import ApiError
from console.api.schemas import RequestBody, Schema, with_errors
from console.api.tokens import TOKEN_LIFETIME, token_issue

router = Router(tags=["IAM"])


class DomainIn(RequestBody):
    name: str = Field(min_length=1, max_length=64)


class UserIn(RequestBody):
    name: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=4096)
    domain: DomainIn


class PasswordIn(RequestBody):
    user: UserIn


class IdentityIn(RequestBody):
    # Documented as ["password"]; other values are answered with ModelArts.0114, not a shape error.
    methods: list[Annotated[str, Field(max_length=32, json_schema_extra={"enum": ["password"]})]] = Field(
        min_length=1, max_length=4
    )
    password: PasswordIn


class ProjectIn(RequestBody):
    name: str = Field(min_length=1, max_length=64)


class ScopeIn(RequestBody):
    project: ProjectIn


class AuthIn(RequestBody):
    identity: IdentityIn
    scope: ScopeIn


class TokenRequest(RequestBody):
    auth: AuthIn


class DomainOut(Schema):
    id: str
    name: str


class UserOut(Schema):
    id: str
    name: str
    domain: DomainOut


class ProjectOut(Schema):
    id: str
    name: str
    domain: DomainOut


class RoleOut(Schema):
    id: str
    name: Literal["admin", "member", "viewer"]


class TokenBody(Schema):
    expires_at: str = Field(description="UTC, Keystone's format: 2026-01-04T09:05:22.701000Z")
    issued_at: str = Field(description="UTC, Keystone's format.")
    methods: list[Literal["password"]]
    user: UserOut
    project: ProjectOut
    roles: list[RoleOut]


class TokenOut(Schema):
    token: TokenBody


def _iso(moment) -> str:
    # Keystone's format: 2026-01-04T09:05:22.701000Z
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@router.post(
    "/v3/auth/tokens",
    auth=None,
    response=with_errors({201: TokenOut}, 400, 401, 413, 429),
    summary="Get a token (IAM)",
    description=(
        "The ModelArts IAM call: password authentication scoped to a project by name. The token is returned "
        "in the X-Subject-Token header. domain.name is the user's organisation; repeated failures lock "
        "the user out from the caller's address like the sign-in page does."
    ),
)
def create_token(request, response: HttpResponse, payload: TokenRequest):
    identity = payload.auth.identity
    if identity.methods != ["password"]:
        raise ApiError("ModelArts.0114", 'auth.identity.methods: only ["password"] is supported by this console.')
    user_in = identity.password.user
    raw, token, role = token_issue(
        request=request,
        username=user_in.name,
        password=user_in.password,
        domain_name=user_in.domain.name,
        project_name=payload.auth.scope.project.name,
    )
    user = token.user
    organization = user.profile.organization
    domain = {"id": organization.domain_id, "name": organization.name}
    body = {
        "token": {
            "expires_at": _iso(token.expires_at),
            "issued_at": _iso(token.expires_at - TOKEN_LIFETIME),
            "methods": ["password"],
            "user": {"id": user.profile.user_id_hex, "name": user.username, "domain": domain},
            "project": {"id": token.project.project_id, "name": token.project.name, "domain": domain},
            "roles": [{"id": role, "name": role}],
        }
    }
    response["X-Subject-Token"] = raw
    response["Cache-Control"] = "no-store"
    return Status(201, body)
