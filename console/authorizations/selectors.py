"""Reads for agencies and authorizations, always within one project."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, Value
from django.db.models.functions import Coalesce

from console.authorizations.models import ALL_USERS, Agency, Authorization

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
