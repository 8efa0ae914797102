"""The tensors a checkpoint must hold: names, shapes, and which ones are quantizable.

For transformers-native architectures the layout is what ``save_pretrained`` would
write for a model built from the folder's config: the model is built on PyTorch's
``meta`` device (no memory for weights), tied weights are dropped the way
``save_pretrained`` drops them, and ``revert_weight_conversion`` turns the
in-memory names into the checkpoint names (MoE experts are fused in memory but
stored per expert). Patterns transformers ignores when loading
(``_keys_to_ignore_on_load_unexpected``, old ``rotary_emb.inv_freq`` buffers, a
DeepSeek multi-token-prediction layer) are allowed extras.

Families whose modelling code only exists inside published folders (ChatGLM, the
first Qwen, Baichuan2) get a layout derived here from their config, written from
their published modelling code; the folder's code is never imported.

Layouts are cached per (layout, architecture, config) hash: in process, and on
disk when a cache folder is available, so a repeated check does not rebuild them.
The layout of each catalog template's standard config is stored ahead
(``store_catalog_layouts``, run by ``setup_console``), so even a worker's first
check of a folder with the template's config reads a small JSON file instead of
building the model on the meta device.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LAYOUT_FORMAT = 3  # bump to invalidate disk caches written by earlier releases
VOLATILE_CONFIG_KEYS = {
    "_name_or_path",
    "transformers_version",
    "torch_dtype",
    "dtype",
    "use_cache",
    "auto_map",
    "quantization_config",
    "_from_model_config",
    "_commit_hash",
}
_MEMORY_CACHE: OrderedDict[str, ExpectedLayout] = OrderedDict()
_MEMORY_CACHE_SIZE = 16
_LOCK = threading.Lock()


class LayoutError(ValueError):
    """The expected layout cannot be derived from this config (a weights-rule failure)."""


@dataclass
class ExpectedLayout:
    required: dict[str, tuple[int, ...]]
    optional: dict[str, tuple[int, ...]] = field(default_factory=dict)
    ignore_patterns: list[str] = field(default_factory=list)
    linear_weights: set[str] = field(default_factory=set)
    source: str = ""
    # Values computed from the layout by its users (weights.expected_tensors), kept with it.
    derived: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def ignored(self, name: str) -> bool:
        return any(re.search(pattern, name) for pattern in self.ignore_patterns)

    def to_json(self) -> dict[str, Any]:
        return {
            "required": {k: list(v) for k, v in self.required.items()},
            "optional": {k: list(v) for k, v in self.optional.items()},
            "ignore_patterns": self.ignore_patterns,
            "linear_weights": sorted(self.linear_weights),
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExpectedLayout:
        return cls(
            required={k: tuple(v) for k, v in data["required"].items()},
            optional={k: tuple(v) for k, v in data["optional"].items()},
            ignore_patterns=list(data["ignore_patterns"]),
            linear_weights=set(data["linear_weights"]),
            source=data.get("source", ""),
        )


# A change to this module's rules invalidates cached layouts by itself.
_CODE_VERSION = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def config_fingerprint(layout: str, architecture: str, config: dict[str, Any]) -> str:
    stable = {k: v for k, v in config.items() if k not in VOLATILE_CONFIG_KEYS}
    payload = json.dumps([LAYOUT_FORMAT, _CODE_VERSION, layout, architecture, stable], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


_default_cache_dir: Path | None = None


def set_cache_dir(path: Path | str | None) -> None:
    """The process's default layout store (the console passes ``VAR_DIR/layouts``)."""
    global _default_cache_dir
    _default_cache_dir = Path(path) if path is not None else None


def resolve_cache_dir(explicit: Path | str | None = None) -> Path | None:
    """Where layouts are stored: ``explicit`` when given; else ``MODELARTS_WEIGHTCHECK_CACHE``
    (a folder, or "off" for none: an operator's override); else the folder given to
    ``set_cache_dir``; else ``$XDG_CACHE_HOME/modelarts-console/weightcheck-layouts``."""
    if explicit is not None:
        return Path(explicit)
    setting = os.environ.get("MODELARTS_WEIGHTCHECK_CACHE", "")
    if setting.lower() in ("off", "0", "false", "none"):
        return None
    if setting:
        return Path(setting)
    if _default_cache_dir is not None:
        return _default_cache_dir
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "modelarts-console" / "weightcheck-layouts"


