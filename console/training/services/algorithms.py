"""Algorithms (创建算法): code in storage, an engine, inputs/outputs and parameter definitions."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from console.audit.services import audit_record
from console.storage import gate
from console.storage.backends import StorageError
from console.storage.paths import ObsPath, PathError, folder_key
from console.training import params
from console.training.models import Algorithm, TrainingJob
from console.training.phases import ACTIVE_PHASES
from console.training.services.catalog import engine_for

CODE_TREE_MAX_ENTRIES = 2000


def _io_list(raw, field: str) -> list[dict]:
    """The seed's inputs/outputs: [{"name", "description"}], names like parameter names."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValidationError({field: _("%(field)s must be a list of {name, description}.") % {"field": field}})
    errors, result, seen = [], [], set()
    for item in raw:
        if not isinstance(item, dict):
            errors.append(_("Each entry needs a name."))
            continue
        problem = params.entry_error(item, seen)
        if problem:
            errors.append(problem)
            continue
        result.append({"name": item["name"], "description": item.get("description") or ""})
    if errors:
        raise ValidationError({field: errors})
    return result


def _code_location(*, actor, project, code_dir: str, boot_file: str) -> tuple[ObsPath, ObsPath, dict, int]:
    """Check code_dir (a folder the user may read) and boot_file (a .py file directly inside it)."""
    errors: dict[str, list[str]] = {}
    folder = boot = None
    backend = None
    try:
        backend, folder = gate.folder_check(user=actor, project=project, path=code_dir or "", access=gate.READ)
    except gate.StorageRefused as refusal:
        errors["code_dir"] = [ValidationError(refusal.message, code=refusal.code)]
    try:
        boot = gate.parse_path(boot_file or "")
        if boot.is_folder:
            raise ValidationError(_("The boot file must be a file, such as obs://bucket/code/train.py, not a folder."))
    except ValidationError as error:
        errors["boot_file"] = error.messages
    if folder is not None and boot is not None and "boot_file" not in errors:
        if boot.bucket != folder.bucket or boot.parent != folder:
            # Seed: 代码目录为代码启动文件的一级目录.
            errors["boot_file"] = [
                _(
                    "The boot file must be directly inside the code directory %(dir)s (the code directory is the boot file's parent folder)."
                )
                % {"dir": folder.uri}
            ]
        elif not boot.key.endswith(".py"):
            errors["boot_file"] = [_("The boot file must be a Python file (.py): the engine's interpreter runs it.")]
        else:
            try:
                entry = backend.stat(boot.key)
            except (PathError, StorageError) as error:
                entry = None
                errors["boot_file"] = [str(error)]
            if entry is None and "boot_file" not in errors:
                errors["boot_file"] = [_("There is no file %(path)s.") % {"path": boot.uri}]
            elif entry is not None and entry.is_dir:
                errors["boot_file"] = [_("%(path)s is a folder; choose the Python file to run.") % {"path": boot.uri}]
    if errors:
        raise ValidationError(errors)
    tree, size = _code_tree(backend, folder)
    return folder, boot, tree, size


def _code_tree(backend, folder: ObsPath) -> tuple[dict, int]:
    """The seed's code_tree ({"name": "cpu/", "children": [...]}) and the code's total size."""
    root = {"name": (folder.name + "/") if folder.name else "/", "children": []}
    size = 0
    index = {"": root}
    try:
        for count, entry in enumerate(backend.walk(folder.key)):
            if count >= CODE_TREE_MAX_ENTRIES:
                break
            size += entry.size
            relative = entry.path[len(folder.key) :]
            parts = relative.split("/")
            parent_key = ""
            node = root
            for part in parts[:-1]:
                parent_key += part + "/"
                if parent_key not in index:
                    child = {"name": part + "/", "children": []}
                    node["children"].append(child)
                    index[parent_key] = child
                node = index[parent_key]
            node["children"].append({"name": parts[-1]})
    except (PathError, StorageError):
        pass
    return root, size


def _taken(name: str) -> ValidationError:
    return ValidationError(
        _("An algorithm named %(name)s already exists in this project.") % {"name": name}, code="algorithm_exists"
    )


