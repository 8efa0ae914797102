"""One place that turns a URL's project_id into (project, role), or 404/403."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from console.accounts.models import ROLE_RANK, Role
from console.accounts.selectors import is_site_admin, project_for_member


def project_view(role: str = Role.VIEWER):
    """Resolve `project_id` into request.project / request.project_role, requiring `role`."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, project_id, *args, **kwargs):
            project, user_role = project_for_member(user=request.user, project_id=project_id)
            if ROLE_RANK[user_role] < ROLE_RANK[role]:
                raise PermissionDenied("Your role in this project does not allow this.")
            request.project = project
            request.project_role = user_role
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def site_admin_required(view):
    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_site_admin(request.user):
            raise PermissionDenied("Only site administrators may do this.")
        return view(request, *args, **kwargs)

    return wrapper


def can(request, role: str) -> bool:
    """For templates and views: may the current user act with `role` in request.project?"""
    current = getattr(request, "project_role", None)
    return current is not None and ROLE_RANK[current] >= ROLE_RANK[role]
