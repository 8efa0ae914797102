"""The templates, the seed's messages, the folder reader and the package's import cost."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import weightcheck_corpus as corpus

from console.weightcheck import FAILURES, KEY_FIELDS, LocalFolderReader, ReaderError, load_template
from console.weightcheck.keyfields import compare_key_fields

SEED = corpus.ROOT.parent / "shared" / "seed" / "modelarts-console-docs.txt"
PACKAGE = corpus.ROOT / "console" / "weightcheck"
CATALOG_SLUGS = [
    "Baichuan2-13B-Chat", "Baichuan2-7B-Base", "DeepSeek-R1", "DeepSeek-V3", "Llama-2-13b-hf",
    "Llama-2-70b-hf", "Llama-2-7b-hf", "Llama-3.1-8B", "Qwen-7B", "Qwen1.5-7B-Chat", "Qwen2-7B",
    "Qwen2.5-7B", "Yi-34B", "Yi-6B", "chatglm3-6b", "glm-4-9b-chat", "glm-4-9b-chat-hf",
]  # fmt: skip


# --- templates --------------------------------------------------------------------------


def test_it_has_one_template_per_reference_config():
    found = sorted(p.name for p in corpus.TEMPLATES.iterdir() if p.is_dir() and not p.name.startswith("_"))

    assert found == sorted(CATALOG_SLUGS)


@pytest.mark.parametrize("slug", CATALOG_SLUGS)
def test_it_loads_every_catalog_template(slug):
    template = load_template(corpus.TEMPLATES / slug)
    standard = template.standard_config()

    assert template.slug == slug and not template.test_only
    assert template.model_type == standard["model_type"]
    assert list(template.architectures) == standard["architectures"]
    expected_quantization = (standard.get("quantization_config") or {}).get("quant_method", "none")
    assert template.quantization == expected_quantization
    assert template.remote_code == (template.layout != "transformers")
    if template.remote_code:
        assert template.conversion_note_en and template.conversion_note_zh
    # The standard passes its own key-field comparison.
    assert compare_key_fields(standard, standard) == []


@pytest.mark.skipif(not corpus.SHARED_REFERENCE.is_dir(), reason="shared/reference not beside the repo")
@pytest.mark.parametrize("slug", CATALOG_SLUGS)
def test_it_copies_the_reference_configs_verbatim(slug):
    for name in ("config.json", "generation_config.json"):
        reference = corpus.SHARED_REFERENCE / slug / name
        copy = corpus.TEMPLATES / slug / name
        assert copy.exists() == reference.exists(), name
        if reference.exists():
            assert copy.read_bytes() == reference.read_bytes()


def test_it_labels_the_test_templates_test_only():
    for folder in corpus.TEST_TEMPLATES.iterdir():
        template = load_template(folder)
        assert template.test_only and template.display_name.startswith("TEST ONLY")
    assert load_template(corpus.TEST_TEMPLATES / "tiny-llama-awq").quantization == "awq"


def test_it_documents_key_fields_for_every_catalog_architecture():
    architectures = {load_template(corpus.TEMPLATES / slug).architectures[0] for slug in CATALOG_SLUGS}

    assert architectures <= set(KEY_FIELDS)
    assert {"num_layers", "ffn_hidden_size", "multi_query_group_num", "padded_vocab_size"} <= set(
        KEY_FIELDS["ChatGLMModel"]
    )
    assert {"n_routed_experts", "kv_lora_rank", "q_lora_rank"} <= set(KEY_FIELDS["DeepseekV3ForCausalLM"])


def test_it_compares_numbers_by_value_but_not_booleans_as_numbers():
    standard = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 4096,
                "tie_word_embeddings": False}  # fmt: skip

    assert compare_key_fields({**standard, "hidden_size": 4096.0}, standard) == []
    assert compare_key_fields({**standard, "tie_word_embeddings": 0}, standard) != []


# --- the seed's messages ----------------------------------------------------------------


@pytest.mark.skipif(not SEED.exists(), reason="shared/seed not beside the repo")
def test_it_uses_the_seed_table_4_text_exactly():
    seed = SEED.read_text(encoding="utf-8")
    table = seed[seed.index("表4 权重校验常见的失败信息") :].split("\n", 1)[0]

    for code, failure in FAILURES.items():
        row = f"{failure['message']} {failure['explanation_zh']} {failure['advice_zh']}"
        assert row in table, code


def test_it_has_the_eleven_failure_codes_with_translations():
    assert set(FAILURES) == {
        "user_config", "template_selection", "standard_config", "key_fields", "quantization_missing",
        "quantization_extra", "generation_config", "do_sample", "tokenizer", "weights", "unknown",
    }  # fmt: skip
    for failure in FAILURES.values():
        assert set(failure) == {"message", "explanation_zh", "advice_zh", "explanation_en", "advice_en"}
        assert all(failure.values())
    assert FAILURES["weights"]["message"] == "Error loading weights in transformers."


# --- the folder reader ------------------------------------------------------------------


def test_it_lists_files_recursively_and_reads_ranges(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "config.json").write_bytes(b"0123456789")
    (tmp_path / "sub" / "a.txt").write_bytes(b"abc")
    reader = LocalFolderReader(tmp_path)

    assert reader.list_files() == {"config.json": 10, "sub/a.txt": 3}
    assert reader.read("config.json", 2, 3) == b"234"
    assert reader.read("config.json", 8) == b"89"
    assert reader.read("sub/a.txt") == b"abc"


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", "sub/../../outside.txt", "", "a\\b"])
def test_it_refuses_paths_that_escape_the_folder(tmp_path, path):
    (tmp_path / "outside.txt").write_text("secret")
    root = tmp_path / "model"
    (root / "sub").mkdir(parents=True)

    with pytest.raises(ReaderError):
        LocalFolderReader(root).read(path)


def test_it_hides_symlinks_that_point_outside_the_folder(tmp_path):
    (tmp_path / "outside.txt").write_text("secret")
    root = tmp_path / "model"
    root.mkdir()
    (root / "inside.txt").write_text("ok")
    (root / "link-out.txt").symlink_to(tmp_path / "outside.txt")
    (root / "link-in.txt").symlink_to(root / "inside.txt")
    (root / "dir-out").symlink_to(tmp_path)
    reader = LocalFolderReader(root)

    assert reader.list_files() == {"inside.txt": 2, "link-in.txt": 2}
    with pytest.raises(ReaderError):
        reader.read("link-out.txt")
    with pytest.raises(ReaderError):
        reader.read("dir-out/outside.txt")


# --- the package ------------------------------------------------------------------------


def test_it_imports_without_torch_transformers_or_django_in_its_own_modules():
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        top_level = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
        names = [alias.name for node in top_level for alias in node.names] + [
            node.module or "" for node in top_level if isinstance(node, ast.ImportFrom)
        ]
        assert not any(n.split(".")[0] in {"django", "torch", "transformers", "tokenizers", "sentencepiece"}
                       for n in names), path.name  # fmt: skip
        assert "django" not in path.read_text(), path.name
    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('wc', {init!r}, submodule_search_locations=[{pkg!r}])\n"
        "module = importlib.util.module_from_spec(spec); sys.modules['wc'] = module; spec.loader.exec_module(module)\n"
        "heavy = [m for m in ('torch', 'transformers', 'django', 'tokenizers', 'sentencepiece') if m in sys.modules]\n"
        "print(heavy)\n"
    ).format(init=str(PACKAGE / "__init__.py"), pkg=str(PACKAGE))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"


def test_it_keeps_the_layout_list_in_sync_with_the_templates():
    layouts = {json.loads((p / "template.json").read_text())["layout"] for p in corpus.TEMPLATES.iterdir()
               if (p / "template.json").exists()}  # fmt: skip

    assert layouts == {"transformers", "chatglm", "qwen", "baichuan"}
    assert Path(PACKAGE / "layouts.py").exists()
