"""Real-structure folders of every catalog family pass, without running the folder's code."""

import json

import pytest
from weightcheck_corpus import ALL_SLUGS, DEEPSEEK, run_check, template_dir

from console.weightcheck import CheckReport

STEP_NAMES = [
    "user_config",
    "template",
    "standard_config",
    "key_fields",
    "quantization",
    "generation_config",
    "tokenizer",
    "weights",
]


@pytest.mark.parametrize("slug", sorted(set(ALL_SLUGS) - DEEPSEEK))
def test_it_passes_a_published_folder_of_every_catalog_family(build_folder, slug, tmp_path):
    folder = build_folder(slug)

    report = run_check(folder, slug)

    assert report.ok, (report.code, report.details)
    assert report.code is None and report.message is None
    assert [step["name"] for step in report.steps] == STEP_NAMES
    assert all(step["ok"] for step in report.steps)
    assert report.template == slug
    # The remote-code families' *.py files would have left a marker if imported.
    assert not list(tmp_path.glob("*-code-ran"))


def test_it_passes_deepseek_v3_fp8_with_scales_and_the_mtp_layer(build_folder):
    folder = build_folder("DeepSeek-V3", shards=4)

    report = run_check(folder, "DeepSeek-V3")

    assert report.ok, (report.code, report.details)
    assert any("model.layers.61." in note for note in report.notes)
    assert any("F8_E4M3" in note for note in report.notes)


def test_it_passes_deepseek_r1_single_file(build_folder):
    report = run_check(build_folder("DeepSeek-R1", shards=1), "DeepSeek-R1")

    assert report.ok, (report.code, report.details)


def test_it_passes_single_file_and_sharded_weights(build_folder):
    single = run_check(build_folder("Qwen2.5-7B", name="single", shards=1), "Qwen2.5-7B")
    sharded = run_check(build_folder("Qwen2.5-7B", name="sharded", shards=4), "Qwen2.5-7B")

    assert single.ok and sharded.ok
    assert "1 safetensors file(s)" in single.notes[-1]
    assert "4 safetensors file(s)" in sharded.notes[-1]


def test_it_notes_custom_code_without_running_it(build_folder, tmp_path):
    folder = build_folder("chatglm3-6b")

    report = run_check(folder, "chatglm3-6b")

    assert report.ok
    assert report.custom_code_present is True
    assert any("auto_map" in note and "modeling_chatglm.py" in note for note in report.notes)
    assert not (tmp_path / "chatglm3-6b-code-ran").exists()


def test_it_ignores_an_auto_map_that_points_at_folder_code_for_a_builtin_architecture(build_folder, tmp_path):
    folder = build_folder(
        "Llama-3.1-8B", auto_map={"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"}
    )
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    tokenizer_config["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", None]}
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))

    report = run_check(folder, "Llama-3.1-8B")

    assert report.ok, (report.code, report.details)
    assert report.custom_code_present
    assert (folder / "evil.py").exists()
    assert not (tmp_path / "Llama-3.1-8B-code-ran").exists()


def test_it_accepts_the_published_generation_configs(build_folder):
    # Yi-6B's has no sampling flags, Baichuan2-13B-Chat's samples with do_sample true.
    for slug in ("Yi-6B", "Baichuan2-13B-Chat", "glm-4-9b-chat-hf"):
        folder = build_folder(slug)
        assert (folder / "generation_config.json").exists()
        assert run_check(folder, slug).ok


def test_it_accepts_neutral_sampling_values_without_do_sample(build_folder):
    folder = build_folder("Yi-6B")
    (folder / "generation_config.json").write_text(
        json.dumps({"do_sample": False, "temperature": 1.0, "top_p": 1.0, "top_k": 50, "bos_token_id": 1})
    )

    assert run_check(folder, "Yi-6B").ok


def test_it_accepts_fp32_weights_and_a_config_resaved_by_transformers_5(build_folder, tmp_path):
    from transformers import AutoConfig

    folder = build_folder("Qwen2-7B")
    config = AutoConfig.from_pretrained(folder)  # model_type qwen2: no code involved
    resaved = tmp_path / "resaved"
    config.save_pretrained(resaved)
    (folder / "config.json").write_text((resaved / "config.json").read_text())
    assert "rope_theta" not in json.loads((folder / "config.json").read_text())

    report = run_check(folder, "Qwen2-7B")

    assert report.ok, (report.code, report.details)


def test_it_reads_only_headers(build_folder):
    folder = build_folder("Llama-2-13b-hf", shards=3)
    weight_bytes = sum(p.stat().st_size for p in folder.glob("*.safetensors"))

    report = run_check(folder, "Llama-2-13b-hf")

    assert report.ok
    assert weight_bytes > 20e9
    assert report.bytes_read < weight_bytes * 0.001
    assert report.bytes_read < 2_000_000


def test_it_round_trips_the_report_through_json(build_folder):
    report = run_check(build_folder("Yi-34B"), "Yi-34B")

    stored = json.loads(json.dumps(report.to_dict()))
    again = CheckReport.from_dict(stored)

    assert again == report
    assert again.to_dict() == stored


def test_it_uses_the_template_directory_given(build_folder):
    folder = build_folder("Llama-2-70b-hf")

    assert run_check(folder, template_dir("Llama-2-70b-hf")).ok
