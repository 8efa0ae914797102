"""Benchmark of the serving engine (issue 14). Not part of CI. See bench/SERVING.md.

    .venv/bin/python -m bench.serving [--tokens 128] [--runs 5] [--layers 8] [--hidden 768] [--threads N]

A Llama of the tiny model's family, big enough that a token costs ≥ 10 ms here (8 layers, hidden
768 by default, random weights, the examples' BPE tokenizer), is saved once into a temporary
folder. Then, alternating run by run so a noisy neighbour hurts both sides alike:

- **engine**: ``python -m console.services.engine`` on a unix socket, one streamed completion of
  exactly ``--tokens`` tokens (greedy, ``ignore_eos``) read over the socket; tokens/s = tokens /
  (request sent → ``[DONE]``), plus the time to the first token and the gaps between tokens;
- **in-process**: ``model.generate()`` on the same folder, loaded the same way, same tokens,
  same threads; tokens/s = tokens / the call's wall time.

``stream_tokens(base_url_or_socket, prompt, n)`` is the reusable part: the per-token arrival
times of one streamed completion, through a socket or any base URL (the front door's
``http://host/v1/infers/<service_id>`` with an ``Authorization`` header).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "The quick brown fox jumps over the lazy dog. ModelArts trains models on nodes of a pool"


@dataclass
class TokenStream:
    """One streamed completion: when each piece of text arrived (seconds after the request was sent)."""

    times: list[float] = field(default_factory=list)
    text: str = ""
    completion_tokens: int = 0
    done: float = 0.0  # when ``data: [DONE]`` arrived

    @property
    def first_token(self) -> float:
        return self.times[0] if self.times else float("nan")

    @property
    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.times, self.times[1:])]


def _client(base_url_or_socket: str, timeout: float) -> tuple[httpx.Client, str]:
    if base_url_or_socket.startswith(("http://", "https://")):
        return httpx.Client(timeout=timeout), base_url_or_socket.rstrip("/")
    transport = httpx.HTTPTransport(uds=base_url_or_socket)
    return httpx.Client(transport=transport, timeout=timeout), "http://engine"


def stream(
    base_url_or_socket: str,
    prompt: str,
    n: int,
    *,
    headers: dict[str, str] | None = None,
    model: str | None = None,
    timeout: float = 300.0,
    client: httpx.Client | None = None,
) -> TokenStream:
    """One streamed ``/v1/completions`` of exactly ``n`` tokens (greedy, ``ignore_eos``)."""
    own, base = _client(base_url_or_socket, timeout)
    body = {
        "prompt": prompt,
        "max_tokens": n,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "ignore_eos": True,
    }
    if model:
        body["model"] = model
    result = TokenStream()
    http = client or own
    try:
        started = time.perf_counter()
        with http.stream("POST", base + "/v1/completions", json=body, headers=headers or {}) as response:
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code}: {response.read().decode(errors='replace')}")
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                payload = line[len("data: ") :]
                if payload == "[DONE]":
                    result.done = time.perf_counter() - started
                    break
                event = json.loads(payload)
                if "error" in event:
                    raise RuntimeError(event["error"]["message"])
                if event.get("usage"):
                    result.completion_tokens = event["usage"]["completion_tokens"]
                for choice in event.get("choices", []):
                    if choice.get("text"):
                        result.times.append(time.perf_counter() - started)
                        result.text += choice["text"]
    finally:
        own.close()
    return result


def stream_tokens(base_url_or_socket: str, prompt: str, n: int, **options) -> list[float]:
    """Per-token arrival times (seconds after the request was sent) of one streamed completion."""
    return stream(base_url_or_socket, prompt, n, **options).times


# ---- the benchmark --------------------------------------------------------------------------


def build(folder: Path, layers: int, hidden: int) -> Path:
    from tests.services.conftest import build_tiny_model

    heads = max(1, hidden // 64)
    return build_tiny_model(
        folder,
        config_overrides=dict(
            hidden_size=hidden,
            intermediate_size=hidden * 11 // 4,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=max(1, heads // 2),
            head_dim=64 if hidden >= 64 else hidden,
        ),
    )


def start(model_dir: Path, socket: Path, threads: int, cap: int, log: Path) -> tuple[subprocess.Popen, float]:
    from console.services.engine import command

    argv = command(model_dir=str(model_dir), name="bench", socket=str(socket), max_new_tokens_cap=cap)
    argv += ["--threads", str(threads)]
    started = time.perf_counter()
    with open(log, "ab") as out:
        process = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the engine exited ({process.returncode}); see {log}")
        if socket.exists():
            try:
                with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket))) as client:
                    if client.get("http://engine/health").json()["ready"]:
                        return process, time.perf_counter() - started
            except httpx.TransportError:
                pass
        time.sleep(0.05)


def in_process(model_dir: Path, threads: int):
    import torch

    from console.services.engine.generation import load

    tokenizer, model = load(model_dir, threads=threads)
    ids = torch.tensor([tokenizer(PROMPT)["input_ids"]])

    def generate(n: int) -> float:
        started = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=n,
                min_new_tokens=n,
                do_sample=False,
                pad_token_id=tokenizer.eos_token_id,
            )
        elapsed = time.perf_counter() - started
        assert out.shape[1] - ids.shape[1] == n
        return elapsed

    return generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        tmp = Path(tmp)
        model_dir = build(tmp / "model", args.layers, args.hidden)
        size = sum(p.stat().st_size for p in model_dir.glob("*.safetensors")) / 1e6
        print(
            f"model: {args.layers} layers, hidden {args.hidden}, {size:.0f} MB safetensors (bf16); {args.threads} threads"
        )
        process, ready = start(model_dir, tmp / "engine.sock", args.threads, args.tokens, tmp / "engine.log")
        print(f"engine: started → ready (one real token generated) in {ready:.2f} s")
        try:
            generate = in_process(model_dir, args.threads)
            generate(8)  # warm both sides before measuring
            stream(str(tmp / "engine.sock"), PROMPT, 8)
            engine_rates, local_rates, first, gaps = [], [], [], []
            for run in range(args.runs):
                result = stream(str(tmp / "engine.sock"), PROMPT, args.tokens)
                assert result.completion_tokens == args.tokens, result.completion_tokens
                engine_rates.append(args.tokens / result.done)
                first.append(result.first_token)
                gaps.extend(result.gaps)
                local_rates.append(args.tokens / generate(args.tokens))
                print(
                    f"  run {run + 1}: engine {engine_rates[-1]:.1f} tok/s, in-process {local_rates[-1]:.1f} tok/s"
                    f" ({len(result.times)} chunks)"
                )
        finally:
            process.terminate()
            process.wait(timeout=60)

    engine, local = statistics.median(engine_rates), statistics.median(local_rates)
    print()
    print(f"per token in-process: {1000 / max(local_rates):.1f} ms at best (target ≥ 10 ms)")
    print(f"tokens/s engine over its socket: median {engine:.1f}, best {max(engine_rates):.1f} (of {args.runs})")
    print(f"tokens/s model.generate() in-process: median {local:.1f}, best {max(local_rates):.1f}")
    print(
        f"engine / in-process: medians {100 * engine / local:.1f} %, bests {100 * max(engine_rates) / max(local_rates):.1f} %"
        " (target ≥ 85 %)"
    )
    pairs = [e / loc for e, loc in zip(engine_rates, local_rates)]
    print(
        f"engine / in-process, run by run (adjacent runs see the same neighbours): median {100 * statistics.median(pairs):.1f} %"
    )
    print(f"time to first token (engine, includes prefill): median {1000 * statistics.median(first):.1f} ms")
    ordered = sorted(gaps)
    print(
        f"gap between streamed tokens: p50 {1000 * ordered[len(ordered) // 2]:.1f} ms,"
        f" p95 {1000 * ordered[int(0.95 * (len(ordered) - 1))]:.1f} ms"
    )


if __name__ == "__main__":
    sys.exit(main())
