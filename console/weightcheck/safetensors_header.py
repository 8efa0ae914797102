"""Read and validate a safetensors header through range reads, never the tensor bytes.

The format: 8 bytes little-endian header length N, N bytes of JSON, then the data
buffer. We apply the rules the safetensors library applies when it opens a file
(header size limit, JSON object of {dtype, shape, data_offsets}, offsets that tile
the buffer exactly, buffer size equal to the rest of the file), so a file we accept
is one that transformers can open.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NamedTuple

from .limits import TensorBudget
from .reader import FolderReader

# Same limit as the safetensors library (MAX_HEADER_SIZE).
MAX_HEADER_BYTES = 100_000_000
PREFETCH_BYTES = 64 << 10
# "{" bytes a header may hold beyond one per allowed tensor: braces inside strings
# (__metadata__ values holding JSON text). Published checkpoints have a handful.
STRING_BRACES = 4096

DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}


class HeaderError(ValueError):
    """The file is not a well-formed safetensors file; the message says what is wrong."""


class TensorInfo(NamedTuple):
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int
    file: str


@dataclass
class SafetensorsHeader:
    file: str
    header_length: int
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]


class _Stop(Exception):
    pass


def read_header(
    reader: FolderReader, path: str, file_size: int, budget: TensorBudget | None = None
) -> SafetensorsHeader:
    """The header of one file. With a budget (from the expected layout), a header longer or
    listing more tensors than the budget allows is refused before it is parsed in full
    (BudgetError)."""
    if file_size < 8:
        raise HeaderError(f"{path}: {file_size} bytes, too short for a safetensors header (truncated file)")
    # One read usually holds the length and the whole header (one request over S3).
    first = reader.read(path, 0, min(file_size, 8 + PREFETCH_BYTES))
    if len(first) < 8:
        raise HeaderError(f"{path}: could not read the 8-byte header length (truncated file)")
    header_length = int.from_bytes(first[:8], "little")
    if header_length > MAX_HEADER_BYTES:
        raise HeaderError(f"{path}: header length {header_length} exceeds the {MAX_HEADER_BYTES}-byte limit")
    if header_length > file_size - 8:
        raise HeaderError(
            f"{path}: header length {header_length} is larger than the file allows "
            f"({file_size} bytes in all; truncated or not a safetensors file)"
        )
    if budget is not None:
        budget.take_bytes(path, header_length)
    raw = first[8 : 8 + header_length]
    if len(raw) < header_length:
        raw = reader.read(path, 8, header_length)
    if len(raw) != header_length:
        raise HeaderError(f"{path}: header cut short ({len(raw)} of {header_length} bytes)")
    if not raw.startswith(b"{"):
        raise HeaderError(f"{path}: header does not start with a JSON object")
    try:
        parsed = _parse(raw, budget.tensor_limit() if budget is not None else None)
    except _Stop:
        # Not parsed: counting a key each entry has tells the size of it (unless the key is
        # spelled with escapes, a header crafted to mislead: then only "more than").
        approximate = raw.count(b'"data_offsets"')
        raise budget.too_many(path, approximate if approximate > budget.tensor_limit() else None, about=True) from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise HeaderError(f"{path}: header is not valid JSON ({exc})") from exc
    if not isinstance(parsed, dict):
        raise HeaderError(f"{path}: header is not a JSON object")

    metadata = parsed.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise HeaderError(f"{path}: __metadata__ must map strings to strings")

    if budget is not None:
        budget.take_tensors(path, len(parsed))
    tensors: dict[str, TensorInfo] = {}
    for name, entry in parsed.items():
        tensors[name] = _tensor_info(path, name, entry)

    buffer_size = file_size - 8 - header_length
    _check_offsets(path, tensors, buffer_size)
    return SafetensorsHeader(file=path, header_length=header_length, tensors=tensors, metadata=metadata)


def _parse(raw: bytes, limit: int | None) -> object:
    # Each tensor entry is one JSON object, and every object opens with a "{" byte;
    # besides the entries there are only the top-level object and __metadata__. Counting
    # the bytes (C speed, no parsing) bounds the number of entries from above: with few
    # enough, the header cannot list too many tensors and parsing it is bounded too.
    # STRING_BRACES leaves room for braces inside strings (metadata holding JSON text).
    if limit is not None and raw.count(b"{") > limit + 2 + STRING_BRACES:
        raise _Stop
    return json.loads(raw.decode("utf-8"))


def _tensor_info(path: str, name: str, entry: object) -> TensorInfo:
    # Hot loop (one call per tensor): the common well-formed case first, the
    # precise complaint only when something is off.
    try:
        dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        bits = DTYPE_BITS[dtype]
    except (KeyError, TypeError, ValueError):
        _complain(path, name, entry)
        raise
    if type(shape) is not list:
        raise HeaderError(f"{path}: tensor {name!r} has an invalid shape {shape!r}")
    for dim in shape:
        if type(dim) is not int or dim < 0:
            raise HeaderError(f"{path}: tensor {name!r} has an invalid shape {shape!r}")
        bits *= dim
    if type(begin) is not int or type(end) is not int or begin < 0:
        raise HeaderError(f"{path}: tensor {name!r} has invalid data_offsets {[begin, end]!r}")
    if end < begin:
        raise HeaderError(f"{path}: tensor {name!r} data_offsets end before they begin ({begin} > {end})")
    if bits % 8:
        raise HeaderError(f"{path}: tensor {name!r} is not a whole number of bytes")
    if end - begin != bits // 8:
        raise HeaderError(
            f"{path}: tensor {name!r} {dtype}{list(shape)} needs {bits // 8} bytes but data_offsets span {end - begin}"
        )
    return TensorInfo(dtype, tuple(shape), begin, end, path)


def _complain(path: str, name: str, entry: object) -> None:
    if not isinstance(entry, dict):
        raise HeaderError(f"{path}: tensor {name!r} entry is not an object")
    dtype, offsets = entry.get("dtype"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise HeaderError(f"{path}: tensor {name!r} has unknown dtype {dtype!r}")
    if "shape" not in entry:
        raise HeaderError(f"{path}: tensor {name!r} has no shape")
    raise HeaderError(f"{path}: tensor {name!r} has invalid data_offsets {offsets!r}")


def _by_offsets(item: tuple[str, TensorInfo]) -> tuple[int, int]:
    return item[1][2], item[1][3]


def _check_offsets(path: str, tensors: dict[str, TensorInfo], buffer_size: int) -> None:
    # The data buffer must be tiled exactly: sorted by offset, each tensor starts
    # where the previous one ended, the last one ends at the end of the file.
    expected_start = 0
    previous = None
    for name, info in sorted(tensors.items(), key=_by_offsets):
        if info.begin < expected_start:
            raise HeaderError(
                f"{path}: tensor {name!r} bytes [{info.begin}, {info.end}) overlap tensor "
                f"{previous!r} (which ends at {expected_start})"
            )
        if info.begin > expected_start:
            raise HeaderError(f"{path}: gap in the data buffer before tensor {name!r} at offset {info.begin}")
        if info.end > buffer_size:
            raise HeaderError(
                f"{path}: tensor {name!r} bytes [{info.begin}, {info.end}) lie beyond the end of the file "
                f"(data buffer is {buffer_size} bytes; truncated file)"
            )
        expected_start = info.end
        previous = name
    if expected_start != buffer_size:
        raise HeaderError(
            f"{path}: {buffer_size - expected_start} bytes after the last tensor are not described by the header"
        )
