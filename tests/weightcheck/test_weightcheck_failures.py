"""At least one failing folder for every row of seed table 4, asserting the exact message."""

import json
import logging
import shutil

import pytest
import weightcheck_corpus as corpus
from weightcheck_corpus import run_check, template_dir

from console.weightcheck import check_folder

USER_CONFIG = "Failed to read user config.json."
TEMPLATE = "Backend model template selection error (metadata error)."
STANDARD = "Failed to read standard config.json in the background."
KEY_FIELDS = (
    "Key fields describing the model structure are missing from config.json, "
    "or their values are inconsistent with standard open source."
)
QUANT_MISSING = (
    "The quantization_config field is missing in config.json, please check whether it is awq quantization weight."
)
QUANT_EXTRA = (
    "There is an extra quantization_config field in config.json. Please check whether it is a non-quantized weight."
)
GENERATION = "Failed to read generation_config.json."
DO_SAMPLE = (
    "The value of do_sample is not set to true in generation_config.json, which is inconsistent with the "
    "configured sampling parameters such as temperature, top_p, top_k etc."
)
TOKENIZER = "Error loading tokenizer in transformers."
WEIGHTS = "Error loading weights in transformers."
UNKNOWN = (
    "Unknown error, please contact the operation and maintenance personnel or check the log to locate the "
    "specific problem."
)


def assert_fails(report, code, message, detail=None):
    assert not report.ok
    assert report.code == code, (report.code, report.details)
    assert report.message == message
    if detail is not None:
        assert any(detail in d for d in report.details), report.details
    failed = [step for step in report.steps if not step["ok"]]
    assert len(failed) == 1 and failed[0] is report.steps[-1]


def broken_template(tmp_path, base="Llama-2-7b-hf", **changes):
    target = tmp_path / "templates" / base
    shutil.copytree(template_dir(base), target)
    meta = json.loads((target / "template.json").read_text())
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    (target / "template.json").write_text(json.dumps(meta))
    return target


# --- 1. user config.json ----------------------------------------------------------------


def test_it_fails_when_config_json_is_missing(build_folder):
    folder = build_folder("Qwen2.5-7B")
    (folder / "config.json").unlink()

    assert_fails(run_check(folder, "Qwen2.5-7B"), "user_config", USER_CONFIG, "config.json not found")


@pytest.mark.parametrize("content", ["{not json", "[1, 2, 3]", "", "\xff\xfe"])
def test_it_fails_when_config_json_is_not_a_json_object(build_folder, content):
    folder = build_folder("Qwen2.5-7B")
    (folder / "config.json").write_bytes(content.encode("latin-1"))

    assert_fails(run_check(folder, "Qwen2.5-7B"), "user_config", USER_CONFIG)


def test_it_fails_rule_one_before_anything_else_for_a_missing_folder(tmp_path):
    report = check_folder(corpus.LocalFolderReader(tmp_path / "nowhere"), None)

    assert_fails(report, "user_config", USER_CONFIG, "cannot be listed")


# --- 2. template selection --------------------------------------------------------------


def test_it_fails_when_no_template_is_selected(build_folder):
    assert_fails(run_check(build_folder("Yi-6B"), None), "template_selection", TEMPLATE, "no model template")


@pytest.mark.parametrize(
    "changes, detail",
    [
        ({"layout": "unheard-of"}, "layout"),
        ({"quantization": "int3"}, "quantization"),
        ({"architectures": []}, "architectures"),
        ({"model_type": None}, "model_type"),
        ({"slug": "another"}, "does not match folder name"),
        ({"tokenizer": {"kind": "sentencepiece"}}, "tokenizer.file"),
    ],
)
def test_it_fails_when_template_metadata_is_broken(build_folder, tmp_path, changes, detail):
    template = broken_template(tmp_path, **changes)

    assert_fails(run_check(build_folder("Llama-2-7b-hf"), template), "template_selection", TEMPLATE, detail)


def test_it_fails_when_template_json_is_missing_or_not_json(build_folder, tmp_path):
    template = broken_template(tmp_path)
    (template / "template.json").write_text("{oops")
    folder = build_folder("Llama-2-7b-hf")

    assert_fails(run_check(folder, template), "template_selection", TEMPLATE, "template.json")
    (template / "template.json").unlink()
    assert_fails(run_check(folder, template), "template_selection", TEMPLATE, "template.json")


# --- 3. standard config.json ------------------------------------------------------------


