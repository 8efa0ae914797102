"""The folder picker: a text input for ``obs://bucket/folder/`` plus a "Choose" dialog.

Use it through ``console.storage.forms.ObsFolderField`` (see its docstring); the
widget alone only renders. The dialog browses the project's buckets and folders
with HTMX (``storage:picker``) and fills the input when the user presses
"Select this folder". Its script (storage/storage.js) is referenced by the widget
template itself, so a form needs no ``{{ form.media }}``.
"""

from __future__ import annotations

from django import forms
from django.urls import reverse


class FolderPickerWidget(forms.TextInput):
    template_name = "storage/widgets/folder_picker.html"

    def __init__(self, attrs=None, *, project=None):
        attrs = {"placeholder": "obs://bucket/folder/", "autocomplete": "off", "spellcheck": "false", **(attrs or {})}
        super().__init__(attrs)
        self.project = project

    @property
    def picker_url(self) -> str:
        if self.project is None:
            return ""
        return reverse("storage:picker", kwargs={"project_id": self.project.project_id})

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["picker_url"] = self.picker_url
        return context
