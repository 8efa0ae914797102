from django.contrib import messages
from django.contrib.auth import get_user_model, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from console.accounts import selectors, services
from console.accounts.forms import (
    LanguageForm,
    MemberAddForm,
    OrganizationForm,
    ProjectForm,
    RoleForm,
    UserCreateForm,
)
from console.accounts.models import Membership, Organization, Role
from console.accounts.permissions import project_view, site_admin_required
from console.core.forms import apply_validation_error
from console.core.htmx import paginate, query_without_page, redirect_after_post, render_page

User = get_user_model()


def _own_organization_id(user):
    # A superuser made with `manage.py createsuperuser` has no profile.
    profile = getattr(user, "profile", None)
    return profile.organization_id if profile else None


def locked_out(request, credentials=None, *args, **kwargs):
    """django-axes lockout: 429 with a page that says why and for how long."""
    return render(request, "accounts/locked_out.html", status=429)


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"

    def form_valid(self, form):
        form.save()
        update_session_auth_hash(self.request, form.user)
        services.password_changed(user=form.user, keep_session_key=self.request.session.session_key)
        messages.success(self.request, _("Your password was changed. Your other sessions were signed out."))
        return redirect("home")


@login_required
def home(request):
    profile = getattr(request.user, "profile", None)
    projects = selectors.project_list(user=request.user)
    project = profile.current_project if profile and profile.current_project in projects else projects.first()
    if project is None:
        return render(request, "accounts/no_project.html")
    # A project opens on its dashboard (console.dashboard, named here by URL only: it is a layer above).
    return redirect("dashboard:project", project_id=project.project_id)


@require_POST
def set_language(request):
    form = LanguageForm(request.POST)
    target = request.POST.get("next") or "/"
    # Only a path on this site: a bare word ("abc") would be taken for a view name by redirect().
    if not target.startswith("/") or not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    response = redirect(target)
    if form.is_valid():
        language = form.cleaned_data["language"]
        if request.user.is_authenticated:
            services.user_set_language(user=request.user, language=language)
        from django.conf import settings

        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, max_age=365 * 24 * 3600, samesite="Lax")
    return response


# --- projects -----------------------------------------------------------------


@login_required
def project_list(request):
    projects = selectors.project_list(user=request.user).order_by("organization__name", "name")
    page = paginate(request, projects)
    return render_page(
        request,
        "accounts/project_list.html",
        {"page": page, "query": query_without_page(request), "can_create": selectors.is_site_admin(request.user)},
        fragment="project-table",
    )


@site_admin_required
def project_create(request):
    form = ProjectForm(request.POST or None, initial={"organization": _own_organization_id(request.user)})
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("Project “%(name)s” created.") % {"name": project.name})
            return redirect_after_post(request, "accounts:project_detail", project_id=project.project_id)
    return render_page(request, "accounts/project_form.html", {"form": form}, fragment="project-form")


@project_view(Role.VIEWER)
def project_detail(request):
    project = request.project
    return render(
        request,
        "accounts/project_detail.html",
        {
            "project": project,
            "project_role_label": Role(request.project_role).label,
            "memberships": selectors.membership_list(project=project),
            "can_manage": request.project_role == Role.ADMIN,
            "add_form": MemberAddForm(users=selectors.users_addable_to(project=project)),
            "role_choices": Role.choices,
        },
    )


@require_POST
@project_view(Role.VIEWER)
def project_switch(request):
    services.project_switch(user=request.user, project=request.project)
    return redirect("dashboard:project", project_id=request.project.project_id)


def _members_fragment(request, *, add_form=None, status=200):
    project = request.project
    return render(
        request,
        "accounts/project_detail.html#members",
        {
            "project": project,
            "memberships": selectors.membership_list(project=project),
            "can_manage": True,
            "add_form": add_form or MemberAddForm(users=selectors.users_addable_to(project=project)),
            "role_choices": Role.choices,
        },
        status=status,
    )


@require_POST
@project_view(Role.ADMIN)
def member_add(request):
    form = MemberAddForm(request.POST, users=selectors.users_addable_to(project=request.project))
    if form.is_valid():
        try:
            services.membership_add(actor=request.user, project=request.project, **form.cleaned_data)
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("%(user)s added.") % {"user": form.cleaned_data["user"].username})
            if not request.htmx:
                return redirect("accounts:project_detail", project_id=request.project.project_id)
            return _members_fragment(request)
    if not request.htmx:
        messages.error(request, "; ".join(e for errors in form.errors.values() for e in errors))
        return redirect("accounts:project_detail", project_id=request.project.project_id)
    return _members_fragment(request, add_form=form)


@require_POST
@project_view(Role.ADMIN)
def member_change_role(request, membership_id):
    membership = get_object_or_404(Membership, pk=membership_id, project=request.project)
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            services.membership_change_role(actor=request.user, membership=membership, role=form.cleaned_data["role"])
            messages.success(request, _("Role changed."))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
    else:
        messages.error(request, _("Choose a valid role."))
    if request.htmx:
        return _members_fragment(request)
    return redirect("accounts:project_detail", project_id=request.project.project_id)


@require_POST
@project_view(Role.ADMIN)
def member_remove(request, membership_id):
    membership = get_object_or_404(Membership, pk=membership_id, project=request.project)
    try:
        services.membership_remove(actor=request.user, membership=membership)
        messages.success(request, _("Member removed."))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    if request.htmx:
        return _members_fragment(request)
    return redirect("accounts:project_detail", project_id=request.project.project_id)


# --- users and organisations (site administrators) -----------------------------


@site_admin_required
def user_list(request):
    users = selectors.user_list(search=request.GET.get("q", "").strip(), status=request.GET.get("status", ""))
    return render_page(
        request,
        "accounts/user_list.html",
        {"page": paginate(request, users), "query": query_without_page(request)},
        fragment="user-table",
    )


@site_admin_required
def user_create(request):
    form = UserCreateForm(request.POST or None, initial={"organization": _own_organization_id(request.user)})
    if request.method == "POST" and form.is_valid():
        password = services.generate_password()
        try:
            user = services.user_create(actor=request.user, password=password, **form.cleaned_data)
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            return render(request, "accounts/user_created.html", {"new_user": user, "password": password})
    return render_page(request, "accounts/user_form.html", {"form": form}, fragment="user-form")


@require_POST
@site_admin_required
def user_action(request, user_id, action):
    user = get_object_or_404(User, pk=user_id)
    try:
        if action == "deactivate":
            services.user_set_active(actor=request.user, user=user, active=False)
            messages.success(request, _("%(user)s deactivated and signed out.") % {"user": user.username})
        elif action == "activate":
            services.user_set_active(actor=request.user, user=user, active=True)
            messages.success(request, _("%(user)s activated.") % {"user": user.username})
        elif action == "reset-password":
            password = services.user_reset_password(actor=request.user, user=user)
            return render(
                request, "accounts/user_created.html", {"new_user": user, "password": password, "reset": True}
            )
        elif action in ("grant-admin", "revoke-admin"):
            services.user_set_site_admin(actor=request.user, user=user, site_admin=action == "grant-admin")
            messages.success(request, _("Rights of %(user)s updated.") % {"user": user.username})
        else:
            messages.error(request, _("Unknown action."))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect(reverse("accounts:user_list") + "?" + request.GET.urlencode())


@site_admin_required
def organization_list(request):
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.organization_create(actor=request.user, name=form.cleaned_data["name"])
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("Organisation created."))
            return redirect("accounts:organization_list")
    organizations = Organization.objects.all()
    return render(request, "accounts/organization_list.html", {"organizations": organizations, "form": form})
