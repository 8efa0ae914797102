"""Writes for the catalog and My Models: the rules of seed 表1 and 删除我的模型 live here.

Locking: the MyModel row is the mutex for everything inside a model (adding a
version, deleting a version or the model, starting a re-check, a training job
registering a task record). Whoever holds ``select_for_update`` on it decides
alone, so "at most 10 versions" and "one delete wins" hold under concurrency.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from console.audit.services import audit_record
from console.mymodels.models import (
    CATALOG_DATA_DIR,
    TEMPLATES_DIR,
    BaseModelSeries,
    BaseModelVersion,
    MyModel,
    Quantization,
    WeightSetting,
)

CONFIRM_WORD = "DELETE"
NAME_MAX = 64
DESCRIPTION_MAX = 100

# Seed 表1: 以中文、大小写字母开头,只包含中文、大小写字母、数字、下划线(_)、中划线(-)和(.).
# "Chinese" = the CJK Unified Ideographs blocks (basic + extension A).
_CHINESE = "\u3400-\u4dbf\u4e00-\u9fff"
_NAME_FIRST = re.compile(rf"[{_CHINESE}A-Za-z]")
_NAME_CHAR = re.compile(rf"[{_CHINESE}A-Za-z0-9_.\-]")


class CatalogError(Exception):
    """series.json or a template it names is inconsistent: a deployment fault, reported loudly."""


# --- catalog ---------------------------------------------------------------------------


def _facets(series: dict) -> str:
    parts = [f"type:{series['type']['zh']}"]
    parts += [f"scenario:{s['zh']}" for s in series["scenarios"]]
    parts += [f"language:{s['zh']}" for s in series["languages"]]
    return "|" + "|".join(parts) + "|"


def _template_meta(template: str) -> dict:
    """template.json of a catalog version; CatalogError if it is missing or disagrees."""
    from console.weightcheck import TemplateError, load_template

    folder = TEMPLATES_DIR / template
    try:
        return load_template(folder)
    except TemplateError as error:
        raise CatalogError(f"template {template!r}: {error}") from error


@transaction.atomic
def catalog_load(*, path: Path | None = None) -> dict[str, int]:
    """Load series.json into BaseModelSeries / BaseModelVersion. Idempotent: rows are
    matched by slug and updated; entries no longer listed are deactivated, not deleted
    (existing models still point at them)."""
    path = path or CATALOG_DATA_DIR / "series.json"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise CatalogError(f"{path}: {error}") from error
    counts = {"series": 0, "versions": 0, "deactivated": 0}
    seen_versions = []
    for series_position, series in enumerate(data["series"]):
        series_row, _created = BaseModelSeries.objects.update_or_create(
            slug=series["slug"],
            defaults={
                "name": series["name"],
                "name_en": series["name_en"],
                "type_zh": series["type"]["zh"],
                "type_en": series["type"]["en"],
                "scenarios_zh": [s["zh"] for s in series["scenarios"]],
                "scenarios_en": [s["en"] for s in series["scenarios"]],
                "languages_zh": [s["zh"] for s in series["languages"]],
                "languages_en": [s["en"] for s in series["languages"]],
                "facets": _facets(series),
                "position": series_position,
            },
        )
        counts["series"] += 1
        for position, version in enumerate(series["versions"]):
            template = version.get("template") or ""
            quantization = version["quantization"]
            if quantization not in Quantization.values:
                raise CatalogError(f"{version['slug']}: quantization {quantization!r} is not one of {Quantization.values}")
            notes = {"conversion_note_en": "", "conversion_note_zh": ""}
            if template:
                meta = _template_meta(template)
                if meta.test_only:
                    raise CatalogError(f"{version['slug']}: template {template!r} is test-only")
                if meta.quantization != quantization:
                    raise CatalogError(
                        f"{version['slug']}: series.json says quantization {quantization!r}, "
                        f"template {template!r} says {meta.quantization!r}"
                    )
                notes = {"conversion_note_en": meta.conversion_note_en, "conversion_note_zh": meta.conversion_note_zh}
            elif not version.get("unsupported_en"):
                raise CatalogError(f"{version['slug']}: no template, so say why in unsupported_en/zh")
            BaseModelVersion.objects.update_or_create(
                slug=version["slug"],
                defaults={
                    "series": series_row,
                    "name": version["name"],
                    "published_as": version.get("published_as", ""),
                    "template": template,
                    "quantization": quantization,
                    "weight_config_change": bool(version.get("weight_config_change")),
                    "note_en": version.get("note_en", ""),
                    "note_zh": version.get("note_zh", ""),
                    "unsupported_en": version.get("unsupported_en", ""),
                    "unsupported_zh": version.get("unsupported_zh", ""),
                    "active": True,
                    "position": position,
                    **notes,
                },
            )
            seen_versions.append(version["slug"])
            counts["versions"] += 1
    counts["deactivated"] = (
        BaseModelVersion.objects.exclude(slug__in=seen_versions).filter(active=True).update(active=False)
    )
    return counts


# --- model rules -------------------------------------------------------------------------


def model_name_errors(name: str) -> list[str]:
    """Every rule of 表1's 模型名称 the name breaks, as messages naming the rule."""
    if not name:
        return [_("Enter a model name (1–64 characters).")]
    errors = []
    if len(name) > NAME_MAX:
        errors.append(
            _("The model name has %(n)d characters; at most 64 are allowed (1–64).") % {"n": len(name)}
        )
    if not _NAME_FIRST.fullmatch(name[0]):
        errors.append(
            _("The model name must start with a Chinese character or a letter, not “%(char)s”.") % {"char": name[0]}
        )
    bad = sorted({char for char in name if not _NAME_CHAR.fullmatch(char)})
    if bad:
        errors.append(
            _(
                "The model name may only contain Chinese characters, letters, digits, underscores (_), "
                "hyphens (-) and periods (.); remove: %(chars)s"
            )
            % {"chars": " ".join(f"“{c}”" for c in bad)}
        )
    return errors


