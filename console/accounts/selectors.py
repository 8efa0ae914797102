"""Reads, already filtered by what the user may see."""

from django.contrib.auth import get_user_model
from django.db.models import Count
from django.http import Http404

from console.accounts.models import Membership, Project, Role

User = get_user_model()


def is_site_admin(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def project_list(*, user):
    """Projects the user belongs to; site administrators see every project."""
    projects = Project.objects.select_related("organization").annotate(member_count=Count("memberships"))
    if is_site_admin(user):
        return projects
    return projects.filter(memberships__user=user)


def project_role(*, user, project: Project) -> str | None:
    """The user's role in the project (site administrators act as project admins)."""
    if is_site_admin(user):
        return Role.ADMIN
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def project_for_member(*, user, project_id: str) -> tuple[Project, str]:
    """The project and the user's role in it; 404 when the user is not in it, so ids don't leak."""
    project = Project.objects.select_related("organization").filter(project_id=project_id).first()
    role = project_role(user=user, project=project) if project else None
    if role is None:
        raise Http404("No such project.")
    return project, role


def membership_list(*, project: Project):
    return Membership.objects.filter(project=project).select_related("user").order_by("user__username")


def user_list(*, search: str = "", status: str = ""):
    users = User.objects.select_related("profile__organization").annotate(project_count=Count("memberships"))
    if search:
        users = users.filter(username__icontains=search)
    if status == "active":
        users = users.filter(is_active=True)
    elif status == "inactive":
        users = users.filter(is_active=False)
    return users.order_by("username")


def users_addable_to(*, project: Project):
    """Active users of the project's organisation who are not in it yet."""
    return (
        User.objects.filter(is_active=True, profile__organization=project.organization)
        .exclude(memberships__project=project)
        .order_by("username")
    )
