"""Writes for buckets and for the objects in them.

Bucket administration (create, delete when empty) is for project admins and is
audited. Object writes (folder, upload, delete) go through the gate with
``access="write"``; deletions are audited.
"""

from __future__ import annotations

import logging
import os
import re
from typing import BinaryIO

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from console.accounts.models import Project
from console.audit.services import audit_record
from console.authorizations.services import authorization_defaults_create
from console.storage import gate
from console.storage.models import Bucket, ProjectStorageDefaults, validate_bucket_name
from console.storage.paths import MAX_KEY_BYTES, ObsPath, PathError, folder_key, validate_key

logger = logging.getLogger(__name__)

_NOT_BUCKET_CHARS = re.compile(r"[^a-z0-9-]+")


# --- buckets ---------------------------------------------------------------------


def default_bucket_name(project) -> str:
    """``<project-name-lowercased>-<first 6 of project_id>``, squeezed into bucket rules."""
    base = _NOT_BUCKET_CHARS.sub("-", project.name.lower()).strip("-")
    base = re.sub(r"-{2,}", "-", base) or "project"
    suffix = project.project_id[:6]
    return f"{base[: 63 - len(suffix) - 1].rstrip('-')}-{suffix}"


def _check_s3_reachable(bucket: Bucket, secret_key: str) -> None:
    from console.storage.backends.s3 import S3Backend

    config = bucket.backend_config(secret_key=secret_key)
    config.pop("kind")
    try:
        # Short timeouts and one attempt: the administrator is waiting on the form.
        backend = S3Backend(
            **{k: v for k, v in config.items() if v is not None}, connect_timeout=5, read_timeout=10, max_attempts=1
        )
        backend.list_dir("")
    except Exception as error:  # noqa: BLE001 — any failure is reported on the form, never a 500
        raise ValidationError(
            _("The bucket could not be reached with these settings: %(error)s") % {"error": _short_error(error)},
            code="unreachable",
        ) from None


def _short_error(error: Exception) -> str:
    text = str(error) or error.__class__.__name__
    return text if len(text) <= 300 else text[:300] + "…"


@transaction.atomic
def bucket_create(
    *,
    actor,
    project,
    name: str,
    kind: str = Bucket.Kind.LOCAL,
    description: str = "",
    endpoint_url: str = "",
    region: str = "",
    s3_bucket: str = "",
    prefix: str = "",
    access_key: str = "",
    secret_key: str = "",
    check_connection: bool = True,
) -> Bucket:
    name = name.strip()
    validate_bucket_name(name)
    if kind not in Bucket.Kind.values:
        raise ValidationError({"kind": _("Choose a local folder or an S3-compatible bucket.")})
    if Bucket.objects.filter(name=name).exists():
        # Unique across the install: obs://name must resolve to one bucket everywhere.
        raise ValidationError(
            {"name": _("A bucket with this name already exists. Bucket names are unique across the console.")}
        )
    bucket = Bucket(project=project, name=name, kind=kind, description=description.strip())
    if kind == Bucket.Kind.S3:
        errors = {}
        if endpoint_url:
            try:
                URLValidator(schemes=["http", "https"])(endpoint_url)
            except ValidationError:
                errors["endpoint_url"] = _(
                    "Enter an http:// or https:// URL, such as https://obs.cn-north-4.myhuaweicloud.com."
                )
        if prefix:
            try:
                folder_key(prefix.strip())
            except PathError as error:
                errors["prefix"] = gate.path_error_message(error)
        if bool(access_key) != bool(secret_key):
            errors["secret_key"] = _(
                "Enter both the access key and the secret key, or neither (to use the server's default credentials)."
            )
        if s3_bucket:
            try:
                validate_bucket_name(s3_bucket)
            except ValidationError as error:
                errors["s3_bucket"] = error.messages
        if errors:
            raise ValidationError(errors)
        bucket.endpoint_url = endpoint_url
        bucket.region = region.strip()
        bucket.s3_bucket = s3_bucket.strip()
        bucket.prefix = folder_key(prefix.strip()) if prefix.strip() else ""
        bucket.access_key = access_key.strip()
        bucket.set_secret(secret_key)
        if check_connection:
            _check_s3_reachable(bucket, secret_key)
    bucket.created_by = actor if getattr(actor, "pk", None) else None
    try:
        with transaction.atomic():
            bucket.save()
    except IntegrityError:
        raise ValidationError(
            {"name": _("A bucket with this name already exists. Bucket names are unique across the console.")}
        ) from None
    if kind == Bucket.Kind.LOCAL:
        root = bucket.local_path()
        transaction.on_commit(lambda: root.mkdir(parents=True, exist_ok=True))
    audit_record(
        actor=actor,
        action="bucket.create",
        obj=bucket,
        project=project,
        after={
            "name": name,
            "kind": kind,
            "endpoint_url": bucket.endpoint_url,
            "s3_bucket": bucket.s3_bucket,
            "prefix": bucket.prefix,
        },
    )
    return bucket


