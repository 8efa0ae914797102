"""Each catalog template's expected layout is stored ahead (setup_console, or first use), so a
worker's first check reads it instead of building the model on the meta device (issue 15 §7)."""

import json
import shutil

import pytest
import weightcheck_corpus as corpus
from weightcheck_corpus import run_check

from console.weightcheck import LocalFolderReader, check_folder, layouts, store_catalog_layouts


@pytest.fixture(scope="module")
def catalog_store(tmp_path_factory):
    store = tmp_path_factory.mktemp("catalog-layouts")
    return store, store_catalog_layouts(corpus.TEMPLATES, store)


def catalog_templates():
    return sorted(p.name for p in corpus.TEMPLATES.iterdir() if (p / "template.json").is_file())


def test_setup_stores_one_layout_per_catalog_template(catalog_store):
    store, results = catalog_store

    assert [r["template"] for r in results] == catalog_templates()
    assert not [r for r in results if "error" in r]
    assert {r["file"] for r in results} == {p.name for p in store.iterdir()}
    # DeepSeek-V3 and -R1 share a config: one file. Running it again builds nothing.
    assert len(list(store.iterdir())) == len(results) - 1
    assert {r["origin"] for r in store_catalog_layouts(corpus.TEMPLATES, store)} == {"disk"}


@pytest.mark.parametrize("slug", ["Llama-2-70b-hf", "DeepSeek-V3", "chatglm3-6b"])
def test_a_first_check_reads_the_stored_layout(build_folder, catalog_store, slug, monkeypatch):
    store, _ = catalog_store
    # Then a fresh worker: nothing in memory, and building a layout is a test failure.
    layouts.clear_memory_cache()
    monkeypatch.setattr(layouts, "_transformers_layout", _refuse)
    monkeypatch.setitem(layouts.CUSTOM_LAYOUTS, "chatglm", _refuse)
    folder = build_folder(slug)

    try:
        report = check_folder(LocalFolderReader(folder), corpus.template_dir(slug), layout_cache_dir=store)
    finally:
        layouts.clear_memory_cache()

    assert report.ok, report.details
    assert report.steps[-1]["layout_cache"] == "disk"


def _refuse(*args, **kwargs):
    raise AssertionError("the layout was built instead of read from the store")


def test_the_process_default_store_is_used_when_no_folder_is_passed(build_folder, tmp_path, monkeypatch):
    store = tmp_path / "default-store"
    monkeypatch.delenv("MODELARTS_WEIGHTCHECK_CACHE", raising=False)
    monkeypatch.setattr(layouts, "_default_cache_dir", None)
    layouts.set_cache_dir(store)
    layouts.clear_memory_cache()

    report = run_check(build_folder("Yi-6B"), "Yi-6B")  # first use stores it

    assert report.ok and report.steps[-1]["layout_cache"] == "built"
    assert len(list(store.glob("*.json"))) == 1
    layouts.clear_memory_cache()
    assert run_check(build_folder("Yi-6B", name="again"), "Yi-6B").steps[-1]["layout_cache"] == "disk"


def test_a_changed_template_config_or_transformers_version_names_another_file(tmp_path, monkeypatch):
    store = tmp_path / "layouts"
    template = tmp_path / "templates" / "Qwen2.5-7B"
    shutil.copytree(corpus.template_dir("Qwen2.5-7B"), template)

    first, origin = layouts.store_template_layout(template, store)
    assert origin == "built"
    assert layouts.store_template_layout(template, store) == (first, "disk")

    config = json.loads((template / "config.json").read_text())
    config["num_hidden_layers"] += 1
    (template / "config.json").write_text(json.dumps(config))
    second, origin = layouts.store_template_layout(template, store)
    assert origin == "built" and second != first

    monkeypatch.setattr(layouts, "_transformers_version", lambda: "99.0.0")
    third, origin = layouts.store_template_layout(template, store)
    assert origin == "built" and third not in (first, second) and third.endswith("-99.0.0.json")
    # A volatile key (transformers_version, torch_dtype...) changes nothing.
    config["transformers_version"] = "0.0.1"
    (template / "config.json").write_text(json.dumps(config))
    assert layouts.store_template_layout(template, store) == (third, "disk")


def test_a_damaged_stored_layout_is_rebuilt(tmp_path):
    store = tmp_path / "layouts"
    name, _ = layouts.store_template_layout(corpus.template_dir("Yi-6B"), store)
    (store / name).write_text("{not json")

    assert layouts.store_template_layout(corpus.template_dir("Yi-6B"), store) == (name, "built")
    assert json.loads((store / name).read_text())["required"]


def test_the_console_stores_layouts_under_var_dir_at_setup(settings, tmp_path, monkeypatch):
    from console.core.setup_steps import setup_steps
    from console.versions.apps import store_weight_check_layouts

    assert setup_steps().count(store_weight_check_layouts) == 1
    assert layouts._default_cache_dir == settings.VAR_DIR / "layouts"

    monkeypatch.delenv("MODELARTS_WEIGHTCHECK_CACHE", raising=False)
    monkeypatch.setattr(layouts, "_default_cache_dir", tmp_path / "layouts")
    settings.WEIGHTCHECK_WARM_UP = False
    store_weight_check_layouts()
    assert not (tmp_path / "layouts").exists()  # off in tests, like the worker's warm-up

    settings.WEIGHTCHECK_WARM_UP = True
    lines = []

    class Out:
        def write(self, text):
            lines.append(text)

    store_weight_check_layouts(stdout=Out())
    assert lines == [f"Weight-check layouts: {len(catalog_templates())} templates stored"]
    assert len(list((tmp_path / "layouts").glob("*.json"))) == len(catalog_templates()) - 1
