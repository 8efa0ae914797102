"""The model and one generation: transformers' ``generate`` in a thread, fed to asyncio by its streamer."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# The instance never reaches the network: the weights are a local folder.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

import torch  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    AutoTokenizer,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def pinned_cores() -> int:
    """The cores this process may run on (the flavor's, as the node's runner pinned it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def load(model_dir: str | Path, *, dtype: str = "float32", threads: int | None = None):
    """Tokenizer and model from a local folder: never remote code, safetensors only, CPU.

    float32 by default: CPUs without bfloat16 matrix units run a bfloat16 checkpoint several
    times slower than the same weights widened once at load.
    """
    torch.set_num_threads(threads or pinned_cores())
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=False, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        str(model_dir),
        trust_remote_code=False,
        use_safetensors=True,
        local_files_only=True,
        dtype=DTYPES[dtype],
    )
    model.eval()
    return tokenizer, model


def context_length(model) -> int:
    config = model.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


class _Cancel(StoppingCriteria):
    """Stops ``generate`` between two tokens when the request is abandoned or out of time."""

    def __init__(self, flag: threading.Event, deadline: float):
        self.flag = flag
        self.deadline = deadline
        self.timed_out = False

    def __call__(self, input_ids, scores, **kwargs):
        if not self.flag.is_set() and time.monotonic() >= self.deadline:
            self.timed_out = True
            self.flag.set()
        done = self.flag.is_set()
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


class _Streamer(TextIteratorStreamer):
    """TextIteratorStreamer whose finalized text lands on an asyncio queue (no thread per read).

    It also counts the generated tokens, which is the honest ``completion_tokens``.
    """

    def __init__(self, tokenizer, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue):
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.loop = loop
        self.aqueue = queue
        self.tokens = 0
        self.prefix = self.read = 0  # the decoding window: token_cache[prefix:read] was sent

    def put(self, value):
        # TextStreamer holds text back until a word ends; a chat client wants every token as it
        # comes. Incremental decoding (as TGI and vLLM do it): decode a short window of tokens
        # and send what the newest token added, once it is whole characters (no dangling UTF-8).
        if len(value.shape) > 1:
            value = value[0]
        if self.skip_prompt and self.next_tokens_are_prompt:
            self.next_tokens_are_prompt = False
            return
        self.tokens += int(value.numel())
        self.token_cache.extend(value.tolist())
        text = self._pending_text()
        # A model that emits stray bytes (a random one does) must not stall the stream: after a few
        # tokens, the replacement character goes out as it would in the final text.
        if text and (not text.endswith("\ufffd") or len(self.token_cache) - self.read >= 4):
            self.prefix, self.read = self.read, len(self.token_cache)
            self.on_finalized_text(text)

    def _pending_text(self) -> str:
        before = self.tokenizer.decode(self.token_cache[self.prefix : self.read], **self.decode_kwargs)
        after = self.tokenizer.decode(self.token_cache[self.prefix :], **self.decode_kwargs)
        return after[len(before) :] if after.startswith(before) else after

    def end(self):
        text = self._pending_text()
        self.token_cache, self.prefix, self.read = [], 0, 0
        self.next_tokens_are_prompt = True
        self.on_finalized_text(text, stream_end=True)

    def on_finalized_text(self, text: str, stream_end: bool = False):
        if text:
            self.loop.call_soon_threadsafe(self.aqueue.put_nowait, ("text", text))


@dataclass
class Outcome:
    completion_tokens: int = 0
    finish_reason: str = "stop"  # "stop" | "length"
    timed_out: bool = False
    cancelled: bool = False
    error: str | None = None


class Generation:
    """One running generation. Iterate ``pieces()`` for text; ``cancel()`` stops it between tokens."""

    def __init__(
        self,
        tokenizer,
        model,
        input_ids: list[int],
        *,
        max_new_tokens: int,
        temperature: float,
        top_p: float,
        timeout: float,
        ignore_eos: bool = False,
    ):
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.flag = threading.Event()
        self.cancel_criteria = _Cancel(self.flag, time.monotonic() + timeout)
        self.streamer = _Streamer(tokenizer, self.loop, self.queue)
        self.max_new_tokens = max_new_tokens
        self.outcome = Outcome()
        self.ended = False
        ids = torch.tensor([input_ids], dtype=torch.long)
        kwargs = dict(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            streamer=self.streamer,
            stopping_criteria=StoppingCriteriaList([self.cancel_criteria]),
            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        )
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if ignore_eos:
            kwargs["min_new_tokens"] = max_new_tokens
        self.thread = threading.Thread(target=self._run, args=(model, kwargs), name="generate", daemon=True)
        self.thread.start()

    def _run(self, model, kwargs):
        try:
            with torch.inference_mode():
                model.generate(**kwargs)
        except Exception as exc:  # reported to the client as a server error, never swallowed
            self.outcome.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.outcome.completion_tokens = self.streamer.tokens
            self.outcome.timed_out = self.cancel_criteria.timed_out
            self.outcome.cancelled = self.flag.is_set() and not self.cancel_criteria.timed_out
            self.outcome.finish_reason = "length" if self.streamer.tokens >= self.max_new_tokens else "stop"
            self.loop.call_soon_threadsafe(self.queue.put_nowait, ("end", None))

    async def pieces(self):
        while not self.ended:
            kind, text = await self.queue.get()
            if kind == "end":
                self.ended = True
                return
            yield text

    def cancel(self) -> None:
        self.flag.set()

    async def wait(self) -> Outcome:
        """Waits for the generate thread to return (it checks the flag after every token)."""
        async for _ in self.pieces():
            pass
        return self.outcome


def warm_up(tokenizer, model) -> None:
    """Readiness: one real token generated by this process, not a port answering."""
    ids = tokenizer("Hello", return_tensors="pt")["input_ids"]
    if ids.shape[1] == 0:
        ids = torch.tensor([[tokenizer.eos_token_id or 0]])
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=1,
            min_new_tokens=1,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        )
    if out.shape[1] != ids.shape[1] + 1:
        raise RuntimeError("the warm-up generation produced no token")
