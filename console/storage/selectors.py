"""Reads: the project's buckets, and folder listings (through the gate)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from console.storage import gate
from console.storage.backends import Entry, ObjectNotFound
from console.storage.models import Bucket
from console.storage.paths import ObsPath, PathError, folder_key


def bucket_list(*, project):
    """The project's buckets (the caller has already resolved the user's membership)."""
    return Bucket.objects.filter(project=project).order_by("name")


@dataclass
class Crumb:
    label: str
    uri: str


@dataclass
class Listing:
    folder: ObsPath
    entries: list[Entry]
    crumbs: list[Crumb] = field(default_factory=list)

    @property
    def folders(self) -> list[Entry]:
        return [e for e in self.entries if e.is_dir]

    @property
    def files(self) -> list[Entry]:
        return [e for e in self.entries if not e.is_dir]

    @property
    def folder_rows(self) -> list[tuple[Entry, str]]:
        return [(e, self.uri_of(e)) for e in self.folders]

    def uri_of(self, entry: Entry) -> str:
        return ObsPath(self.folder.bucket, entry.path).uri


def crumbs_for(folder: ObsPath) -> list[Crumb]:
    crumbs = [Crumb(folder.bucket, ObsPath(folder.bucket, "").uri)]
    key = ""
    for name in [s for s in folder.key.split("/") if s]:
        key += name + "/"
        crumbs.append(Crumb(name, ObsPath(folder.bucket, key).uri))
    return crumbs


def folder_listing(*, user, project, path: str | ObsPath) -> Listing:
    """The folder's children, folders first. A path naming a file is refused with the
    folder message; a missing folder with StorageNotFound; storage errors likewise."""
    backend, obs_path = gate.storage_for(user=user, project=project, path=path, access=gate.READ)
    try:
        if obs_path.key and not obs_path.is_folder:
            entry = backend.stat(obs_path.key)
            if entry is not None and not entry.is_dir:
                raise gate.StoragePathInvalid(gate.folder_required_message(obs_path), "not_folder")
        folder = ObsPath(obs_path.bucket, folder_key(obs_path.key))
        entries = backend.list_dir(folder.key)
    except PathError as error:
        raise gate.path_invalid(error) from None
    except ObjectNotFound:
        raise gate.StorageNotFound(
            _("The folder %(path)s does not exist.") % {"path": ObsPath(obs_path.bucket, folder_key(obs_path.key)).uri},
            "no_folder",
        ) from None
    except Exception as error:
        if not gate.is_storage_failure(error):
            raise
        # An unreachable S3 endpoint or refused keys: a message, never a 500.
        raise gate.StorageUnavailable(
            _("The storage could not be read: %(error)s") % {"error": str(error)[:300]}, "storage_error"
        ) from None
    return Listing(folder=folder, entries=entries, crumbs=crumbs_for(folder))
