"""Buckets: the named storage places of a project, each backed by a local folder or an S3 bucket.

A bucket's *name* is what users write in ``obs://<name>/...`` paths; it is unique
across the install so a path means the same bucket wherever it is pasted. Which
project may use it, and through which authorization, is decided by the gate
(console.storage.gate), never here.

Secrets (S3 secret keys, credential authorizations) are stored encrypted with a
key derived from SECRET_KEY (Fernet = AES-128-CBC + HMAC-SHA256). Rotating
SECRET_KEY keeps old secrets readable as long as the old key is listed in
SECRET_KEY_FALLBACKS.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from console.core.secrets import decrypt_secret, encrypt_secret
from console.storage.paths import PathError, validate_bucket

# Stored secrets are encrypted by console.core.secrets (imported here for the models below).


# --- buckets ----------------------------------------------------------------------


def validate_bucket_name(name: str) -> None:
    try:
        validate_bucket(name)
    except PathError:
        raise ValidationError(
            _(
                "A bucket name has 3 to 63 characters (lowercase letters, digits, hyphens and "
                "periods), starts and ends with a letter or digit, has no two periods or a period "
                "and a hyphen side by side, and is not an IP address."
            ),
            code="bucket_name",
        ) from None


class Bucket(models.Model):
    class Kind(models.TextChoices):
        LOCAL = "local", _("Local folder")
        S3 = "s3", _("S3-compatible (OBS, S3, MinIO)")

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="buckets")
    name = models.CharField(_("bucket name"), max_length=63, unique=True, validators=[validate_bucket_name])
    kind = models.CharField(_("backend"), max_length=10, choices=Kind.choices, default=Kind.LOCAL)
    description = models.CharField(_("description"), max_length=255, blank=True)
    # Local: empty = STORAGE_ROOT/<name>. Only site administrators may point a bucket
    # elsewhere (Django admin): a project admin must not be able to expose /etc.
    local_root = models.CharField(_("local folder"), max_length=500, blank=True)
    # S3-compatible endpoint.
    endpoint_url = models.CharField(_("endpoint URL"), max_length=500, blank=True)
    region = models.CharField(_("region"), max_length=64, blank=True)
    s3_bucket = models.CharField(_("S3 bucket"), max_length=63, blank=True)
    prefix = models.CharField(_("key prefix"), max_length=500, blank=True)
    access_key = models.CharField(_("access key"), max_length=128, blank=True)
    secret_encrypted = models.TextField(blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def uri(self) -> str:
        return f"obs://{self.name}/"

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)

    def set_secret(self, plain: str) -> None:
        self.secret_encrypted = encrypt_secret(plain)

    def local_path(self) -> Path:
        return Path(self.local_root) if self.local_root else Path(settings.STORAGE_ROOT) / self.name

    def backend_config(self, *, access_key: str | None = None, secret_key: str | None = None) -> dict:
        """The dict for console.storage.backend_for. A credential authorization may
        replace the bucket's own keys (the platform then acts with the user's keys)."""
        if self.kind == self.Kind.LOCAL:
            return {"kind": "local", "root": str(self.local_path()), "create": True}
        return {
            "kind": "s3",
            "bucket": self.s3_bucket or self.name,
            "endpoint_url": self.endpoint_url or None,
            "region": self.region or None,
            "prefix": self.prefix,
            "access_key": access_key if access_key is not None else (self.access_key or None),
            "secret_key": secret_key if secret_key is not None else (decrypt_secret(self.secret_encrypted) or None),
        }


class ProjectStorageDefaults(models.Model):
    """Marks a project whose default bucket and all-users authorization were created.

    The set-up step backfills only projects without this mark, so an administrator
    who later deletes the default bucket or the all-users authorization is not
    overruled the next time `setup_console` runs.
    """

    project = models.OneToOneField(
        "accounts.Project", on_delete=models.CASCADE, primary_key=True, related_name="storage_defaults"
    )
    applied_at = models.DateTimeField(auto_now_add=True)
