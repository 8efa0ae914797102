"""Storage forms, and ObsFolderField: the weights-path field of every model form.

ObsFolderField usage
--------------------
Declare the field, then give it the project (and, to check the folder exists,
the user) when the form is built::

    from console.storage.forms import ObsFolderField

    class ModelCreateForm(forms.Form):
        weights_path = ObsFolderField(label=_("Custom weight storage path"))

        def __init__(self, *args, project, user=None, **kwargs):
            super().__init__(*args, **kwargs)
            # project: the "Choose" dialog browses this project's buckets.
            # user (optional): clean() also asks the gate that the folder exists and
            # the user may read it, and returns it as "obs://bucket/folder/".
            self.fields["weights_path"].bind(project=project, user=user)

or, when the project is known where the field is created,
``ObsFolderField(project=project, user=user)``.

Without a user, ``clean()`` checks the syntax only (PathError messages: "..",
NUL, percent-encoded tricks...) and returns ``obs://bucket/key``; the service
must then call ``console.storage.gate.folder_check(user=, project=, path=)``,
which refuses a file with "Select a folder: the weights path must be the model
folder itself (必须选择到模型文件夹)" and a missing folder with its own
message. Services should call the gate anyway (the REST API does not use
forms); the field's check is for a message on the field.

Render it with components/field.html like any field; the widget's template
brings its dialog and script.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from console.storage import gate
from console.storage.models import Bucket
from console.storage.paths import PathError, parse_obs_path
from console.storage.widgets import FolderPickerWidget

DEFAULT_MAX_BROWSER_UPLOAD = 5 * 1024**3


def max_browser_upload() -> int:
    """The seed: 单次上传本地文件到OBS的总大小不能超过5GB."""
    return int(getattr(settings, "STORAGE_MAX_BROWSER_UPLOAD", DEFAULT_MAX_BROWSER_UPLOAD))


class ObsFolderField(forms.CharField):
    widget = FolderPickerWidget

    def __init__(self, *, project=None, user=None, **kwargs):
        kwargs.setdefault("max_length", 1100)  # bucket + 1024-byte key
        kwargs.setdefault(
            "help_text",
            _("The OBS folder that holds the files, such as obs://bucket/models/qwen/. Choose a folder, not a file."),
        )
        super().__init__(**kwargs)
        self.bind(project=project, user=user)

    def bind(self, *, project=None, user=None) -> ObsFolderField:
        self.project = project
        self.user = user
        self.widget.project = project
        return self

    def to_python(self, value):
        value = super().to_python(value)
        return value.strip() if isinstance(value, str) else value

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return value
        try:
            obs_path = parse_obs_path(value)
        except PathError as error:
            raise ValidationError(gate.path_error_message(error), code=error.code) from None
        if self.user is not None and self.project is not None:
            try:
                _backend, folder = gate.folder_check(user=self.user, project=self.project, path=obs_path)
            except gate.StorageRefused as refusal:
                raise ValidationError(refusal.message, code=refusal.code) from None
            return folder.uri
        return obs_path.uri


class GoToFolderForm(forms.Form):
    """The storage page's "Go to" box: type or pick a folder."""

    path = ObsFolderField(label=_("Go to folder"), required=False, help_text="")


class FolderCreateForm(forms.Form):
    name = forms.CharField(label=_("Folder name"), max_length=255)


class BucketForm(forms.Form):
    name = forms.CharField(
        label=_("Bucket name"),
        max_length=63,
        help_text=_(
            "3-63 lowercase letters, digits, '-' or '.'; unique across the console. Paths use it: obs://<name>/..."
        ),
    )
    kind = forms.ChoiceField(label=_("Backend"), choices=Bucket.Kind.choices, initial=Bucket.Kind.LOCAL)
    description = forms.CharField(label=_("Description"), max_length=255, required=False)
    endpoint_url = forms.CharField(
        label=_("Endpoint URL"),
        max_length=500,
        required=False,
        help_text=_("S3 only. For example https://obs.cn-north-4.myhuaweicloud.com or http://minio:9000."),
    )
    region = forms.CharField(label=_("Region"), max_length=64, required=False)
    s3_bucket = forms.CharField(
        label=_("S3 bucket"), max_length=63, required=False, help_text=_("S3 only. Empty = the bucket name above.")
    )
    prefix = forms.CharField(
        label=_("Key prefix"),
        max_length=500,
        required=False,
        help_text=_("S3 only. Keep the bucket inside this folder."),
    )
    access_key = forms.CharField(label=_("Access key"), max_length=128, required=False)
    # Write-only: never rendered back.
    secret_key = forms.CharField(
        label=_("Secret key"),
        max_length=256,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Stored encrypted and never shown again."),
    )

    S3_FIELDS = ("endpoint_url", "region", "s3_bucket", "prefix", "access_key", "secret_key")
