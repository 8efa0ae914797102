"""The storage gate: every storage read or write made on a user's behalf passes here.

    backend, path = storage_for(user=user, project=project, path="obs://bkt/models/", access="read")

checks, in this order, and on every call (nothing is cached, so a deleted
authorization or membership takes effect on the next access):

1. the path's syntax (``obs://bucket/key`` or ``/bucket/key``), which can never
   leave its bucket → StoragePathInvalid (a ValidationError) naming the rule;
2. the user is active and a member of the project (site administrators act as
   project admins); writing needs the Member role → StorageDenied;
3. the bucket belongs to *this* project; another project's bucket is answered
   exactly like a bucket that does not exist → StorageNotFound;
4. an authorization (委托授权) for this user or for all users whose agency reaches
   the bucket with enough access (read, or read-write), or a credential
   authorization → StorageDenied saying how to get one.

Every refusal is a StorageRefused with a translated ``message``: views and
services put it on the form field (``form.add_error("weights_path", exc.message)``);
an unhandled StorageDenied becomes a 403 page with that message.

Background work (weight checks, training jobs) runs on behalf of the user who
created it: use ``storage_for_task`` / ``folder_reader_for_task`` with that user;
the checks are the same, and a deleted user is refused.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from console.accounts.models import ROLE_RANK, Role
from console.accounts.selectors import project_role
from console.authorizations.selectors import access_decision, grants_of
from console.storage.backends import StorageBackend, backend_for
from console.storage.backends.base import BackendFolderReader
from console.storage.paths import ObsPath, PathError, folder_key, parse_obs_path

READ = "read"
WRITE = "write"
ACCESS_LEVELS = (READ, WRITE)


class StorageRefused(Exception):
    """Base of every gate refusal: ``message`` is translated, ``code`` stable."""

    def __init__(self, message: str, code: str):
        self.message = str(message)
        self.code = code
        super().__init__(self.message)

    def __str__(self):
        return self.message


class StorageDenied(StorageRefused, PermissionDenied):
    """Not allowed: membership, role or authorization."""


class StorageNotFound(StorageDenied):
    """The bucket is not in this project (or does not exist), or the folder is missing."""


class StorageUnavailable(StorageDenied):
    """The storage could not be read (unreachable endpoint, bad keys, disk error)."""


class StoragePathInvalid(StorageRefused, ValidationError):
    """The path breaks a rule (syntax, escaping the bucket, a file where a folder is needed)."""

    def __init__(self, message: str, code: str):
        ValidationError.__init__(self, str(message), code=code)
        self.message = str(message)
        self.code = code

    def __str__(self):
        return self.message


# --- path error messages, translatable (console.storage.paths is Django-free) ---------

# Same English text as paths.PATH_ERROR_MESSAGES (a test keeps them in step).
PATH_MESSAGES = {
    "path_empty": gettext_lazy("The path is empty. Enter a path such as obs://bucket/folder/."),
    "path_form": gettext_lazy(
        "The path must start with obs:// (for example obs://bucket/folder/) or with / (for example /bucket/folder/)."
    ),
    "path_no_bucket": gettext_lazy("The path names no bucket. Enter a path such as obs://bucket/folder/."),
    "path_bad_bucket": gettext_lazy(
        'The bucket name "%(bucket)s" is invalid: a bucket name has 3 to 63 characters '
        "(lowercase letters, digits, hyphens and periods), starts and ends with a letter "
        "or digit, has no two periods or a period and a hyphen side by side, and is not "
        "an IP address."
    ),
    "path_escape": gettext_lazy(
        "The path leaves its bucket: '..' segments, and links that point outside the bucket, are not allowed."
    ),
    "path_dot_segment": gettext_lazy("The path may not contain '.' segments (such as a/./b)."),
    "path_backslash": gettext_lazy("The path may not contain backslashes (\\); use / to separate folders."),
    "path_nul": gettext_lazy("The path may not contain NUL characters."),
    "path_control": gettext_lazy(
        "The path may not contain control characters (such as tab, newline or text-direction marks)."
    ),
    "path_encoding": gettext_lazy("The path is not valid UTF-8 text."),
    "path_encoded": gettext_lazy(
        "The path contains the percent-encoded sequence %(sequence)s, which would change "
        "its meaning once decoded (encoded slashes, dots, backslashes, percent signs or "
        "control characters are not allowed). Write the path without percent-encoding."
    ),
    "path_lookalike": gettext_lazy(
        "The path contains the character %(char)s, which stands for a dot or a slash in "
        "some systems; rename the file or folder."
    ),
    "path_double_slash": gettext_lazy(
        "The path may not contain empty folder names: no doubled slashes (//) and no absolute path inside the bucket."
    ),
    "path_too_long": gettext_lazy(
        "The object key is %(length)s bytes long; at most %(limit)s bytes (UTF-8) are allowed."
    ),
    "path_name_too_long": gettext_lazy(
        "The name %(shown)s is %(length)s bytes long; a file or folder name may have at most %(limit)s bytes (UTF-8)."
    ),
    "path_not_folder": gettext_lazy("The path %(path)s is a file; a folder path ending with / is needed here."),
    "path_bad_name": gettext_lazy("The name %(name)s is not a single file or folder name."),
}

# paths.py formats these with !r; keep the same look.
_REPR_PARAMS = {"char", "name"}


def path_error_message(error: PathError) -> str:
    template = PATH_MESSAGES.get(error.code)
    if template is None:
        return error.message
    params = {k: repr(v) if k in _REPR_PARAMS else v for k, v in error.params.items()}
    return str(template) % params if params else str(template)


def path_invalid(error: PathError) -> StoragePathInvalid:
    return StoragePathInvalid(path_error_message(error), error.code)


def parse_path(path: str | ObsPath) -> ObsPath:
    """``obs://bucket/key`` or ``/bucket/key`` → ObsPath; StoragePathInvalid naming the rule."""
    if isinstance(path, ObsPath):
        return path
    try:
        return parse_obs_path(path.strip() if isinstance(path, str) else path)
    except PathError as error:
        raise path_invalid(error) from None


