"""Forms of the training pages. They shape input for the services; the rules live in the services."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from console.nodepools.models import Pool, PoolKind
from console.storage.forms import ObsFolderField
from console.training import params
from console.training.models import Algorithm, CpuArch, Engine, Flavor, FlavorType
from console.training.payloads import obs_uri
from console.training.services.jobs import JobSpec
from console.versions.selectors import versions_usable

TYPE_CHOICES = [(t, t) for t in params.TYPES]
VALID_TYPE_CHOICES = [("None", _("None")), ("Range", _("Range [min, max]")), ("Choice", _("Choice (list)"))]


# --- algorithms ----------------------------------------------------------------------


class AlgorithmForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=64,
        help_text=_("Up to 64 letters, digits, underscores (_) and hyphens (-)."),
    )  # fmt: skip
    description = forms.CharField(label=_("Description"), max_length=256, required=False)
    engine = forms.ModelChoiceField(
        label=_("Engine (AI预置框架)"), queryset=Engine.objects.none(), to_field_name="engine_id",
        help_text=_("The runtime the boot file runs with; the nodes that have it are listed on the engines page."),
    )  # fmt: skip
    code_dir = ObsFolderField(
        label=_("Code directory"),
        help_text=_(
            "The storage folder with the training code, such as obs://bucket/code/. It is copied to every node."
        ),
    )
    boot_file = forms.CharField(
        label=_("Boot file"), max_length=1100,
        help_text=_("The Python file to run, directly inside the code directory, such as obs://bucket/code/train.py."),
        widget=forms.TextInput(attrs={"placeholder": "obs://bucket/code/train.py", "spellcheck": "false"}),
    )  # fmt: skip
    parameters_customization = forms.BooleanField(
        label=_("Allow custom parameters in jobs (parameters_customization)"), required=False
    )

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["engine"].queryset = Engine.objects.filter(enabled=True)
        self.fields["code_dir"].bind(project=project)


class IOForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=64, widget=forms.TextInput(attrs={"placeholder": "data_url"}))
    description = forms.CharField(label=_("Description"), max_length=256, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The ModelArts examples name an input data_url and an output train_url: suggest the one that fits.
        if (self.prefix or "").startswith("outputs"):
            self.fields["name"].widget.attrs["placeholder"] = "train_url"


class ParameterForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=64)
    value = forms.CharField(label=_("Default value"), required=False, max_length=params.MAX_VALUE_CHARS)
    type = forms.ChoiceField(label=_("Type"), choices=TYPE_CHOICES, initial="String")
    valid_type = forms.ChoiceField(label=_("Valid values"), choices=VALID_TYPE_CHOICES, initial="None")
    valid_range = forms.CharField(
        label=_("Range or choices"), required=False, max_length=1000,
        widget=forms.TextInput(attrs={"placeholder": "1, 100"}),
    )  # fmt: skip
    editable = forms.BooleanField(label=_("Editable"), required=False, initial=True)
    required = forms.BooleanField(label=_("Required"), required=False)
    sensitive = forms.BooleanField(label=_("Sensitive"), required=False)
    description = forms.CharField(label=_("Description"), required=False, max_length=256)


IOFormSet = forms.formset_factory(IOForm, extra=0, can_delete=True)
ParameterFormSet = forms.formset_factory(ParameterForm, extra=0, can_delete=True)


def _filled(formset) -> list[dict]:
    return [f.cleaned_data for f in formset.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]


def algorithm_service_args(
    form: AlgorithmForm, inputs, outputs, parameters, *, algorithm: Algorithm | None = None
) -> dict:
    """The service's keyword arguments, in the seed's shapes; editing ``algorithm``, its secrets left empty are kept."""
    definitions = []
    for row in _filled(parameters):
        raw_range = [item.strip() for item in (row.get("valid_range") or "").split(",") if item.strip()]
        definitions.append(
            {
                "name": row["name"].strip(),
                "description": row.get("description", ""),
                "value": row.get("value", ""),
                "constraint": {
                    "type": row["type"],
                    "editable": row.get("editable", False),
                    "required": row.get("required", False),
                    "sensitive": row.get("sensitive", False),
                    "valid_type": row["valid_type"],
                    "valid_range": raw_range,
                },
            }
        )
    data = form.cleaned_data
    return {
        "name": data["name"],
        "description": data.get("description", ""),
        "engine": data["engine"],
        "code_dir": data["code_dir"],
        "boot_file": data["boot_file"].strip(),
        "parameters_customization": data.get("parameters_customization", False),
        "inputs": [{"name": r["name"].strip(), "description": r.get("description", "")} for r in _filled(inputs)],
        "outputs": [{"name": r["name"].strip(), "description": r.get("description", "")} for r in _filled(outputs)],
        "parameters": params.with_stored_secrets(definitions, algorithm.parameters) if algorithm else definitions,
    }


def algorithm_initial(algorithm: Algorithm) -> tuple[dict, list, list, list]:
    """Initial data of the edit form (sensitive defaults are not shown: left empty means unchanged)."""
    base = {
        "name": algorithm.name,
        "description": algorithm.description,
        "engine": algorithm.engine,
        "code_dir": obs_display(algorithm.code_dir),
        "boot_file": obs_display(algorithm.boot_file),
        "parameters_customization": algorithm.parameters_customization,
    }
    parameters = []
    for definition in algorithm.parameters:
        constraint = definition["constraint"]
        parameters.append(
            {
                "name": definition["name"],
                "value": "" if constraint.get("sensitive") else definition.get("value", ""),
                "type": constraint["type"],
                "valid_type": constraint.get("valid_type", "None"),
                "valid_range": ", ".join(str(v) for v in constraint.get("valid_range", [])),
                "editable": constraint.get("editable", True),
                "required": constraint.get("required", False),
                "sensitive": constraint.get("sensitive", False),
                "description": definition.get("description", ""),
            }
        )
    return base, list(algorithm.inputs), list(algorithm.outputs), parameters


def obs_display(api_path: str) -> str:
    return obs_uri(api_path)


# --- jobs --------------------------------------------------------------------------------


def param_field_name(name: str) -> str:
    return f"param__{name}"


def input_field_name(name: str) -> str:
    return f"input__{name}"


def output_field_name(name: str) -> str:
    return f"output__{name}"


class JobForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=64, help_text=_("Up to 64 letters, digits, underscores (_) and hyphens (-).")
    )
    description = forms.CharField(label=_("Description"), max_length=256, required=False)
    algorithm = forms.ModelChoiceField(label=_("Algorithm"), queryset=Algorithm.objects.none(), to_field_name="uuid")
    flavor = forms.ChoiceField(label=_("Flavor (公共规格)"))
    node_count = forms.IntegerField(label=_("Nodes"), min_value=1, max_value=64, initial=1)
    pool = forms.ChoiceField(
        label=_("Node pool"), required=False,
        help_text=_("Empty: the default pool. The flavors' availability above is the default pool's."),
    )  # fmt: skip
    log_export_path = ObsFolderField(
        label=_("Log export folder"), required=False,
        help_text=_("Optional: every task's full log is written here when the job ends."),
    )  # fmt: skip
    model_version = forms.ChoiceField(label=_("Model version as input"), required=False)
    custom_parameters = forms.CharField(
        label=_("Custom parameters"), required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "name=value", "spellcheck": "false"}),
        help_text=_("One name=value per line; passed to the script as --name=value."),
    )  # fmt: skip

    def __init__(self, *args, project, algorithm: Algorithm | None = None, flavor_labels=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.algorithm = algorithm
        self.fields["algorithm"].queryset = Algorithm.objects.filter(project=project).select_related("engine")
        self.fields["flavor"].choices = flavor_labels or []
        self.fields["pool"].choices = [("", _("— default pool —"))] + [
            (name, _("%(name)s (Ray cluster)") % {"name": name} if kind == PoolKind.RAY else name)
            for name, kind in Pool.objects.order_by("name").values_list("name", "kind")
        ]
        self.fields["log_export_path"].bind(project=project)
        self.fields["model_version"].choices = [("", _("— none —"))] + [
            (str(v.pk), f"{v.model.name} {v.label}") for v in versions_usable(project=project)[:200]
        ]
        if algorithm is None:
            del self.fields["custom_parameters"]
            return
        if not algorithm.parameters_customization:
            del self.fields["custom_parameters"]
        self.parameter_fields = []
        for definition in algorithm.parameters:
            field = _parameter_field(definition)
            key = param_field_name(definition["name"])
            self.fields[key] = field
            self.parameter_fields.append(key)
        self.input_fields, self.output_fields = [], []
        for item in algorithm.inputs:
            key = input_field_name(item["name"])
            self.fields[key] = ObsFolderField(
                label=item["name"], required=False,
                help_text=item.get("description") or _("Storage folder downloaded to the node; passed as --%(name)s=<local dir>.") % {"name": item["name"]},
            ).bind(project=project)  # fmt: skip
            self.input_fields.append(key)
        for item in algorithm.outputs:
            key = output_field_name(item["name"])
            self.fields[key] = ObsFolderField(
                label=item["name"], required=False,
                help_text=item.get("description") or _("Storage folder the outputs are uploaded to every 30 s and at the end."),
            ).bind(project=project)  # fmt: skip
            self.output_fields.append(key)

    def bound_group(self, names):
        return [self[name] for name in names]

    @property
    def parameter_bound_fields(self):
        return self.bound_group(getattr(self, "parameter_fields", []))

    @property
    def input_bound_fields(self):
        return self.bound_group(getattr(self, "input_fields", []))

    @property
    def output_bound_fields(self):
        return self.bound_group(getattr(self, "output_fields", []))

    def clean_custom_parameters(self):
        text = self.cleaned_data.get("custom_parameters") or ""
        pairs = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep:
                raise ValidationError(_("Line %(n)s is not name=value.") % {"n": number})
            pairs.append({"name": name.strip(), "value": value})
        return pairs

    def clean_model_version(self):
        chosen = self.cleaned_data.get("model_version")
        if not chosen:
            return None
        # The choices were listed from the same selector; one deleted since is refused here.
        version = versions_usable(project=self.project).filter(pk=chosen).first()
        if version is None:
            raise ValidationError(_("Unknown model version: choose a version of one of this project's models."))
        return version

    def spec(self) -> JobSpec:
        """The job the form asks for (call after is_valid())."""
        data = self.cleaned_data
        algorithm = data["algorithm"]
        values = []
        for definition in algorithm.parameters:
            key = param_field_name(definition["name"])
            field = self.fields.get(key)
            if field is None or field.disabled:
                continue
            value = data.get(key)
            if value is None or params.keeps_stored_secret(definition, value):
                continue  # the algorithm's value stays
            values.append({"name": definition["name"], "value": str(value)})
        values += data.get("custom_parameters") or []
        return JobSpec(
            name=data["name"],
            description=data.get("description", ""),
            algorithm=algorithm,
            parameters=values,
            inputs={item["name"]: data.get(input_field_name(item["name"])) or "" for item in algorithm.inputs},
            outputs={item["name"]: data.get(output_field_name(item["name"])) or "" for item in algorithm.outputs},
            flavor_id=data["flavor"],
            node_count=data["node_count"],
            pool=Pool.objects.filter(name=data["pool"]).first() if data.get("pool") else None,
            log_export_path=data.get("log_export_path") or "",
            model_version=data.get("model_version"),
        )


def _parameter_field(definition: dict) -> forms.Field:
    constraint = definition["constraint"]
    type_ = constraint["type"]
    default = definition.get("value", "")
    label = definition["name"]
    help_bits = [definition.get("description") or ""]
    attrs = {"spellcheck": "false"}
    kwargs = {"label": label, "required": False, "initial": default}
    if constraint.get("valid_type") == "Choice" and constraint.get("valid_range"):
        field = forms.ChoiceField(choices=[(str(v), str(v)) for v in constraint["valid_range"]], **kwargs)
    elif type_ == "Boolean":
        field = forms.ChoiceField(choices=[("True", "True"), ("False", "False")], **kwargs)
    elif constraint.get("sensitive"):
        kwargs["initial"] = ""
        field = forms.CharField(widget=forms.PasswordInput(render_value=False, attrs=attrs), **kwargs)
        help_bits.append(str(_("Sensitive: never shown again. Leave empty to use the algorithm's value.")))
    else:
        if type_ in ("Integer", "Float"):
            attrs.update({"inputmode": "decimal" if type_ == "Float" else "numeric"})
        field = forms.CharField(widget=forms.TextInput(attrs=attrs), **kwargs)
    if constraint.get("valid_type") == "Range" and constraint.get("valid_range"):
        low, high = constraint["valid_range"][:2]
        help_bits.append(str(_("%(type)s from %(low)s to %(high)s.") % {"type": type_, "low": low, "high": high}))
    elif type_ != "String":
        help_bits.append(type_)
    if constraint.get("required"):
        help_bits.append(str(_("Required.")))
    if not constraint.get("editable", True):
        field.disabled = True
        help_bits.append(str(_("Fixed by the algorithm.")))
    field.help_text = " ".join(bit for bit in help_bits if bit)
    return field


# The service's fields whose refusals about one named entry go beside that entry's field.
_ENTRY_FIELDS = {"inputs": input_field_name, "outputs": output_field_name}


def apply_job_errors(form: JobForm, error: ValidationError) -> None:
    """Put the service's refusals beside the fields they name (an input's beside that input's folder field)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for key, items in error.error_dict.items():
        for item in items:
            name = (item.params or {}).get("name")
            field = _ENTRY_FIELDS[key](name) if key in _ENTRY_FIELDS and name else key
            form.add_error(field if field in form.fields else None, item)


