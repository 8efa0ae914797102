"""Fixtures for the weight-check tests: plain pytest, no database.

Every folder is generated here: sparse full-shape checkpoints of the catalog's
real configs, tokenizers trained in code, hostile files.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import weightcheck_corpus as corpus
from weightcheck_corpus import HOSTILE_PY, family_tensors


@pytest.fixture(scope="session", autouse=True)
def _layout_cache(tmp_path_factory):
    """Keep the layout disk cache of these tests out of the home folder."""
    previous = os.environ.get("MODELARTS_WEIGHTCHECK_CACHE")
    os.environ["MODELARTS_WEIGHTCHECK_CACHE"] = str(tmp_path_factory.mktemp("layout-cache"))
    yield
    if previous is None:
        os.environ.pop("MODELARTS_WEIGHTCHECK_CACHE", None)
    else:
        os.environ["MODELARTS_WEIGHTCHECK_CACHE"] = previous


@pytest.fixture(scope="session")
def bpe_tokenizer_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bpe")
    corpus.train_bpe_tokenizer(folder)
    return folder


@pytest.fixture(scope="session")
def sentencepiece_model() -> bytes:
    return corpus.train_sentencepiece()


@pytest.fixture
def build_folder(tmp_path, bpe_tokenizer_dir, sentencepiece_model):
    """build_folder(slug, name=..., shards=..., tensors=..., config_changes=...) -> a passing folder."""

    def build(slug: str, name: str | None = None, shards: int = 2, tensors: dict | None = None,
              **config_changes) -> Path:  # fmt: skip
        folder = tmp_path / (name or slug)
        folder.mkdir()
        cfg = corpus.copy_config(folder, slug, **config_changes)
        if tensors is None:
            tensors = family_tensors(slug, cfg)
        corpus.write_weights(folder, tensors, shards=shards)
        marker = tmp_path / f"{folder.name}-code-ran"
        if slug in ("chatglm3-6b", "Baichuan2-7B-Base", "Baichuan2-13B-Chat"):
            (folder / "tokenizer.model").write_bytes(sentencepiece_model)
        elif slug == "glm-4-9b-chat":
            (folder / "tokenizer.model").write_bytes(corpus.tiktoken_ranks())
        elif slug == "Qwen-7B":
            (folder / "qwen.tiktoken").write_bytes(corpus.tiktoken_ranks())
        elif slug == "Llama-2-7b-hf":
            # As published: a SentencePiece tokenizer.model and the slow tokenizer class.
            (folder / "tokenizer.model").write_bytes(sentencepiece_model)
            (folder / "tokenizer_config.json").write_text(
                json.dumps(
                    {"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
                )  # fmt: skip
            )
        else:
            for item in bpe_tokenizer_dir.iterdir():
                shutil.copy(item, folder / item.name)
        if cfg.get("auto_map"):
            # Published remote-code folders ship their modelling code: ours would
            # leave a marker file behind if anything imported it.
            for module in {ref.split(".")[0] for ref in cfg["auto_map"].values()}:
                (folder / f"{module}.py").write_text(HOSTILE_PY.format(marker=str(marker)))
        reference_generation = corpus.TEMPLATES / slug / "generation_config.json"
        if reference_generation.exists():
            shutil.copy(reference_generation, folder / "generation_config.json")
        return folder

    return build