def is_storage_failure(error: BaseException) -> bool:
    """A failure of the storage itself (disk, unreachable endpoint, refused keys), as
    opposed to a bug: shown to the user as a message, never a 500."""
    from console.storage.backends import StorageError

    if isinstance(error, StorageError):
        return True
    return type(error).__module__.startswith(("botocore", "boto3", "urllib3", "s3transfer"))


# --- messages ----------------------------------------------------------------------


def _no_authorization_message(project) -> str:
    return _(
        "You have no storage authorization in project %(project)s. Without an authorization, "
        "data management, training management, the development environment and online services "
        "cannot work normally (若没有授权，ModelArts服务的数据管理、训练管理、开发环境、在线服务等功能将不能正常使用). "
        "Ask a project administrator to authorize you, or all users, with an agency under "
        "Authorizations (委托授权)."
    ) % {"project": project.name}


def folder_required_message(path: ObsPath | str) -> str:
    return _(
        "Select a folder: the weights path must be the model folder itself (必须选择到模型文件夹); %(path)s is a file."
    ) % {"path": str(path)}


# --- the checks ------------------------------------------------------------------


def _check_member(*, user, project, access: str) -> None:
    if user is None:
        raise StorageDenied(
            _(
                "The user who started this work no longer exists, so the platform may not reach "
                "storage on anyone's behalf for it."
            ),
            "no_user",
        )
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        raise StorageDenied(_("Your account is not active, so storage is not available to you."), "inactive")
    role = project_role(user=user, project=project)
    if role is None:
        raise StorageDenied(
            _("You are not a member of project %(project)s, so its storage is not available to you.")
            % {"project": project.name},
            "not_member",
        )
    if access == WRITE and ROLE_RANK[role] < ROLE_RANK[Role.MEMBER]:
        raise StorageDenied(
            _("Viewers can browse storage but not change it: this needs the Member role in project %(project)s.")
            % {"project": project.name},
            "viewer_write",
        )


def _find_bucket(*, project, name: str):
    from console.storage.models import Bucket

    bucket = Bucket.objects.filter(project=project, name=name).first()
    if bucket is None:
        # Another project's bucket gets the same answer: ids and names don't leak.
        raise StorageNotFound(
            _('There is no bucket "%(bucket)s" in project %(project)s. The Storage page lists its buckets.')
            % {"bucket": name, "project": project.name},
            "no_bucket",
        )
    return bucket


