"""Upload a large file, or a folder, to a bucket in parts (the route for files over 5 GB).

    python manage.py storage_upload ./Qwen2.5-7B obs://my-bucket/models/ --user alice --project vision
    python manage.py storage_upload ./model-00001-of-00004.safetensors obs://my-bucket/models/qwen/ \
        --user alice --project 3f2a...   # a project name or its project_id

Like obsutil: a file goes *into* a destination ending with "/" (keeping its name),
or *to* the exact key otherwise; a folder goes into the destination folder under
its own name (``--flat`` uploads its contents only). Every file passes the same
storage gate as the browser (membership, Member role, authorization), on S3 it
is sent as a multipart upload (``--part-size`` MiB per part) and appears only
once complete. Symbolic links are skipped.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from console.accounts.models import Project
from console.storage import gate
from console.storage.backends import DEFAULT_PART_SIZE, MIN_PART_SIZE
from console.storage.multipart import upload_file
from console.storage.paths import ObsPath, PathError, folder_key

MiB = 1024 * 1024


def human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


class Command(BaseCommand):
    help = "Upload a local file or folder to obs://bucket/path/ in parts (no 5 GB limit), through the storage gate."

    def add_arguments(self, parser):
        parser.add_argument("source", help="A local file or folder.")
        parser.add_argument("destination", help="obs://bucket/folder/ (or /bucket/folder/); a file may name its key.")
        parser.add_argument("--user", required=True, help="Upload on behalf of this user (username).")
        parser.add_argument("--project", required=True, help="The project's name or project_id.")
        parser.add_argument(
            "--part-size",
            type=int,
            default=DEFAULT_PART_SIZE // MiB,
            help=f"Part size in MiB for S3 multipart uploads (at least {MIN_PART_SIZE // MiB}; default %(default)s).",
        )
        parser.add_argument(
            "--flat", action="store_true", help="For a folder: upload its contents, not the folder itself."
        )

    def handle(self, *args, source, destination, user, project, part_size, flat, **options):
        if part_size * MiB < MIN_PART_SIZE:
            raise CommandError(f"--part-size must be at least {MIN_PART_SIZE // MiB} MiB (S3's minimum part size).")
        account = self._user(user)
        project_obj = self._project(project, account)
        local = Path(source)
        if local.is_symlink() or not local.exists():
            raise CommandError(f"{source}: no such file or folder (symbolic links are not followed).")
        try:
            backend, target = gate.storage_for(user=account, project=project_obj, path=destination, access=gate.WRITE)
        except gate.StorageRefused as refusal:
            raise CommandError(refusal.message) from None

        try:
            plan = self._plan(local, target, flat)
        except PathError as error:
            raise CommandError(gate.path_error_message(error)) from None
        if not plan:
            raise CommandError(f"{source}: the folder holds no files.")

        total_bytes = sum(path.stat().st_size for path, _ in plan)
        self.stdout.write(f"Uploading {len(plan)} file(s), {human(total_bytes)}, to {target.uri}")
        started = time.monotonic()
        for index, (path, obs_path) in enumerate(plan, start=1):
            # The gate again for every file: an authorization withdrawn during a long
            # upload stops it at the next file.
            try:
                backend, _ = gate.storage_for(user=account, project=project_obj, path=obs_path, access=gate.WRITE)
            except gate.StorageRefused as refusal:
                raise CommandError(refusal.message) from None
            self._upload_one(backend, path, obs_path, part_size * MiB, f"[{index}/{len(plan)}]")
        elapsed = max(time.monotonic() - started, 1e-6)
        self.stdout.write(
            self.style.SUCCESS(
                f"Done: {len(plan)} file(s), {human(total_bytes)} in {elapsed:.1f} s ({human(total_bytes / elapsed)}/s)."
            )
        )

    def _plan(self, local: Path, target: ObsPath, flat: bool) -> list[tuple[Path, ObsPath]]:
        if local.is_file():
            key = target.key + local.name if target.is_folder else target.key
            return [(local, ObsPath(target.bucket, key))]
        if not local.is_dir():
            raise CommandError(f"{local}: not a regular file or folder.")
        base = folder_key(target.key)
        if not flat:
            base += local.name + "/"
        return [
            (path, ObsPath(target.bucket, base + path.relative_to(local).as_posix()))
            for path in self._files_under(local)
        ]

    def _user(self, username: str):
        User = get_user_model()
        account = User.objects.filter(username=username).first()
        if account is None:
            raise CommandError(f"No user named {username!r}.")
        return account

    def _project(self, name_or_id: str, account) -> Project:
        by_id = Project.objects.filter(project_id=name_or_id).first()
        if by_id is not None:
            return by_id
        matches = list(Project.objects.filter(name=name_or_id, memberships__user=account))
        if not matches:
            matches = list(Project.objects.filter(name=name_or_id))
        if not matches:
            raise CommandError(f"No project named or with the id {name_or_id!r}.")
        if len(matches) > 1:
            ids = ", ".join(f"{p.project_id} ({p.organization.name})" for p in matches)
            raise CommandError(f"Several projects are named {name_or_id!r}; pass its project_id: {ids}.")
        return matches[0]

    def _files_under(self, root: Path):
        for dirpath, dirnames, filenames in os.walk(root):
            base = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if not (base / d).is_symlink())
            for name in sorted(filenames):
                path = base / name
                if not path.is_symlink() and path.is_file():
                    yield path

    def _upload_one(self, backend, path: Path, obs_path: ObsPath, part_size: int, counter: str) -> None:
        interactive = hasattr(self.stdout, "isatty") and self.stdout.isatty()
        last_step = [-1]

        def progress(done: int, total: int | None) -> None:
            # A rewritten line on a terminal; in logs a line per 10% step (and the last).
            finished = total is not None and done >= total
            step = done * 10 // total if total else 0
            if not interactive and not finished and step == last_step[0]:
                return
            last_step[0] = step
            percent = f"{done * 100 // total:3d}%" if total else "   "
            line = f"{counter} {obs_path.uri}  {human(done)} / {human(total or 0)}  {percent}"
            if interactive:
                self.stdout.write("\r" + line, ending="")
                self.stdout.flush()
            else:
                self.stdout.write(line)

        try:
            upload_file(backend, path, obs_path.key, part_size=part_size, progress=progress)
        except PathError as error:
            raise CommandError(f"{path}: {gate.path_error_message(error)}") from None
        except Exception as error:  # noqa: BLE001 — StorageError, OSError, botocore errors: one clear line
            raise CommandError(
                f"{path}: upload failed, nothing was stored for this file: {error.__class__.__name__}: {error}"
            ) from None
        if interactive:
            self.stdout.write("")