# --- administrators ------------------------------------------------------------------------


class FlavorForm(forms.ModelForm):
    class Meta:
        model = Flavor
        fields = [
            "flavor_id", "flavor_name", "flavor_type", "cpu_arch", "cpu_cores", "memory_gb", "disk_gb",
            "gpu_count", "gpu_type", "billing_code", "billing_unit_num", "enabled",
        ]  # fmt: skip


class EngineForm(forms.Form):
    python_path = forms.CharField(
        label=_("Python interpreter"), max_length=500,
        help_text=_("Absolute path of a virtualenv's python on the nodes, such as /opt/venvs/torch-2.13/bin/python."),
    )  # fmt: skip
    engine_name = forms.CharField(
        label=_("Engine name"), max_length=64, required=False,
        help_text=_("Leave empty to detect it (PyTorch, TensorFlow, MindSpore or Python)."),
    )  # fmt: skip
    engine_id = forms.CharField(
        label=_("Engine ID"), max_length=128, required=False,
        help_text=_("Leave empty to derive it the ModelArts way, such as pytorch_2.13.0-cpu-py_3.12-debian_12-x86_64."),
    )  # fmt: skip
    tags = forms.CharField(
        label=_("Tags"), required=False, max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "team=nlp", "spellcheck": "false"}),
        help_text=_("One key=value a line; the API shows them in the engine's tags."),
    )  # fmt: skip


class EngineTagsForm(forms.Form):
    tags = EngineForm.base_fields["tags"]


FLAVOR_TYPE_CHOICES = FlavorType.choices
CPU_ARCH_CHOICES = CpuArch.choices
