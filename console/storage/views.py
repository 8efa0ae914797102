"""Storage pages: the bucket list, the folder browser, uploads, the folder picker.

Every path comes in as text (``?path=obs://bucket/folder/``) and goes through the
gate, which parses it (so ``..``, ``%2e%2e``, NUL... are refused with the rule's
message) and checks membership and authorization. A refusal is shown on the
page, never a 500.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import JsonResponse, StreamingHttpResponse, UnreadablePostError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from console.accounts.models import ROLE_RANK, Role
from console.accounts.permissions import project_view
from console.core.confirm import require_typed_delete
from console.core.forms import apply_validation_error
from console.core.htmx import is_partial, paginate, redirect_after_post, render_page
from console.core.sizes import binary_size
from console.storage import gate, selectors, services
from console.storage.forms import BucketForm, FolderCreateForm, GoToFolderForm, max_browser_upload
from console.storage.models import Bucket
from console.storage.paths import ObsPath, PathError

ENTRIES_PER_PAGE = 100
_FIELD_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")
_REFUSAL_STATUS = {gate.StoragePathInvalid: 400, gate.StorageNotFound: 404, gate.StorageDenied: 403}


def _status_for(refusal: gate.StorageRefused) -> int:
    for cls, status in _REFUSAL_STATUS.items():
        if isinstance(refusal, cls):
            return status
    return 400


def browser_url(project, path: str | ObsPath | None = None) -> str:
    url = reverse("storage:browser", kwargs={"project_id": project.project_id})
    if path:
        url += "?" + urlencode({"path": str(path)}, safe=":/")
    return url


def _can(request, role) -> bool:
    return ROLE_RANK[request.project_role] >= ROLE_RANK[role]


def _browser_context(request, path: str) -> tuple[dict, int]:
    project = request.project
    context = {
        "project": project,
        "path": path,
        "can_write": _can(request, Role.MEMBER),
        "can_admin": _can(request, Role.ADMIN),
        "max_upload": max_browser_upload(),
        "listing": None,
        "buckets": None,
        "error": "",
        "goto_form": GoToFolderForm(initial={"path": path}),
    }
    context["goto_form"].fields["path"].bind(project=project)
    status = 200
    if not path:
        context["buckets"] = selectors.bucket_list(project=project)
        return context, status
    try:
        listing = selectors.folder_listing(user=request.user, project=project, path=path)
    except gate.StorageRefused as refusal:
        context["error"] = refusal.message
        status = _status_for(refusal)
        # Still offer the way back: the bucket list.
        context["buckets"] = selectors.bucket_list(project=project)
        return context, status
    context["listing"] = listing
    context["page"] = paginate(request, listing.entries, per_page=ENTRIES_PER_PAGE)
    context["rows"] = [(entry, listing.uri_of(entry)) for entry in context["page"].object_list]
    context["parent_uri"] = listing.folder.parent.uri if listing.folder.key else ""
    context["upload_url"] = reverse("storage:upload", kwargs={"project_id": project.project_id})
    context["page_query"] = urlencode({"path": listing.folder.uri}, safe=":/")
    # The browser refuses an oversized file before sending it; same words as the server.
    context["over_limit_text"] = _over_limit_message(
        request, "__NAME__", listing.folder.uri, None, context["max_upload"]
    )
    return context, status


@require_GET
@project_view(Role.VIEWER)
def browser(request):
    """Buckets (no path), or a folder of a bucket (?path=obs://bucket/folder/)."""
    path = request.GET.get("path", "").strip()
    context, status = _browser_context(request, path)
    if request.htmx and request.htmx.history_restore_request:
        # Back button after htmx's history cache missed: htmx wants the whole page.
        return render(request, "storage/browser.html", context, status=status)
    fragment = request.GET.get("fragment") == "storage-table" and is_partial(request)
    return render_page(
        request,
        "storage/browser.html",
        context,
        fragment="storage-table" if fragment else "storage-page",
        # A partial is swapped only on 2xx; the message is inside it.
        status=200 if is_partial(request) else status,
    )


def _table_response(request, path: str):
    """After a change: the refreshed table (HTMX) or the page (PRG)."""
    if request.htmx:
        context, _status = _browser_context(request, path)
        return render_page(request, "storage/browser.html", context, fragment="storage-table")
    return redirect(browser_url(request.project, path))


@require_POST
@project_view(Role.MEMBER)
def folder_create(request):
    path = request.POST.get("path", "")
    form = FolderCreateForm(request.POST)
    if form.is_valid():
        try:
            created = services.folder_create(
                actor=request.user, project=request.project, parent=path, name=form.cleaned_data["name"]
            )
        except gate.StorageRefused as refusal:
            messages.error(request, refusal.message)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Folder %(path)s created.") % {"path": created.uri})
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return _table_response(request, path)


@require_POST
@project_view(Role.MEMBER)
def object_delete(request):
    path = request.POST.get("path", "")
    back_to = path
    try:
        obs_path = gate.parse_path(path)
        back_to = obs_path.parent.uri
        is_folder = obs_path.is_folder
        if is_folder:
            require_typed_delete(request.POST.get("confirm", ""))
        count = services.object_delete(actor=request.user, project=request.project, path=obs_path)
    except gate.StorageRefused as refusal:
        messages.error(request, refusal.message)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if is_folder:
            messages.success(
                request, _("Folder %(path)s deleted (%(count)s files).") % {"path": obs_path.uri, "count": count}
            )
        else:
            messages.success(request, _("%(path)s deleted.") % {"path": obs_path.uri})
    return _table_response(request, back_to)


def _json_error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@require_POST
@project_view(Role.MEMBER)
def upload(request):
    """One file per request, the raw bytes as the body (XMLHttpRequest from storage.js):
    ``POST ...?path=obs://bucket/folder/&name=relative/name.bin``. The body is streamed to
    the backend in chunks — never read whole into memory."""
    folder = request.GET.get("path", "")
    name = request.GET.get("name", "")
    limit = max_browser_upload()
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return _json_error(_("Send the file's bytes as the request body (application/octet-stream)."), 415)
    try:
        size = int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return _json_error(_("The upload must announce its size (Content-Length)."), 411)
    if size < 0:
        return _json_error(_("The upload must announce its size (Content-Length)."), 411)
    if size > limit:
        return _json_error(_over_limit_message(request, name, folder, size, limit), 413)
    try:
        target, written = services.file_upload(
            actor=request.user, project=request.project, folder=folder, relative_name=name, stream=request, size=size
        )
    except gate.StorageRefused as refusal:
        return _json_error(refusal.message, _status_for(refusal))
    except ValidationError as error:
        return _json_error(" ".join(error.messages), 400)
    except UnreadablePostError:
        # The browser went away mid-upload: nothing was stored.
        return _json_error(_("The upload was interrupted; nothing was stored. Try again."), 400)
    except OSError as error:
        # The storage refused the write (disk full, permissions, a name the filesystem cannot
        # hold): say so, not "interrupted", which would only invite a useless retry.
        return _json_error(
            _("The storage refused the upload: %(reason)s. Nothing was stored.")
            % {"reason": error.strerror or str(error)[:200]},
            400,
        )
    return JsonResponse({"path": target.uri, "size": written})


def _human_size(size: int) -> str:
    return binary_size(size)


def _over_limit_message(request, name, folder, size, limit) -> str:
    return _(
        "%(name)s is %(size)s: a browser upload is limited to %(limit)s (单次上传本地文件到OBS的总大小不能超过5GB). "
        "Upload it from the command line, in parts: %(command)s"
    ) % {
        "name": name or _("The file"),
        "size": "__SIZE__" if size is None else _human_size(size),
        "limit": _human_size(limit),
        "command": upload_command_hint(request, folder),
    }


def upload_command_hint(request, folder: str) -> str:
    return "python manage.py storage_upload <file> {folder} --user {user} --project {project}".format(
        folder=folder or "obs://<bucket>/<folder>/",
        user=request.user.get_username(),
        project=request.project.project_id,
    )


@require_GET
@project_view(Role.VIEWER)
def download(request):
    path = request.GET.get("path", "")
    try:
        backend, obs_path = gate.storage_for(user=request.user, project=request.project, path=path, access=gate.READ)
        entry = backend.stat(obs_path.key) if obs_path.key else None
        if entry is None or entry.is_dir:
            raise gate.StorageNotFound(_("There is no file at %(path)s.") % {"path": obs_path.uri}, "no_file")
        stream = backend.open_read(obs_path.key)
    except PathError as error:
        messages.error(request, gate.path_error_message(error))
        return redirect(browser_url(request.project))
    except gate.StorageRefused as refusal:
        messages.error(request, refusal.message)
        return redirect(browser_url(request.project))
    except Exception as error:
        if not gate.is_storage_failure(error):
            raise
        messages.error(request, _("The storage could not be read: %(error)s") % {"error": str(error)[:300]})
        return redirect(browser_url(request.project))

    def chunks():
        with stream:
            while chunk := stream.read(1024 * 1024):
                yield chunk

    response = StreamingHttpResponse(chunks(), content_type="application/octet-stream")
    response["Content-Length"] = str(entry.size)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=entry.name)
    return response


