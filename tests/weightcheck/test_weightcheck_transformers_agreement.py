"""The expected layout is what transformers 5 itself saves and loads (real tensor bytes, tiny models)."""

import json

import pytest
import torch
import transformers
import weightcheck_corpus as corpus
from safetensors.torch import load_file, save_file
from weightcheck_corpus import run_check

from console.weightcheck.layouts import clear_memory_cache

TINY = {
    "llama-tied": (
        transformers.LlamaConfig,
        transformers.LlamaForCausalLM,
        dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=320, tie_word_embeddings=True),
    ),
    "qwen2": (
        transformers.Qwen2Config,
        transformers.Qwen2ForCausalLM,
        dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=320),
    ),
    "glm": (
        transformers.GlmConfig,
        transformers.GlmForCausalLM,
        dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, head_dim=8, vocab_size=320, pad_token_id=0, eos_token_id=1),
    ),
    "mixtral": (
        transformers.MixtralConfig,
        transformers.MixtralForCausalLM,
        dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=320, num_local_experts=4, num_experts_per_tok=2),
    ),
    "deepseek-v3": (
        transformers.DeepseekV3Config,
        transformers.DeepseekV3ForCausalLM,
        dict(hidden_size=64, intermediate_size=128, moe_intermediate_size=32, num_hidden_layers=3,
             num_attention_heads=4, num_key_value_heads=4, n_routed_experts=8, n_shared_experts=1,
             num_experts_per_tok=2, n_group=2, topk_group=1, first_k_dense_replace=1, q_lora_rank=32,
             kv_lora_rank=16, qk_nope_head_dim=8, qk_rope_head_dim=8, v_head_dim=8, vocab_size=320),
    ),
}  # fmt: skip


def save_tiny(tmp_path, name, bpe_tokenizer_dir):
    config_class, model_class, kwargs = TINY[name]
    config = config_class(**kwargs)
    config.architectures = [model_class.__name__]
    torch.manual_seed(0)
    model = model_class(config).to(torch.bfloat16)
    folder = tmp_path / name
    model.save_pretrained(folder)
    for item in bpe_tokenizer_dir.iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    template = tmp_path / "templates" / name
    template.mkdir(parents=True)
    (template / "config.json").write_text((folder / "config.json").read_text())
    saved = json.loads((folder / "config.json").read_text())
    meta = {
        "slug": name, "display_name": name, "model_type": saved["model_type"],
        "architectures": saved["architectures"], "quantization": "none", "remote_code": False,
        "layout": "transformers", "test_only": True,
    }  # fmt: skip
    (template / "template.json").write_text(json.dumps(meta))
    return folder, template


@pytest.mark.parametrize("name", sorted(TINY))
def test_it_passes_what_transformers_save_pretrained_writes(tmp_path, bpe_tokenizer_dir, name):
    folder, template = save_tiny(tmp_path, name, bpe_tokenizer_dir)

    report = run_check(folder, template)

    assert report.ok, (report.code, report.details)


def test_it_expects_experts_per_expert_as_saved_not_fused_as_in_memory(tmp_path, bpe_tokenizer_dir):
    folder, template = save_tiny(tmp_path, "mixtral", bpe_tokenizer_dir)
    saved = load_file(folder / "model.safetensors")
    assert any(".experts.3." in name for name in saved)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder)
    fused = [name for name in model.state_dict() if "experts" in name]
    assert fused and not any(".experts.3." in name for name in fused)

    assert run_check(folder, template).ok


def test_it_does_not_require_lm_head_when_embeddings_are_tied(tmp_path, bpe_tokenizer_dir):
    folder, template = save_tiny(tmp_path, "llama-tied", bpe_tokenizer_dir)

    assert "lm_head.weight" not in load_file(folder / "model.safetensors")
    assert run_check(folder, template).ok


def test_it_catches_a_missing_tensor_that_transformers_loads_silently(tmp_path, bpe_tokenizer_dir):
    folder, template = save_tiny(tmp_path, "qwen2", bpe_tokenizer_dir)
    tensors = load_file(folder / "model.safetensors")
    del tensors["model.layers.1.self_attn.v_proj.weight"]
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})

    # transformers 5 re-initialises the tensor and carries on...
    transformers.AutoModelForCausalLM.from_pretrained(folder)
    # ...the check does not.
    report = run_check(folder, template)

    assert report.code == "weights"
    assert any("model.layers.1.self_attn.v_proj.weight" in d for d in report.details)


def test_it_agrees_with_transformers_on_a_wrong_shape(tmp_path, bpe_tokenizer_dir):
    folder, template = save_tiny(tmp_path, "llama-tied", bpe_tokenizer_dir)
    tensors = load_file(folder / "model.safetensors")
    tensors["model.norm.weight"] = torch.ones(16, dtype=torch.bfloat16)
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})

    with pytest.raises(Exception):
        transformers.AutoModelForCausalLM.from_pretrained(folder)
    report = run_check(folder, template)

    assert report.code == "weights"
    assert any("model.norm.weight: shape [16]" in d for d in report.details)


def test_it_checks_awq_weights_against_the_test_only_awq_template(build_folder):
    assert json.loads((corpus.template_dir("tiny-llama-awq") / "template.json").read_text())["test_only"] is True
    folder = build_folder("tiny-llama-awq")

    report = run_check(folder, "tiny-llama-awq")

    assert report.ok, (report.code, report.details)
    assert any("test-only" in note for note in report.notes)


def test_it_fails_awq_weights_with_a_wrong_packing(build_folder):
    cfg = corpus.template_config("tiny-llama-awq")
    tensors = corpus.awq_tensors(cfg, bits=8, group=32)

    report = run_check(build_folder("tiny-llama-awq", tensors=tensors), "tiny-llama-awq")

    assert report.code == "weights"
    assert any("qweight: shape" in d for d in report.details)


def test_it_fails_unquantized_weights_under_an_awq_config(build_folder):
    cfg = corpus.template_config("tiny-llama")
    report = run_check(build_folder("tiny-llama-awq", tensors=corpus.llama_tensors(cfg)), "tiny-llama-awq")

    assert report.code == "weights"
    assert any("qweight" in d for d in report.details)


def test_it_caches_the_expected_layout(build_folder, monkeypatch):
    from console.weightcheck import layouts

    folder = build_folder("Llama-2-70b-hf")
    clear_memory_cache()
    first = run_check(folder, "Llama-2-70b-hf")
    second = run_check(folder, "Llama-2-70b-hf")
    clear_memory_cache()
    third = run_check(folder, "Llama-2-70b-hf")
    monkeypatch.setenv("MODELARTS_WEIGHTCHECK_CACHE", "off")
    clear_memory_cache()
    fourth = run_check(folder, "Llama-2-70b-hf")

    assert [r.steps[-1]["layout_cache"] for r in (first, second, third, fourth)][1:] == ["memory", "disk", "built"]
    assert first.steps[-1]["layout_cache"] in ("built", "disk")
    assert all(r.ok for r in (first, second, third, fourth))
    assert layouts.LAYOUT_FORMAT >= 1
