"""Rule 8: would transformers load these weights? Decided from headers only.

Which files: the ones ``from_pretrained`` picks, in its order: ``model.safetensors``,
``model.safetensors.index.json`` (+ shards), ``pytorch_model.bin``,
``pytorch_model.bin.index.json`` (+ shards). ``.bin`` archives are inspected
without unpickling (see torch_archive). Tensor bytes are never read.

Dtype policy (decided here):

- not quantized: every tensor F16, BF16 or F32 (mixed is fine: some publishers keep
  norms or router biases in F32; transformers casts on load);
- fp8 (DeepSeek-V3/R1): every linear weight but the output head is F8_E4M3 (F8_E5M2
  when ``fmt`` says so) with a ``<name>_scale_inv`` F32 tensor of shape
  ``ceil(out/block) x ceil(in/block)``; everything else F16/BF16/F32;
- awq: every linear weight but the output head is replaced by ``qweight`` (I32,
  in x out*bits/32), ``qzeros`` (I32, in/group x out*bits/32) and ``scales`` (F16,
  in/group x out).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, NamedTuple

from .layouts import ExpectedLayout
from .limits import BudgetError, TensorBudget
from .reader import FolderReader, ReaderError, clean_relative_path, describe_unlisted
from .safetensors_header import HeaderError, TensorInfo, read_header
from .torch_archive import ArchiveError, read_archive_index

FLOAT_DTYPES = frozenset({"F16", "BF16", "F32"})
MAX_INDEX_BYTES = 100 << 20
MAX_LISTED = 10
# What from_pretrained looks for, in its order.
CANDIDATES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack", ".npz", ".pkl")


class WeightsError(ValueError):
    def __init__(self, details: list[str]):
        super().__init__("; ".join(details))
        self.details = details


@dataclass
class Checkpoint:
    kind: str
    files: list[str]
    tensors: dict[str, TensorInfo]
    notes: list[str] = field(default_factory=list)


class Expected(NamedTuple):
    shape: tuple[int, ...]
    dtypes: frozenset[str]


def _listing(names: list[str] | set[str], what: str) -> str:
    ordered = sorted(names)
    shown = ", ".join(ordered[:MAX_LISTED])
    more = f" and {len(ordered) - MAX_LISTED} more" if len(ordered) > MAX_LISTED else ""
    return f"{what} ({len(ordered)}): {shown}{more}"


def _read_index(reader: FolderReader, files: dict[str, int], name: str, budget: TensorBudget | None) -> dict[str, str]:
    if files[name] > MAX_INDEX_BYTES:
        raise WeightsError([f"{name}: {files[name]} bytes, over the {MAX_INDEX_BYTES}-byte limit"])
    if budget is not None:
        # An entry of the weight map is a name and a file name: never longer than the
        # header entry of the same tensor, so the header bound holds for the index too.
        budget.check_bytes(name, files[name], what="index")
    try:
        index = json.loads(reader.read(name).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise WeightsError([f"{name}: not valid JSON ({exc})"]) from exc
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise WeightsError([f"{name}: no 'weight_map' mapping tensor names to files"])
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()):
        raise WeightsError([f"{name}: 'weight_map' must map tensor names to file names"])
    if budget is not None and len(weight_map) > budget.max_tensors:
        raise budget.too_many(name, len(weight_map))
    return weight_map


def read_checkpoint(reader: FolderReader, files: dict[str, int], budget: TensorBudget | None = None) -> Checkpoint:
    """Find the weight files transformers would load and read their tensor index.

    ``budget`` (from the expected layout) bounds what the index and the headers may
    list, checked before they are parsed in full."""
    try:
        return _read_checkpoint(reader, files, budget)
    except BudgetError as exc:
        raise WeightsError([str(exc)]) from exc


def _read_checkpoint(reader: FolderReader, files: dict[str, int], budget: TensorBudget | None) -> Checkpoint:
    notes: list[str] = []
    pickles = sorted(p for p in files if p.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl")))
    if "model.safetensors" in files:
        kind, shards, weight_map = "safetensors", ["model.safetensors"], None
    elif "model.safetensors.index.json" in files:
        kind, weight_map = "safetensors", _read_index(reader, files, "model.safetensors.index.json", budget)
        shards = sorted(set(weight_map.values()))
    elif "pytorch_model.bin" in files:
        kind, shards, weight_map = "pytorch", ["pytorch_model.bin"], None
    elif "pytorch_model.bin.index.json" in files:
        kind, weight_map = "pytorch", _read_index(reader, files, "pytorch_model.bin.index.json", budget)
        shards = sorted(set(weight_map.values()))
    else:
        found = sorted(p for p in files if p.endswith(WEIGHT_SUFFIXES))
        unusable = [
            f"{candidate} is {what}"
            for candidate in CANDIDATES
            if (what := describe_unlisted(reader, candidate)) is not None
        ]
        if unusable:
            # There, but not a file the check may read: say what it is rather than "no weights".
            raise WeightsError(unusable)
        if not found:
            raise WeightsError(
                ["no weight files in the folder (expected model.safetensors or model.safetensors.index.json)"]
            )
        raise WeightsError(
            [
                "no weight files transformers would load: expected model.safetensors, "
                "model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json "
                "at the top of the folder",
                _listing(found, "weight-like files found"),
            ]
        )
    if kind == "safetensors" and pickles:
        notes.append(
            _listing(pickles, "pickle files present but not opened (transformers loads the safetensors files)")
        )

    index_name = "model.safetensors.index.json" if kind == "safetensors" else "pytorch_model.bin.index.json"
    missing_shards, unusable_shards = [], []
    for shard in shards:
        try:
            clean = clean_relative_path(shard)
        except ReaderError as exc:
            raise WeightsError([f"{index_name}: {exc}"]) from exc
        if clean not in files:
            what = describe_unlisted(reader, clean)
            if what is None:
                missing_shards.append(shard)
            else:
                unusable_shards.append(f"{shard} is {what}")
    if missing_shards or unusable_shards:
        details = (
            [_listing(missing_shards, f"{index_name} names shard files that are missing")] if missing_shards else []
        )
        if unusable_shards:
            shown = "; ".join(unusable_shards[:MAX_LISTED])
            more = f" and {len(unusable_shards) - MAX_LISTED} more" if len(unusable_shards) > MAX_LISTED else ""
            details.append(
                f"{index_name} names shard files that cannot be read ({len(unusable_shards)}): {shown}{more}"
            )
        raise WeightsError(details)

    by_shard: dict[str, set[str]] = {}
    for name, file in (weight_map or {}).items():
        by_shard.setdefault(file, set()).add(name)
    tensors: dict[str, TensorInfo] = {}
    details: list[str] = []
    for shard in shards:
        size = files[clean_relative_path(shard)]
        try:
            if kind == "safetensors":
                found = read_header(reader, clean_relative_path(shard), size, budget).tensors
            else:
                found = read_archive_index(reader, clean_relative_path(shard), size, budget)
        except (HeaderError, ArchiveError) as exc:
            raise WeightsError([str(exc)]) from exc
        if weight_map is not None:
            mapped = by_shard.get(shard, set())
            not_in_shard = mapped - found.keys()
            not_mapped = found.keys() - mapped
            if not_in_shard:
                details.append(_listing(not_in_shard, f"{index_name} maps tensors to {shard} that it does not hold"))
            if not_mapped:
                details.append(_listing(not_mapped, f"{shard} holds tensors {index_name} does not map to it"))
        for name, info in found.items():
            if name in tensors:
                details.append(f"tensor {name!r} is stored twice ({tensors[name].file} and {shard})")
            tensors[name] = info
    if details:
        raise WeightsError(details)
    if kind == "safetensors" and weight_map is not None:
        unused = sorted(p for p in files if p.endswith(".safetensors") and p not in shards)
        if unused:
            notes.append(_listing(unused, f"safetensors files not named by {index_name} (ignored)"))
    return Checkpoint(kind=kind, files=shards, tensors=tensors, notes=notes)


def expected_tensors(
    layout: ExpectedLayout, quantization: dict[str, Any] | None
) -> tuple[dict[str, Expected], dict[str, Expected]]:
    """(required, optional) tensors with their shapes and accepted dtypes. Do not modify
    the result: it is kept with the (cached) layout, since a 90,000-tensor layout takes a
    noticeable part of a second to expand."""
    key = json.dumps(quantization, sort_keys=True, default=str)
    memo = layout.derived.get(("expected_tensors", key))
    if memo is None:
        memo = _expected_tensors(layout, quantization)
        if len(layout.derived) > 8:
            layout.derived.clear()
        layout.derived[("expected_tensors", key)] = memo
    return memo


def tensor_budget(layout: ExpectedLayout, quantization: dict[str, Any] | None) -> TensorBudget:
    """A fresh budget for one checkpoint that must match this layout (see limits)."""
    key = ("budget", json.dumps(quantization, sort_keys=True, default=str))
    budget = layout.derived.get(key)
    if budget is None:
        required, optional = expected_tensors(layout, quantization)
        budget = layout.derived[key] = TensorBudget.for_names([*required, *optional])
    return dataclasses.replace(budget)


def _expected_tensors(
    layout: ExpectedLayout, quantization: dict[str, Any] | None
) -> tuple[dict[str, Expected], dict[str, Expected]]:
    floats = FLOAT_DTYPES
    required = {name: Expected(shape, floats) for name, shape in layout.required.items()}
    optional = {name: Expected(shape, floats) for name, shape in layout.optional.items()}
    if not quantization:
        return required, optional
    method = str(quantization.get("quant_method", "")).lower()
    skip = quantization.get("modules_to_not_convert") or []
    quantized = [
        name
        for name in layout.linear_weights
        if name in required and not any(_module_matches(name, module) for module in skip)
    ]
    if method == "fp8":
        fmt = str(quantization.get("fmt", "e4m3")).lower()
        weight_dtype = "F8_E5M2" if fmt == "e5m2" else "F8_E4M3"
        block = quantization.get("weight_block_size") or [128, 128]
        for name in quantized:
            out_features, in_features = required[name].shape
            required[name] = Expected(required[name].shape, frozenset({weight_dtype}))
            scale_shape = (math.ceil(out_features / block[0]), math.ceil(in_features / block[1]))
            required[f"{name}_scale_inv"] = Expected(scale_shape, frozenset({"F32"}))
    elif method == "awq":
        bits = int(quantization.get("bits", quantization.get("w_bit", 4)))
        group = int(quantization.get("group_size", quantization.get("q_group_size", 128)))
        pack = 32 // bits
        for name in quantized:
            out_features, in_features = required.pop(name).shape
            prefix = name[: -len(".weight")]
            required[f"{prefix}.qweight"] = Expected((in_features, out_features // pack), frozenset({"I32"}))
            required[f"{prefix}.qzeros"] = Expected((in_features // group, out_features // pack), frozenset({"I32"}))
            required[f"{prefix}.scales"] = Expected((in_features // group, out_features), frozenset({"F16"}))
    return required, optional


def _module_matches(name: str, module: str) -> bool:
    return name == f"{module}.weight" or name.startswith(f"{module}.") or f".{module}." in f".{name}"


def compare(
    checkpoint: Checkpoint, layout: ExpectedLayout, quantization: dict[str, Any] | None
) -> tuple[list[str], list[str]]:
    """(failure details, notes) of a checkpoint against the expected layout."""
    required, optional = expected_tensors(layout, quantization)
    found = checkpoint.tensors
    missing = [name for name in required if name not in found]
    unexpected, ignored, wrong_shape, wrong_dtype = [], [], [], []
    for name, info in found.items():
        expected = required.get(name) or optional.get(name)
        if expected is None:
            (ignored if layout.ignored(name) else unexpected).append(name)
            continue
        if info.shape != expected.shape:
            wrong_shape.append(f"{name}: shape {list(info.shape)} in {info.file}, expected {list(expected.shape)}")
        elif info.dtype not in expected.dtypes:
            accepted = " or ".join(sorted(expected.dtypes))
            wrong_dtype.append(f"{name}: dtype {info.dtype} in {info.file}, expected {accepted}")
    details = []
    if missing:
        details.append(_listing(missing, "tensors missing (transformers 5 would silently re-initialise them)"))
    if unexpected:
        details.append(_listing(unexpected, "unexpected tensors (not part of this architecture)"))
    for label, items in (("shape mismatches", wrong_shape), ("dtype mismatches", wrong_dtype)):
        if items:
            more = f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
            details.append(f"{label} ({len(items)}): " + "; ".join(items[:MAX_LISTED]) + more)
    notes = list(checkpoint.notes)
    if ignored:
        notes.append(_listing(ignored, "tensors transformers ignores when loading (allowed)"))
    dtypes = sorted({info.dtype for info in found.values()})
    notes.append(
        f"weights: {len(found)} tensors in {len(checkpoint.files)} {checkpoint.kind} file(s), "
        f"dtypes {', '.join(dtypes)}"
    )
    return details, notes


def top_level_python_files(files: dict[str, int]) -> list[str]:
    return sorted(p for p in files if PurePosixPath(p).suffix == ".py")