def test_it_fails_when_the_standard_config_cannot_be_read(build_folder, tmp_path):
    template = broken_template(tmp_path)
    folder = build_folder("Llama-2-7b-hf")
    (template / "config.json").write_text("{broken")
    assert_fails(run_check(folder, template), "standard_config", STANDARD, "config.json")
    (template / "config.json").unlink()
    assert_fails(run_check(folder, template), "standard_config", STANDARD, "config.json")


def test_it_fails_when_the_standard_config_contradicts_the_template(build_folder, tmp_path):
    template = broken_template(tmp_path)
    shutil.copy(template_dir("Qwen2.5-7B") / "config.json", template / "config.json")

    report = run_check(build_folder("Llama-2-7b-hf"), template)

    assert_fails(report, "standard_config", STANDARD, "model_type 'qwen2'")


# --- 4. key structural fields -----------------------------------------------------------


def test_it_fails_a_folder_of_another_family(build_folder):
    folder = build_folder("Qwen2.5-7B")

    report = run_check(folder, "Llama-3.1-8B")

    assert_fails(report, "key_fields", KEY_FIELDS, "'model_type' is 'qwen2', standard is 'llama'")


@pytest.mark.parametrize(
    "slug, changes, detail",
    [
        ("Llama-2-7b-hf", {"hidden_size": 5120}, "'hidden_size' is 5120, standard is 4096"),
        ("Llama-2-70b-hf", {"num_key_value_heads": None}, "'num_key_value_heads' is missing"),
        ("Yi-6B", {"num_hidden_layers": 30}, "'num_hidden_layers' is 30"),
        ("Qwen2.5-7B", {"vocab_size": 151936}, "'vocab_size'"),
        ("Qwen2.5-7B", {"tie_word_embeddings": True}, "'tie_word_embeddings'"),
        ("Llama-3.1-8B", {"head_dim": 64}, "standard (derived by transformers) is 128"),
        ("DeepSeek-V3", {"n_routed_experts": 128}, "'n_routed_experts'"),
        ("DeepSeek-R1", {"kv_lora_rank": 256}, "'kv_lora_rank'"),
        ("chatglm3-6b", {"multi_query_group_num": 4}, "'multi_query_group_num'"),
        ("glm-4-9b-chat", {"padded_vocab_size": 65024}, "'padded_vocab_size'"),
        ("Qwen-7B", {"kv_channels": 64}, "'kv_channels'"),
        ("Baichuan2-13B-Chat", {"intermediate_size": 11008}, "'intermediate_size'"),
        ("glm-4-9b-chat-hf", {"architectures": ["GlmModel"]}, "'architectures'"),
    ],
)
def test_it_fails_when_key_fields_differ_or_are_missing(tmp_path, slug, changes, detail):
    folder = tmp_path / "model"
    folder.mkdir()
    corpus.copy_config(folder, slug, **changes)

    assert_fails(run_check(folder, slug), "key_fields", KEY_FIELDS, detail)


def test_it_fails_chatglm3_against_the_glm4_hf_template(build_folder):
    report = run_check(build_folder("chatglm3-6b"), "glm-4-9b-chat-hf")

    assert_fails(report, "key_fields", KEY_FIELDS, "'model_type' is 'chatglm', standard is 'glm'")


# --- 5. quantization_config -------------------------------------------------------------


def test_it_fails_fp8_weights_without_their_quantization_config(build_folder):
    folder = build_folder("DeepSeek-V3", quantization_config=None)

    assert_fails(run_check(folder, "DeepSeek-V3"), "quantization_missing", QUANT_MISSING, "quant_method 'fp8'")


