"""Agencies and authorizations — seed section 管理ModelArts服务的委托授权.

Only project administrators (and site administrators) may call these. The
storage gate reads the rows on every access, so a change takes effect at once.
"""

from __future__ import annotations

from typing import Literal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from ninja import Query, Router, Status
from pydantic import Field

from console.accounts.models import Role
from console.api.errors import ApiError, from_validation_error
from console.api.schemas import AUTHED, RequestBody, Schema, with_errors
from console.api.tokens import scope_for
from console.authorizations import selectors, services
from console.authorizations.models import ALL_USERS, Authorization

router = Router(tags=["Agencies and authorizations"])


def _ms(moment) -> int:
    return int(moment.timestamp() * 1000)


# --- agency --------------------------------------------------------------------------


class AgencyIn(RequestBody):
    agency_name_suffix: str = Field(
        default="",
        max_length=services.MAX_SUFFIX_LENGTH,
        description='Custom suffix: the agency is named "ma_agency_<suffix>"; empty → "modelarts_agency".',
    )


class AgencyOut(Schema):
    agency_name: str


_AGENCY_CODES = {
    "suffix_length": "ModelArts.2001",
    "suffix_chars": "ModelArts.2001",
    "agency_name_suffix": "ModelArts.2001",
}


@router.post(
    "/v2/{project_id}/agency",
    response=with_errors({200: AgencyOut}, *AUTHED, 409, 413),
    summary="Create a ModelArts agency",
    description=(
        "Creates the agency ma_agency_<suffix> (or modelarts_agency for an empty suffix). It reaches every "
        "bucket of the project, read-write; administrators can narrow it in the console."
    ),
)
def create_agency(request, project_id: str, payload: AgencyIn):
    scope = scope_for(request.auth, project_id, role=Role.ADMIN)
    name = _agency_name(payload.agency_name_suffix)
    if selectors.agency_get(project=scope.project, name=name) is not None:
        raise ApiError(
            "ModelArts.2002",
            _("Agency %(name)s already exists in this project; authorize users with it.") % {"name": name},
        )
    try:
        agency = services.agency_create(actor=scope.user, project=scope.project, suffix=payload.agency_name_suffix)
    except ValidationError as error:
        raise from_validation_error(error, codes=_AGENCY_CODES) from None
    return Status(200, {"agency_name": agency.name})


def _agency_name(suffix: str) -> str:
    try:
        return services.agency_name_for(suffix)
    except ValidationError as error:
        raise from_validation_error(error, default="ModelArts.2001") from None


# --- authorizations --------------------------------------------------------------------


class AuthorizationIn(RequestBody):
    user_id: str = Field(
        min_length=1, max_length=64, description='The IAM user id of a project member, or "all-users".'
    )
    type: Literal["agency", "credential"] = Field(description="agency, or credential (an access key).")
    content: str = Field(min_length=1, max_length=128, description="The agency name, or the access key.")
    secret_key: str | None = Field(
        default=None, min_length=1, max_length=256, description="For type credential only; stored encrypted."
    )


class ResultOut(Schema):
    result: bool


class DeleteResultOut(Schema):
    result: bool
    success_message: str | None = None


class AuthorizationOut(Schema):
    create_time: int
    user_id: str
    user_name: str | None
    type: Literal["agency", "credential"]
    content: str


class AuthorizationListOut(Schema):
    auth: list[AuthorizationOut]
    total_count: int


class AuthorizationQuery(Schema):
    sort_by: Literal["user_name", "create_time"] = "user_name"
    order: Literal["asc", "desc"] = "asc"
    limit: int = Field(default=1000, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class DeleteQuery(Schema):
    user_id: str = Field(min_length=1, max_length=64, description='An IAM user id, or "all-users".')


_AUTH_CODES = {"user_id": "ModelArts.2003", "content": "ModelArts.2005", "type": "ModelArts.0202"}


def _user_for(project, user_id: str):
    if user_id == ALL_USERS:
        return None
    user = selectors.user_by_iam_id(project=project, user_id=user_id)
    if user is None:
        raise ApiError(
            "ModelArts.2003",
            _('user_id: no member of this project has the user id "%(user_id)s".') % {"user_id": user_id},
        )
    return user


@router.post(
    "/v2/{project_id}/authorizations",
    response=with_errors({200: ResultOut}, *AUTHED, 413),
    summary="Configure authorization",
    description=(
        "Gives a user (or all-users) an agency, or records a user's access key (type credential, with "
        "secret_key). Replaces that user's previous authorization."
    ),
)
def create_authorization(request, project_id: str, payload: AuthorizationIn):
    scope = scope_for(request.auth, project_id, role=Role.ADMIN)
    user = _user_for(scope.project, payload.user_id)
    kwargs = {}
    if payload.type == Authorization.Type.AGENCY:
        if payload.secret_key is not None:
            raise ApiError("ModelArts.2005", _("secret_key: only a credential authorization has a secret key."))
        agency = selectors.agency_get(project=scope.project, name=payload.content)
        if agency is None:
            raise ApiError(
                "ModelArts.2004",
                _('content: this project has no agency named "%(name)s". Create it with POST /v2/{project_id}/agency.')
                % {"name": payload.content},
            )
        kwargs["agency"] = agency
    else:
        if payload.secret_key is None:
            raise ApiError("ModelArts.2005", _("secret_key: a credential authorization needs the secret key."))
        kwargs.update(access_key=payload.content, secret_key=payload.secret_key)
    try:
        services.authorization_create(actor=scope.user, project=scope.project, user=user, type=payload.type, **kwargs)
    except ValidationError as error:
        raise from_validation_error(error, codes=_AUTH_CODES) from None
    return Status(200, {"result": True})


@router.get(
    "/v2/{project_id}/authorizations",
    response=with_errors({200: AuthorizationListOut}, *AUTHED),
    summary="View the authorization list",
)
def list_authorizations(request, project_id: str, query: Query[AuthorizationQuery]):
    scope = scope_for(request.auth, project_id, role=Role.ADMIN)
    authorizations = selectors.authorization_list(project=scope.project, sort_by=query.sort_by, order=query.order)
    total = authorizations.count()
    page = authorizations[query.offset : query.offset + query.limit]
    return Status(
        200,
        {
            "auth": [
                {
                    "create_time": _ms(a.created_at),
                    "user_id": ALL_USERS if a.user_id is None else a.user.profile.user_id_hex,
                    "user_name": a.user_label,
                    "type": a.type,
                    # The access key for credentials; the secret never leaves the database.
                    "content": a.content,
                }
                for a in page
            ],
            "total_count": total,
        },
    )


@router.delete(
    "/v2/{project_id}/authorizations",
    response=with_errors({200: DeleteResultOut}, *AUTHED, 404),
    summary="Delete authorization",
    description="Deletes one user's authorization, or with user_id=all-users the all-users one.",
    exclude_none=True,
)
def delete_authorization(request, project_id: str, query: Query[DeleteQuery]):
    scope = scope_for(request.auth, project_id, role=Role.ADMIN)
    # By id, not through membership: a former member's authorization can still be removed.
    authorization = selectors.authorization_for_iam_id(project=scope.project, user_id=query.user_id)
    if authorization is None:
        raise ApiError(
            "ModelArts.2006",
            _('"%(user_id)s" has no authorization in this project.') % {"user_id": query.user_id},
        )
    services.authorization_delete(actor=scope.user, authorization=authorization)
    if query.user_id == ALL_USERS:
        return Status(200, {"result": True, "success_message": "Delete all-users auth info successfully!"})
    return Status(200, {"result": True})