def bucket_is_empty(bucket: Bucket) -> bool:
    """Raises StorageError (or botocore errors) if the bucket cannot be listed."""
    backend = gate.backend_for_bucket(bucket)
    return not backend.list_dir("")


@transaction.atomic
def bucket_delete(*, actor, bucket: Bucket) -> None:
    """Delete a bucket that holds nothing. A local bucket's empty folder goes with it;
    an S3 bucket is only forgotten (the console never owned it)."""
    bucket = Bucket.objects.select_for_update().get(pk=bucket.pk)
    try:
        empty = bucket_is_empty(bucket)
    except Exception as error:  # noqa: BLE001
        if bucket.kind == Bucket.Kind.LOCAL:
            raise ValidationError(
                _("The bucket's folder cannot be read (%(error)s); it was not deleted.")
                % {"error": _short_error(error)}
            ) from None
        # Unreachable S3: forgetting it loses nothing, the objects stay on the server.
        logger.warning("deleting unreachable S3 bucket %s: %s", bucket.name, error)
        empty = True
    if not empty:
        raise ValidationError(
            _("Bucket %(bucket)s is not empty. Delete its files and folders first.") % {"bucket": bucket.name},
            code="not_empty",
        )
    audit_record(
        actor=actor,
        action="bucket.delete",
        obj=bucket,
        project=bucket.project,
        before={"name": bucket.name, "kind": bucket.kind},
    )
    root = bucket.local_path() if bucket.kind == Bucket.Kind.LOCAL and not bucket.local_root else None
    bucket.delete()
    if root is not None:
        transaction.on_commit(lambda: _remove_empty_dir(root))


def _remove_empty_dir(path) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass  # something arrived meanwhile, or it is gone already: leave it


@transaction.atomic
def project_storage_defaults_apply(*, project, actor=None) -> bool:
    """Give a project its default local bucket and the all-users "modelarts_agency"
    authorization, once. Returns False if the project already had its defaults."""
    _marker, created = ProjectStorageDefaults.objects.get_or_create(project=project)
    if not created:
        return False
    if not Bucket.objects.filter(project=project).exists():
        name = default_bucket_name(project)
        if Bucket.objects.filter(name=name).exists():
            name = default_bucket_name(project)[:-6] + project.project_id[:12]
        bucket_create(actor=actor, project=project, name=name, kind=Bucket.Kind.LOCAL)
    authorization_defaults_create(project=project, actor=actor)
    return True


# --- objects in buckets -----------------------------------------------------------


def _storage_error(error: Exception) -> ValidationError:
    return ValidationError(_("The storage refused the operation: %(error)s") % {"error": _short_error(error)})


def folder_create(*, actor, project, parent: str | ObsPath, name: str) -> ObsPath:
    """Create folder `name` inside `parent` (member+)."""
    name = (name or "").strip().strip("/")
    if not name:
        raise ValidationError({"name": _("Enter a folder name.")})
    if "/" in name:
        raise ValidationError({"name": _("A folder name may not contain '/'. Create one folder at a time.")})
    backend, folder = gate.storage_for(user=actor, project=project, path=parent, access=gate.WRITE)
    try:
        target = folder.child(name + "/")
        if backend.stat(target.key.rstrip("/")) is not None:
            raise ValidationError({"name": _("Something named %(name)s already exists here.") % {"name": name}})
        backend.mkdir(target.key)
    except PathError as error:
        raise ValidationError({"name": gate.path_error_message(error)}) from None
    except Exception as error:
        if not gate.is_storage_failure(error):
            raise
        raise _storage_error(error) from None
    return target