def test_it_fails_an_awq_template_with_unquantized_config(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    corpus.copy_config(folder, "tiny-llama-awq", quantization_config=None)

    assert_fails(run_check(folder, "tiny-llama-awq"), "quantization_missing", QUANT_MISSING, "'awq'")


def test_it_fails_a_quantization_method_other_than_the_standard(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    quantization = {"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True, "version": "gemm"}
    corpus.copy_config(folder, "DeepSeek-V3", quantization_config=quantization)

    assert_fails(run_check(folder, "DeepSeek-V3"), "quantization_missing", QUANT_MISSING, "quant_method is 'awq'")


def test_it_fails_an_extra_quantization_config(build_folder):
    quantization = {"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True, "version": "gemm"}
    folder = build_folder("Llama-2-7b-hf", quantization_config=quantization)

    assert_fails(run_check(folder, "Llama-2-7b-hf"), "quantization_extra", QUANT_EXTRA, "'awq'")


# --- 6. generation_config.json ----------------------------------------------------------


def test_it_fails_a_generation_config_that_is_not_json(build_folder):
    folder = build_folder("Yi-6B")
    (folder / "generation_config.json").write_text('{"do_sample": tru')

    assert_fails(run_check(folder, "Yi-6B"), "generation_config", GENERATION, "generation_config.json")


@pytest.mark.parametrize(
    "generation, detail",
    [
        ({"do_sample": False, "temperature": 0.7}, "temperature=0.7"),
        ({"top_p": 0.8}, "top_p=0.8"),
        ({"do_sample": False, "top_k": 5}, "top_k=5"),
        ({"do_sample": "true", "temperature": 0.3}, "temperature=0.3"),
    ],
)
def test_it_fails_sampling_parameters_without_do_sample(build_folder, generation, detail):
    folder = build_folder("Baichuan2-13B-Chat")
    (folder / "generation_config.json").write_text(json.dumps(generation))

    assert_fails(run_check(folder, "Baichuan2-13B-Chat"), "do_sample", DO_SAMPLE, detail)


# --- 7. tokenizer -----------------------------------------------------------------------


def test_it_fails_without_tokenizer_files(build_folder):
    folder = build_folder("Qwen2.5-7B")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()

    assert_fails(run_check(folder, "Qwen2.5-7B"), "tokenizer", TOKENIZER, "no tokenizer files")


def test_it_fails_a_corrupt_tokenizer_json(build_folder):
    folder = build_folder("Llama-3.1-8B")
    (folder / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "BPE", "vocab": 7}}')

    assert_fails(run_check(folder, "Llama-3.1-8B"), "tokenizer", TOKENIZER, "AutoTokenizer.from_pretrained failed")


def test_it_fails_a_tokenizer_larger_than_the_model_vocabulary(build_folder, tmp_path):
    folder = build_folder("tiny-llama")
    big = tmp_path / "big-tokenizer"
    big.mkdir()
    corpus.train_bpe_tokenizer(big, vocab_size=400)
    shutil.copy(big / "tokenizer.json", folder / "tokenizer.json")

    assert_fails(run_check(folder, "tiny-llama"), "tokenizer", TOKENIZER, "outside the model's vocabulary")


def test_it_fails_a_tokenizer_that_needs_folder_code_and_never_runs_it(build_folder, tmp_path):
    folder = build_folder("Yi-6B")
    marker = tmp_path / "tokenizer-code-ran"
    (folder / "tokenizer.json").unlink()
    (folder / "tokenization_evil.py").write_text(corpus.HOSTILE_PY.format(marker=str(marker)))
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "EvilTokenizer",
                "auto_map": {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]},
            }
        )
    )
    (folder / "vocab.txt").write_text("a\nb\n")

    report = run_check(folder, "Yi-6B")

    assert_fails(report, "tokenizer", TOKENIZER, "AutoTokenizer.from_pretrained failed")
    assert not marker.exists()


def test_it_fails_a_corrupt_sentencepiece_model_of_a_remote_code_family(build_folder):
    folder = build_folder("chatglm3-6b")
    (folder / "tokenizer.model").write_bytes(b"\x00not a sentencepiece model" * 10)

    assert_fails(run_check(folder, "chatglm3-6b"), "tokenizer", TOKENIZER, "not a SentencePiece model")


def test_it_fails_a_missing_tiktoken_file_for_qwen(build_folder):
    folder = build_folder("Qwen-7B")
    (folder / "qwen.tiktoken").unlink()

    assert_fails(run_check(folder, "Qwen-7B"), "tokenizer", TOKENIZER, "qwen.tiktoken is missing")


def test_it_fails_a_malformed_tiktoken_file_for_glm4(build_folder):
    folder = build_folder("glm-4-9b-chat")
    (folder / "tokenizer.model").write_bytes(b"IQ== 0\nnot-base64!! 1\n")

    assert_fails(run_check(folder, "glm-4-9b-chat"), "tokenizer", TOKENIZER, "line 2")


# --- 8. weights -------------------------------------------------------------------------


def test_it_fails_without_weight_files(build_folder):
    folder = build_folder("Qwen2.5-7B", shards=1)
    (folder / "model.safetensors").unlink()

    assert_fails(run_check(folder, "Qwen2.5-7B"), "weights", WEIGHTS, "no weight files in the folder")


def test_it_fails_shards_without_their_index(build_folder):
    folder = build_folder("Qwen2.5-7B", shards=2)
    (folder / "model.safetensors.index.json").unlink()

    assert_fails(run_check(folder, "Qwen2.5-7B"), "weights", WEIGHTS, "no weight files transformers would load")


