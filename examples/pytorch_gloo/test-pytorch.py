"""The seed's example: "test pytorch job in cpu in mode gloo" (parameters dist and world_size).

Run as a ModelArts Console algorithm (code_dir = this folder, boot_file = test-pytorch.py,
engine PyTorch, input data_url, output train_url, parameters dist=False, world_size=1).
With node_count N > 1 and dist=True, world_size=N: every task joins one torch.distributed
process group over gloo (the console sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
MASTER_PORT), the ranks average their gradients with all_reduce, and rank 0 writes the
checkpoint to --train_url.
"""

import argparse
import json
import os
import time

import torch
import torch.distributed as dist


def str2bool(text: str) -> bool:
    return str(text).strip().lower() in ("true", "1", "yes")


def summary_writer():
    """A TensorBoard writer under $MA_TENSORBOARD_DIR when tensorboard is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=os.environ.get("MA_TENSORBOARD_DIR") or "runs", flush_secs=1)


def main() -> None:
    parser = argparse.ArgumentParser(description="test pytorch job in cpu in mode gloo")
    parser.add_argument("--dist", default="False", help="use torch.distributed (gloo)")
    parser.add_argument("--world_size", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--data_url", default="", help="local folder with the input data")
    parser.add_argument("--train_url", default="", help="local folder for the outputs")
    args, unknown = parser.parse_known_args()
    if unknown:
        print(f"ignoring unknown arguments: {unknown}")

    distributed = str2bool(args.dist)
    rank = int(os.environ.get("RANK", "0"))
    world_size = args.world_size if distributed else 1
    if distributed:
        print(
            f"rank {rank}: joining gloo group of {world_size} at "
            f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}",
            flush=True,
        )
        dist.init_process_group(backend="gloo", init_method="env://", rank=rank, world_size=world_size)
        probe = torch.tensor([float(rank + 1)])
        dist.all_reduce(probe, op=dist.ReduceOp.SUM)
        print(
            f"rank {rank}: all_reduce of ranks+1 = {probe.item():.0f} (expected {world_size * (world_size + 1) // 2})",
            flush=True,
        )

    # A small regression y = 3x - 1 + noise; each rank sees its own shard of the data.
    torch.manual_seed(1234 + rank)
    x = torch.randn(512, 1)
    y = 3 * x - 1 + 0.05 * torch.randn(512, 1)
    files = sorted(os.listdir(args.data_url)) if args.data_url and os.path.isdir(args.data_url) else []
    print(f"rank {rank}: data_url {args.data_url} holds {len(files)} file(s)", flush=True)

    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    writer = summary_writer()
    for epoch in range(1, args.epochs + 1):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        if distributed:
            for parameter in model.parameters():
                dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)
                parameter.grad /= world_size
        optimizer.step()
        print(f"rank {rank}: epoch {epoch} loss {loss.item():.4f}", flush=True)
        # Both ways the console charts a metric: a MA_METRIC line, and TensorBoard when installed.
        with torch.no_grad():
            accuracy = ((model(x) - y).abs() < 0.1).float().mean().item()  # share of points within 0.1
        print("MA_METRIC " + json.dumps({"step": epoch, "loss": loss.item(), "accuracy": accuracy}), flush=True)
        if writer is not None:
            writer.add_scalar("train/loss", loss.item(), epoch)
            writer.add_scalar("train/accuracy", accuracy, epoch)
        time.sleep(0.1)
    if writer is not None:
        writer.close()

    if rank == 0 and args.train_url:
        os.makedirs(args.train_url, exist_ok=True)
        torch.save(model.state_dict(), os.path.join(args.train_url, "model.pt"))
        with open(os.path.join(args.train_url, "result.json"), "w") as handle:
            json.dump({"world_size": world_size, "weight": model.weight.item(), "bias": model.bias.item()}, handle)
        print(f"rank {rank}: checkpoint written to {args.train_url}", flush=True)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    print(f"rank {rank}: done", flush=True)


if __name__ == "__main__":
    main()
