"""Administrators' pages for agencies and authorizations (委托授权).

Project admins manage; other members see only the authorizations that apply to
them (their own and all-users), so they know whether storage will work for them.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from console.accounts.models import Role
from console.accounts.permissions import project_view
from console.authorization_pages.forms import AgencyForm, AuthorizationForm, ConfirmWordForm
from console.authorizations import selectors, services
from console.authorizations.models import Agency, Authorization
from console.core.forms import apply_validation_error
from console.core.htmx import paginate, query_without_page, redirect_after_post, render_page
from console.storage.selectors import bucket_list


def _authorization_form(request, data=None):
    project = request.project
    return AuthorizationForm(
        data,
        users=selectors.users_authorizable(project=project),
        agencies=selectors.agency_list(project=project),
    )


def _agency_form(request, data=None):
    return AgencyForm(data, buckets=bucket_list(project=request.project))


def _context(request, *, authorization_form=None, agency_form=None):
    project = request.project
    is_admin = request.project_role == Role.ADMIN
    search = request.GET.get("q", "").strip()
    order = request.GET.get("order", "asc")
    sort_by = request.GET.get("sort_by", "user_name")
    authorizations = selectors.authorization_list(project=project, sort_by=sort_by, order=order, search=search)
    if not is_admin:
        authorizations = selectors.authorizations_applying_to(authorizations, user=request.user)
    context = {
        "project": project,
        "is_admin": is_admin,
        "page": paginate(request, authorizations),
        "query": query_without_page(request),
        "search": search,
        "sort_by": sort_by,
        "order": order,
        "all_users_authorization": selectors.authorization_for(project=project, user=None),
        "confirm_word": ConfirmWordForm.WORD,
        # What each member really reaches (their own grant and all-users together), by the gate's rule.
        "effective": selectors.effective_access(
            project=project, users=selectors.users_authorizable(project=project) if is_admin else [request.user]
        ),
    }
    if is_admin:
        context.update(
            agencies=selectors.agency_list(project=project),
            authorization_form=authorization_form or _authorization_form(request),
            agency_form=agency_form or _agency_form(request),
        )
    return context


@project_view(Role.VIEWER)
def authorization_list(request):
    return render_page(
        request, "authorizations/authorization_list.html", _context(request), fragment="authorization-table"
    )


@require_POST
@project_view(Role.ADMIN)
def authorization_create(request):
    form = _authorization_form(request, request.POST)
    if form.is_valid():
        try:
            authorization = services.authorization_create(
                actor=request.user, project=request.project, **form.service_kwargs()
            )
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(
                request,
                _("Authorized %(user)s with %(content)s.")
                % {"user": authorization.user_label, "content": authorization.content},
            )
            return redirect_after_post(request, "authorizations:list", project_id=request.project.project_id)
    return render_page(
        request,
        "authorizations/authorization_list.html",
        _context(request, authorization_form=form),
        fragment="authorization-form",
    )


@require_POST
@project_view(Role.ADMIN)
def authorization_delete(request, authorization_id):
    authorization = get_object_or_404(
        Authorization.objects.select_related("user", "agency"), pk=authorization_id, project=request.project
    )
    if authorization.is_all_users:
        return _all_users_delete(request, authorization)
    services.authorization_delete(actor=request.user, authorization=authorization)
    messages.success(request, _("The authorization of %(user)s was deleted.") % {"user": authorization.user_label})
    return redirect_after_post(request, "authorizations:list", project_id=request.project.project_id)


@require_POST
@project_view(Role.ADMIN)
def authorization_delete_all_users(request):
    authorization = selectors.authorization_for(project=request.project, user=None)
    if authorization is None:
        messages.error(request, _("There is no all-users authorization to delete."))
        return redirect_after_post(request, "authorizations:list", project_id=request.project.project_id)
    return _all_users_delete(request, authorization)


def _all_users_delete(request, authorization):
    # Removing all-users cuts storage off for everyone without an own authorization:
    # it takes the typed word, like the seed's other destructive actions.
    form = ConfirmWordForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["confirm"]))
        return redirect_after_post(request, "authorizations:list", project_id=request.project.project_id)
    services.authorization_delete(actor=request.user, authorization=authorization)
    messages.success(request, _("Delete all-users auth info successfully!"))
    return redirect_after_post(request, "authorizations:list", project_id=request.project.project_id)


@require_POST
@project_view(Role.ADMIN)
def authorization_delete_batch(request):
    ids = [value for value in request.POST.getlist("authorization") if value.isdigit()]
    chosen = list(Authorization.objects.filter(project=request.project, pk__in=ids))
    if any(a.is_all_users for a in chosen):
        messages.error(request, _("The all-users authorization is deleted with its own button, after typing DELETE."))
        return redirect_after_post(request, "authorizations:list", project_id=request.project.project_id)
    if not chosen:
        messages.error(request, _("Select the authorizations to delete."))
        return redirect_after_post(request, "authorizations:list", project_id=request.project.project_id)
    count = services.authorization_delete_many(actor=request.user, project=request.project, authorizations=chosen)
    messages.success(request, _("%(count)d authorization(s) deleted.") % {"count": count})
    return redirect_after_post(request, "authorizations:list", project_id=request.project.project_id)


@require_POST
@project_view(Role.ADMIN)
def agency_create(request):
    form = _agency_form(request, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            agency = services.agency_create(
                actor=request.user,
                project=request.project,
                suffix=data["agency_name_suffix"],
                description=data["description"],
                all_buckets=data["all_buckets"],
                buckets=[] if data["all_buckets"] else data["buckets"],
                access=data["access"],
            )
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("Agency %(name)s created.") % {"name": agency.name})
            return redirect_after_post(request, "authorizations:list", project_id=request.project.project_id)
    return render_page(
        request,
        "authorizations/authorization_list.html",
        _context(request, agency_form=form),
        fragment="agency-form",
    )


@require_POST
@project_view(Role.ADMIN)
def agency_delete(request, agency_id):
    agency = get_object_or_404(Agency, pk=agency_id, project=request.project)
    try:
        services.agency_delete(actor=request.user, agency=agency)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Agency %(name)s deleted.") % {"name": agency.name})
    return redirect_after_post(request, "authorizations:list", project_id=request.project.project_id)
