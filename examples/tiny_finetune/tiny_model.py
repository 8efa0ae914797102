"""A tiny Llama (2 layers, hidden 64) and its BPE tokenizer, built in seconds on a CPU.

Console-free (torch, transformers and tokenizers only), so the fine-tuning example, the tests
and the inference-services work build the same model:

    from tiny_model import build_tokenizer, tiny_config, build_model, reference_config
    tokenizer = build_tokenizer()                 # a PreTrainedTokenizerFast trained on SAMPLE_TEXT
    model = build_model(seed=0)                   # LlamaForCausalLM with tiny_config()
    model.save_pretrained(folder)                 # config.json + model.safetensors
    tokenizer.save_pretrained(folder)

``reference_config()`` is the config.json a site administrator adds to the base-model catalog
("Tiny-Llama"), so the weight check compares a checkpoint of this model against it:

    python tiny_model.py --reference-config <folder>      # writes <folder>/config.json
    python tiny_model.py --checkpoint <folder>            # a whole random checkpoint (base weights)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

VOCAB_SIZE = 320  # the tokenizer's size is at most this (BPE trained to ≤ 300 tokens)
EOS = "<|endoftext|>"
SAMPLE_TEXT = [
    "The quick brown fox jumps over the lazy dog.",
    "ModelArts trains models on nodes of a pool and keeps every checkpoint in a bucket.",
    "A tiny model learns quickly: two layers, sixty-four hidden units, a few hundred tokens.",
    "Loss goes down, accuracy goes up, and the curves show it live on the job page.",
    "Fine-tuning starts from a base model and writes a new checkpoint with save_pretrained.",
    "The weight check compares config.json with the reference config of the base model.",
    "Safetensors files hold the tensors; the tokenizer files describe the vocabulary.",
    "Register the output folder as a model version and watch the check turn it 创建成功.",
    "一个模型最多支持创建10个版本。训练作业的输出可以注册为模型版本。",
    "Numbers like 3.14, 42 and 2026 appear too, with punctuation: commas, colons; dashes - and quotes.",
]


def tiny_config(vocab_size: int = VOCAB_SIZE):
    """The model's LlamaConfig (bfloat16 weights, as published base models are)."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=512,
        rms_norm_eps=1e-6,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
        dtype="bfloat16",
    )


def reference_config() -> dict:
    """config.json of the base model, as the catalog's reference config."""
    config = tiny_config().to_dict()
    config["architectures"] = ["LlamaForCausalLM"]
    return config


def build_tokenizer(texts: list[str] | None = None, vocab_size: int = 300):
    """A byte-level BPE tokenizer trained on ``texts`` (SAMPLE_TEXT by default), as PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=min(vocab_size, VOCAB_SIZE),
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(texts or SAMPLE_TEXT, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS, pad_token=EOS)


def build_model(seed: int = 0):
    """A randomly initialised LlamaForCausalLM of tiny_config() (float32 for training)."""
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    config = tiny_config()
    model = LlamaForCausalLM(config)
    return model.to(torch.float32)


def save_checkpoint(model, tokenizer, folder: Path | str) -> Path:
    """save_pretrained in bfloat16 safetensors (the reference config's dtype), with the tokenizer."""
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference-config", metavar="FOLDER", help="write the reference config.json here")
    parser.add_argument("--checkpoint", metavar="FOLDER", help="write a random base checkpoint here")
    args = parser.parse_args()
    if args.reference_config:
        folder = Path(args.reference_config)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps(reference_config(), indent=2) + "\n")
        print(folder / "config.json")
    if args.checkpoint:
        print(save_checkpoint(build_model(), build_tokenizer(), args.checkpoint))


if __name__ == "__main__":
    main()