def description_errors(description: str) -> list[str]:
    if len(description) > DESCRIPTION_MAX:
        return [
            _("The description has %(n)d characters; at most 100 are allowed.") % {"n": len(description)}
        ]
    return []


def confirm_errors(confirm: str) -> list[str]:
    """The typed confirmation of the seed: exactly DELETE, case-sensitive."""
    if confirm != CONFIRM_WORD:
        return [_("Type DELETE (capital letters) to confirm. Nothing was deleted.")]
    return []


def _raise_if(errors: dict[str, list[str]]) -> None:
    errors = {field: messages for field, messages in errors.items() if messages}
    if errors:
        raise ValidationError(errors)


def model_create(
    *,
    actor,
    project,
    name: str,
    description: str = "",
    base_version: BaseModelVersion,
    weights_path: str,
    validate_weights: bool = True,
    weight_setting: str = WeightSetting.CUSTOM,
) -> MyModel:
    """Create a model and its V1 (seed: 创建模型). V1 is validated when validation is on."""
    from console.versions import services as version_services

    name = (name or "").strip()
    description = description or ""
    _raise_if(
        {
            "name": model_name_errors(name),
            "description": description_errors(description),
            "weight_setting": []
            if weight_setting == WeightSetting.CUSTOM
            else [_("Only “Custom weights” (自定义权重) is available.")],
            **version_services.version_input_errors(base_version=base_version, validate_weights=validate_weights),
        }
    )
    if MyModel.objects.filter(project=project, name=name).exists():
        raise ValidationError({"name": _("A model named “%(name)s” already exists in this project.") % {"name": name}})
    # Storage is reached before the transaction: a slow bucket must not hold a lock.
    folder = version_services.weights_folder_check(actor=actor, project=project, path=weights_path)
    try:
        with transaction.atomic():
            model = MyModel.objects.create(
                project=project,
                name=name,
                description=description,
                base_version=base_version,
                weight_setting=weight_setting,
                created_by=actor,
            )
            # Lock the fresh row like every other writer inside a model does.
            model = MyModel.objects.select_for_update().get(pk=model.pk)
            version_services.version_add_locked(
                actor=actor,
                model=model,
                description=description,
                base_version=base_version,
                weights_path=folder,
                validate_weights=validate_weights,
            )
            audit_record(
                actor=actor,
                action="model.create",
                obj=model,
                project=project,
                after={"name": name, "base_model": base_version.name, "weights_path": folder,
                       "weight_validation": validate_weights},
            )
    except IntegrityError:
        # Someone took the name between our check and our insert.
        raise ValidationError(
            {"name": _("A model named “%(name)s” already exists in this project.") % {"name": name}}
        ) from None
    return model


class DeleteBlocked(ValidationError):
    """Refused because task records still use the model or version; ``records`` lists them."""

    def __init__(self, message: str, records: list):
        super().__init__({"confirm": [message]})
        self.records = records


def model_delete(*, actor, model: MyModel, confirm: str) -> None:
    """Delete a model with all its versions and finished weight-check records (seed 删除我的模型).

    Refused, changing nothing, unless ``confirm`` is exactly DELETE, and while any
    version has a training or inference task record or a weight check that has not
    finished. Weight files in storage are the user's and are left alone.
    """
    from console.versions.models import ModelVersion
    from console.versions.selectors import blocking_records

    _raise_if({"confirm": confirm_errors(confirm)})
    with transaction.atomic():
        locked = MyModel.objects.select_for_update().filter(pk=model.pk, project_id=model.project_id).first()
        if locked is None:
            raise ValidationError({"confirm": [_("This model was already deleted.")]})
        blockers = blocking_records(model=locked)
        if blockers:
            raise DeleteBlocked(
                _(
                    "The model cannot be deleted: %(n)d task record(s) still use its versions. "
                    "Delete the training and inference tasks (and wait for running weight checks) first."
                )
                % {"n": len(blockers)},
                blockers,
            )
        versions = list(
            ModelVersion.objects.filter(model=locked).values_list("number", "status", "weights_path")
        )
        audit_record(
            actor=actor,
            action="model.delete",
            obj=locked,
            project=locked.project,
            before={
                "name": locked.name,
                "base_model": locked.base_version.name,
                "versions": [{"number": f"V{n}", "status": s, "weights_path": p} for n, s, p in versions],
            },
        )
        locked.delete()
