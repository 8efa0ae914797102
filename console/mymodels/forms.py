"""Forms of My Models. They catch each rule early for a message on the field; the
services check every rule again (the REST API uses them without forms)."""

from django import forms
from django.utils.functional import lazy
from django.utils.text import format_lazy
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from console.core.confirm import CONFIRM_WORD
from console.mymodels import selectors, services
from console.mymodels.models import STATUS_SEED_LABELS, BaseModelVersion, ModelStatus, WeightSetting
from console.storage.forms import ObsFolderField


class BaseVersionChoiceField(forms.ModelChoiceField):
    default_error_messages = {
        "required": _("Select a source base model (选择基础模型)."),
        "invalid_choice": _("Select a base model version from the catalog."),
    }


class WeightsFormMixin:
    """The weights path and the weight-validation toggle, shared with the version form.

    The toggle follows the chosen base model: on by default (seed: 默认开启), but off
    and disabled when the base model has no template (seed: 部分模型暂不支持权重校验).
    """

    def setup_weights(self, *, project, user, base_version: BaseModelVersion | None):
        # Syntax is checked by the field; the service asks the storage gate (folder exists,
        # user authorized) once and its refusal lands on this field.
        self.fields["weights_path"].bind(project=project, user=None)
        self.base_version_choice = base_version
        if base_version is not None and not base_version.validation_supported:
            field = self.fields["validate_weights"]
            field.disabled = True
            field.initial = False
            field.help_text = format_lazy(
                "{} {}",
                _("Not supported for this base model (部分模型暂不支持权重校验):"),
                base_version.unsupported_note,
            )

    def chosen_base_version(self, data, initial) -> BaseModelVersion | None:
        raw = (data or {}).get("base_version") if data is not None else None
        if raw in (None, ""):
            raw = (initial or {}).get("base_version")
        if isinstance(raw, BaseModelVersion):
            return raw
        return selectors.base_version_get(pk=raw) if raw not in (None, "") else None


def validate_weights_field():
    return forms.BooleanField(
        label=_("Weight validation (权重校验)"),
        required=False,
        initial=True,
        help_text=_(
            "On: the platform checks the weight files in the folder and the version is created once they "
            "pass. Off: nothing is checked, and creating the model may fail later if the weight files do "
            "not meet the format requirements."
        ),
    )


class ModelCreateForm(WeightsFormMixin, forms.Form):
    base_version = BaseVersionChoiceField(
        label=_("Source model (来源模型)"), queryset=BaseModelVersion.objects.none(), widget=forms.HiddenInput
    )
    name = forms.CharField(
        label=_("Model name"),
        strip=True,
        help_text=_(
            "1–64 characters; starts with a Chinese character or a letter; only Chinese characters, letters, "
            "digits, underscores (_), hyphens (-) and periods (.)."
        ),
        error_messages={"required": _("Enter a model name (1–64 characters).")},
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    description = forms.CharField(
        label=_("Description"),
        required=False,
        strip=False,
        help_text=_("Up to 100 characters."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    weight_setting = forms.ChoiceField(
        label=_("Weight setting and vocabulary (权重设置与词表)"),
        choices=WeightSetting.choices,
        initial=WeightSetting.CUSTOM,
        widget=forms.RadioSelect,
        help_text=_("The weight files are the model's parameters; upload them to a bucket first."),
    )
    weights_path = ObsFolderField(
        label=_("Custom weight storage path (自定义权重存储路径)"),
        error_messages={"required": _("Select the folder that holds the model weights (必须选择到模型文件夹).")},
    )
    validate_weights = validate_weights_field()

    def __init__(self, *args, project, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base_version"].queryset = selectors.base_version_choices()
        self.setup_weights(
            project=project,
            user=user,
            base_version=self.chosen_base_version(self.data if self.is_bound else None, self.initial),
        )

    def clean_name(self):
        name = self.cleaned_data["name"]
        errors = services.model_name_errors(name)
        if errors:
            raise forms.ValidationError(errors)
        return name

    def clean_description(self):
        description = self.cleaned_data["description"]
        errors = services.description_errors(description)
        if errors:
            raise forms.ValidationError(errors)
        return description


def _status_choice_text(status) -> str:
    if (get_language() or "").lower().startswith("zh"):
        return STATUS_SEED_LABELS[status]
    return f"{STATUS_SEED_LABELS[status]} · {status.label}"


_status_choice = lazy(_status_choice_text, str)


class ModelFilterForm(forms.Form):
    q = forms.CharField(label=_("Search by name"), required=False)
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        # The seed's Chinese label beside the English one (创建成功 · Created); alone in Chinese.
        choices=[("", _("All statuses"))] + [(status.value, _status_choice(status)) for status in ModelStatus],
    )
    series = forms.ChoiceField(label=_("Base model"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["series"].choices = [("", _("All base models"))] + [
            (row.slug, row.label) for row in selectors.series_list()
        ]

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {"search": data["q"].strip(), "status": data["status"], "series": data["series"]}


class ConfirmDeleteForm(forms.Form):
    # Only carries the typed word: the services check it (console.core.confirm), for the API too.
    confirm = forms.CharField(
        label=_("Type DELETE to confirm"), required=False, strip=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "data-confirm-word": CONFIRM_WORD}),
    )  # fmt: skip
