"""The 新增版本 form (seed 表3)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from console.mymodels import services as model_services
from console.mymodels.forms import BaseVersionChoiceField, WeightsFormMixin, validate_weights_field
from console.mymodels.models import BaseModelVersion
from console.storage.forms import ObsFolderField


class VersionCreateForm(WeightsFormMixin, forms.Form):
    description = forms.CharField(
        label=_("Version description"),
        required=False,
        strip=False,
        help_text=_("Up to 100 characters."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    base_version = BaseVersionChoiceField(
        label=_("Base model version (选择基础模型版本)"), queryset=BaseModelVersion.objects.none()
    )
    weights_path = ObsFolderField(
        label=_("Weights path (选择权重路径)"),
        error_messages={"required": _("Select the folder that holds the model weights (必须选择到模型文件夹).")},
    )
    validate_weights = validate_weights_field()

    def __init__(self, *args, model, user, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("base_version", model.base_version_id)
        super().__init__(*args, **kwargs)
        # A model's versions stay in its base model's series (e.g. Qwen2.5-7B / Qwen2.5-72B).
        self.fields["base_version"].queryset = BaseModelVersion.objects.filter(
            series_id=model.base_version.series_id, active=True
        ).select_related("series")
        chosen = self.chosen_base_version(self.data if self.is_bound else None, self.initial)
        if chosen is not None and chosen.series_id != model.base_version.series_id:
            chosen = None
        self.setup_weights(project=model.project, user=user, base_version=chosen)

    def clean_description(self):
        description = self.cleaned_data["description"]
        errors = model_services.description_errors(description)
        if errors:
            raise forms.ValidationError(errors)
        return description
