from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from console.accounts.selectors import is_site_admin, project_list

# An entry shows only when its URL exists: the navigation never offers a page
# that is not built. Project entries take the current project's id.
PROJECT_NAV = [
    ("dashboard:project", _("Dashboard")),
    ("mymodels:model_list", _("My Models")),
    ("mymodels:catalog", _("Base models")),
    ("training:job_list", _("Training Jobs")),
    ("training:algorithm_list", _("Algorithms")),
    ("notebooks:list", _("Notebooks")),
    ("services:list", _("Inference Services")),
    ("storage:browser", _("Storage")),
    ("authorizations:list", _("Authorizations")),
    ("accounts:project_detail", _("Project settings")),
]
ADMIN_NAV = [
    ("dashboard:operations", _("Operations")),
    ("nodepools:pool_list", _("Node Pools")),
    ("training:node_list", _("Nodes")),
    ("training:flavor_list", _("Flavors")),
    ("training:engine_list", _("Engines")),
    ("mymodels:base_version_admin", _("Base models")),
    ("accounts:user_list", _("Users")),
    ("accounts:organization_list", _("Organisations")),
    ("audit:list", _("Audit log")),
    ("core:health", _("Health")),
]


def _links(request, entries, **kwargs):
    links = []
    for name, label in entries:
        try:
            url = reverse(name, kwargs=kwargs or None)
        except NoReverseMatch:
            continue
        # A section is active on its own pages; the project page only on itself.
        exact = name in ("accounts:project_detail", "dashboard:project")
        active = request.path == url if exact else request.path.startswith(url)
        links.append({"name": name, "label": label, "url": url, "active": active})
    return links


def console_nav(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    project = getattr(request, "project", None)
    if project is None:
        profile = getattr(user, "profile", None)
        project = profile.current_project if profile else None
    projects = list(project_list(user=user).order_by("name")[:50])
    if project is not None and project not in projects:
        project = None
    if project is None and projects:
        project = projects[0]
    site_admin = is_site_admin(user)
    return {
        "nav_project": project,
        "nav_projects": projects,
        "nav_project_links": _links(request, PROJECT_NAV, project_id=project.project_id) if project else [],
        "nav_admin_links": _links(request, ADMIN_NAV) if site_admin else [],
        "is_site_admin": site_admin,
        "project_role": getattr(request, "project_role", None),
    }
