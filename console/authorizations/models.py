"""Agencies and authorizations (委托授权): who lets the platform reach which buckets.

On this self-hosted platform an *agency* is a named grant defined by a project
administrator: the buckets it reaches (all of the project's, or a list) and
whether it may write. An *authorization* gives an agency to one user or to all
users of the project (``user`` empty = the seed's ``all-users``), or records a
user's own access key (type ``credential``). The storage gate refuses every
read or write made on a user's behalf without one.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from console.core.secrets import decrypt_secret, encrypt_secret

DEFAULT_AGENCY_NAME = "modelarts_agency"
AGENCY_PREFIX = "ma_agency_"
ALL_USERS = "all-users"


class Access(models.TextChoices):
    READ = "read", _("Read")
    READ_WRITE = "read_write", _("Read and write")


class Agency(models.Model):
    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="agencies")
    # "modelarts_agency" or "ma_agency_<suffix>" (suffix up to 50 characters).
    name = models.CharField(_("agency name"), max_length=64)
    description = models.CharField(_("description"), max_length=255, blank=True)
    all_buckets = models.BooleanField(_("all buckets of the project"), default=True)
    buckets = models.ManyToManyField("storage.Bucket", blank=True, related_name="agencies")
    access = models.CharField(_("access"), max_length=10, choices=Access.choices, default=Access.READ_WRITE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "agencies"
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="agency_name_unique_in_project"),
        ]

    def __str__(self):
        return self.name

    def covers(self, bucket) -> bool:
        """Whether this agency reaches `bucket` (uses prefetched buckets when present)."""
        if bucket.project_id != self.project_id:
            return False
        if self.all_buckets:
            return True
        return any(b.pk == bucket.pk for b in self.buckets.all())

    @property
    def can_write(self) -> bool:
        return self.access == Access.READ_WRITE


class Authorization(models.Model):
    class Type(models.TextChoices):
        AGENCY = "agency", _("Agency")
        CREDENTIAL = "credential", _("Access key (credential)")

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="authorizations")
    # Empty = all users of the project (the seed's "all-users").
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="storage_authorizations"
    )
    type = models.CharField(_("type"), max_length=10, choices=Type.choices, default=Type.AGENCY)
    # An agency in use cannot be deleted from under its authorizations.
    agency = models.ForeignKey(Agency, null=True, blank=True, on_delete=models.PROTECT, related_name="authorizations")
    access_key = models.CharField(_("access key"), max_length=128, blank=True)
    secret_encrypted = models.TextField(blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            # One authorization per user per project, and one all-users authorization.
            models.UniqueConstraint(
                fields=["project", "user"], condition=Q(user__isnull=False), name="one_authorization_per_user"
            ),
            models.UniqueConstraint(
                fields=["project"], condition=Q(user__isnull=True), name="one_all_users_authorization"
            ),
            models.CheckConstraint(
                condition=(Q(type="agency", agency__isnull=False) | Q(type="credential", agency__isnull=True)),
                name="authorization_type_matches_content",
            ),
        ]

    def __str__(self):
        return f"{self.user_label}: {self.content}"

    @property
    def is_all_users(self) -> bool:
        return self.user_id is None

    @property
    def user_label(self) -> str:
        return ALL_USERS if self.user_id is None else self.user.username

    @property
    def content(self) -> str:
        """The seed's `content`: the agency name, or the access key."""
        return self.agency.name if self.type == self.Type.AGENCY and self.agency_id else self.access_key

    def set_secret(self, plain: str) -> None:
        self.secret_encrypted = encrypt_secret(plain)

    def secret(self) -> str:
        return decrypt_secret(self.secret_encrypted)
