from console.accounts.permissions import site_admin_required
from console.audit.selectors import audit_entry_list, audit_filter_choices
from console.core.htmx import query_without_page, render_page
from console.core.paging import paginate_deferred


@site_admin_required
def audit_list(request):
    filters = {key: request.GET.get(key, "").strip() for key in ("actor", "action", "object_type", "project_id")}
    entries = audit_entry_list(**filters).select_related("project")
    return render_page(
        request,
        "audit/audit_list.html",
        {
            "page": paginate_deferred(request, entries, per_page=50),
            "filters": filters,
            "choices": audit_filter_choices(),
            "query": query_without_page(request),
        },
        fragment="audit-table",
    )
