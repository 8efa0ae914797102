"""``check_folder``: the weight check of issue 4, rules 1-9 in order, stopping at the first failure."""

from __future__ import annotations

import json
import logging
import time
import uuid
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from . import layouts, tokenizer, weights
from .keyfields import compare_key_fields, key_fields_for
from .reader import CountingReader, FolderReader, describe_unlisted
from .report import CheckReport
from .templates import StandardConfigError, Template, TemplateError, load_template

logger = logging.getLogger(__name__)

MAX_CONFIG_BYTES = 4 << 20

# transformers' GenerationConfig.validate: a flag only matters for sampling when it
# differs from its neutral value; with do_sample not true such a flag contradicts it.
SAMPLING_FLAGS: dict[str, float | None] = {
    "temperature": 1.0,
    "top_p": 1.0,
    "top_k": 50,
    "min_p": None,
    "top_h": None,
    "typical_p": 1.0,
    "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0,
}


class _Failure(Exception):
    def __init__(self, code: str, details: list[str] | tuple[str, ...] = ()):
        super().__init__(code)
        self.code = code
        self.details = list(details)


def check_folder(
    reader: FolderReader, template_dir: Path | str | None, *, layout_cache_dir: Path | str | None = None
) -> CheckReport:
    """Check a model folder against a template. Never raises.

    ``layout_cache_dir``: where expected layouts are stored (see ``layouts.cache_dir``);
    None means the process default."""
    report = CheckReport()
    counting = CountingReader(reader)
    started = time.monotonic()
    try:
        _run(counting, template_dir, report, layout_cache_dir)
        report.succeed()
    except _Failure as failure:
        report.fail(failure.code, failure.details)
    except Exception:
        reference = uuid.uuid4().hex
        logger.exception("weight check: unexpected error [log reference %s] for %r", reference, reader)
        if report.steps and report.steps[-1]["status"] == "running":
            report.steps[-1]["status"] = "failed"
            report.steps[-1]["ok"] = False
        report.log_reference = reference
        report.fail("unknown", [f"log reference {reference}"])
    report.bytes_read = counting.bytes_read
    report.duration_seconds = round(time.monotonic() - started, 4)
    return report


@contextmanager
def _step(report: CheckReport, name: str):
    entry: dict[str, Any] = {"name": name, "ok": False, "status": "running"}
    report.steps.append(entry)
    started = time.monotonic()
    try:
        yield entry
    except _Failure:
        entry["status"] = "failed"
        raise
    else:
        entry["ok"] = True
        entry["status"] = "passed"
    finally:
        entry["seconds"] = round(time.monotonic() - started, 4)


def _read_json(reader: FolderReader, files: dict[str, int], name: str, code: str) -> dict[str, Any]:
    if name not in files:
        what = describe_unlisted(reader, name)
        if what is not None:
            raise _Failure(code, [f"{name} at the top of the model folder is {what}"])
        raise _Failure(code, [f"{name} not found at the top of the model folder"])
    if files[name] > MAX_CONFIG_BYTES:
        raise _Failure(code, [f"{name}: {files[name]} bytes, over the {MAX_CONFIG_BYTES}-byte limit"])
    try:
        data = json.loads(reader.read(name).decode("utf-8"))
    except OSError as exc:  # includes ReaderError: a path that left the folder
        raise _Failure(code, [f"{name}: cannot be read ({exc})"]) from exc
    except UnicodeDecodeError as exc:
        raise _Failure(code, [f"{name}: not UTF-8 text ({exc})"]) from exc
    except json.JSONDecodeError as exc:
        raise _Failure(code, [f"{name}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"]) from exc
    except RecursionError as exc:
        raise _Failure(code, [f"{name}: JSON nested too deeply"]) from exc
    if not isinstance(data, dict):
        raise _Failure(code, [f"{name}: the top level is a {type(data).__name__}, not a JSON object"])
    return data


