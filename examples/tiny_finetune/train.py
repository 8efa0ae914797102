"""Fine-tune a tiny Llama and write a real transformers checkpoint (save_pretrained, safetensors).

The checkpoint is a model folder the console can register as a model version of a model whose
base is the catalog's Tiny-Llama (its reference config is tiny_model.reference_config()): the
weight check passes and the version ends 创建成功.

Inputs and outputs (the console passes them as --name=<local folder>):
  --data_url   optional: *.txt files to train on (else the built-in sample text); a folder
               holding config.json is taken as the base checkpoint to start from
  --train_url  where the checkpoint is written (the job's output, uploaded to storage)
Parameters: --steps (default 30), --lr (default 0.003), --seq_len (default 32), --seed.

Logs loss and accuracy (next-token) per step both ways: a ``MA_METRIC {json}`` line on stdout
and, when tensorboard is installed, an event file under <train_url>/tb (flush_secs=1).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tiny_model.py sits beside this file

from tiny_model import SAMPLE_TEXT, build_model, build_tokenizer, save_checkpoint  # noqa: E402


def load_texts(data_dir: str) -> list[str]:
    folder = Path(data_dir) if data_dir else None
    texts = []
    if folder and folder.is_dir():
        for path in sorted(folder.rglob("*.txt")):
            texts += [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return texts or list(SAMPLE_TEXT)


def start_from(data_dir: str):
    """The base checkpoint in --data_url when there is one, else a fresh tiny model and tokenizer."""
    folder = Path(data_dir) if data_dir else None
    if folder and (folder / "config.json").is_file():
        from transformers import AutoTokenizer, LlamaForCausalLM

        print(f"fine-tuning the checkpoint in {folder}", flush=True)
        return LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32), AutoTokenizer.from_pretrained(folder)
    return build_model(), build_tokenizer()


def tensorboard_writer(train_url: str):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional: the MA_METRIC lines carry the same values
        return None
    return SummaryWriter(str(Path(train_url) / "tb"), flush_secs=1) if train_url else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--seq_len", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data_url", default="")
    parser.add_argument("--train_url", default="")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    model, tokenizer = start_from(args.data_url)
    ids = tokenizer(" ".join(load_texts(args.data_url)), return_tensors="pt").input_ids[0]
    n = max(1, (len(ids) - 1) // args.seq_len)
    batch = ids[: n * args.seq_len + 1]
    inputs = batch[:-1].view(n, args.seq_len)
    labels = batch[1:].view(n, args.seq_len)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    writer = tensorboard_writer(args.train_url)
    model.train()
    for step in range(1, args.steps + 1):
        logits = model(input_ids=inputs).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        accuracy = (logits.argmax(-1) == labels).float().mean().item()
        print(
            "MA_METRIC " + json.dumps({"step": step, "loss": round(loss.item(), 5), "accuracy": round(accuracy, 5)}),
            flush=True,
        )
        if writer is not None:
            writer.add_scalar("loss", loss.item(), step)
            writer.add_scalar("accuracy", accuracy, step)
    if writer is not None:
        writer.close()
    if args.train_url:
        folder = save_checkpoint(model, tokenizer, args.train_url)
        print(f"checkpoint written to {folder}: {sorted(p.name for p in folder.iterdir())}", flush=True)


if __name__ == "__main__":
    main()
