"""Model templates: the platform's standard for one base-model version.

A template is a folder (``console/catalog_data/templates/<slug>/``) holding

- ``template.json``: the metadata below (broken metadata => rule 2);
- ``config.json``: the published open-source config, copied verbatim (unreadable => rule 3);
- ``generation_config.json`` where the publisher has one (informational).

``template.json`` keys: ``slug``, ``display_name``, ``model_type``, ``architectures``,
``quantization`` ("none" | "fp8" | "awq"), ``remote_code`` (the family's code only
exists inside published folders), ``layout`` ("transformers" or one of the custom
layouts in ``layouts.CUSTOM_LAYOUTS``), optional ``tokenizer`` ({"kind":
"transformers" | "sentencepiece" | "tiktoken", "file": name}), ``conversion_note_en``,
``conversion_note_zh`` and ``test_only``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

QUANTIZATIONS = ("none", "fp8", "awq")
LAYOUTS = ("transformers", "chatglm", "qwen", "baichuan")
TOKENIZER_KINDS = ("transformers", "sentencepiece", "tiktoken")
MAX_TEMPLATE_FILE_BYTES = 1 << 20


class TemplateError(ValueError):
    """The template's metadata is missing or broken (a platform-side fault)."""


class StandardConfigError(ValueError):
    """The template's standard config.json cannot be read."""


@dataclass(frozen=True)
class Template:
    slug: str
    display_name: str
    model_type: str
    architectures: tuple[str, ...]
    quantization: str
    remote_code: bool
    layout: str
    path: Path
    tokenizer_kind: str = "transformers"
    tokenizer_file: str | None = None
    conversion_note_en: str = ""
    conversion_note_zh: str = ""
    test_only: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def standard_config(self) -> dict[str, Any]:
        return _read_json_object(self.path / "config.json", StandardConfigError)

    def standard_generation_config(self) -> dict[str, Any] | None:
        path = self.path / "generation_config.json"
        if not path.exists():
            return None
        return _read_json_object(path, StandardConfigError)


def _read_json_object(path: Path, error: type[Exception]) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_TEMPLATE_FILE_BYTES:
            raise error(f"{path}: larger than {MAX_TEMPLATE_FILE_BYTES} bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise error(f"{path}: not a JSON object")
    return data


def _require(meta: dict[str, Any], key: str, kind: type | tuple[type, ...], path: Path) -> Any:
    value = meta.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise TemplateError(f"{path}: '{key}' missing or not {getattr(kind, '__name__', kind)}")
    return value


def load_template(dir_path: Path | str) -> Template:
    """Read and validate ``<dir_path>/template.json``; raise TemplateError when it is broken."""
    if dir_path is None:
        raise TemplateError("no template folder given")
    path = Path(dir_path)
    meta_path = path / "template.json"
    meta = _read_json_object(meta_path, TemplateError)
    slug = _require(meta, "slug", str, meta_path)
    if slug != path.name:
        raise TemplateError(f"{meta_path}: slug {slug!r} does not match folder name {path.name!r}")
    display_name = _require(meta, "display_name", str, meta_path)
    model_type = _require(meta, "model_type", str, meta_path)
    architectures = _require(meta, "architectures", list, meta_path)
    if not architectures or not all(isinstance(a, str) and a for a in architectures):
        raise TemplateError(f"{meta_path}: 'architectures' must be a non-empty list of names")
    quantization = _require(meta, "quantization", str, meta_path)
    if quantization not in QUANTIZATIONS:
        raise TemplateError(f"{meta_path}: quantization {quantization!r} not one of {QUANTIZATIONS}")
    remote_code = _require(meta, "remote_code", bool, meta_path)
    layout = _require(meta, "layout", str, meta_path)
    if layout not in LAYOUTS:
        raise TemplateError(f"{meta_path}: layout {layout!r} not one of {LAYOUTS}")
    test_only = meta.get("test_only", False)
    if not isinstance(test_only, bool):
        raise TemplateError(f"{meta_path}: 'test_only' must be true or false")
    tokenizer = meta.get("tokenizer") or {"kind": "transformers"}
    if not isinstance(tokenizer, dict) or tokenizer.get("kind") not in TOKENIZER_KINDS:
        raise TemplateError(f"{meta_path}: 'tokenizer.kind' must be one of {TOKENIZER_KINDS}")
    tokenizer_file = tokenizer.get("file")
    if tokenizer["kind"] != "transformers" and not (isinstance(tokenizer_file, str) and tokenizer_file):
        raise TemplateError(f"{meta_path}: 'tokenizer.file' is required for {tokenizer['kind']}")
    notes = {}
    for key in ("conversion_note_en", "conversion_note_zh"):
        value = meta.get(key, "")
        if not isinstance(value, str):
            raise TemplateError(f"{meta_path}: '{key}' must be a string")
        notes[key] = value
    known = {
        "slug", "display_name", "model_type", "architectures", "quantization", "remote_code",
        "layout", "tokenizer", "conversion_note_en", "conversion_note_zh", "test_only",
    }  # fmt: skip
    return Template(
        slug=slug,
        display_name=display_name,
        model_type=model_type,
        architectures=tuple(architectures),
        quantization=quantization,
        remote_code=remote_code,
        layout=layout,
        path=path,
        tokenizer_kind=tokenizer["kind"],
        tokenizer_file=tokenizer_file,
        test_only=test_only,
        extra={k: v for k, v in meta.items() if k not in known},
        **notes,
    )
