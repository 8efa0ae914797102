"""Read the tensor index of a PyTorch ``.bin`` checkpoint without unpickling it.

``torch.save`` writes a zip archive: ``<name>/data.pkl`` (a pickle describing the
state dict) and one ``<name>/data/<key>`` entry per storage. Unpickling runs
whatever the pickle names, so we never do it. Instead we decode the pickle's
opcodes with ``pickletools.genops`` (a pure decoder) and interpret only the tiny
subset a state dict uses: dicts, tuples, ``torch._utils._rebuild_tensor_v2`` and
typed-storage persistent ids. Anything else (``os.system``, ``builtins.exec``,
arbitrary classes) stops the inspection with a clear reason. Nothing is imported,
nothing is called.

Only the zip's central directory and ``data.pkl`` are read (range reads); the
storages are checked against the central directory's sizes, not read.
"""

from __future__ import annotations

import math
import pickletools
import struct
from dataclasses import dataclass

from .limits import TensorBudget
from .reader import FolderReader
from .safetensors_header import TensorInfo

MAX_PICKLE_BYTES = 256 << 20
MAX_CENTRAL_DIRECTORY_BYTES = 256 << 20
MAX_PICKLE_OPS = 20_000_000

STORAGE_DTYPES: dict[str, tuple[str, int]] = {
    "DoubleStorage": ("F64", 8),
    "FloatStorage": ("F32", 4),
    "HalfStorage": ("F16", 2),
    "BFloat16Storage": ("BF16", 2),
    "LongStorage": ("I64", 8),
    "IntStorage": ("I32", 4),
    "ShortStorage": ("I16", 2),
    "CharStorage": ("I8", 1),
    "ByteStorage": ("U8", 1),
    "BoolStorage": ("BOOL", 1),
    "Float8_e4m3fnStorage": ("F8_E4M3", 1),
    "Float8_e5m2Storage": ("F8_E5M2", 1),
}


class ArchiveError(ValueError):
    """The file is not a PyTorch archive we can read safely; the message says why."""


@dataclass
class _Global:
    module: str
    name: str


@dataclass
class _Storage:
    dtype: str
    itemsize: int
    key: str
    numel: int


@dataclass
class _Tensor:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


class _OrderedDictType:
    pass


_MARK = object()
_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._tensor", "_rebuild_from_type_v2"),
    ("torch", "Tensor"),
    ("torch.nn.parameter", "Parameter"),
}


@dataclass
class _ZipEntry:
    name: str
    method: int
    compressed_size: int
    size: int
    local_offset: int


def _central_directory(
    reader: FolderReader, path: str, file_size: int, budget: TensorBudget | None = None
) -> tuple[dict[str, _ZipEntry], int]:
    tail_length = min(file_size, 65536 + 22)
    tail = reader.read(path, file_size - tail_length, tail_length)
    position = tail.rfind(b"PK\x05\x06")
    if position < 0 or len(tail) - position < 22:
        raise ArchiveError(f"{path}: no zip end-of-directory record (truncated file, or not a torch.save archive)")
    (_, _, _, _, entries, cd_size, cd_offset, _) = struct.unpack("<4sHHHHIIH", tail[position : position + 22])
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        locator_at = position - 20
        if locator_at < 0 or tail[locator_at : locator_at + 4] != b"PK\x06\x07":
            raise ArchiveError(f"{path}: zip64 archive without a zip64 locator")
        (zip64_offset,) = struct.unpack("<Q", tail[locator_at + 8 : locator_at + 16])
        record = reader.read(path, zip64_offset, 56)
        if len(record) != 56 or record[:4] != b"PK\x06\x06":
            raise ArchiveError(f"{path}: broken zip64 end-of-directory record")
        entries, _, cd_size, cd_offset = struct.unpack("<QQQQ", record[24:56])
    if cd_size > MAX_CENTRAL_DIRECTORY_BYTES or cd_offset + cd_size > file_size:
        raise ArchiveError(f"{path}: zip central directory out of bounds (truncated file)")
    if budget is not None and entries > budget.tensor_limit() + 16:
        # One entry per storage (at most one per tensor) plus data.pkl, version, byteorder...
        raise budget.too_many(path)
    data = reader.read(path, cd_offset, cd_size)
    result: dict[str, _ZipEntry] = {}
    at = 0
    for _ in range(entries):
        if data[at : at + 4] != b"PK\x01\x02" or at + 46 > len(data):
            raise ArchiveError(f"{path}: broken zip central directory")
        fields = struct.unpack("<4sHHHHHHIIIHHHHHII", data[at : at + 46])
        method, compressed, size = fields[4], fields[8], fields[9]
        name_len, extra_len, comment_len, local = fields[10], fields[11], fields[12], fields[16]
        name = data[at + 46 : at + 46 + name_len].decode("utf-8", "replace")
        extra = data[at + 46 + name_len : at + 46 + name_len + extra_len]
        size, compressed, local = _zip64_extra(extra, size, compressed, local)
        result[name] = _ZipEntry(name, method, compressed, size, local)
        at += 46 + name_len + extra_len + comment_len
    return result, cd_offset


