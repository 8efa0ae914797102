"""The Chinese console is Chinese: no empty translation in our catalog, and no English of ours on any page.

test_every_page_in_chinese renders every page the console serves (from Django's URL
resolver, with the fuzz test's fixture project: one object of each kind) for a user whose
language is 简体中文, and reads the text a reader sees (not scripts, code, attribute values
or what is marked translate="no" / class mono or code). A word in Latin letters there
must be a name, an id, a unit, a product name, the fixture's own data or one of the
ModelArts documentation's English messages (quoted in English on purpose).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from django.conf import settings
from django.utils import translation

from tests.api.conftest import _local_identity, token_body  # noqa: F401 — used by the fuzz fixtures
from tests.foundation.page_walk import enrich, render_every_page
from tests.foundation.test_fuzz_urls import world  # noqa: F401 — registered as a fixture here
from tests.mymodels.fixtures import catalog  # noqa: F401 — registered as a fixture here
from tests.training.conftest import (  # noqa: F401 — registered as fixtures here
    _fast_training,
    bucket_name,
    bucket_root,
    default_pool,
    examples_in_bucket,
    flavors,
    storage_project,
)

CATALOG = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
PAGES_BUDGET_SECONDS = 60

# --- the catalog ---------------------------------------------------------------------------------


def _unquote(line: str) -> str:
    body = line.strip()
    assert body.startswith('"') and body.endswith('"'), line
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(0)), body[1:-1])


def po_entries(path: Path) -> list[dict]:
    """The entries of a .po file: msgid, msgid_plural, msgstr (list), flags, line. A small parser
    (polib is not installed): enough for the files makemessages writes."""
    entries, entry, field = [], None, None

    def finish():
        if entry is not None and "msgid" in entry:
            entries.append(entry)

    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            finish()
            entry, field = None, None
            continue
        if entry is None:
            entry = {"flags": set(), "msgstr": {}, "line": number, "obsolete": False}
        if line.startswith("#~"):
            entry["obsolete"] = True
            continue
        if line.startswith("#,"):
            entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
            continue
        if line.startswith("#"):
            continue
        match = re.match(r"(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(\".*\")$", line)
        if match:
            keyword, index, text = match.groups()
            if keyword.startswith("msgstr"):
                field = ("msgstr", int(index or 0))
                entry["msgstr"][field[1]] = _unquote(text)
            else:
                field = (keyword, None)
                entry[keyword] = _unquote(text)
        elif line.startswith('"') and field is not None:
            if field[0] == "msgstr":
                entry["msgstr"][field[1]] += _unquote(line)
            else:
                entry[field[0]] += _unquote(line)
    finish()
    return entries


def test_the_parser_reads_a_catalog(tmp_path):
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        '#: a.py:1\nmsgid "Done"\nmsgstr "完成"\n\n'
        '#, fuzzy, python-format\nmsgid "Hi %(name)s"\nmsgstr "你好"\n\n'
        'msgid ""\n"Long "\n"text"\nmsgstr ""\n\n'
        'msgid "one file"\nmsgid_plural "%(n)s files"\nmsgstr[0] "%(n)s个文件"\n\n'
        '#~ msgid "Old"\n#~ msgstr ""\n',
        encoding="utf-8",
    )
    entries = po_entries(po)
    assert [(e["msgid"], e["msgstr"]) for e in entries if not e["obsolete"]] == [
        ("", {0: "Content-Type: text/plain; charset=UTF-8\n"}),
        ("Done", {0: "完成"}),
        ("Hi %(name)s", {0: "你好"}),
        ("Long text", {0: ""}),
        ("one file", {0: "%(n)s个文件"}),
    ]
    assert untranslated(entries) == ["Hi %(name)s (fuzzy)", "Long text"]


def untranslated(entries: list[dict]) -> list[str]:
    found = []
    for entry in entries:
        if entry["obsolete"] or entry["msgid"] == "":
            continue
        if "fuzzy" in entry["flags"]:
            found.append(f"{entry['msgid']} (fuzzy)")
        elif not all(text.strip() for text in entry["msgstr"].values()):
            found.append(entry["msgid"])
    return found


def test_no_empty_msgstr_in_the_catalog():
    missing = untranslated(po_entries(CATALOG))
    assert not missing, f"{len(missing)} messages have no Chinese translation in {CATALOG}:\n" + "\n".join(
        missing[:200]
    )


def test_every_stored_message_is_in_the_catalog():
    """The messages stored as text and translated at display (core/stored_text.py) are catalog entries."""
    from console.core.stored_text import _entries

    ids = {entry["msgid"] for entry in po_entries(CATALOG)}
    missing = [entry.msgid for entry in _entries() if entry.translated and entry.msgid not in ids]
    assert not missing, missing


def test_a_stored_message_is_shown_in_the_readers_language():
    from console.core.stored_text import localize

    stored = "Failed: worker-0 on node node-a: The runner stopped reporting: no heartbeat for 30 seconds."
    with translation.override("zh-hans"):
        shown = localize(stored)
    assert "worker-0" in shown and "node-a" in shown and "30" in shown
    assert not re.search(r"\b(Failed|runner|stopped|heartbeat|seconds)\b", shown), shown
    with translation.override("en"):
        assert localize(shown) == stored  # stored in Chinese (a request in 中文) reads back in English
        assert localize("an error of the user's own: Failed") == "an error of the user's own: Failed"


# --- every page in Chinese -----------------------------------------------------------------------

# Names, ids, units and product names that stay as they are in Chinese text.
ALLOWED_WORDS = {
    # product and technology names
    "ModelArts", "OBS", "IAM", "JupyterLab", "Jupyter", "PyTorch", "TensorFlow", "MindSpore", "Llama", "Qwen",
    "GLM", "ChatGLM", "Baichuan", "DeepSeek", "Yi", "Coder", "Chat", "HF", "VL", "Base", "Instruct", "Hugging",
    "Face", "transformers", "safetensors", "tiktoken", "SentencePiece", "Python", "CPU", "GPU", "NPU", "vCPU",
    "Ascend", "Celery", "Redis", "PostgreSQL", "SQLite", "Django", "API", "REST", "JSON", "HTML", "CSV", "URL",
    "HTTP", "HTTPS", "SSH", "AK", "SK", "ID", "IDs", "UUID", "UTC", "HTMX", "GitHub", "Linux", "Docker", "pip",
    "awq", "AWQ", "fp8", "FP8", "bf16", "BF16", "fp16", "int8", "int4", "torch", "torchrun", "MoE", "SIGTERM",
    "SIGKILL", "stdout", "stderr", "PID", "LLM", "NLP", "CV", "QPS", "TCP", "DNS", "OS",
    # Ray cluster pools: Ray, its Dashboard and Jobs API as Ray names them; HTTP header names and schemes
    "Ray", "Dashboard", "Jobs", "Authorization", "Bearer",
    # units
    "GB", "MB", "KB", "GiB", "MiB", "KiB", "TB", "B", "ms", "s", "h", "min", "vCPUs",
    # catalog and API vocabulary quoted as is (field names, file names)
    "config", "json", "generation_config", "do_sample", "temperature", "top_p", "top_k", "quantization_config",
    "model_type", "auto_map", "data_url", "train_url", "obs", "py", "txt", "pt", "bin", "model", "tokenizer",
    "modelarts_agency", "op_svc_modelarts_agency", "modelarts", "obs_url", "pytorch_model", "Token",
    # the word typed to confirm a deletion (输入DELETE以确认), Celery's scheduler, the web server
    "DELETE", "Beat", "Web", "DeepseekCoder", "beat", "worker", "serve", "Notebook", "scope", "CNY",
    # the ModelArts API's hyperparameter types and CPU architectures, shown as the API names them
    "Integer", "Float", "String", "Boolean", "arm", "x86", "loss", "accuracy",
    # model families' own names and class names in config.json (修改权重配置 steps)
    "QWenLMHeadModel", "BaichuanForCausalLM", "LlamaForCausalLM", "GlmForCausalLM", "ChatGLMModel", "THUDM", "Meta",
    "chatglm", "glm", "qwen", "baichuan", "llama", "hf", "inc",
}  # fmt: skip

# The ModelArts documentation's own English messages: shown in English by requirement.
ALLOWED_SENTENCES = [
    "Unknown error, please contact the operation and maintenance personnel or check the log to locate the specific problem.",
    "Backend model template selection error (metadata error).",
    "Failed to read standard config.json in the background.",
    "Failed to read generation_config.json.",
    "The value of do_sample is not set to true in generation_config.json",
    "Failed to read user config.json.",
    "The quantization_config field is missing in config.json, please check whether it is awq quantization weight.",
    "There is an extra quantization_config field in config.json. Please check whether it is a non-quantized weight.",
    "Key fields describing the model structure are missing from config.json, or their values are inconsistent with standard open source.",
    "Error loading tokenizer in transformers.",
    "Error loading weights in transformers.",
]  # fmt: skip

WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")


def fixture_words(world) -> set[str]:
    """The fixture's own data (names of users, projects, jobs, files …): user data, not ours to translate."""
    from console.accounts.models import Organization, Project
    from console.nodepools.models import Node, Pool
    from console.training.models import Engine, Flavor

    texts = [str(value) for value in world["values"].values()]
    texts += [world["member"].username, world["admin"].username]
    texts += list(Organization.objects.values_list("name", flat=True))
    texts += list(Project.objects.values_list("name", flat=True))
    texts += list(Pool.objects.values_list("name", flat=True))
    for row in Node.objects.values_list("name", "hostname"):
        texts += [str(value) for value in row]
    for row in Engine.objects.values_list("engine_id", "engine_name", "engine_version", "framework_version"):
        texts += [str(value) for value in row]
    for row in Flavor.objects.values_list("flavor_id", "flavor_name", "gpu_type", "billing_code"):
        texts += [str(value) for value in row]
    texts += ["fuzz-model", "fuzz-job", "fuzz-algo", "worker-0", "epoch", "weights", "outputs", "fuzz", "code",
              "tiny", "train", "data", "log", "epochs"]  # fmt: skip
    from console.mymodels.models import BaseModelVersion

    for row in BaseModelVersion.objects.values_list("name", "published_as", "slug", "template"):
        texts += [str(value) for value in row]
    words = set()
    for text in texts:
        words |= set(WORD.findall(text))
    return words


