from django.shortcuts import render

from console.accounts.permissions import site_admin_required
from console.core.health import run_checks
from console.core.htmx import render_page


@site_admin_required
def health(request):
    checks = run_checks()
    return render_page(
        request,
        "core/health.html",
        {"checks": checks, "all_up": all(c.up for c in checks)},
        fragment="health-table",
    )


def error_403(request, exception=None):
    return render(request, "errors/403.html", {"reason": str(exception or "")}, status=403)


def error_404(request, exception=None):
    return render(request, "errors/404.html", status=404)


def error_500(request):
    return render(request, "errors/500.html", {"request_id": getattr(request, "request_id", "")}, status=500)


def csrf_failure(request, reason=""):
    return render(request, "errors/403.html", {"reason": "CSRF verification failed."}, status=403)
