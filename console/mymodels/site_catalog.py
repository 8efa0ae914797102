"""A site administrator adds a base-model version to the catalog, with its reference config.json.

The shipped catalog (catalog_data/series.json + templates/) is read-only code; a base model an
administrator adds (such as the tiny Llama of examples/tiny_finetune) gets its weight-check
template in the var dir (``site_templates_dir()/<slug>/``: config.json as given, template.json
derived from it) and the template name "site:<slug>". ``load_catalog`` leaves such rows alone.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from console.audit.services import audit_record
from console.mymodels.models import SITE_TEMPLATE_PREFIX, BaseModelSeries, BaseModelVersion, site_templates_dir
from console.weightcheck import TemplateError, load_template

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_CONFIG_BYTES = 256 * 1024
# The layouts a reference config can name without code of the console: transformers-native families.
_QUANTIZATION_METHODS = {"fp8": "fp8", "awq": "awq"}


def _config_errors(raw: bytes) -> tuple[dict | None, list[str]]:
    if len(raw) > MAX_CONFIG_BYTES:
        return None, [_("config.json is larger than %(kb)s KB.") % {"kb": MAX_CONFIG_BYTES // 1024}]
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, [_("config.json is not valid JSON: %(error)s") % {"error": error}]
    if not isinstance(config, dict):
        return None, [_("config.json must be a JSON object.")]
    errors = []
    if not isinstance(config.get("model_type"), str) or not config.get("model_type"):
        errors.append(_("config.json has no model_type."))
    architectures = config.get("architectures")
    if not isinstance(architectures, list) or not architectures or not all(isinstance(a, str) for a in architectures):
        errors.append(_('config.json has no architectures list, such as ["LlamaForCausalLM"].'))
    if config.get("auto_map"):
        errors.append(_("config.json needs custom code (auto_map): only transformers-native models can be added here."))
    return config, errors


def base_version_add(
    *,
    actor,
    series: BaseModelSeries | None,
    slug: str,
    name: str,
    config_bytes: bytes,
    note_en: str = "",
    note_zh: str = "",
) -> BaseModelVersion:
    """Add a base-model version with its reference config (weight validation supported). Audited.

    Raises ValidationError keyed by field (series, slug, name, config) and writes nothing when refused.
    """
    errors: dict[str, list[str]] = {}
    if series is None:
        errors["series"] = [_("Choose the series the base model belongs to.")]
    slug = (slug or "").strip()
    if not SLUG_RE.match(slug):
        errors["slug"] = [_("Use 1–63 lowercase letters, digits and hyphens, starting with a letter or digit.")]
    elif BaseModelVersion.objects.filter(slug=slug).exists():
        errors["slug"] = [_("A base model with the slug %(slug)s already exists.") % {"slug": slug}]
    name = (name or "").strip()
    if not name or len(name) > 64:
        errors["name"] = [_("Give the base model a name of 1 to 64 characters.")]
    config, config_errors = _config_errors(config_bytes or b"")
    if config_errors:
        errors["config"] = config_errors
    if errors:
        raise ValidationError(errors)
    quantization = _QUANTIZATION_METHODS.get(
        str((config.get("quantization_config") or {}).get("quant_method", "")).lower(), "none"
    )
    meta = {
        "slug": slug,
        "display_name": name,
        "model_type": config["model_type"],
        "architectures": config["architectures"],
        "quantization": quantization,
        "remote_code": False,
        "layout": "transformers",
        "conversion_note_en": "",
        "conversion_note_zh": "",
        "test_only": False,
    }
    root = site_templates_dir()
    root.mkdir(parents=True, exist_ok=True)
    target = root / slug
    # Written aside, checked as the weight check will read it, then moved in place in one rename.
    staging = Path(tempfile.mkdtemp(prefix=f".{slug}-", dir=root))
    try:
        work = staging / slug
        work.mkdir()
        (work / "config.json").write_bytes(config_bytes)
        (work / "template.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        try:
            load_template(work).standard_config()
        except (TemplateError, ValueError) as error:
            raise ValidationError({"config": [str(error)]}) from None
        if target.exists():  # a folder left by a base model deleted since: the new config replaces it
            shutil.rmtree(target)
        work.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    try:
        with transaction.atomic():
            version = BaseModelVersion.objects.create(
                series=series,
                slug=slug,
                name=name,
                template=SITE_TEMPLATE_PREFIX + slug,
                quantization=quantization,
                note_en=note_en,
                note_zh=note_zh,
                position=1000 + BaseModelVersion.objects.filter(series=series).count(),
            )
            audit_record(
                actor=actor, action="catalog.base_version_add", obj=version,
                after={"series": series.slug, "slug": slug, "name": name, "model_type": config["model_type"],
                       "architectures": config["architectures"], "quantization": quantization},
            )  # fmt: skip
    except IntegrityError:
        raise ValidationError(
            {"slug": [_("A base model with the slug %(slug)s already exists.") % {"slug": slug}]}
        ) from None
    return version


def site_base_versions():
    """The base-model versions site administrators added, newest first."""
    return (
        BaseModelVersion.objects.filter(template__startswith=SITE_TEMPLATE_PREFIX)
        .select_related("series")
        .order_by("-id")
    )