@require_GET
@project_view(Role.VIEWER)
def picker(request):
    """The folder picker's tree: buckets, then folders (files shown, not selectable).
    ``field`` is the id of the input to fill; ``path`` the folder to show."""
    field = request.GET.get("field", "")
    if not _FIELD_ID_RE.match(field):
        field = ""
    path = request.GET.get("path", "").strip()
    context = {
        "project": request.project,
        "field": field,
        "path": path,
        "listing": None,
        "buckets": None,
        "error": "",
        "picker_url": reverse("storage:picker", kwargs={"project_id": request.project.project_id}),
    }
    status = 200
    if path:
        try:
            context["listing"] = selectors.folder_listing(user=request.user, project=request.project, path=path)
        except gate.StorageRefused as refusal:
            context["error"] = refusal.message
            status = _status_for(refusal)
            parent = _parent_folder_of(path)
            if refusal.code == "not_folder" and parent is not None:
                # A file was chosen: say why, and show the folder it is in.
                try:
                    context["listing"] = selectors.folder_listing(
                        user=request.user, project=request.project, path=parent
                    )
                except gate.StorageRefused:
                    pass
    if context["listing"] is None:
        context["buckets"] = selectors.bucket_list(project=request.project)
    return render_page(
        request, "storage/picker.html", context, fragment="picker-body", status=200 if is_partial(request) else status
    )


