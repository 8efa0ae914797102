"""Builds model folders for the weight-check tests, in code.

Weights are full-shape *sparse* safetensors files: a real header, then
``truncate()`` to the full size, so a 13 GB checkpoint takes a few kilobytes of
disk. The tensor names below are written independently of the code under test,
from the published checkpoints of each family (their ``*.index.json`` files), so
a wrong layout in the package fails these tests.
"""

from __future__ import annotations

import base64
import io
import json
import math
import shutil
import struct
from pathlib import Path

from console.weightcheck import LocalFolderReader, check_folder

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "console" / "catalog_data" / "templates"
TEST_TEMPLATES = TEMPLATES / "_test"
SHARED_REFERENCE = ROOT.parent / "shared" / "reference" / "base-models"

DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "I32": 4, "I8": 1, "U8": 1, "I64": 8}
SAMPLE_TEXT = [
    "hello world this is a tiny corpus for the weight check tests",
    "你好 世界 这是 一个 小 语料 用于 测试",
    "def f(x): return x + 1  # code",
    "the quick brown fox jumps over the lazy dog 0123456789",
] * 25


LLAMA_LIKE = {
    "Llama-2-7b-hf",
    "Llama-2-13b-hf",
    "Llama-2-70b-hf",
    "Llama-3.1-8B",
    "Yi-6B",
    "Yi-34B",
}
QWEN2 = {"Qwen1.5-7B-Chat", "Qwen2-7B", "Qwen2.5-7B"}
BAICHUAN = {"Baichuan2-7B-Base", "Baichuan2-13B-Chat"}
DEEPSEEK = {"DeepSeek-V3", "DeepSeek-R1"}
CHATGLM_FORMAT = {"chatglm3-6b", "glm-4-9b-chat"}
ALL_SLUGS = sorted(LLAMA_LIKE | QWEN2 | BAICHUAN | DEEPSEEK | CHATGLM_FORMAT | {"Qwen-7B", "glm-4-9b-chat-hf"})

# Importing this would leave a file behind: it proves the folder's code never ran.
HOSTILE_PY = """
import pathlib
pathlib.Path({marker!r}).write_text("folder code was imported")
"""


def template_dir(slug: str) -> Path:
    if (TEMPLATES / slug).is_dir():
        return TEMPLATES / slug
    return TEST_TEMPLATES / slug


def family_tensors(slug: str, cfg: dict) -> dict:
    if slug in LLAMA_LIKE:
        dtype = "F16" if slug.startswith("Llama-2") else "BF16"
        return llama_tensors(cfg, dtype=dtype, legacy_inv_freq=slug == "Llama-2-7b-hf")
    if slug in QWEN2:
        return llama_tensors(cfg, qkv_bias=True)
    if slug == "glm-4-9b-chat-hf":
        return glm_hf_tensors(cfg)
    if slug in DEEPSEEK:
        return deepseek_v3_tensors(cfg)
    if slug in CHATGLM_FORMAT:
        return chatglm_tensors(cfg, dtype="F16" if slug == "chatglm3-6b" else "BF16")
    if slug == "Qwen-7B":
        return qwen_v1_tensors(cfg)
    if slug in BAICHUAN:
        return baichuan_tensors(cfg)
    if slug == "tiny-llama":
        return llama_tensors(cfg)
    if slug == "tiny-llama-awq":
        quantization = cfg["quantization_config"]
        return awq_tensors(cfg, bits=quantization["bits"], group=quantization["group_size"])
    raise KeyError(slug)


def run_check(folder: Path, slug: str | Path | None):
    if slug is None or isinstance(slug, Path):
        return check_folder(LocalFolderReader(folder), slug)
    return check_folder(LocalFolderReader(folder), template_dir(slug))


def template_config(slug: str) -> dict:
    return json.loads((template_dir(slug) / "config.json").read_text())


# --- checkpoint layouts of the published checkpoints ------------------------------------