def _run(
    reader: CountingReader, template_dir: Path | str | None, report: CheckReport, layout_cache_dir: Path | str | None
) -> None:
    # 1. the user's config.json
    with _step(report, "user_config"):
        try:
            files = reader.list_files()
        except OSError as exc:
            raise _Failure("user_config", [f"the model folder cannot be listed: {exc}"]) from exc
        config = _read_json(reader, files, "config.json", "user_config")
        _note_custom_code(report, files, config)

    # 2. the template (the base-model version's metadata)
    with _step(report, "template"):
        if template_dir is None:
            raise _Failure("template_selection", ["no model template is configured for this base-model version"])
        try:
            template = load_template(template_dir)
        except TemplateError as exc:
            raise _Failure("template_selection", [str(exc)]) from exc
        report.template = template.slug
        if template.test_only:
            report.note(f"template {template.slug} is a test-only template")
        if template.remote_code and template.conversion_note_en:
            report.note(f"{template.display_name}: {template.conversion_note_en}")

    # 3. the template's standard config.json
    with _step(report, "standard_config"):
        try:
            standard = template.standard_config()
        except StandardConfigError as exc:
            raise _Failure("standard_config", [str(exc)]) from exc
        _check_standard_matches_template(template, standard)

    # 4. key structural fields
    with _step(report, "key_fields"):
        details = compare_key_fields(config, standard, _derived_standard(template, config, standard))
        if details:
            raise _Failure("key_fields", details)

    # 5. quantization_config
    with _step(report, "quantization"):
        _check_quantization(config, standard)

    # 6. generation_config.json
    with _step(report, "generation_config") as entry:
        if "generation_config.json" in files:
            generation = _read_json(reader, files, "generation_config.json", "generation_config")
            _check_do_sample(generation)
        else:
            entry["skipped"] = "no generation_config.json in the folder"

    # 7. tokenizer
    with _step(report, "tokenizer"):
        vocab_size = _vocab_size(config)
        try:
            if template.tokenizer_kind == "sentencepiece":
                notes = tokenizer.check_sentencepiece(reader, files, template.tokenizer_file, vocab_size)
            elif template.tokenizer_kind == "tiktoken":
                notes = tokenizer.check_tiktoken(reader, files, template.tokenizer_file, vocab_size)
            else:
                notes = tokenizer.check_transformers_tokenizer(reader, files, vocab_size)
        except tokenizer.TokenizerError as exc:
            raise _Failure("tokenizer", [str(exc)]) from exc
        for note in notes:
            report.note(note)

    # 8. weights, from headers only
    with _step(report, "weights") as entry:
        architecture = template.architectures[0]
        try:
            layout, origin = layouts.expected_layout(template.layout, architecture, config, cache_dir=layout_cache_dir)
        except layouts.LayoutError as exc:
            raise _Failure("weights", [str(exc)]) from exc
        entry["layout_cache"] = origin
        # The layout first: it bounds how much of the folder's index and headers is worth
        # parsing (a hostile header listing millions of tensors is refused unparsed).
        budget = weights.tensor_budget(layout, config.get("quantization_config"))
        try:
            checkpoint = weights.read_checkpoint(reader, files, budget)
        except weights.WeightsError as exc:
            raise _Failure("weights", exc.details) from exc
        details, notes = weights.compare(checkpoint, layout, config.get("quantization_config"))
        for note in notes:
            report.note(note)
        if details:
            raise _Failure("weights", details)


def _note_custom_code(report: CheckReport, files: dict[str, int], config: dict[str, Any]) -> None:
    python_files = sorted(p for p in files if PurePosixPath(p).suffix == ".py")
    auto_map = config.get("auto_map")
    if python_files or auto_map:
        report.custom_code_present = True
        found = []
        if auto_map:
            found.append("config.json auto_map")
        if python_files:
            shown = ", ".join(python_files[:10]) + (" ..." if len(python_files) > 10 else "")
            found.append(f"Python files: {shown}")
        report.note(
            "custom code present (" + "; ".join(found) + "); it was not imported or run: "
            "the check never enables trust_remote_code"
        )