def _parent_folder_of(path: str) -> ObsPath | None:
    try:
        return gate.parse_path(path).parent
    except gate.StorageRefused:
        return None


# --- buckets (project admins) -------------------------------------------------------


@project_view(Role.ADMIN)
def bucket_create(request):
    form = BucketForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            bucket = services.bucket_create(actor=request.user, project=request.project, **form.cleaned_data)
        except ValidationError as error:
            apply_validation_error(form, error)
        else:
            messages.success(request, _("Bucket %(name)s created.") % {"name": bucket.name})
            return redirect_after_post(request, browser_url(request.project))
    return render_page(
        request, "storage/bucket_form.html", {"form": form, "project": request.project}, fragment="bucket-form"
    )


@require_POST
@project_view(Role.ADMIN)
def bucket_delete(request, bucket_name):
    bucket = Bucket.objects.filter(project=request.project, name=bucket_name).first()
    if bucket is None:
        messages.error(request, _('There is no bucket "%(bucket)s" in this project.') % {"bucket": bucket_name})
    elif request.POST.get("confirm", "") != bucket.name:
        messages.error(request, _("Type the bucket name %(name)s to delete it.") % {"name": bucket.name})
    else:
        try:
            services.bucket_delete(actor=request.user, bucket=bucket)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Bucket %(name)s deleted.") % {"name": bucket.name})
    return redirect_after_post(request, browser_url(request.project))