def _validate(
    *,
    actor,
    project,
    name,
    description,
    code_dir,
    boot_file,
    engine,
    engine_id,
    engine_name,
    engine_version,
    inputs,
    outputs,
    parameters,
    parameters_customization,
    instance=None,
) -> dict:
    # Each refusal carries a stable code: the API answers some of them with their own error code.
    errors: dict[str, list[ValidationError]] = {}
    name = (name or "").strip() if isinstance(name, str) else name
    problem = params.name_error(name)
    if problem:
        errors["name"] = [ValidationError(problem, code="invalid_name")]
    elif Algorithm.objects.filter(project=project, name=name).exclude(pk=getattr(instance, "pk", None)).exists():
        errors["name"] = [_taken(name)]
    description = description or ""
    problem = params.description_error(description)
    if problem:
        errors["description"] = [ValidationError(problem, code="description_too_long")]
    if engine is None:
        engine = engine_for(
            engine_id=engine_id or "", engine_name=engine_name or "", engine_version=engine_version or ""
        )
    if engine is None or not engine.enabled:
        errors["engine"] = [
            ValidationError(
                _("Unknown engine %(engine)s: choose one of the engines the console lists (AI预置框架).")
                % {"engine": engine_id or engine_version or engine_name or _("(none)")},
                code="unknown_engine",
            )
        ]
    try:
        inputs = _io_list(inputs, "inputs")
    except ValidationError as error:
        errors.update(error.error_dict)
        inputs = None
    try:
        outputs = _io_list(outputs, "outputs")
    except ValidationError as error:
        errors.update(error.error_dict)
        outputs = None
    try:
        definitions = params.normalize_definitions(parameters)
    except params.ParameterErrors as error:
        errors.update(error.errors)
        definitions = []
    if isinstance(inputs, list) and isinstance(outputs, list):
        # Every one becomes a --name=... argument: two with one name would shadow each other.
        names = [d["name"] for d in definitions] + [i["name"] for i in inputs] + [o["name"] for o in outputs]
        clashes = sorted({n for n in names if names.count(n) > 1})
        if clashes:
            errors.setdefault("parameters", []).append(
                _("%(names)s is used by more than one parameter, input or output; each becomes a --name argument.")
                % {"names": ", ".join(clashes)}
            )
    try:
        folder, boot, tree, size = _code_location(actor=actor, project=project, code_dir=code_dir, boot_file=boot_file)
    except ValidationError as error:
        errors.update(error.error_dict)
        folder = boot = tree = size = None
    if errors:
        raise ValidationError(errors, code="invalid_algorithm")
    return {
        "name": name,
        "description": description,
        "engine": engine,
        "inputs": inputs,
        "outputs": outputs,
        "parameters": definitions,
        "parameters_customization": bool(parameters_customization),
        "code_dir": folder.api,
        "boot_file": boot.api,
        "code_tree": tree,
        "code_size": size,
    }


def algorithm_create(
    *,
    actor,
    project,
    name: str,
    code_dir: str,
    boot_file: str,
    description: str = "",
    engine=None,
    engine_id: str = "",
    engine_name: str = "",
    engine_version: str = "",
    inputs: list | None = None,
    outputs: list | None = None,
    parameters: list | None = None,
    parameters_customization: bool = False,
) -> Algorithm:
    """Create an algorithm. Raises ValidationError naming each field that breaks a rule; nothing is written then."""
    values = _validate(
        actor=actor,
        project=project,
        name=name,
        description=description,
        code_dir=code_dir,
        boot_file=boot_file,
        engine=engine,
        engine_id=engine_id,
        engine_name=engine_name,
        engine_version=engine_version,
        inputs=inputs,
        outputs=outputs,
        parameters=parameters,
        parameters_customization=parameters_customization,
    )
    try:
        with transaction.atomic():
            algorithm = Algorithm.objects.create(project=project, created_by=actor, **values)
    except IntegrityError:
        raise ValidationError({"name": [_taken(values["name"])]}) from None
    return algorithm


def algorithm_update(*, actor, algorithm: Algorithm, **changes) -> Algorithm:
    """Replace the algorithm's definition. Jobs already created keep the definition they ran with."""
    current = {
        "name": algorithm.name,
        "description": algorithm.description,
        "code_dir": algorithm.code_dir,
        "boot_file": algorithm.boot_file,
        "engine": algorithm.engine,
        "engine_id": "",
        "engine_name": "",
        "engine_version": "",
        "inputs": algorithm.inputs,
        "outputs": algorithm.outputs,
        "parameters": algorithm.parameters,
        "parameters_customization": algorithm.parameters_customization,
    }
    if any(changes.get(k) for k in ("engine_id", "engine_name", "engine_version")):
        current["engine"] = None
    current.update({k: v for k, v in changes.items() if k in current})
    values = _validate(actor=actor, project=algorithm.project, instance=algorithm, **current)
    with transaction.atomic():
        locked = Algorithm.objects.select_for_update().get(pk=algorithm.pk)
        for key, value in values.items():
            setattr(locked, key, value)
        try:
            with transaction.atomic():
                locked.save()
        except IntegrityError:
            raise ValidationError({"name": [_taken(values["name"])]}) from None
    return locked


@transaction.atomic
def algorithm_delete(*, actor, algorithm: Algorithm) -> None:
    locked = Algorithm.objects.select_for_update().filter(pk=algorithm.pk).first()
    if locked is None:
        raise ValidationError(_("This algorithm was already deleted."), code="algorithm_gone")
    using = list(
        TrainingJob.objects.filter(algorithm=locked, phase__in=ACTIVE_PHASES, deleted_at__isnull=True).values_list(
            "name", flat=True
        )[:5]
    )
    if using:
        raise ValidationError(
            _(
                "The algorithm is used by training jobs that have not finished (%(jobs)s); stop them or wait for them to end."
            )
            % {"jobs": ", ".join(using)},
            code="algorithm_in_use",
        )
    audit_record(
        actor=actor,
        action="algorithm.delete",
        obj=locked,
        project=locked.project,
        before={"name": locked.name, "code_dir": locked.code_dir, "boot_file": locked.boot_file},
    )
    locked.delete()


def code_folder_of(algorithm: Algorithm) -> ObsPath:
    path = gate.parse_path(algorithm.code_dir)
    return ObsPath(path.bucket, folder_key(path.key))
