"""Writes for agencies and authorizations. Every change is audited.

The REST API issue adds the pages and the `/v2/{project_id}/agency` and
`/authorizations` endpoints on top of these; the storage gate reads the rows
directly (console.storage.gate), so a deletion takes effect on the next access.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from console.audit.services import audit_record
from console.authorizations.models import (
    AGENCY_PREFIX,
    DEFAULT_AGENCY_NAME,
    Access,
    Agency,
    Authorization,
)

MAX_SUFFIX_LENGTH = 50
_SUFFIX_RE = re.compile(r"^[A-Za-z0-9_.-]*$")


def agency_name_for(suffix: str) -> str:
    """The seed's naming: empty suffix → "modelarts_agency", else "ma_agency_<suffix>"."""
    suffix = (suffix or "").strip()
    if len(suffix) > MAX_SUFFIX_LENGTH:
        raise ValidationError(
            {"agency_name_suffix": _("The agency name suffix has at most 50 characters.")}, code="suffix_length"
        )
    if not _SUFFIX_RE.match(suffix):
        raise ValidationError(
            {"agency_name_suffix": _("The agency name suffix may contain only letters, digits, '_', '-' and '.'.")},
            code="suffix_chars",
        )
    return AGENCY_PREFIX + suffix if suffix else DEFAULT_AGENCY_NAME


@transaction.atomic
def agency_create(
    *,
    actor,
    project,
    suffix: str = "",
    description: str = "",
    all_buckets: bool = True,
    buckets=(),
    access: str = Access.READ_WRITE,
) -> Agency:
    name = agency_name_for(suffix)
    if access not in Access.values:
        raise ValidationError({"access": _("Choose read or read-write access.")})
    buckets = list(buckets)
    if any(b.project_id != project.pk for b in buckets):
        raise ValidationError({"buckets": _("An agency can only reach buckets of its own project.")})
    if not all_buckets and not buckets:
        raise ValidationError({"buckets": _("Choose at least one bucket, or all buckets.")})
    if Agency.objects.filter(project=project, name=name).exists():
        raise ValidationError(
            {"agency_name_suffix": _("This project already has an agency named %(name)s.") % {"name": name}}
        )
    try:
        with transaction.atomic():
            agency = Agency.objects.create(
                project=project,
                name=name,
                description=description,
                all_buckets=all_buckets,
                access=access,
                created_by=actor if getattr(actor, "pk", None) else None,
            )
    except IntegrityError:
        raise ValidationError(
            {"agency_name_suffix": _("This project already has an agency named %(name)s.") % {"name": name}}
        ) from None
    if not all_buckets:
        agency.buckets.set(buckets)
    audit_record(
        actor=actor,
        action="agency.create",
        obj=agency,
        project=project,
        after={
            "name": name,
            "access": access,
            "buckets": "all" if all_buckets else sorted(b.name for b in buckets),
        },
    )
    return agency


@transaction.atomic
def authorization_create(
    *,
    actor,
    project,
    user=None,
    type: str = Authorization.Type.AGENCY,
    agency: Agency | None = None,
    access_key: str = "",
    secret_key: str = "",
) -> Authorization:
    """Authorize one user (or all users when `user` is None). Replaces the user's previous one,
    as the seed's POST /authorizations sets rather than adds."""
    if type == Authorization.Type.AGENCY:
        if agency is None or agency.project_id != project.pk:
            raise ValidationError({"content": _("Choose an agency of this project.")})
        access_key = secret_key = ""
    elif type == Authorization.Type.CREDENTIAL:
        if not access_key or not secret_key:
            raise ValidationError({"content": _("A credential authorization needs an access key and a secret key.")})
        agency = None
    else:
        raise ValidationError({"type": _("The type is agency or credential.")})
    if user is not None and not user.memberships.filter(project=project).exists():
        raise ValidationError({"user_id": _("This user is not a member of the project.")})
    previous = Authorization.objects.select_for_update().filter(project=project, user=user).first()
    before = _snapshot(previous) if previous else None
    if previous:
        previous.delete()
    authorization = Authorization(
        project=project,
        user=user,
        type=type,
        agency=agency,
        access_key=access_key,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    authorization.set_secret(secret_key)
    authorization.save()
    audit_record(
        actor=actor,
        action="authorization.create",
        obj=authorization,
        project=project,
        before=before,
        after=_snapshot(authorization),
    )
    return authorization


@transaction.atomic
def authorization_delete(*, actor, authorization: Authorization) -> None:
    audit_record(
        actor=actor,
        action="authorization.delete",
        obj=authorization,
        project=authorization.project,
        before=_snapshot(authorization),
    )
    authorization.delete()


def _snapshot(authorization: Authorization) -> dict:
    # Never the secret: the audit log is readable by administrators.
    return {"user": authorization.user_label, "type": authorization.type, "content": authorization.content}


@transaction.atomic
def authorization_defaults_create(*, project, actor=None) -> Authorization | None:
    """The seed's first authorization-list entry: all-users → agency "modelarts_agency"
    (every bucket of the project, read-write). Does nothing if all-users is already set."""
    if Authorization.objects.filter(project=project, user__isnull=True).exists():
        return None
    agency = Agency.objects.filter(project=project, name=DEFAULT_AGENCY_NAME).first()
    if agency is None:
        agency = agency_create(
            actor=actor,
            project=project,
            suffix="",
            # Stored data, not UI text: kept in English whatever the request language.
            description="Default agency: lets the platform read and write every bucket of the project.",
            all_buckets=True,
            access=Access.READ_WRITE,
        )
    return authorization_create(actor=actor, project=project, user=None, agency=agency)


# --- added with the REST API and the administrators' pages --------------------------------


@transaction.atomic
def agency_delete(*, actor, agency: Agency) -> None:
    """Delete an agency no authorization uses (delete those first: the effect must be deliberate)."""
    agency = Agency.objects.select_for_update().get(pk=agency.pk)
    in_use = agency.authorizations.count()
    if in_use:
        raise ValidationError(
            _("Agency %(name)s is used by %(count)d authorization(s); delete those authorizations first.")
            % {"name": agency.name, "count": in_use},
            code="agency_in_use",
        )
    audit_record(
        actor=actor,
        action="agency.delete",
        obj=agency,
        project=agency.project,
        before={"name": agency.name, "access": agency.access, "all_buckets": agency.all_buckets},
    )
    agency.delete()


@transaction.atomic
def authorization_delete_many(*, actor, project, authorizations) -> int:
    """Batch delete (the list page's checkboxes); each one audited. Returns how many."""
    ids = [a.pk for a in authorizations]
    locked = list(
        Authorization.objects.select_for_update(of=("self",))
        .filter(project=project, pk__in=ids)
        .select_related("user", "agency", "project")
    )
    for authorization in locked:
        authorization_delete(actor=actor, authorization=authorization)
    return len(locked)