def test_it_fails_an_index_naming_a_missing_shard(build_folder):
    folder = build_folder("Llama-2-7b-hf", shards=3)
    (folder / "model-00002-of-00003.safetensors").unlink()

    assert_fails(run_check(folder, "Llama-2-7b-hf"), "weights", WEIGHTS, "model-00002-of-00003.safetensors")


def test_it_fails_an_index_mapping_a_tensor_to_the_wrong_shard(build_folder):
    folder = build_folder("Llama-2-7b-hf", shards=2)
    index_path = folder / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    index["weight_map"]["model.norm.weight"] = "model-00001-of-00002.safetensors"
    index_path.write_text(json.dumps(index))

    report = run_check(folder, "Llama-2-7b-hf")

    assert_fails(report, "weights", WEIGHTS, "maps tensors to model-00001-of-00002.safetensors that it does not hold")
    assert any("holds tensors" in d and "model.norm.weight" in d for d in report.details)


def test_it_fails_an_index_naming_a_tensor_no_shard_holds(build_folder):
    folder = build_folder("Qwen2-7B", shards=2)
    index_path = folder / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    index["weight_map"]["model.layers.99.mlp.up_proj.weight"] = "model-00002-of-00002.safetensors"
    index_path.write_text(json.dumps(index))

    assert_fails(run_check(folder, "Qwen2-7B"), "weights", WEIGHTS, "model.layers.99.mlp.up_proj.weight")


def test_it_fails_a_truncated_shard(build_folder):
    folder = build_folder("Yi-6B", shards=2)
    shard = folder / "model-00002-of-00002.safetensors"
    with open(shard, "r+b") as handle:
        handle.truncate(shard.stat().st_size - 1000)

    assert_fails(run_check(folder, "Yi-6B"), "weights", WEIGHTS, "beyond the end of the file")


def test_it_fails_a_header_length_larger_than_the_file(build_folder):
    folder = build_folder("Yi-6B", shards=1)
    with open(folder / "model.safetensors", "wb") as handle:
        handle.write((10_000_000).to_bytes(8, "little") + b'{"a": 1}')

    assert_fails(run_check(folder, "Yi-6B"), "weights", WEIGHTS, "larger than the file allows")


def test_it_fails_a_file_too_short_for_a_header(build_folder):
    folder = build_folder("Yi-6B", shards=1)
    (folder / "model.safetensors").write_bytes(b"\x01\x02")

    assert_fails(run_check(folder, "Yi-6B"), "weights", WEIGHTS, "too short")


def test_it_fails_a_malformed_header(build_folder):
    folder = build_folder("Yi-6B", shards=1)
    blob = b'{"model.norm.weight": {"dtype": "BF16", "shape": [4096], "data_offsets": [0, 8192]'
    (folder / "model.safetensors").write_bytes(len(blob).to_bytes(8, "little") + blob + bytes(8192))

    assert_fails(run_check(folder, "Yi-6B"), "weights", WEIGHTS, "not valid JSON")


def rewrite_header(path, mutate):
    with open(path, "rb") as handle:
        length = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(length))
    size = path.stat().st_size - 8 - length
    mutate(header)
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as handle:
        handle.write(len(blob).to_bytes(8, "little") + blob)
        handle.truncate(8 + len(blob) + size)


def test_it_fails_overlapping_offsets(build_folder):
    folder = build_folder("Qwen2.5-7B", shards=1)

    def overlap(header):
        first = header["model.layers.0.input_layernorm.weight"]
        header["model.layers.0.post_attention_layernorm.weight"]["data_offsets"] = list(first["data_offsets"])

    rewrite_header(folder / "model.safetensors", overlap)

    assert_fails(run_check(folder, "Qwen2.5-7B"), "weights", WEIGHTS, "overlap")


def test_it_fails_offsets_that_do_not_match_the_dtype_and_shape(build_folder):
    folder = build_folder("Qwen2.5-7B", shards=1)

    def stretch(header):
        header["model.norm.weight"]["shape"] = [3584, 2]

    rewrite_header(folder / "model.safetensors", stretch)

    assert_fails(run_check(folder, "Qwen2.5-7B"), "weights", WEIGHTS, "data_offsets span")


def test_it_fails_a_tensor_missing_although_transformers_would_not_raise(build_folder):
    cfg = corpus.template_config("Llama-2-7b-hf")
    tensors = corpus.llama_tensors(cfg, dtype="F16")
    del tensors["model.layers.17.mlp.down_proj.weight"]
    folder = build_folder("Llama-2-7b-hf", tensors=tensors)

    report = run_check(folder, "Llama-2-7b-hf")

    assert_fails(report, "weights", WEIGHTS, "tensors missing")
    assert any("model.layers.17.mlp.down_proj.weight" in d for d in report.details)


