"""Organisations (the IAM domain), projects, memberships and per-user settings."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


def hex32() -> str:
    return uuid.uuid4().hex


class Organization(models.Model):
    """The seed's IAM *domain*: `auth.identity.password.user.domain.name`."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    domain_id = models.CharField(max_length=32, unique=True, default=hex32, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Profile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="profiles")
    # The IAM user id of the seed's authorization payloads.
    user_id_hex = models.CharField(max_length=32, unique=True, default=hex32, editable=False)
    language = models.CharField(max_length=10, choices=settings.LANGUAGES, default="en")
    current_project = models.ForeignKey(
        "accounts.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self):
        return f"{self.user} @ {self.organization}"


class Project(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="projects")
    name = models.CharField(_("name"), max_length=64)
    description = models.CharField(_("description"), max_length=255, blank=True)
    # Appears in every API URL (/v2/{project_id}/...).
    project_id = models.CharField(max_length=32, unique=True, default=hex32, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="project_name_unique_in_org"),
        ]

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", _("Project admin")
    MEMBER = "member", _("Member")
    VIEWER = "viewer", _("Viewer")


# What each role may do, highest first; a role includes every role below it.
ROLE_RANK = {Role.VIEWER: 1, Role.MEMBER: 2, Role.ADMIN: 3}


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user"),
        ]

    def __str__(self):
        return f"{self.user} in {self.project} as {self.role}"

    def allows(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


class ApiToken(models.Model):
    """An IAM token (`POST /v3/auth/tokens`), scoped to one project.

    Only the SHA-256 of the token is kept: a database leak gives no usable token,
    and a token that is random and 384 bits long needs no slow hash.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    # Set when the user changes password, is deactivated or has the password reset.
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "revoked_at"], name="api_token_user_live")]

    def __str__(self):
        return f"token of {self.user} for {self.project} until {self.expires_at:%Y-%m-%d %H:%M}"