def clear_memory_cache() -> None:
    with _LOCK:
        _MEMORY_CACHE.clear()


def cache_file(layout: str, architecture: str, config: dict[str, Any], directory: Path) -> Path:
    """The stored layout's file: named by the hash of everything it depends on (this module's
    rules, the layout kind, the architecture, the config's structural part) and, for
    transformers-built layouts, the transformers version. A changed template config or an
    upgraded transformers names another file, so a stale layout is never read."""
    key = config_fingerprint(layout, architecture, config)
    if layout == "transformers":
        key = f"{key}-{_transformers_version()}"
    return directory / f"{key}.json"


def expected_layout(
    layout: str, architecture: str, config: dict[str, Any], cache_dir: Path | str | None = None
) -> tuple[ExpectedLayout, str]:
    """The layout for this config, and where it came from ("memory", "disk" or "built").

    ``cache_dir``: the layout store (None: ``resolve_cache_dir()``'s default)."""
    key = config_fingerprint(layout, architecture, config)
    with _LOCK:
        if key in _MEMORY_CACHE:
            _MEMORY_CACHE.move_to_end(key)
            return _MEMORY_CACHE[key], "memory"
    origin = "built"
    result = None
    directory = resolve_cache_dir(cache_dir)
    stored = cache_file(layout, architecture, config, directory) if directory is not None else None
    if stored is not None and stored.is_file():
        try:
            result = ExpectedLayout.from_json(json.loads(stored.read_text()))
            origin = "disk"
        except (OSError, ValueError, KeyError, TypeError):
            result = None
    if result is None:
        builder = CUSTOM_LAYOUTS.get(layout, _transformers_layout) if layout != "transformers" else _transformers_layout
        result = builder(architecture, config)
        if stored is not None:
            _write_cache(stored, result)
    with _LOCK:
        _MEMORY_CACHE[key] = result
        while len(_MEMORY_CACHE) > _MEMORY_CACHE_SIZE:
            _MEMORY_CACHE.popitem(last=False)
    return result, origin


def store_template_layout(template_path: Path | str, cache_dir: Path | str | None = None) -> tuple[str, str]:
    """Build (or find) the layout of a template's standard config and store it, so that the
    first check of a folder with that config in any worker reads it instead of building the
    model on the meta device. Returns (file name, "disk" | "built" | "memory")."""
    from .templates import load_template

    template = load_template(template_path)
    config = template.standard_config()
    directory = resolve_cache_dir(cache_dir)
    if directory is None:
        raise LayoutError("no layout store: MODELARTS_WEIGHTCHECK_CACHE is off")
    stored = cache_file(template.layout, template.architectures[0], config, directory)
    if stored.is_file():
        try:
            ExpectedLayout.from_json(json.loads(stored.read_text()))
            return stored.name, "disk"
        except (OSError, ValueError, KeyError, TypeError):
            pass  # unreadable: build it again
    # Not through the memory cache: a layout there may never have been written to this store.
    builder = CUSTOM_LAYOUTS.get(template.layout, _transformers_layout)
    if not _write_cache(stored, builder(template.architectures[0], config)):
        raise LayoutError(f"the layout could not be written to {directory}")
    return stored.name, "built"


def store_catalog_layouts(templates_root: Path | str, cache_dir: Path | str | None = None) -> list[dict[str, Any]]:
    """``store_template_layout`` for every template folder under ``templates_root`` (one
    ``template.json`` per folder). Never raises: a broken template is reported, not fatal
    (its checks fail with the template's own message)."""
    import time

    results = []
    for folder in sorted(Path(templates_root).iterdir()):
        if not (folder / "template.json").is_file():
            continue
        started = time.perf_counter()
        try:
            name, origin = store_template_layout(folder, cache_dir)
            entry = {"template": folder.name, "file": name, "origin": origin}
        except Exception as exc:  # noqa: BLE001 - one broken template must not stop the others
            entry = {"template": folder.name, "error": str(exc)}
        entry["seconds"] = round(time.perf_counter() - started, 3)
        results.append(entry)
    return results