def english_in(text: str, allowed: set[str]) -> list[str]:
    for sentence in ALLOWED_SENTENCES:
        text = text.replace(sentence, " ")
    # Paths, URLs, file names and identifiers with digits or separators are data.
    text = re.sub(r"\S*[/\\@_.:=]\S*|\S*\d\S*", " ", text)
    return [word for word in WORD.findall(text) if word not in allowed and word.lower() not in allowed]


def test_every_page_in_chinese(world, settings):
    started = time.monotonic()
    enrich(world)
    allowed = ALLOWED_WORDS | fixture_words(world)
    pages, skipped = render_every_page(world, language="zh-hans")
    assert len(pages) >= 40, f"only {len(pages)} pages rendered: {skipped}"
    problems = []
    for page in pages:
        if "<html" in page.html:  # a partial (HTMX swap) has no <html>
            assert 'lang="zh-hans"' in page.html, page.url
        for text in page.texts:  # text nodes; attribute values are not read (page.attributes)
            words = english_in(text, allowed)
            if words:
                problems.append(f"{page.url}: {text[:160]!r} ({' '.join(words[:8])})")
        for heading in re.findall(r"<h[1-3][^>]*>(.*?)</h[1-3]>", page.html, re.S):
            plain = " ".join(re.sub(r"<[^>]+>", " ", heading).split())
            half = plain.split(" ")
            if len(half) >= 2 and len(half) % 2 == 0 and half[: len(half) // 2] == half[len(half) // 2 :]:
                problems.append(f"{page.url}: doubled heading {plain!r}")
    elapsed = time.monotonic() - started
    print(f"\nrendered {len(pages)} pages in Chinese in {elapsed:.1f} s; not HTML 200: {len(skipped)}")
    unique = sorted(set(problems))
    assert not unique, f"{len(unique)} English texts on Chinese pages:\n" + "\n".join(unique[:400])
    assert elapsed < PAGES_BUDGET_SECONDS
