"""Writes for organisations, users, projects and memberships. Every change is audited."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from console.accounts.models import Membership, Organization, Profile, Project, Role
from console.audit.services import audit_record

User = get_user_model()

# Hooks other apps register to set up a new project (e.g. its default authorization).
_project_created_hooks = []


def on_project_created(hook):
    _project_created_hooks.append(hook)
    return hook


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def organization_create(*, actor, name: str) -> Organization:
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Enter a name.")})
    if Organization.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": _("An organisation with this name already exists.")})
    org = Organization.objects.create(name=name)
    audit_record(actor=actor, action="organization.create", obj=org, after={"name": name})
    return org


@transaction.atomic
def user_create(
    *, actor, username: str, email: str, organization: Organization, password: str, is_site_admin: bool = False
) -> User:
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": _("A user with this username already exists.")})
    user = User.objects.create_user(
        username=username, email=email, password=password, is_staff=is_site_admin, is_superuser=False
    )
    Profile.objects.create(user=user, organization=organization)
    audit_record(
        actor=actor,
        action="user.create",
        obj=user,
        after={"username": username, "organization": organization.name, "site_admin": is_site_admin},
    )
    return user


def end_sessions(user, *, keep_session_key: str | None = None) -> int:
    """Sign the user out everywhere (but the session that asked, if given)."""
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.session_key == keep_session_key:
            continue
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            session.delete()
            ended += 1
    return ended


@transaction.atomic
def user_set_active(*, actor, user, active: bool) -> None:
    if user == actor and not active:
        raise ValidationError(_("You cannot deactivate yourself."))
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.is_active == active:
        return
    locked.is_active = active
    locked.save(update_fields=["is_active"])
    user.is_active = active
    if not active:
        transaction.on_commit(lambda: end_sessions(locked))
        _revoke_api_tokens(locked)
    audit_record(
        actor=actor,
        action="user.activate" if active else "user.deactivate",
        obj=locked,
        before={"is_active": not active},
        after={"is_active": active},
    )


def user_set_site_admin(*, actor, user, site_admin: bool) -> None:
    if user == actor and not site_admin:
        raise ValidationError(_("You cannot remove your own site administrator rights."))
    before = user.is_staff
    user.is_staff = site_admin
    user.save(update_fields=["is_staff"])
    audit_record(
        actor=actor, action="user.site_admin", obj=user, before={"site_admin": before}, after={"site_admin": site_admin}
    )


def user_reset_password(*, actor, user) -> str:
    password = generate_password()
    user.set_password(password)
    user.save(update_fields=["password"])
    end_sessions(user)
    _revoke_api_tokens(user)
    audit_record(actor=actor, action="user.reset_password", obj=user)
    return password


def password_changed(*, user, keep_session_key: str | None) -> None:
    """After a user changes their own password: their other sessions and API tokens end."""
    end_sessions(user, keep_session_key=keep_session_key)
    _revoke_api_tokens(user)
    audit_record(actor=user, action="user.change_password", obj=user)


def _revoke_api_tokens(user) -> None:
    # API tokens arrive with the REST API; until then there is nothing to revoke.
    revoke = getattr(user, "api_tokens", None)
    if revoke is not None:
        revoke.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


def user_set_language(*, user, language: str) -> None:
    Profile.objects.filter(user=user).update(language=language)


@transaction.atomic
def project_create(*, actor, organization: Organization, name: str, description: str = "") -> Project:
    name = name.strip()
    if Project.objects.filter(organization=organization, name=name).exists():
        raise ValidationError({"name": _("This organisation already has a project with this name.")})
    project = Project.objects.create(organization=organization, name=name, description=description)
    audit_record(
        actor=actor,
        action="project.create",
        obj=project,
        project=project,
        after={"name": name, "organization": organization.name},
    )
    for hook in _project_created_hooks:
        hook(project=project, actor=actor)
    return project


def project_switch(*, user, project: Project) -> None:
    Profile.objects.filter(user=user).update(current_project=project)


def _check_same_organization(project: Project, user) -> None:
    if not hasattr(user, "profile") or user.profile.organization_id != project.organization_id:
        raise ValidationError({"user": _("Only users of the project's organisation can join it.")})


@transaction.atomic
def membership_add(*, actor, project: Project, user, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": _("Choose a valid role.")})
    _check_same_organization(project, user)
    if Membership.objects.filter(project=project, user=user).exists():
        raise ValidationError({"user": _("This user is already a member of the project.")})
    membership = Membership.objects.create(project=project, user=user, role=role)
    audit_record(
        actor=actor,
        action="membership.add",
        obj=membership,
        project=project,
        after={"user": user.username, "role": role},
    )
    return membership


def _lock_project(project_id: int) -> None:
    """Serialise changes to one project's admins on the project's row.

    A COUNT takes no row locks, so without this two admins stepping down at the same
    moment would each still see the other and leave the project with none. Taken first,
    before any membership row, so every path locks in the same order.
    """
    Project.objects.select_for_update().filter(pk=project_id).exists()


def _admins_left_without(project: Project, membership: Membership) -> int:
    # Called under _lock_project: the count cannot change until this transaction ends.
    return Membership.objects.filter(project=project, role=Role.ADMIN).exclude(pk=membership.pk).count()


@transaction.atomic
def membership_change_role(*, actor, membership: Membership, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": _("Choose a valid role.")})
    _lock_project(membership.project_id)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    before = membership.role
    if before == Role.ADMIN and role != Role.ADMIN and _admins_left_without(membership.project, membership) == 0:
        raise ValidationError({"role": _("A project keeps at least one project admin.")})
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        actor=actor,
        action="membership.change_role",
        obj=membership,
        project=membership.project,
        before={"role": before},
        after={"role": role},
    )
    return membership


@transaction.atomic
def membership_remove(*, actor, membership: Membership) -> None:
    _lock_project(membership.project_id)
    membership = Membership.objects.select_for_update().select_related("user", "project").get(pk=membership.pk)
    if membership.role == Role.ADMIN and _admins_left_without(membership.project, membership) == 0:
        raise ValidationError(_("A project keeps at least one project admin."))
    audit_record(
        actor=actor,
        action="membership.remove",
        obj=membership,
        project=membership.project,
        before={"user": membership.user.username, "role": membership.role},
    )
    membership.delete()


def ensure_first_admin(*, organization_name: str = "default", username: str = "admin") -> tuple[User, str] | None:
    """Create the first site administrator if there is none. Returns (user, password) once."""
    if User.objects.filter(is_staff=True, is_active=True).exists():
        return None
    organization, _created = Organization.objects.get_or_create(name=organization_name)
    # The name may be held by a deactivated (or demoted) former administrator: take the next free one.
    base, n = username, 1
    while User.objects.filter(username__iexact=username).exists():
        n += 1
        username = f"{base}{n}"
    password = generate_password()
    with transaction.atomic():
        user = User.objects.create_user(username=username, password=password, is_staff=True, is_superuser=True)
        Profile.objects.create(user=user, organization=organization)
        audit_record(actor=None, action="user.create", obj=user, after={"username": username, "site_admin": True})
    return user, password
