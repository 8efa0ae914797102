"""Fixtures shared by tests/mymodels and tests/versions (imported by both conftest files).

Every project gets what a new project gets in production: its default local
bucket and the all-users "modelarts_agency" authorization (storage app). Buckets
live under a per-test folder, never in the real var dir.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.mymodels.models import TEMPLATES_DIR, BaseModelSeries, BaseModelVersion

TINY_TEMPLATE = "_test/tiny-llama"


@pytest.fixture(autouse=True)
def _buckets_in_tmp(settings, tmp_path):
    settings.STORAGE_ROOT = tmp_path / "buckets"


@pytest.fixture(autouse=True)
def _weightcheck_layout_cache(tmp_path_factory, monkeypatch):
    # The check caches architecture layouts on disk; keep that out of $HOME.
    monkeypatch.setenv("MODELARTS_WEIGHTCHECK_CACHE", str(tmp_path_factory.getbasetemp() / "layout-cache"))


@pytest.fixture
def catalog(db):
    from console.mymodels.services import catalog_load

    catalog_load()


def base(slug: str) -> BaseModelVersion:
    return BaseModelVersion.objects.get(slug=slug)


@pytest.fixture
def qwen25_7b(catalog):
    return base("qwen2-5-7b")


@pytest.fixture
def qwen25_72b(catalog):
    """A catalog entry without a reference config: weight validation not supported."""
    return base("qwen2-5-72b")


@pytest.fixture
def tiny_base(catalog):
    """A test-only base-model version whose template is the tiny Llama of console/catalog_data/templates/_test."""
    series = BaseModelSeries.objects.get(slug="llama2")
    assert (TEMPLATES_DIR / TINY_TEMPLATE / "template.json").is_file()
    return BaseModelVersion.objects.create(
        series=series, slug="test-tiny-llama", name="Tiny-Llama (test)", template=TINY_TEMPLATE, position=99
    )


def apply_storage_defaults(project):
    from console.storage.models import Bucket
    from console.storage.services import project_storage_defaults_apply

    project_storage_defaults_apply(project=project)
    return Bucket.objects.filter(project=project).order_by("pk").first()


@pytest.fixture
def bucket(project):
    return apply_storage_defaults(project)


@pytest.fixture
def other_bucket(other_project):
    return apply_storage_defaults(other_project)


def make_folder(bucket, key: str, files: dict[str, bytes | str] | None = None) -> str:
    """A folder in a local bucket with some files; returns its obs:// URI."""
    root = Path(bucket.local_path()) / key
    root.mkdir(parents=True, exist_ok=True)
    for name, content in (files or {"config.json": "{}"}).items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        target.write_bytes(content)
    return f"obs://{bucket.name}/{key.strip('/')}/"


@pytest.fixture
def weights_folder(bucket):
    """A folder (contents irrelevant unless a check runs) in the project's bucket."""
    return make_folder(bucket, "models/qwen", {"config.json": json.dumps({"model_type": "qwen2"})})


@pytest.fixture
def make_model(project, member, weights_folder, qwen25_7b):
    """make_model(name=..., validate_weights=False, actor=member, ...) through the real service."""
    from console.versions.services import model_create

    default_project = project

    def make(name="my-model", *, actor=None, project=None, base_version=None, path=None, validate_weights=False, **kw):
        return model_create(
            actor=actor or member,
            project=project or default_project,
            name=name,
            base_version=base_version or qwen25_7b,
            weights_path=path or weights_folder,
            validate_weights=validate_weights,
            **kw,
        )

    return make


def add_versions(model, n, *, actor, path, base_version=None, validate_weights=False):
    from console.versions.services import version_create

    return [
        version_create(
            actor=actor,
            model=model,
            base_version=base_version or model.base_version,
            weights_path=path,
            validate_weights=validate_weights,
        )  # fmt: skip
        for _ in range(n)
    ]


# --- a tiny real model folder (real tensor bytes), for checks that must pass ----------------


def write_tiny_llama(folder: Path, *, generation_config: dict | None = None) -> Path:
    """A tiny Llama folder that transformers would load: the test template's config, a BPE
    tokenizer trained in code, and real (random) safetensors weights."""
    import torch
    from safetensors.torch import save_file

    from tests.weightcheck.weightcheck_corpus import llama_tensors, train_bpe_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    config = json.loads((TEMPLATES_DIR / TINY_TEMPLATE / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    train_bpe_tokenizer(folder)
    generator = torch.Generator().manual_seed(0)
    tensors = {
        name: torch.randn(shape, generator=generator).to(torch.bfloat16)
        for name, (_dtype, shape) in llama_tensors(config).items()
    }
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    if generation_config is not None:
        (folder / "generation_config.json").write_text(json.dumps(generation_config))
    return folder


@pytest.fixture
def tiny_folder(bucket):
    """obs:// URI of a tiny real model folder in the project's bucket that passes the check."""
    write_tiny_llama(Path(bucket.local_path()) / "models" / "tiny")
    return f"obs://{bucket.name}/models/tiny/"


@pytest.fixture
def broken_folder(bucket):
    """Same, but generation_config.json sets temperature with do_sample false (seed 表4)."""
    write_tiny_llama(
        Path(bucket.local_path()) / "models" / "broken",
        generation_config={"do_sample": False, "temperature": 0.7},
    )
    return f"obs://{bucket.name}/models/broken/"


__all__ = [
    "_buckets_in_tmp",
    "_weightcheck_layout_cache",
    "bucket",
    "broken_folder",
    "catalog",
    "make_model",
    "other_bucket",
    "qwen25_72b",
    "qwen25_7b",
    "tiny_base",
    "tiny_folder",
    "weights_folder",
]
