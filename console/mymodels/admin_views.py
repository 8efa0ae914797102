"""Site administrators' page of the catalog: add a base-model version with its reference config."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from console.accounts.permissions import site_admin_required
from console.core.htmx import redirect_after_post
from console.mymodels import selectors
from console.mymodels.site_catalog import MAX_CONFIG_BYTES, base_version_add, site_base_versions


class BaseVersionAddForm(forms.Form):
    series = forms.ChoiceField(label=gettext_lazy("Series"))
    name = forms.CharField(
        label=gettext_lazy("Name"), max_length=64, help_text=gettext_lazy("Shown to users, such as Tiny-Llama.")
    )
    slug = forms.CharField(
        label=gettext_lazy("Slug"),
        max_length=63,
        help_text=gettext_lazy("Lowercase letters, digits and hyphens, such as tiny-llama."),
    )
    config = forms.FileField(
        label=gettext_lazy("Reference config.json"),
        help_text=gettext_lazy(
            "The base model's published config.json: the weight check compares a model's config with it."
        ),
    )
    note_en = forms.CharField(
        label=gettext_lazy("Note (English)"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    note_zh = forms.CharField(
        label=gettext_lazy("Note (Chinese)"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.all_series = {str(s.pk): s for s in selectors.series_list()}
        self.fields["series"].choices = [(key, s.label) for key, s in self.all_series.items()]


@site_admin_required
def base_version_admin(request):
    form = BaseVersionAddForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["config"]
        data = upload.read(MAX_CONFIG_BYTES + 1)
        try:
            version = base_version_add(
                actor=request.user,
                series=form.all_series.get(form.cleaned_data["series"]),
                slug=form.cleaned_data["slug"],
                name=form.cleaned_data["name"],
                config_bytes=data,
                note_en=form.cleaned_data.get("note_en", ""),
                note_zh=form.cleaned_data.get("note_zh", ""),
            )
        except ValidationError as error:
            for field, texts in error.message_dict.items():
                form.add_error(field if field in form.fields else None, texts)
        else:
            messages.success(request, _("Base model %(name)s added to the catalog.") % {"name": version.name})
            return redirect_after_post(request, "mymodels:base_version_admin")
    return render(request, "mymodels/admin_base_versions.html", {"form": form, "added": site_base_versions()})