def llama_tensors(cfg: dict, dtype: str = "BF16", qkv_bias: bool = False, legacy_inv_freq: bool = False) -> dict:
    hidden, layers = cfg["hidden_size"], cfg["num_hidden_layers"]
    heads = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads", heads)
    head_dim = cfg.get("head_dim") or hidden // heads
    inter, vocab = cfg["intermediate_size"], cfg["vocab_size"]
    t = {"model.embed_tokens.weight": (dtype, [vocab, hidden])}
    for i in range(layers):
        p = f"model.layers.{i}"
        t[f"{p}.self_attn.q_proj.weight"] = (dtype, [heads * head_dim, hidden])
        t[f"{p}.self_attn.k_proj.weight"] = (dtype, [kv * head_dim, hidden])
        t[f"{p}.self_attn.v_proj.weight"] = (dtype, [kv * head_dim, hidden])
        if qkv_bias:
            t[f"{p}.self_attn.q_proj.bias"] = (dtype, [heads * head_dim])
            t[f"{p}.self_attn.k_proj.bias"] = (dtype, [kv * head_dim])
            t[f"{p}.self_attn.v_proj.bias"] = (dtype, [kv * head_dim])
        t[f"{p}.self_attn.o_proj.weight"] = (dtype, [hidden, heads * head_dim])
        t[f"{p}.mlp.gate_proj.weight"] = (dtype, [inter, hidden])
        t[f"{p}.mlp.up_proj.weight"] = (dtype, [inter, hidden])
        t[f"{p}.mlp.down_proj.weight"] = (dtype, [hidden, inter])
        t[f"{p}.input_layernorm.weight"] = (dtype, [hidden])
        t[f"{p}.post_attention_layernorm.weight"] = (dtype, [hidden])
        if legacy_inv_freq:
            # Llama-2 checkpoints converted with transformers 4.31 carry this buffer.
            t[f"{p}.self_attn.rotary_emb.inv_freq"] = ("F32", [head_dim // 2])
    t["model.norm.weight"] = (dtype, [hidden])
    if not cfg.get("tie_word_embeddings", False):
        t["lm_head.weight"] = (dtype, [vocab, hidden])
    return t


def glm_hf_tensors(cfg: dict, dtype: str = "BF16") -> dict:
    hidden, layers = cfg["hidden_size"], cfg["num_hidden_layers"]
    heads, kv, head_dim = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    inter, vocab = cfg["intermediate_size"], cfg["vocab_size"]
    t = {"model.embed_tokens.weight": (dtype, [vocab, hidden])}
    for i in range(layers):
        p = f"model.layers.{i}"
        t[f"{p}.input_layernorm.weight"] = (dtype, [hidden])
        t[f"{p}.self_attn.q_proj.weight"] = (dtype, [heads * head_dim, hidden])
        t[f"{p}.self_attn.q_proj.bias"] = (dtype, [heads * head_dim])
        t[f"{p}.self_attn.k_proj.weight"] = (dtype, [kv * head_dim, hidden])
        t[f"{p}.self_attn.k_proj.bias"] = (dtype, [kv * head_dim])
        t[f"{p}.self_attn.v_proj.weight"] = (dtype, [kv * head_dim, hidden])
        t[f"{p}.self_attn.v_proj.bias"] = (dtype, [kv * head_dim])
        t[f"{p}.self_attn.o_proj.weight"] = (dtype, [hidden, heads * head_dim])
        t[f"{p}.post_attention_layernorm.weight"] = (dtype, [hidden])
        t[f"{p}.mlp.gate_up_proj.weight"] = (dtype, [2 * inter, hidden])
        t[f"{p}.mlp.down_proj.weight"] = (dtype, [hidden, inter])
    t["model.norm.weight"] = (dtype, [hidden])
    t["lm_head.weight"] = (dtype, [vocab, hidden])
    return t


def deepseek_v3_tensors(cfg: dict, fp8: bool = True) -> dict:
    """DeepSeek-V3/R1 as published: FP8 linears with *_scale_inv, MTP layer at index num_hidden_layers."""
    hidden, vocab = cfg["hidden_size"], cfg["vocab_size"]
    heads = cfg["num_attention_heads"]
    q_rank, kv_rank = cfg["q_lora_rank"], cfg["kv_lora_rank"]
    nope, rope, v_dim = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
    inter, moe_inter = cfg["intermediate_size"], cfg["moe_intermediate_size"]
    experts, dense = cfg["n_routed_experts"], cfg["first_k_dense_replace"]
    block = cfg.get("quantization_config", {}).get("weight_block_size", [128, 128])
    t: dict = {}

    def linear(name, out_f, in_f):
        if fp8:
            t[f"{name}.weight"] = ("F8_E4M3", [out_f, in_f])
            t[f"{name}.weight_scale_inv"] = ("F32", [math.ceil(out_f / block[0]), math.ceil(in_f / block[1])])
        else:
            t[f"{name}.weight"] = ("BF16", [out_f, in_f])

    def layer(i):
        p = f"model.layers.{i}"
        t[f"{p}.input_layernorm.weight"] = ("BF16", [hidden])
        t[f"{p}.post_attention_layernorm.weight"] = ("BF16", [hidden])
        linear(f"{p}.self_attn.q_a_proj", q_rank, hidden)
        t[f"{p}.self_attn.q_a_layernorm.weight"] = ("BF16", [q_rank])
        linear(f"{p}.self_attn.q_b_proj", heads * (nope + rope), q_rank)
        linear(f"{p}.self_attn.kv_a_proj_with_mqa", kv_rank + rope, hidden)
        t[f"{p}.self_attn.kv_a_layernorm.weight"] = ("BF16", [kv_rank])
        linear(f"{p}.self_attn.kv_b_proj", heads * (nope + v_dim), kv_rank)
        linear(f"{p}.self_attn.o_proj", hidden, heads * v_dim)
        if i < dense:
            linear(f"{p}.mlp.gate_proj", inter, hidden)
            linear(f"{p}.mlp.up_proj", inter, hidden)
            linear(f"{p}.mlp.down_proj", hidden, inter)
            return
        t[f"{p}.mlp.gate.weight"] = ("BF16", [experts, hidden])
        t[f"{p}.mlp.gate.e_score_correction_bias"] = ("F32", [experts])
        for e in range(experts):
            linear(f"{p}.mlp.experts.{e}.gate_proj", moe_inter, hidden)
            linear(f"{p}.mlp.experts.{e}.up_proj", moe_inter, hidden)
            linear(f"{p}.mlp.experts.{e}.down_proj", hidden, moe_inter)
        shared = moe_inter * cfg["n_shared_experts"]
        linear(f"{p}.mlp.shared_experts.gate_proj", shared, hidden)
        linear(f"{p}.mlp.shared_experts.up_proj", shared, hidden)
        linear(f"{p}.mlp.shared_experts.down_proj", hidden, shared)

    t["model.embed_tokens.weight"] = ("BF16", [vocab, hidden])
    for i in range(cfg["num_hidden_layers"]):
        layer(i)
    t["model.norm.weight"] = ("BF16", [hidden])
    t["lm_head.weight"] = ("BF16", [vocab, hidden])
    # The published multi-token-prediction layer.
    mtp = cfg["num_hidden_layers"]
    layer(mtp)
    p = f"model.layers.{mtp}"
    t[f"{p}.embed_tokens.weight"] = ("BF16", [vocab, hidden])
    t[f"{p}.enorm.weight"] = ("BF16", [hidden])
    t[f"{p}.hnorm.weight"] = ("BF16", [hidden])
    t[f"{p}.eh_proj.weight"] = ("BF16", [hidden, 2 * hidden])
    t[f"{p}.shared_head.norm.weight"] = ("BF16", [hidden])
    t[f"{p}.shared_head.head.weight"] = ("BF16", [vocab, hidden])
    return t


def chatglm_tensors(cfg: dict, dtype: str = "F16") -> dict:
    """chatglm3-6b / glm-4-9b-chat model-0000N-of-0000M.safetensors."""
    hidden, layers = cfg["hidden_size"], cfg["num_layers"]
    heads, kvc, groups = cfg["num_attention_heads"], cfg["kv_channels"], cfg["multi_query_group_num"]
    ffn, vocab = cfg["ffn_hidden_size"], cfg["padded_vocab_size"]
    qkv = heads * kvc + 2 * kvc * groups
    t = {
        "transformer.embedding.word_embeddings.weight": (dtype, [vocab, hidden]),
        "transformer.rotary_pos_emb.inv_freq": (dtype, [kvc // 4]),
    }
    for i in range(layers):
        p = f"transformer.encoder.layers.{i}"
        t[f"{p}.input_layernorm.weight"] = (dtype, [hidden])
        t[f"{p}.self_attention.query_key_value.weight"] = (dtype, [qkv, hidden])
        t[f"{p}.self_attention.query_key_value.bias"] = (dtype, [qkv])
        t[f"{p}.self_attention.dense.weight"] = (dtype, [hidden, heads * kvc])
        t[f"{p}.post_attention_layernorm.weight"] = (dtype, [hidden])
        t[f"{p}.mlp.dense_h_to_4h.weight"] = (dtype, [2 * ffn, hidden])
        t[f"{p}.mlp.dense_4h_to_h.weight"] = (dtype, [hidden, ffn])
    t["transformer.encoder.final_layernorm.weight"] = (dtype, [hidden])
    t["transformer.output_layer.weight"] = (dtype, [vocab, hidden])
    return t


def qwen_v1_tensors(cfg: dict, dtype: str = "BF16") -> dict:
    """Qwen-7B model-0000N-of-00008.safetensors."""
    hidden, layers, vocab = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["vocab_size"]
    half = cfg["intermediate_size"] // 2
    proj = cfg["kv_channels"] * cfg["num_attention_heads"]
    t = {"transformer.wte.weight": (dtype, [vocab, hidden])}
    for i in range(layers):
        p = f"transformer.h.{i}"
        t[f"{p}.ln_1.weight"] = (dtype, [hidden])
        t[f"{p}.attn.c_attn.weight"] = (dtype, [3 * proj, hidden])
        t[f"{p}.attn.c_attn.bias"] = (dtype, [3 * proj])
        t[f"{p}.attn.c_proj.weight"] = (dtype, [hidden, proj])
        t[f"{p}.ln_2.weight"] = (dtype, [hidden])
        t[f"{p}.mlp.w1.weight"] = (dtype, [half, hidden])
        t[f"{p}.mlp.w2.weight"] = (dtype, [half, hidden])
        t[f"{p}.mlp.c_proj.weight"] = (dtype, [hidden, half])
    t["transformer.ln_f.weight"] = (dtype, [hidden])
    t["lm_head.weight"] = (dtype, [vocab, hidden])
    return t


def baichuan_tensors(cfg: dict, dtype: str = "BF16") -> dict:
    hidden, layers = cfg["hidden_size"], cfg["num_hidden_layers"]
    vocab, inter = cfg["vocab_size"], cfg["intermediate_size"]
    t = {"model.embed_tokens.weight": (dtype, [vocab, hidden])}
    for i in range(layers):
        p = f"model.layers.{i}"
        t[f"{p}.self_attn.W_pack.weight"] = (dtype, [3 * hidden, hidden])
        t[f"{p}.self_attn.o_proj.weight"] = (dtype, [hidden, hidden])
        t[f"{p}.mlp.gate_proj.weight"] = (dtype, [inter, hidden])
        t[f"{p}.mlp.down_proj.weight"] = (dtype, [hidden, inter])
        t[f"{p}.mlp.up_proj.weight"] = (dtype, [inter, hidden])
        t[f"{p}.input_layernorm.weight"] = (dtype, [hidden])
        t[f"{p}.post_attention_layernorm.weight"] = (dtype, [hidden])
    t["model.norm.weight"] = (dtype, [hidden])
    t["lm_head.weight"] = (dtype, [vocab, hidden])
    return t


def awq_tensors(cfg: dict, bits: int = 4, group: int = 32) -> dict:
    """Llama-shaped AWQ (GEMM) checkpoint: every linear but lm_head as qweight/qzeros/scales."""
    plain = llama_tensors(cfg, dtype="F16")
    pack = 32 // bits
    t = {}
    for name, (dtype, shape) in plain.items():
        if name.endswith("_proj.weight"):
            out_f, in_f = shape
            prefix = name[: -len(".weight")]
            t[f"{prefix}.qweight"] = ("I32", [in_f, out_f // pack])
            t[f"{prefix}.qzeros"] = ("I32", [in_f // group, out_f // pack])
            t[f"{prefix}.scales"] = ("F16", [in_f // group, out_f])
        else:
            t[name] = (dtype, shape)
    return t


# --- writing files -----------------------------------------------------------------------


def safetensors_header(tensors: dict) -> tuple[bytes, int]:
    header, offset = {}, 0
    for name, (dtype, shape) in tensors.items():
        size = math.prod(shape) * DTYPE_BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    return blob, offset


def write_sparse_safetensors(path: Path, tensors: dict) -> int:
    """Real header, then a hole for the data: the file has its full size but no data blocks."""
    blob, data_size = safetensors_header(tensors)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(blob)))
        handle.write(blob)
        handle.truncate(8 + len(blob) + data_size)
    return data_size


def write_weights(folder: Path, tensors: dict, shards: int = 1) -> int:
    """model.safetensors, or `shards` files plus model.safetensors.index.json. Returns data bytes."""
    if shards == 1:
        return write_sparse_safetensors(folder / "model.safetensors", tensors)
    names = list(tensors)
    per = math.ceil(len(names) / shards)
    weight_map, total = {}, 0
    for index in range(shards):
        shard = f"model-{index + 1:05d}-of-{shards:05d}.safetensors"
        part = {name: tensors[name] for name in names[index * per : (index + 1) * per]}
        total += write_sparse_safetensors(folder / shard, part)
        weight_map.update(dict.fromkeys(part, shard))
    index_doc = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index_doc, indent=2))
    return total


# --- tokenizers trained in code -------------------------------------------------------


def train_bpe_tokenizer(folder: Path, vocab_size: int = 300) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(SAMPLE_TEXT, trainer)
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>"})
    )


def train_sentencepiece(vocab_size: int = 400) -> bytes:
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(SAMPLE_TEXT),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="bpe",
        character_coverage=1.0,
        byte_fallback=True,
        minloglevel=2,
    )
    return model.getvalue()


def tiktoken_ranks(extra_merges: int = 50) -> bytes:
    """A tiktoken rank file: the 256 single bytes, then a few merges, `<base64> <rank>` per line."""
    tokens = [bytes([i]) for i in range(256)]
    words = " ".join(SAMPLE_TEXT[:4]).encode().split()
    for word in words:
        if len(tokens) >= 256 + extra_merges:
            break
        if word not in tokens:
            tokens.append(word)
    return b"".join(base64.b64encode(tok) + b" " + str(rank).encode() + b"\n" for rank, tok in enumerate(tokens))


# --- whole folders -----------------------------------------------------------------------


def copy_config(folder: Path, slug: str, **changes) -> dict:
    cfg = template_config(slug)
    for key, value in changes.items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    return cfg


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target
