"""Writes for the catalog and My Models: the rules of seed 表1 on a model's own fields.

What needs a model together with its versions (create a model with its V1, delete
a model guarded by its task records) is in the versions app's services, which sit
above this app; nothing here imports versions.

Locking: the MyModel row is the mutex for everything inside a model. Whoever
holds ``select_for_update`` on it (``model_locked``, ``model_insert_locked``)
decides alone, so limits and "one delete wins" hold under concurrency.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from console.mymodels.models import (
    CATALOG_DATA_DIR,
    SITE_TEMPLATE_PREFIX,
    TEMPLATES_DIR,
    BaseModelSeries,
    BaseModelVersion,
    MyModel,
    Quantization,
    WeightSetting,
)
from console.weightcheck import TemplateError, load_template

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
                raise CatalogError(
                    f"{version['slug']}: quantization {quantization!r} is not one of {Quantization.values}"
                )
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
        BaseModelVersion.objects.exclude(slug__in=seen_versions)
        # Base models a site administrator added are not in series.json: they stay offered.
        .exclude(template__startswith=SITE_TEMPLATE_PREFIX)
        .filter(active=True)
        .update(active=False)
    )
    return counts


# --- model rules -------------------------------------------------------------------------


def model_name_errors(name: str) -> list[str]:
    """Every rule of 表1's 模型名称 the name breaks, as messages naming the rule."""
    if not name:
        return [_("Enter a model name (1–64 characters).")]
    errors = []
    if len(name) > NAME_MAX:
        errors.append(_("The model name has %(n)d characters; at most 64 are allowed (1–64).") % {"n": len(name)})
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
        return [_("The description has %(n)d characters; at most 100 are allowed.") % {"n": len(description)}]
    return []


def model_input_errors(*, name: str, description: str, weight_setting: str) -> dict[str, list[str]]:
    """The rules of 表1 on the model's own fields, by field (empty lists where nothing is wrong)."""
    return {
        "name": model_name_errors(name),
        "description": description_errors(description),
        "weight_setting": []
        if weight_setting == WeightSetting.CUSTOM
        else [_("Only “Custom weights” (自定义权重) is available.")],
    }


def raise_if_errors(errors: dict[str, list[str]]) -> None:
    """One ValidationError naming every field that broke a rule; nothing when all lists are empty."""
    errors = {field: messages for field, messages in errors.items() if messages}
    if errors:
        raise ValidationError(errors)


def name_taken_error(name: str) -> ValidationError:
    return ValidationError({"name": _("A model named “%(name)s” already exists in this project.") % {"name": name}})


def model_insert_locked(
    *, actor, project, name: str, description: str, base_version: BaseModelVersion, weight_setting: str
) -> MyModel:
    """Insert a model whose fields the caller checked, inside the caller's transaction, and
    return its row locked (like every other writer inside a model holds it).

    Raises ``IntegrityError`` if another request took the name since the caller checked it.
    """
    model = MyModel.objects.create(
        project=project,
        name=name,
        description=description,
        base_version=base_version,
        weight_setting=weight_setting,
        created_by=actor,
    )
    return MyModel.objects.select_for_update().get(pk=model.pk)


def model_locked(model: MyModel) -> MyModel | None:
    """The model's row, locked for the rest of the caller's transaction; None once it was deleted."""
    return MyModel.objects.select_for_update().filter(pk=model.pk, project_id=model.project_id).first()