def _check_authorization(*, user, project, bucket, access: str):
    """The credential to use (None = the bucket's own), or StorageDenied.

    The rule (the union of the user's own and the all-users authorization) lives in
    console.authorizations.selectors, which the authorizations page shows from too.
    """
    grants = grants_of(project=project, user=user)
    if not grants:
        raise StorageDenied(_no_authorization_message(project), "no_authorization")
    decision = access_decision(grants, bucket=bucket, write=access == WRITE)
    if decision.credential is not None:
        # The user's own keys: the storage service decides what they may do.
        return decision.credential
    if decision.allowed:
        return None
    read_only = decision.read_only_agencies
    agencies = ", ".join(decision.agencies)
    if read_only:
        raise StorageDenied(
            _(
                "Your authorization (agency %(agency)s) allows reading bucket %(bucket)s, not writing to it. "
                "Ask a project administrator for a read-write agency (委托授权)."
            )
            % {"agency": ", ".join(read_only), "bucket": bucket.name},
            "read_only",
        )
    raise StorageDenied(
        _(
            "Your authorization (agency %(agency)s) does not reach bucket %(bucket)s. Ask a project "
            "administrator to add the bucket to the agency, or to authorize you with another agency (委托授权)."
        )
        % {"agency": agencies, "bucket": bucket.name},
        "bucket_not_covered",
    )


# Building a boto3 client costs tens of milliseconds; the client is reused per
# configuration. Only the client is cached — the checks above run on every call.
_BACKENDS: OrderedDict[tuple, StorageBackend] = OrderedDict()
_BACKENDS_LOCK = threading.Lock()
_BACKENDS_MAX = 32


def backend_for_bucket(bucket, credential=None) -> StorageBackend:
    """The bucket's backend. No checks: call through storage_for unless you are the gate
    or an administrative service (bucket create/delete)."""
    if credential is not None:
        config = bucket.backend_config(access_key=credential.access_key, secret_key=credential.secret())
    else:
        config = bucket.backend_config()
    if config["kind"] == "local":
        return backend_for(config)
    cache_key = tuple(sorted((k, str(v)) for k, v in config.items()))
    with _BACKENDS_LOCK:
        backend = _BACKENDS.get(cache_key)
        if backend is not None:
            _BACKENDS.move_to_end(cache_key)
            return backend
    backend = backend_for(config)
    with _BACKENDS_LOCK:
        _BACKENDS[cache_key] = backend
        while len(_BACKENDS) > _BACKENDS_MAX:
            _BACKENDS.popitem(last=False)
    return backend


def storage_for(*, user, project, path: str | ObsPath, access: str = READ) -> tuple[StorageBackend, ObsPath]:
    """The backend of the path's bucket and the parsed path, if `user` may `access` it."""
    if access not in ACCESS_LEVELS:
        raise ValueError(f"access must be one of {ACCESS_LEVELS}, not {access!r}")
    obs_path = parse_path(path)
    _check_member(user=user, project=project, access=access)
    bucket = _find_bucket(project=project, name=obs_path.bucket)
    credential = _check_authorization(user=user, project=project, bucket=bucket, access=access)
    return backend_for_bucket(bucket, credential), obs_path


def folder_check(*, user, project, path: str | ObsPath, access: str = READ) -> tuple[StorageBackend, ObsPath]:
    """Like storage_for, and the path must be an existing folder; returns it with its
    trailing slash (``obs://b/models/qwen`` → ``obs://b/models/qwen/``)."""
    backend, obs_path = storage_for(user=user, project=project, path=path, access=access)
    try:
        entry = backend.stat(obs_path.key)
    except PathError as error:  # e.g. a symlink leaving a local bucket
        raise path_invalid(error) from None
    if entry is None:
        raise StorageNotFound(
            _("The folder %(path)s does not exist.") % {"path": ObsPath(obs_path.bucket, folder_key(obs_path.key)).uri},
            "no_folder",
        )
    if not entry.is_dir:
        raise StoragePathInvalid(folder_required_message(obs_path), "not_folder")
    return backend, ObsPath(obs_path.bucket, folder_key(obs_path.key))


def folder_reader_for(*, user, project, path: str | ObsPath) -> BackendFolderReader:
    """The model folder as a FolderReader (what the weight check reads), after the gate's
    checks; a file is refused with "必须选择到模型文件夹"."""
    backend, folder = folder_check(user=user, project=project, path=path, access=READ)
    return backend.folder_reader(folder.key)


def storage_for_task(*, owner, project, path: str | ObsPath, access: str = READ) -> tuple[StorageBackend, ObsPath]:
    """For background work done on behalf of `owner` (the user who created it): the same
    checks as for a request, run when the work touches storage, not when it was queued."""
    return storage_for(user=owner, project=project, path=path, access=access)


def folder_reader_for_task(*, owner, project, path: str | ObsPath) -> BackendFolderReader:
    return folder_reader_for(user=owner, project=project, path=path)
