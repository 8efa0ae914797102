"""The `page.html#fragment` convention: one template, full page or its fragment."""

from django.core.paginator import Paginator
from django.shortcuts import render


def is_partial(request) -> bool:
    # A history restore (back button after hx-push-url) needs the whole page.
    htmx = request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page(request, template: str, context: dict, *, fragment: str, status: int = 200):
    name = f"{template}#{fragment}" if is_partial(request) else template
    return render(request, name, context, status=status)


def paginate(request, queryset, *, per_page: int = 20):
    paginator = Paginator(queryset, per_page)
    return paginator.get_page(request.GET.get("page"))


def query_without_page(request) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


def redirect_after_post(request, to: str, *args, **kwargs):
    """PRG for plain requests; a client-side redirect for HTMX ones (a 302 would be swapped in)."""
    from django.shortcuts import redirect, resolve_url
    from django_htmx.http import HttpResponseClientRedirect

    if request.htmx:
        return HttpResponseClientRedirect(resolve_url(to, *args, **kwargs))
    return redirect(to, *args, **kwargs)
