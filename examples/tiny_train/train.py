"""A tiny real training script: a small PyTorch MLP on generated data.

It logs its loss every epoch and writes a checkpoint (model.pt) and a summary
(metrics.json) to --train_url. The console charts loss and accuracy, logged both ways it
reads: a line ``MA_METRIC {"step": …, "loss": …, "accuracy": …}`` (no dependency), and a
TensorBoard event file (train/loss, train/accuracy) under $MA_TENSORBOARD_DIR when
torch.utils.tensorboard can be imported. Parameters: --epochs, --lr, --hidden,
--epoch_seconds (sleep per epoch, to watch a job run), --fail_at_epoch (exit
with code 3 at that epoch, to see a failed job), --message (printed as given).
"""

import argparse
import json
import os
import sys
import time

import torch


def summary_writer(train_url: str):
    """A TensorBoard writer when tensorboard is installed, else None (the MA_METRIC lines still chart)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    log_dir = os.environ.get("MA_TENSORBOARD_DIR") or os.path.join(train_url or ".", "tensorboard")
    return SummaryWriter(log_dir=log_dir, flush_secs=1)  # the default flushes every 120 s


def log_metrics(writer, step: int, **values: float) -> None:
    print("MA_METRIC " + json.dumps({"step": step, **values}), flush=True)
    if writer is not None:
        for name, value in values.items():
            writer.add_scalar(f"train/{name}", value, step)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--epoch_seconds", type=float, default=0.0)
    parser.add_argument("--fail_at_epoch", type=int, default=0)
    parser.add_argument("--message", default="")
    parser.add_argument("--data_url", default="")
    parser.add_argument("--train_url", default="")
    args = parser.parse_args()

    if args.message:
        print(f"message: {args.message}", flush=True)
    torch.manual_seed(0)
    # Two-moons-like data, generated: no download needed.
    n = 1024
    angle = torch.rand(n) * 3.14159
    label = (torch.rand(n) > 0.5).float()
    x = torch.stack([torch.cos(angle) + label, torch.sin(angle) * (1 - 2 * label) + 0.5 * label], dim=1)
    x += 0.1 * torch.randn_like(x)
    model = torch.nn.Sequential(torch.nn.Linear(2, args.hidden), torch.nn.ReLU(), torch.nn.Linear(args.hidden, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    writer = summary_writer(args.train_url)
    for epoch in range(1, args.epochs + 1):
        for _ in range(20):
            optimizer.zero_grad()
            loss = loss_fn(model(x).squeeze(1), label)
            loss.backward()
            optimizer.step()
        accuracy = ((model(x).squeeze(1) > 0).float() == label).float().mean().item()
        print(f"epoch {epoch}/{args.epochs} loss {loss.item():.4f} accuracy {accuracy:.3f}", flush=True)
        log_metrics(writer, epoch, loss=loss.item(), accuracy=accuracy)
        if args.fail_at_epoch and epoch == args.fail_at_epoch:
            print(f"failing on purpose at epoch {epoch}", file=sys.stderr, flush=True)
            sys.exit(3)
        if args.epoch_seconds:
            time.sleep(args.epoch_seconds)

    if writer is not None:
        writer.close()
    if args.train_url:
        os.makedirs(args.train_url, exist_ok=True)
        torch.save(model.state_dict(), os.path.join(args.train_url, "model.pt"))
        with open(os.path.join(args.train_url, "metrics.json"), "w") as handle:
            json.dump({"epochs": args.epochs, "loss": loss.item(), "accuracy": accuracy}, handle)
        print(f"checkpoint written to {args.train_url}/model.pt", flush=True)


if __name__ == "__main__":
    main()
