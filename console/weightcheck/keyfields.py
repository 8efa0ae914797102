"""Rule 4: the config.json fields that describe a model's structure.

A field is compared when the template's standard config has it: the user's config
must have it too, with the same value. A field the standard omits (older
transformers did not write ``head_dim``, for example) is compared only when the
user's config has it, against the value transformers derives from the standard
(transformers-native templates only). ``model_type`` and ``architectures`` are
always compared first, so a folder of another family lands here.
"""

from __future__ import annotations

import math
from typing import Any

# Per architecture (the standard config's ``architectures[0]``). The lists name every
# field that changes which tensors exist or their shapes, plus the family's own
# spelling of the usual ones (ChatGLM's num_layers / ffn_hidden_size /
# multi_query_group_num / padded_vocab_size, Qwen's kv_channels, ...).
_DECODER = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "intermediate_size",
    "vocab_size",
    "head_dim",
    "tie_word_embeddings",
)
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "LlamaForCausalLM": _DECODER + ("attention_bias", "mlp_bias"),
    "Qwen2ForCausalLM": _DECODER,
    "GlmForCausalLM": _DECODER + ("attention_bias", "partial_rotary_factor"),
    "DeepseekV3ForCausalLM": _DECODER
    + (
        "moe_intermediate_size",
        "n_routed_experts",
        "n_shared_experts",
        "num_experts_per_tok",
        "first_k_dense_replace",
        "moe_layer_freq",
        "n_group",
        "topk_group",
        "q_lora_rank",
        "kv_lora_rank",
        "qk_nope_head_dim",
        "qk_rope_head_dim",
        "v_head_dim",
        "num_nextn_predict_layers",
        "attention_bias",
    ),
    # Remote-code families: their own field names (what their modelling code reads).
    "ChatGLMModel": (
        "hidden_size",
        "num_layers",
        "num_hidden_layers",
        "num_attention_heads",
        "kv_channels",
        "multi_query_attention",
        "multi_query_group_num",
        "ffn_hidden_size",
        "padded_vocab_size",
        "add_bias_linear",
        "add_qkv_bias",
        "post_layer_norm",
        "rmsnorm",
        "tie_word_embeddings",
    ),
    "QWenLMHeadModel": (
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "kv_channels",
        "intermediate_size",
        "vocab_size",
        "no_bias",
        "rotary_pct",
        "tie_word_embeddings",
    ),
    "BaichuanForCausalLM": (
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "vocab_size",
        "tie_word_embeddings",
    ),
}
DEFAULT_KEY_FIELDS = _DECODER

_MISSING = object()


def key_fields_for(architecture: str) -> tuple[str, ...]:
    return KEY_FIELDS.get(architecture, DEFAULT_KEY_FIELDS)


def same_value(a: Any, b: Any) -> bool:
    """JSON equality where 1 == 1.0 but True != 1 (a bool is never a number here)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return a == b


def compare_key_fields(
    user: dict[str, Any],
    standard: dict[str, Any],
    derived_standard: dict[str, Any] | None = None,
) -> list[str]:
    """Differences between the user's config and the standard, as readable details.

    ``derived_standard`` holds what transformers derives from the standard config
    for fields it omits (``head_dim`` for Llama-2, for example).
    """
    details: list[str] = []
    for name in ("model_type", "architectures"):
        expected, found = standard.get(name, _MISSING), user.get(name, _MISSING)
        if expected is _MISSING:
            continue
        if found is _MISSING:
            details.append(f"config.json: '{name}' is missing (standard: {expected!r})")
        elif not same_value(found, expected):
            details.append(f"config.json: '{name}' is {found!r}, standard is {expected!r}")
    if details:
        # Another family: comparing its sizes field by field would only add noise.
        return details
    architecture = (standard.get("architectures") or [""])[0]
    for name in key_fields_for(architecture):
        expected = standard.get(name, _MISSING)
        found = user.get(name, _MISSING)
        if expected is not _MISSING:
            if found is _MISSING:
                details.append(f"config.json: '{name}' is missing (standard: {expected!r})")
            elif not same_value(found, expected):
                details.append(f"config.json: '{name}' is {found!r}, standard is {expected!r}")
        elif found is not _MISSING and derived_standard is not None and name in derived_standard:
            derived = derived_standard[name]
            if derived is not None and not same_value(found, derived):
                details.append(f"config.json: '{name}' is {found!r}, standard (derived by transformers) is {derived!r}")
    return details