def _check_standard_matches_template(template: Template, standard: dict[str, Any]) -> None:
    problems = []
    if standard.get("model_type") != template.model_type:
        problems.append(
            f"standard config.json model_type {standard.get('model_type')!r} differs from the template's "
            f"{template.model_type!r}"
        )
    if list(standard.get("architectures") or []) != list(template.architectures):
        problems.append(
            f"standard config.json architectures {standard.get('architectures')!r} differ from the template's "
            f"{list(template.architectures)!r}"
        )
    quantization = standard.get("quantization_config")
    method = str(quantization.get("quant_method", "")).lower() if isinstance(quantization, dict) else "none"
    if method != template.quantization:
        problems.append(
            f"standard config.json quantization {method!r} differs from the template's {template.quantization!r}"
        )
    if problems:
        raise _Failure("standard_config", problems)


def _derived_standard(template: Template, config: dict[str, Any], standard: dict[str, Any]) -> dict[str, Any] | None:
    """What transformers derives from the standard for key fields it omits, when the user sets them."""
    if template.layout != "transformers":
        return None
    fields = key_fields_for(template.architectures[0])
    wanted = [name for name in fields if name in config and name not in standard]
    if not wanted:
        return None
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    config_class = CONFIG_MAPPING[template.model_type]
    clean = {k: v for k, v in standard.items() if k not in ("auto_map", "quantization_config")}
    derived = config_class.from_dict(clean)
    return {name: getattr(derived, name, None) for name in wanted}


def _check_quantization(config: dict[str, Any], standard: dict[str, Any]) -> None:
    expected = standard.get("quantization_config") or None
    found = config.get("quantization_config") or None
    if expected and not found:
        method = expected.get("quant_method")
        raise _Failure(
            "quantization_missing",
            [f"config.json has no quantization_config; the standard has one (quant_method {method!r})"],
        )
    if found and not expected:
        method = found.get("quant_method") if isinstance(found, dict) else found
        raise _Failure(
            "quantization_extra",
            [f"config.json has a quantization_config (quant_method {method!r}); the standard has none"],
        )
    if not expected:
        return
    if not isinstance(found, dict):
        raise _Failure("quantization_missing", ["config.json quantization_config is not a JSON object"])
    differences = []
    expected_method = str(expected.get("quant_method", "")).lower()
    found_method = str(found.get("quant_method", "")).lower()
    if found_method != expected_method:
        differences.append(
            f"quantization_config.quant_method is {found.get('quant_method')!r}, "
            f"standard is {expected.get('quant_method')!r}"
        )
    else:
        structural = {"fp8": ("fmt", "weight_block_size"), "awq": ("bits", "group_size", "zero_point", "version")}
        for name in structural.get(expected_method, ()):
            if name in expected and found.get(name) != expected[name]:
                differences.append(f"quantization_config.{name} is {found.get(name)!r}, standard is {expected[name]!r}")
    if differences:
        # The standard's quantization is not there: the seed's "missing" message.
        raise _Failure("quantization_missing", differences)


def _check_do_sample(generation: dict[str, Any]) -> None:
    if generation.get("do_sample") is True:
        return
    conflicting = []
    for flag, neutral in SAMPLING_FLAGS.items():
        value = generation.get(flag)
        if value is None:
            continue
        if neutral is not None and not isinstance(value, bool) and isinstance(value, (int, float)) and value == neutral:
            continue
        conflicting.append(f"{flag}={value!r}")
    if conflicting:
        raise _Failure(
            "do_sample",
            [
                f"generation_config.json: do_sample is {generation.get('do_sample', 'unset')!r} "
                f"while it sets {', '.join(conflicting)}"
            ],
        )


def _vocab_size(config: dict[str, Any]) -> int | None:
    for name in ("vocab_size", "padded_vocab_size"):
        value = config.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    text = config.get("text_config")
    if isinstance(text, dict):
        return _vocab_size(text)
    return None