def _write_cache(path: Path, layout: ExpectedLayout) -> bool:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside then renamed: a reader in another process never sees half a file.
        temporary = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
        temporary.write_text(json.dumps(layout.to_json()))
        os.replace(temporary, path)
        return True
    except OSError as exc:  # a read-only store must not fail a check
        logger.info("weight check: layout cache not written to %s: %s", path, exc)
        return False


def _transformers_version() -> str:
    import transformers

    return transformers.__version__


# --- transformers-native architectures -------------------------------------------------


def _transformers_layout(architecture: str, config_dict: dict[str, Any]) -> ExpectedLayout:
    import torch
    import transformers
    from transformers.core_model_loading import revert_weight_conversion
    from transformers.modeling_utils import PreTrainedModel, remove_tied_weights_from_state_dict
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    model_type = config_dict.get("model_type")
    if model_type not in CONFIG_MAPPING:
        raise LayoutError(f"transformers {transformers.__version__} has no built-in model_type {model_type!r}")
    # Looked up by name among transformers' own classes: auto_map is never consulted.
    model_class = getattr(transformers, architecture, None)
    if not (isinstance(model_class, type) and issubclass(model_class, PreTrainedModel)):
        raise LayoutError(f"transformers {transformers.__version__} has no built-in class {architecture!r}")
    clean = {k: v for k, v in config_dict.items() if k not in ("auto_map", "quantization_config")}
    config = CONFIG_MAPPING[model_type].from_dict(clean)

    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        # meta: no memory for weights; no_init_weights: skip initialising them too.
        with _no_init_weights(), torch.device("meta"):
            model = model_class(config)
            # Skipping initialisation also skips the tying done in post_init: tie
            # explicitly so tied weights are found (and dropped) like save_pretrained does.
            model.tie_weights()
    except Exception as exc:
        raise LayoutError(f"transformers cannot build {architecture} from this config.json: {exc}") from exc
    finally:
        transformers.logging.set_verbosity(verbosity)

    full_state = model.state_dict()
    state = remove_tied_weights_from_state_dict(dict(full_state), model)
    for ignored in model._keys_to_ignore_on_save or ():
        state.pop(ignored, None)
    tied = {name: tuple(full_state[name].shape) for name in full_state if name not in state}
    reverted = revert_weight_conversion(model, state)
    required = {name: tuple(tensor.shape) for name, tensor in reverted.items()}

    linear_modules = {name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    linear_weights = set()
    for name, shape in required.items():
        if not name.endswith(".weight") or len(shape) != 2:
            continue
        module = name[: -len(".weight")]
        # Names that exist only after reverting come from fused parameters (MoE
        # experts), which the checkpoint stores as one linear layer per expert.
        if module in linear_modules or name not in state:
            linear_weights.add(name)
    for output in _output_embedding_names(model):
        linear_weights.discard(output)

    ignore = set(model._keys_to_ignore_on_load_unexpected or ())
    if any(buffer.endswith("rotary_emb.inv_freq") for buffer, _ in model.named_buffers()):
        ignore.add(r"rotary_emb\.inv_freq")
    if any(buffer.endswith("position_ids") for buffer, _ in model.named_buffers()):
        ignore.add(r"(^|\.)position_ids$")
    layers = config_dict.get("num_hidden_layers")
    extra_layers = config_dict.get("num_nextn_predict_layers") or 0
    if isinstance(layers, int) and isinstance(extra_layers, int) and extra_layers > 0:
        # DeepSeek-V3/R1 publish multi-token-prediction layers after the last
        # decoder layer; transformers does not use them.
        numbers = "|".join(str(layers + i) for i in range(extra_layers))
        ignore.add(rf"^model\.layers\.({numbers})\.")
    optional = dict(tied)
    for pattern in model._keys_to_ignore_on_load_missing or ():
        for name in [n for n in required if re.search(pattern, n)]:
            optional[name] = required.pop(name)
    return ExpectedLayout(
        required=required,
        optional=optional,
        ignore_patterns=sorted(ignore),
        linear_weights=linear_weights,
        source=f"transformers {transformers.__version__} {architecture} on the meta device",
    )


def _no_init_weights():
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # older layouts of transformers
        from contextlib import nullcontext

        return nullcontext()
    return no_init_weights()


def warm_up() -> float:
    """Pay the once-per-process costs (imports, transformers' conversion-mapping regexes,
    first model construction) up front, e.g. from Celery's ``worker_process_init``.
    Returns the seconds spent. Safe to call more than once."""
    import time

    started = time.perf_counter()
    import transformers  # noqa: F401
    from transformers import AutoTokenizer  # noqa: F401

    tiny = {
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 16,
        "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
        "num_key_value_heads": 1, "vocab_size": 32,
    }  # fmt: skip
    _transformers_layout("LlamaForCausalLM", tiny)
    return time.perf_counter() - started


def _output_embedding_names(model) -> set[str]:
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if output is None:
        return set()
    return {f"{name}.weight" for name, module in model.named_modules() if module is output}


# --- remote-code families (layouts written from their published modelling code) ---------


def _int(config: dict[str, Any], name: str, default: int | None = None) -> int:
    value = config.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise LayoutError(f"config.json: {name!r} must be a positive integer, found {value!r}")
    return value


def _chatglm_layout(architecture: str, config: dict[str, Any]) -> ExpectedLayout:
    """ChatGLM2/3 and GLM-4 (chatglm format), from modeling_chatglm.py."""
    hidden = _int(config, "hidden_size")
    layers = _int(config, "num_layers")
    heads = _int(config, "num_attention_heads")
    kv_channels = _int(config, "kv_channels", hidden // heads)
    ffn = _int(config, "ffn_hidden_size")
    vocab = _int(config, "padded_vocab_size")
    projection = kv_channels * heads
    if config.get("multi_query_attention"):
        qkv = projection + 2 * kv_channels * _int(config, "multi_query_group_num")
    else:
        qkv = 3 * projection
    add_bias_linear = bool(config.get("add_bias_linear", False))
    qkv_bias = add_bias_linear or bool(config.get("add_qkv_bias", False))
    norm_has_bias = not config.get("rmsnorm", True)

    required: dict[str, tuple[int, ...]] = {"transformer.embedding.word_embeddings.weight": (vocab, hidden)}
    linear = set()

    def norm(prefix: str) -> None:
        required[f"{prefix}.weight"] = (hidden,)
        if norm_has_bias:
            required[f"{prefix}.bias"] = (hidden,)

    def linear_layer(prefix: str, out_features: int, in_features: int, bias: bool) -> None:
        required[f"{prefix}.weight"] = (out_features, in_features)
        linear.add(f"{prefix}.weight")
        if bias:
            required[f"{prefix}.bias"] = (out_features,)

    for i in range(layers):
        p = f"transformer.encoder.layers.{i}"
        norm(f"{p}.input_layernorm")
        linear_layer(f"{p}.self_attention.query_key_value", qkv, hidden, qkv_bias)
        linear_layer(f"{p}.self_attention.dense", hidden, projection, add_bias_linear)
        norm(f"{p}.post_attention_layernorm")
        linear_layer(f"{p}.mlp.dense_h_to_4h", 2 * ffn, hidden, add_bias_linear)
        linear_layer(f"{p}.mlp.dense_4h_to_h", hidden, ffn, add_bias_linear)
    if config.get("post_layer_norm", True):
        norm("transformer.encoder.final_layernorm")
    required["transformer.output_layer.weight"] = (vocab, hidden)
    rotary_dim = kv_channels // 2
    # A persistent buffer in the published code: present in published checkpoints,
    # recomputed if absent.
    optional = {"transformer.rotary_pos_emb.inv_freq": (rotary_dim // 2,)}
    return ExpectedLayout(required, optional, [], linear, "ChatGLM layout (modeling_chatglm.py)")


def _qwen_layout(architecture: str, config: dict[str, Any]) -> ExpectedLayout:
    """The first Qwen (QWenLMHeadModel), from modeling_qwen.py."""
    hidden = _int(config, "hidden_size")
    layers = _int(config, "num_hidden_layers")
    heads = _int(config, "num_attention_heads")
    kv_channels = _int(config, "kv_channels", hidden // heads)
    intermediate = _int(config, "intermediate_size")
    vocab = _int(config, "vocab_size")
    bias = not config.get("no_bias", True)
    projection = kv_channels * heads
    required: dict[str, tuple[int, ...]] = {"transformer.wte.weight": (vocab, hidden)}
    linear = set()

    def linear_layer(prefix: str, out_features: int, in_features: int, has_bias: bool) -> None:
        required[f"{prefix}.weight"] = (out_features, in_features)
        linear.add(f"{prefix}.weight")
        if has_bias:
            required[f"{prefix}.bias"] = (out_features,)

    for i in range(layers):
        p = f"transformer.h.{i}"
        required[f"{p}.ln_1.weight"] = (hidden,)
        linear_layer(f"{p}.attn.c_attn", 3 * projection, hidden, True)
        linear_layer(f"{p}.attn.c_proj", projection, hidden, bias)
        required[f"{p}.ln_2.weight"] = (hidden,)
        linear_layer(f"{p}.mlp.w1", intermediate // 2, hidden, bias)
        linear_layer(f"{p}.mlp.w2", intermediate // 2, hidden, bias)
        linear_layer(f"{p}.mlp.c_proj", hidden, intermediate // 2, bias)
    required["transformer.ln_f.weight"] = (hidden,)
    optional = {}
    if config.get("tie_word_embeddings"):
        optional["lm_head.weight"] = (vocab, hidden)
    else:
        required["lm_head.weight"] = (vocab, hidden)
    rotary = int(kv_channels * config.get("rotary_pct", 1.0))
    optional["transformer.rotary_emb.inv_freq"] = (rotary // 2,)
    return ExpectedLayout(required, optional, [], linear, "Qwen layout (modeling_qwen.py)")


def _baichuan_layout(architecture: str, config: dict[str, Any]) -> ExpectedLayout:
    """Baichuan / Baichuan2 7B (RoPE) and 13B (ALiBi), from modeling_baichuan.py."""
    hidden = _int(config, "hidden_size")
    layers = _int(config, "num_hidden_layers")
    heads = _int(config, "num_attention_heads")
    intermediate = _int(config, "intermediate_size")
    vocab = _int(config, "vocab_size")
    head_dim = hidden // heads
    required: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (vocab, hidden)}
    optional: dict[str, tuple[int, ...]] = {}
    linear = set()
    for i in range(layers):
        p = f"model.layers.{i}"
        shapes = {
            f"{p}.self_attn.W_pack.weight": (3 * hidden, hidden),
            f"{p}.self_attn.o_proj.weight": (hidden, heads * head_dim),
            f"{p}.mlp.gate_proj.weight": (intermediate, hidden),
            f"{p}.mlp.up_proj.weight": (intermediate, hidden),
            f"{p}.mlp.down_proj.weight": (hidden, intermediate),
        }
        required.update(shapes)
        linear.update(shapes)
        required[f"{p}.input_layernorm.weight"] = (hidden,)
        required[f"{p}.post_attention_layernorm.weight"] = (hidden,)
        # The 7B (RoPE) code of some revisions registers inv_freq as a buffer.
        optional[f"{p}.self_attn.rotary_emb.inv_freq"] = (head_dim // 2,)
    required["model.norm.weight"] = (hidden,)
    required["lm_head.weight"] = (vocab, hidden)
    return ExpectedLayout(required, optional, [], linear, "Baichuan layout (modeling_baichuan.py)")


CUSTOM_LAYOUTS = {
    "chatglm": _chatglm_layout,
    "qwen": _qwen_layout,
    "baichuan": _baichuan_layout,
}
