"""Forms of the compare / re-run / lineage pages: the re-run prefill and "Register as model version"."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from console.mymodels.selectors import base_version_choices, model_list
from console.training import params
from console.training.forms import input_field_name, output_field_name, param_field_name
from console.training.models import TrainingJob
from console.training.payloads import obs_uri

RERUN_SUFFIX = "-rerun"


def rerun_name(name: str) -> str:
    """A name for the similar job that still fits the 64-character rule."""
    base = name[: 64 - len(RERUN_SUFFIX)]
    return base if base.endswith(RERUN_SUFFIX) else base + RERUN_SUFFIX


def rerun_initial(job: TrainingJob, *, algorithm) -> dict:
    """The job form's initial values for "Create a similar job".

    Sensitive parameters are never prefilled (the stored-secret rule: never shown again; left
    empty, the algorithm's stored value is used). An input fed by the job's model version is
    left to the model-version field, which is prefilled instead.
    """
    initial = {
        "name": rerun_name(job.name),
        "description": job.description,
        "algorithm": algorithm.uuid if algorithm else None,
        "flavor": job.flavor_spec.get("flavor_id", ""),
        "node_count": job.node_count,
        "pool": job.pool.name if job.pool_id and job.pool else "",
        "log_export_path": obs_uri(job.log_export_path),
    }
    if job.model_version_id:
        initial["model_version"] = str(job.model_version_id)
    if algorithm is None:
        return initial
    values = {item["name"]: item.get("value", "") for item in job.parameters}
    defined = {definition["name"]: definition for definition in algorithm.parameters}
    for name, definition in defined.items():
        if name not in values:
            continue
        secret = params.keeps_stored_secret(definition, "")  # sensitive: its field stays empty
        initial[param_field_name(name)] = "" if secret else values[name]
    if algorithm.parameters_customization:
        custom = [f"{name}={value}" for name, value in values.items() if name not in defined]
        if custom:
            initial["custom_parameters"] = "\n".join(custom)
    for item in job.inputs:
        if job.model_version_id and item["name"] == job.model_version_input:
            continue
        initial[input_field_name(item["name"])] = obs_uri(item["obs_url"])
    for item in job.outputs:
        initial[output_field_name(item["name"])] = obs_uri(item["obs_url"])
    return initial


NEW_MODEL = ""


class RegisterVersionForm(forms.Form):
    output = forms.ChoiceField(label=_("Output"))
    subfolder = forms.CharField(
        label=_("Folder inside the output"), required=False, max_length=1000,
        help_text=_("Empty: the output folder itself. Otherwise a folder inside it, such as checkpoint/."),
        widget=forms.TextInput(attrs={"spellcheck": "false", "placeholder": "checkpoint/"}),
    )  # fmt: skip
    model = forms.ChoiceField(label=_("Model"), required=False)
    new_model_name = forms.CharField(
        label=_("New model name"), required=False, max_length=64,
        help_text=_("When no model is chosen above: the model to create, with this folder as its V1."),
    )  # fmt: skip
    base_version = forms.ChoiceField(label=_("Base model version"), required=False)
    description = forms.CharField(label=_("Version description"), required=False, max_length=100)
    validate_weights = forms.BooleanField(label=_("Weight validation"), required=False, initial=True)

    def __init__(self, *args, job: TrainingJob, **kwargs):
        super().__init__(*args, **kwargs)
        self.job = job
        self.fields["output"].choices = [(o["name"], f"{o['name']} — {obs_uri(o['obs_url'])}") for o in job.outputs]
        self.models = {str(m.pk): m for m in model_list(project=job.project)}
        self.fields["model"].choices = [(NEW_MODEL, _("— create a new model —"))] + [
            (key, f"{m.name} ({m.base_version.name}, {m.version_count}/10)") for key, m in self.models.items()
        ]
        self.bases = {str(b.pk): b for b in base_version_choices()}
        self.fields["base_version"].choices = [("", _("— choose a base model —"))] + [
            (key, f"{b.series.label} / {b.name}") for key, b in self.bases.items()
        ]

    def service_args(self) -> dict:
        data = self.cleaned_data
        return {
            "output_name": data["output"],
            "subfolder": data.get("subfolder", ""),
            "model": self.models.get(data.get("model") or ""),
            "new_model_name": data.get("new_model_name", ""),
            "base_version": self.bases.get(data.get("base_version") or ""),
            "description": data.get("description", ""),
            "validate_weights": data.get("validate_weights", False),
        }
