from django.views.decorators.http import require_GET

from console.accounts.models import Role
from console.accounts.permissions import project_view, site_admin_required
from console.core.htmx import render_page
from console.dashboard import operations as ops
from console.dashboard import selectors


@require_GET
@project_view(Role.VIEWER)
def project_dashboard(request):
    """The project's landing page; HTMX polls its live part (#dashboard-live) while the tab is visible."""
    return render_page(
        request,
        "dashboard/project.html",
        {"dash": selectors.project_dashboard(project=request.project), "project": request.project},
        fragment="dashboard-live",
    )


@require_GET
@site_admin_required
def operations(request):
    return render_page(request, "dashboard/operations.html", ops.operations(), fragment="operations-live")
