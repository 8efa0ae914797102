"""Fixtures of the services tests: a tiny real causal LM in a folder, and a running engine on a unix socket."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A minimal ChatML-like template: the tiny tokenizer has none, and the chat endpoint needs one.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_tiny_model(folder: Path, *, config_overrides: dict | None = None, seed: int = 0) -> Path:
    """examples/tiny_finetune's tiny Llama (random weights, real BPE tokenizer) with a chat template,
    saved with save_pretrained in safetensors. ``config_overrides`` make bigger models (the benchmark)."""
    import torch
    from transformers import LlamaForCausalLM

    from examples.tiny_finetune.tiny_model import build_model, build_tokenizer, save_checkpoint, tiny_config

    tokenizer = build_tokenizer()
    tokenizer.chat_template = CHAT_TEMPLATE
    if config_overrides:
        torch.manual_seed(seed)
        config = tiny_config()
        for name, value in config_overrides.items():
            setattr(config, name, value)
        model = LlamaForCausalLM(config).to(torch.float32)
    else:
        model = build_model(seed=seed)
    return save_checkpoint(model, tokenizer, folder)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A folder with config.json, model.safetensors and the tokenizer (with a chat template) of the tiny Llama."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model") / "model")


def wait_for_socket(path: Path, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise RuntimeError(f"the engine exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no socket at {path} after {timeout} s")
        time.sleep(0.05)


def start_engine(model_dir: Path, socket: Path, *, log: Path, wait: bool = True, **options) -> subprocess.Popen:
    from console.services.engine import command

    argv = command(model_dir=str(model_dir), name=options.pop("name", "tiny-llama"), socket=str(socket), **options)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(log, "ab") as out:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    if wait:
        wait_for_socket(socket, process)
    return process


def stop_engine(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
