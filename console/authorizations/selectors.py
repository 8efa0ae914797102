"""Reads for agencies and authorizations, always within one project."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, Value
from django.db.models.functions import Coalesce

from console.authorizations.models import ALL_USERS, Access, Agency, Authorization

User = get_user_model()

SORT_FIELDS = {"user_name": "sort_user_name", "create_time": "created_at", "type": "type"}


def agency_list(*, project):
    return (
        Agency.objects.filter(project=project)
        .annotate(authorization_count=Count("authorizations"))
        .prefetch_related("buckets")
        .order_by("name")
    )


def agency_get(*, project, name: str) -> Agency | None:
    return Agency.objects.filter(project=project, name=name).first()


def authorization_list(*, project, sort_by: str = "user_name", order: str = "asc", search: str = ""):
    """The project's authorizations; all-users sorts as the user name "all-users"."""
    field = SORT_FIELDS.get(sort_by, "sort_user_name")
    authorizations = (
        Authorization.objects.filter(project=project)
        .select_related("user", "user__profile", "agency")
        .annotate(sort_user_name=Coalesce(F("user__username"), Value(ALL_USERS)))
    )
    if search:
        authorizations = authorizations.filter(sort_user_name__icontains=search)
    ordering = F(field).desc() if order == "desc" else F(field).asc()
    return authorizations.order_by(ordering, "pk")


def authorizations_applying_to(authorizations, *, user):
    """Narrow a list to what a non-administrator may see: their own and the all-users one."""
    return authorizations.filter(Q(user=user) | Q(user__isnull=True))


def authorization_for(*, project, user) -> Authorization | None:
    """The authorization of `user` (None = all-users) in the project, if any."""
    return Authorization.objects.filter(project=project, user=user).select_related("user", "agency").first()


def authorization_for_iam_id(*, project, user_id: str) -> Authorization | None:
    """The authorization named by the API's user_id ("all-users" or an IAM user id)."""
    authorizations = Authorization.objects.filter(project=project).select_related("user", "agency")
    if user_id == ALL_USERS:
        return authorizations.filter(user__isnull=True).first()
    return authorizations.filter(user__profile__user_id_hex=user_id).first()


def user_by_iam_id(*, project, user_id: str):
    """The project member whose IAM user id (Profile.user_id_hex) is `user_id`, or None."""
    return (
        User.objects.filter(profile__user_id_hex=user_id, memberships__project=project)
        .select_related("profile")
        .first()
    )


def users_authorizable(*, project):
    """Members of the project, for the "authorize a user" form."""
    return (
        User.objects.filter(memberships__project=project, is_active=True).select_related("profile").order_by("username")
    )


# --- what a user may reach: the union of their own and the all-users authorization ------------
#
# One rule, used by the storage gate (console.storage.gate) for every read and write made on a
# user's behalf, and by the authorizations page to show each member's effective access.


def _in_grant_order(grants) -> list[Authorization]:
    # The order the rule walks them in: the oldest grant first (Authorization.Meta.ordering).
    return sorted(grants, key=lambda grant: (grant.created_at, grant.pk))


def grants_of(*, project, user) -> list[Authorization]:
    """The authorizations that apply to ``user`` in ``project``: their own AND the all-users one.

    Both apply at once (a union); a user's new authorization replaces only their own previous one.
    """
    return _in_grant_order(
        Authorization.objects.filter(project=project)
        .filter(Q(user=user) | Q(user__isnull=True))
        .select_related("agency")
        .prefetch_related("agency__buckets")
    )


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    # The user's own access key to use (the storage service then decides what it may do).
    credential: Authorization | None = None
    # The agency that allows it (the platform's access to the bucket).
    agency: Agency | None = None
    # Refused: agencies that reach the bucket for reading only, and every agency granted.
    read_only_agencies: tuple[str, ...] = ()
    agencies: tuple[str, ...] = ()


def access_decision(grants: list[Authorization], *, bucket, write: bool) -> AccessDecision:
    """May these grants (``grants_of``) reach ``bucket``, for writing or for reading?

    Walked oldest first: an access key (credential) is used as soon as it is met; an agency
    allows when it covers the bucket and, for a write, is read-write. Any one grant suffices.
    """
    read_only = []
    for grant in grants:
        if grant.type == Authorization.Type.CREDENTIAL:
            return AccessDecision(allowed=True, credential=grant)
        agency = grant.agency
        if not agency.covers(bucket):
            continue
        if write and not agency.can_write:
            read_only.append(agency.name)
            continue
        return AccessDecision(allowed=True, agency=agency)
    return AccessDecision(
        allowed=False,
        read_only_agencies=tuple(sorted(set(read_only))),
        agencies=tuple(sorted({grant.agency.name for grant in grants if grant.agency_id})),
    )


@dataclass(frozen=True)
class BucketAccess:
    bucket_name: str
    level: str  # Access.READ_WRITE, Access.READ, "credential" or "" (none)
    via: str = ""  # the agency's name, or the access key


@dataclass
class EffectiveAccess:
    user: object
    own: Authorization | None
    all_users: Authorization | None
    buckets: list[BucketAccess] = field(default_factory=list)

    @property
    def has_any(self) -> bool:
        return any(entry.level for entry in self.buckets)


def effective_access(*, project, users) -> list[EffectiveAccess]:
    """For each of ``users``: their grants and what they reach in each bucket of the project,
    decided by ``access_decision`` — the storage gate's own rule. A constant number of queries."""
    rows = list(
        Authorization.objects.filter(project=project).select_related("agency").prefetch_related("agency__buckets")
    )
    all_users = next((row for row in rows if row.user_id is None), None)
    own = {row.user_id: row for row in rows if row.user_id is not None}
    # Buckets are the storage app's (above this one): read through the project's reverse relation.
    buckets = list(project.buckets.order_by("name"))
    result = []
    for user in users:
        mine = own.get(user.pk)
        grants = _in_grant_order([grant for grant in (mine, all_users) if grant is not None])
        entry = EffectiveAccess(user=user, own=mine, all_users=all_users)
        for bucket in buckets:
            entry.buckets.append(_bucket_access(grants, bucket))
        result.append(entry)
    return result


def _bucket_access(grants, bucket) -> BucketAccess:
    write = access_decision(grants, bucket=bucket, write=True)
    if write.credential is not None:
        return BucketAccess(bucket.name, "credential", write.credential.access_key)
    if write.allowed:
        return BucketAccess(bucket.name, Access.READ_WRITE, write.agency.name)
    read = access_decision(grants, bucket=bucket, write=False)
    if read.allowed:
        return BucketAccess(bucket.name, Access.READ, read.agency.name)
    return BucketAccess(bucket.name, "")