def test_it_fails_unexpected_tensors(build_folder):
    cfg = corpus.template_config("Llama-3.1-8B")
    tensors = corpus.llama_tensors(cfg)
    tensors["model.layers.3.self_attn.q_proj.lora_A.weight"] = ("BF16", [16, 4096])
    folder = build_folder("Llama-3.1-8B", tensors=tensors)

    assert_fails(run_check(folder, "Llama-3.1-8B"), "weights", WEIGHTS, "lora_A")


def test_it_fails_a_wrong_shape(build_folder):
    cfg = corpus.template_config("Qwen1.5-7B-Chat")
    tensors = corpus.llama_tensors(cfg, qkv_bias=True)
    tensors["model.layers.5.self_attn.k_proj.weight"] = ("BF16", [512, 4096])
    folder = build_folder("Qwen1.5-7B-Chat", tensors=tensors)

    assert_fails(
        run_check(folder, "Qwen1.5-7B-Chat"), "weights", WEIGHTS,
        "model.layers.5.self_attn.k_proj.weight: shape [512, 4096]",
    )  # fmt: skip


def test_it_fails_a_wrong_dtype(build_folder):
    cfg = corpus.template_config("Yi-34B")
    tensors = corpus.llama_tensors(cfg)
    tensors["model.layers.0.mlp.up_proj.weight"] = ("I8", [20480, 7168])
    folder = build_folder("Yi-34B", tensors=tensors)

    assert_fails(run_check(folder, "Yi-34B"), "weights", WEIGHTS, "dtype I8")


def test_it_fails_fp8_weights_without_their_scales(build_folder):
    tensors = corpus.deepseek_v3_tensors(corpus.template_config("DeepSeek-V3"))
    del tensors["model.layers.4.mlp.experts.17.up_proj.weight_scale_inv"]
    folder = build_folder("DeepSeek-V3", tensors=tensors)

    assert_fails(run_check(folder, "DeepSeek-V3"), "weights", WEIGHTS, "experts.17.up_proj.weight_scale_inv")


def test_it_fails_bf16_weights_under_an_fp8_config(build_folder):
    tensors = corpus.deepseek_v3_tensors(corpus.template_config("DeepSeek-R1"), fp8=False)
    folder = build_folder("DeepSeek-R1", tensors=tensors)

    assert_fails(run_check(folder, "DeepSeek-R1"), "weights", WEIGHTS, "tensors missing")


def test_it_fails_a_remote_code_family_with_the_wrong_layout(build_folder):
    cfg = corpus.template_config("Baichuan2-7B-Base")
    tensors = corpus.baichuan_tensors(cfg)
    tensors["model.layers.0.self_attn.W_pack.weight"] = ("BF16", [4096, 4096])
    folder = build_folder("Baichuan2-7B-Base", tensors=tensors)

    assert_fails(run_check(folder, "Baichuan2-7B-Base"), "weights", WEIGHTS, "W_pack.weight: shape [4096, 4096]")


def test_it_fails_chatglm_weights_named_like_the_hf_format(build_folder):
    folder = build_folder("glm-4-9b-chat", tensors=corpus.glm_hf_tensors(corpus.template_config("glm-4-9b-chat-hf")))

    report = run_check(folder, "glm-4-9b-chat")

    assert_fails(report, "weights", WEIGHTS, "transformer.encoder.layers.0.self_attention.query_key_value.weight")


# --- 9. anything else -------------------------------------------------------------------


class ExplodingReader:
    def __init__(self, inner):
        self.inner = inner

    def list_files(self):
        return self.inner.list_files()

    def read(self, path, start=0, length=None):
        if path == "tokenizer_config.json":
            raise RuntimeError("storage backend exploded")
        return self.inner.read(path, start, length)


def test_it_reports_an_unknown_error_with_a_log_reference(build_folder, caplog):
    folder = build_folder("Qwen2.5-7B")
    reader = ExplodingReader(corpus.LocalFolderReader(folder))

    with caplog.at_level(logging.ERROR, logger="console.weightcheck"):
        report = check_folder(reader, template_dir("Qwen2.5-7B"))

    assert_fails(report, "unknown", UNKNOWN, "log reference")
    assert report.log_reference and len(report.log_reference) == 32
    assert report.steps[-1]["name"] == "tokenizer"
    record = next(r for r in caplog.records if report.log_reference in r.getMessage())
    assert record.exc_info and "storage backend exploded" in str(record.exc_info[1])