def upload_target(*, folder: ObsPath, relative_name: str) -> ObsPath:
    """Where a browser upload of `relative_name` (a file name, or a/b.txt from a folder
    upload) lands inside `folder`. Refuses names that would leave the folder."""
    if not folder.is_folder:
        raise gate.StoragePathInvalid(
            gate.path_error_message(PathError("path_not_folder", path=folder.uri)), "path_not_folder"
        )
    relative_name = relative_name or ""
    if relative_name == "" or relative_name.endswith("/") or relative_name.startswith("/"):
        raise gate.path_invalid(PathError("path_bad_name", name=relative_name))
    try:
        validate_key(relative_name)
        return ObsPath(folder.bucket, folder.key + relative_name)
    except PathError as error:
        raise gate.path_invalid(error) from None


def upload_part_size() -> int:
    """Bytes per S3 part (and per local copy chunk) for browser uploads."""
    from django.conf import settings

    from console.storage.backends import DEFAULT_PART_SIZE

    return int(getattr(settings, "STORAGE_UPLOAD_PART_SIZE", DEFAULT_PART_SIZE))


def file_upload(
    *, actor, project, folder: str | ObsPath, relative_name: str, stream: BinaryIO, size: int
) -> tuple[ObsPath, int]:
    """Stream `size` bytes from `stream` to `folder`/`relative_name` (member+). The data
    goes to the backend chunk by chunk; a short or long body stores nothing."""
    backend, folder_path = gate.storage_for(user=actor, project=project, path=folder, access=gate.WRITE)
    if not folder_path.is_folder:
        folder_path = ObsPath(folder_path.bucket, folder_key(folder_path.key))
    target = upload_target(folder=folder_path, relative_name=relative_name)
    if len(target.key.encode()) > MAX_KEY_BYTES:
        raise gate.path_invalid(PathError("path_too_long", length=len(target.key.encode()), limit=MAX_KEY_BYTES))
    try:
        existing = backend.stat(target.key)
        if existing is not None and existing.is_dir:
            raise ValidationError(_("A folder named %(name)s already exists here.") % {"name": target.name})
        written = backend.write_stream(target.key, stream, size=size, part_size=upload_part_size())
    except PathError as error:
        raise gate.path_invalid(error) from None
    except Exception as error:
        if not gate.is_storage_failure(error):
            raise
        raise _storage_error(error) from None
    return target, written


def object_delete(*, actor, project, path: str | ObsPath) -> int:
    """Delete a file, or a folder with everything in it (member+). Returns files deleted."""
    backend, obs_path = gate.storage_for(user=actor, project=project, path=path, access=gate.WRITE)
    if obs_path.key == "":
        raise ValidationError(_("A whole bucket cannot be emptied from here; delete its folders one by one."))
    try:
        entry = backend.stat(obs_path.key)
        if entry is None:
            raise gate.StorageNotFound(_("%(path)s does not exist (any more).") % {"path": obs_path.uri}, "not_found")
        if entry.is_dir:
            folder = folder_key(obs_path.key)
            count = backend.delete_prefix(folder)
            backend.delete(folder)  # an S3 marker or an empty local folder left behind
            deleted = ObsPath(obs_path.bucket, folder)
        else:
            backend.delete(obs_path.key)
            count = 1
            deleted = obs_path
    except PathError as error:
        raise gate.path_invalid(error) from None
    except Exception as error:
        if not gate.is_storage_failure(error):
            raise
        raise _storage_error(error) from None
    audit_record(
        actor=actor,
        action="storage.delete",
        object_type="object",
        object_id=deleted.uri[:64],
        object_repr=deleted.uri,
        project=project,
        before={"path": deleted.uri, "folder": entry.is_dir, "files": count},
    )
    return count


# --- set-up --------------------------------------------------------------------------


def project_created_hook(*, project, actor) -> None:
    """console.accounts.services.on_project_created: a new project works at once."""
    project_storage_defaults_apply(project=project, actor=actor)


def setup_storage_defaults(*, stdout=None) -> int:
    """Set-up step: projects created before storage existed (or outside project_create)
    get their default bucket and all-users authorization. Returns how many."""
    done = 0
    for project in Project.objects.filter(storage_defaults__isnull=True).order_by("pk"):
        if project_storage_defaults_apply(project=project, actor=None):
            done += 1
    if stdout is not None and done:
        stdout.write(f"Storage: default bucket and all-users authorization created for {done} project(s).")
    return done