def _zip64_extra(extra: bytes, size: int, compressed: int, local: int) -> tuple[int, int, int]:
    at = 0
    while at + 4 <= len(extra):
        header_id, length = struct.unpack("<HH", extra[at : at + 4])
        body = extra[at + 4 : at + 4 + length]
        if header_id == 0x0001:
            values = [struct.unpack("<Q", body[i : i + 8])[0] for i in range(0, len(body) - 7, 8)]
            if size == 0xFFFFFFFF and values:
                size = values.pop(0)
            if compressed == 0xFFFFFFFF and values:
                compressed = values.pop(0)
            if local == 0xFFFFFFFF and values:
                local = values.pop(0)
        at += 4 + length
    return size, compressed, local


def read_archive_index(
    reader: FolderReader, path: str, file_size: int, budget: TensorBudget | None = None
) -> dict[str, TensorInfo]:
    """Tensor name -> dtype/shape of a torch.save zip archive, read without unpickling.
    With a budget, an archive listing far more tensors than the template has is refused
    before its pickle is read (BudgetError)."""
    head = reader.read(path, 0, 4)
    if head != b"PK\x03\x04":
        raise ArchiveError(
            f"{path}: not a torch.save zip archive (legacy or raw pickle); pickle files are never "
            "unpickled here, convert the weights to safetensors"
        )
    entries, cd_offset = _central_directory(reader, path, file_size, budget)
    pickles = [name for name in entries if name.endswith("/data.pkl") or name == "data.pkl"]
    if len(pickles) != 1:
        raise ArchiveError(f"{path}: expected one data.pkl in the archive, found {len(pickles)}")
    pickle_entry = entries[pickles[0]]
    prefix = pickle_entry.name[: -len("data.pkl")]
    if pickle_entry.method != 0:
        raise ArchiveError(f"{path}: data.pkl is compressed, which torch.save never does")
    if pickle_entry.size > MAX_PICKLE_BYTES:
        raise ArchiveError(f"{path}: data.pkl is {pickle_entry.size} bytes, over the {MAX_PICKLE_BYTES} limit")
    if budget is not None:
        budget.take_bytes(path, pickle_entry.size, what="data.pkl", limit=budget.max_pickle_bytes)
    local = reader.read(path, pickle_entry.local_offset, 30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise ArchiveError(f"{path}: broken zip local header for data.pkl")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    start = pickle_entry.local_offset + 30 + name_len + extra_len
    payload = reader.read(path, start, pickle_entry.size)
    if len(payload) != pickle_entry.size:
        raise ArchiveError(f"{path}: data.pkl cut short (truncated file)")

    state = _interpret(payload, path)
    if budget is not None:
        budget.take_tensors(path, len(state))
    tensors: dict[str, TensorInfo] = {}
    for name, value in state.items():
        if not isinstance(name, str) or not isinstance(value, _Tensor):
            raise ArchiveError(f"{path}: the archive is not a plain state dict (entry {name!r})")
        storage = value.storage
        entry = entries.get(f"{prefix}data/{storage.key}")
        if entry is None:
            raise ArchiveError(f"{path}: tensor {name!r} refers to storage {storage.key!r}, which the archive lacks")
        if entry.size != storage.numel * storage.itemsize or entry.method != 0:
            raise ArchiveError(
                f"{path}: storage {storage.key!r} of tensor {name!r} holds {entry.size} bytes, "
                f"expected {storage.numel * storage.itemsize}"
            )
        if entry.local_offset + 30 + entry.size > cd_offset:
            raise ArchiveError(f"{path}: storage {storage.key!r} lies beyond the archive's data (truncated file)")
        if value.shape and math.prod(value.shape) > 0:
            last = value.offset + sum((dim - 1) * step for dim, step in zip(value.shape, value.stride))
            if value.offset < 0 or last >= storage.numel:
                raise ArchiveError(f"{path}: tensor {name!r} reaches past the end of its storage")
        tensors[name] = TensorInfo(dtype=storage.dtype, shape=value.shape, begin=0, end=0, file=path)
    return tensors


def _interpret(payload: bytes, path: str) -> dict:
    stack: list = []
    memo: dict[int, object] = {}
    ops = 0

    def pop_to_mark() -> list:
        items = []
        while stack:
            item = stack.pop()
            if item is _MARK:
                items.reverse()
                return items
            items.append(item)
        raise ArchiveError(f"{path}: malformed pickle (MARK missing)")

    def refuse(what: str) -> ArchiveError:
        return ArchiveError(
            f"{path}: the pickle uses {what}, which is not part of a plain tensor state dict; "
            "it was not unpickled (nothing was run). Save the weights as safetensors."
        )

    try:
        for opcode, arg, _ in pickletools.genops(payload):
            ops += 1
            if ops > MAX_PICKLE_OPS:
                raise ArchiveError(f"{path}: pickle too large to inspect")
            name = opcode.name
            if name in ("PROTO", "FRAME"):
                continue
            if name == "STOP":
                break
            if name in ("NONE",):
                stack.append(None)
            elif name == "NEWTRUE":
                stack.append(True)
            elif name == "NEWFALSE":
                stack.append(False)
            elif name in ("INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT"):
                stack.append(arg)
            elif name in ("BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING",
                          "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8"):  # fmt: skip
                stack.append(arg)
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name == "MARK":
                stack.append(_MARK)
            elif name == "TUPLE":
                stack.append(tuple(pop_to_mark()))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                count = int(name[-1])
                items = stack[-count:]
                del stack[-count:]
                stack.append(tuple(items))
            elif name == "LIST":
                stack.append(pop_to_mark())
            elif name == "DICT":
                items = pop_to_mark()
                stack.append(dict(zip(items[::2], items[1::2])))
            elif name == "APPEND":
                value = stack.pop()
                _as(stack[-1], list, path).append(value)
            elif name == "APPENDS":
                items = pop_to_mark()
                _as(stack[-1], list, path).extend(items)
            elif name == "SETITEM":
                value, key = stack.pop(), stack.pop()
                _set(stack[-1], key, value, path)
            elif name == "SETITEMS":
                items = pop_to_mark()
                for key, value in zip(items[::2], items[1::2]):
                    _set(stack[-1], key, value, path)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = stack[-1]
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                if arg not in memo:
                    raise ArchiveError(f"{path}: malformed pickle (memo {arg} unset)")
                stack.append(memo[arg])
            elif name in ("GLOBAL", "STACK_GLOBAL"):
                if name == "GLOBAL":
                    module, _, attribute = arg.partition(" ")
                else:
                    attribute, module = stack.pop(), stack.pop()
                    if not isinstance(module, str) or not isinstance(attribute, str):
                        raise refuse("a computed global")
                if module == "torch" and (attribute in STORAGE_DTYPES):
                    stack.append(_Global(module, attribute))
                elif (module, attribute) in _ALLOWED_GLOBALS:
                    stack.append(_Global(module, attribute))
                else:
                    raise refuse(f"'{module}.{attribute}'")
            elif name == "BINPERSID":
                stack.append(_storage(stack.pop(), path))
            elif name == "REDUCE":
                args = stack.pop()
                func = stack.pop()
                stack.append(_reduce(func, args, path, refuse))
            elif name == "BUILD":
                state = stack.pop()
                target = stack[-1]
                # OrderedDict carries the state dict's '_metadata'; tensors may carry
                # an empty state. Nothing else may be built.
                if not isinstance(target, (dict, _Tensor)):
                    raise refuse("BUILD on an object")
                del state
            elif name == "POP":
                stack.pop()
            elif name == "POP_MARK":
                pop_to_mark()
            elif name == "DUP":
                stack.append(stack[-1])
            else:
                raise refuse(f"the {name} opcode")
    except ArchiveError:
        raise
    except (ValueError, IndexError, KeyError, TypeError, EOFError, struct.error) as exc:
        raise ArchiveError(f"{path}: malformed pickle ({exc})") from exc
    if len(stack) != 1 or not isinstance(stack[0], dict):
        raise ArchiveError(f"{path}: the pickle is not a state dict")
    return stack[0]


def _as(value, kind, path):
    if not isinstance(value, kind):
        raise ArchiveError(f"{path}: malformed pickle (expected {kind.__name__})")
    return value


def _set(target, key, value, path):
    if not isinstance(target, dict):
        raise ArchiveError(f"{path}: malformed pickle (SETITEM on a non-dict)")
    if not isinstance(key, (str, int)):
        raise ArchiveError(f"{path}: malformed pickle (unsupported dict key)")
    target[key] = value


def _storage(pid, path) -> _Storage:
    if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
        raise ArchiveError(f"{path}: unsupported persistent id {pid!r}")
    storage_type, key, _location, numel = pid[1], pid[2], pid[3], pid[4]
    if not isinstance(storage_type, _Global) or storage_type.name not in STORAGE_DTYPES:
        raise ArchiveError(f"{path}: unsupported storage type in persistent id")
    if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
        raise ArchiveError(f"{path}: malformed storage persistent id")
    dtype, itemsize = STORAGE_DTYPES[storage_type.name]
    return _Storage(dtype=dtype, itemsize=itemsize, key=key, numel=numel)


def _reduce(func, args, path, refuse):
    if not isinstance(func, _Global) or not isinstance(args, tuple):
        raise refuse("a call of something other than an allowed function")
    target = (func.module, func.name)
    if target == ("collections", "OrderedDict"):
        if args:
            raise refuse("OrderedDict with arguments")
        return {}
    if target == ("torch._utils", "_rebuild_tensor_v2"):
        if len(args) < 4:
            raise ArchiveError(f"{path}: malformed _rebuild_tensor_v2 call")
        storage, offset, shape, stride = args[:4]
        if not (
            isinstance(storage, _Storage)
            and isinstance(offset, int)
            and isinstance(shape, tuple)
            and isinstance(stride, tuple)
            and all(isinstance(d, int) and d >= 0 for d in shape)
            and all(isinstance(s, int) for s in stride)
            and len(shape) == len(stride)
        ):
            raise ArchiveError(f"{path}: malformed _rebuild_tensor_v2 call")
        return _Tensor(storage=storage, offset=offset, shape=tuple(shape), stride=tuple(stride))
    if target == ("torch._utils", "_rebuild_parameter"):
        if not args or not isinstance(args[0], _Tensor):
            raise ArchiveError(f"{path}: malformed _rebuild_parameter call")
        return args[0]
    if target == ("torch._tensor", "_rebuild_from_type_v2"):
        # (func, new_type, args, state): only plain tensors and parameters.
        if len(args) != 4 or not isinstance(args[1], _Global) or not isinstance(args[2], tuple):
            raise ArchiveError(f"{path}: malformed _rebuild_from_type_v2 call")
        if (args[1].module, args[1].name) not in {("torch", "Tensor"), ("torch.nn.parameter", "Parameter")}:
            raise refuse(f"tensor subclass '{args[1].module}.{args[1].name}'")
        return _reduce(args[0], args[2], path, refuse)
    raise refuse(f"a call of '{func.module}.{func.name}'")
