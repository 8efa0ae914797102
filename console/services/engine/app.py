"""The engine's ASGI application: OpenAI's endpoints, health, drain. Raw ASGI (no web framework).

Endpoints:

- ``GET /v1/models`` — the one served model.
- ``POST /v1/completions``, ``POST /v1/chat/completions`` — JSON, or server-sent events with
  ``stream: true`` (``data: {...}`` chunks, then ``data: [DONE]``).
- ``GET /health`` (also ``/metrics``) — always 200 with JSON: ``ready`` (a real one-token generation
  succeeded after loading), ``state`` (loading, ready, draining, failed), ``outstanding`` (requests
  holding a slot), and counters since start for charts: ``requests`` (accepted for generation),
  ``served`` (answered in full), ``failed`` (the engine's fault: errors and timeouts), ``cancelled``
  (the client went away; generation stopped), ``rejected`` (429/503 refusals), ``invalid`` (4xx for
  bad input), ``prompt_tokens``, ``tokens_generated``, ``latency_seconds_total`` and
  ``first_token_seconds_total`` (over served requests).
- ``POST /drain`` — no new requests from now on (503 with ``Retry-After``); answers once every
  in-flight request has finished. For scale-down: drain, then stop the process.

Back-pressure: at most ``max_concurrency`` requests hold a slot; the next one gets 429 with
``Retry-After`` at once. Nothing queues inside the engine.

The front door must forward only ``/v1/…`` to an instance; ``/health`` and ``/drain`` are for the
platform (the instance listens on a unix socket or loopback only).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable

from console.services.engine import protocol
from console.services.engine.protocol import ApiError

logger = logging.getLogger("console.services.engine")

JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class EngineApp:
    def __init__(
        self,
        *,
        model_dir: str,
        name: str,
        max_concurrency: int,
        max_new_tokens_cap: int,
        request_timeout: float,
        dtype: str = "float32",
        threads: int | None = None,
        on_fatal: Callable[[str], None] | None = None,
    ):
        self.model_dir = model_dir
        self.name = name
        self.max_concurrency = max_concurrency
        self.max_new_tokens_cap = max_new_tokens_cap
        self.request_timeout = request_timeout
        self.dtype = dtype
        self.threads = threads
        self.on_fatal = on_fatal
        self.tokenizer = None
        self.model = None
        self.context = 0
        self.state = "loading"
        self.error: str | None = None
        self.started = time.time()
        self.created = int(self.started)
        self.outstanding = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.counters = dict(
            requests=0,
            served=0,
            failed=0,
            cancelled=0,
            rejected=0,
            invalid=0,
            prompt_tokens=0,
            tokens_generated=0,
            latency_seconds_total=0.0,
            first_token_seconds_total=0.0,
        )

    # ---- loading -------------------------------------------------------------------------

    def load(self) -> None:
        """Blocking: load the folder and generate one token. Runs in a thread at startup."""
        from console.services.engine import generation

        try:
            started = time.monotonic()
            tokenizer, model = generation.load(self.model_dir, dtype=self.dtype, threads=self.threads)
            generation.warm_up(tokenizer, model)
            self.tokenizer, self.model = tokenizer, model
            self.context = generation.context_length(model)
            if self.state == "loading":
                self.state = "ready"
            logger.info(
                "ready: %s from %s in %.1f s (context %d, %d threads)",
                self.name,
                self.model_dir,
                time.monotonic() - started,
                self.context,
                generation.torch.get_num_threads(),
            )
        except Exception as exc:
            self.state = "failed"
            self.error = f"{type(exc).__name__}: {exc}"
            logger.error("could not load the model from %s: %s", self.model_dir, self.error)
            if self.on_fatal:
                self.on_fatal(self.error)

    @property
    def ready(self) -> bool:
        return self.model is not None and self.state == "ready"

    def health(self) -> dict:
        return {
            "ready": self.ready,
            "state": self.state,
            "error": self.error,
            "model": self.name,
            "outstanding": self.outstanding,
            "max_concurrency": self.max_concurrency,
            "uptime_seconds": round(time.time() - self.started, 3),
            **self.counters,
        }

    # ---- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"].rstrip("/") or "/"
        try:
            if path in ("/health", "/metrics"):
                self._allow(method, "GET")
                await respond(send, 200, self.health())
            elif path == "/v1/models":
                self._allow(method, "GET")
                await respond(send, 200, self.models())
            elif path in ("/v1/completions", "/v1/chat/completions"):
                self._allow(method, "POST")
                kind = "chat" if path == "/v1/chat/completions" else "completion"
                await self._generate(kind, receive, send)
            elif path == "/drain":
                self._allow(method, "POST")
                await self._drain(send)
            else:
                raise ApiError(404, f"Unknown path {path}.", type="not_found_error", code="unknown_url")
        except ApiError as error:
            if 400 <= error.status < 500 and error.status not in (429,):
                self.counters["invalid"] += 1
            await respond(send, error.status, error.body(), error.headers)

    async def _lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # Loading runs beside the server so /health can say "loading" meanwhile.
                threading.Thread(target=self.load, name="load-model", daemon=True).start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    def _allow(method: str, allowed: str) -> None:
        if method != allowed:
            raise ApiError(
                405,
                f"Method {method} is not allowed here; use {allowed}.",
                code="method_not_allowed",
                headers={"allow": allowed},
            )

    def models(self) -> dict:
        return {
            "object": "list",
            "data": [{"id": self.name, "object": "model", "created": self.created, "owned_by": "modelarts-console"}],
        }

    # ---- drain ---------------------------------------------------------------------------

    async def _drain(self, send):
        if self.state in ("loading", "ready"):
            self.state = "draining"
        started = time.monotonic()
        await self.idle.wait()
        await respond(
            send, 200, {"drained": True, "waited_seconds": round(time.monotonic() - started, 3), **self.health()}
        )

    # ---- generation ----------------------------------------------------------------------

    def _take_slot(self) -> None:
        if self.state == "draining":
            self.counters["rejected"] += 1
            raise ApiError(
                503,
                "This instance is draining and takes no new requests; retry.",
                type="service_unavailable",
                code="draining",
                headers={"retry-after": "1"},
            )
        if not self.ready:
            self.counters["rejected"] += 1
            raise ApiError(
                503,
                "The model is not ready yet." if self.state == "loading" else f"The model failed to load: {self.error}",
                type="service_unavailable",
                code="not_ready",
                headers={"retry-after": "5"},
            )
        if self.outstanding >= self.max_concurrency:
            self.counters["rejected"] += 1
            raise ApiError(
                429,
                f"This instance is busy: {self.max_concurrency} requests are being generated; retry shortly.",
                type="rate_limit_error",
                code="too_many_concurrent_requests",
                headers={"retry-after": "1"},
            )
        self.outstanding += 1
        self.idle.clear()

    def _release_slot(self) -> None:
        self.outstanding -= 1
        if self.outstanding == 0:
            self.idle.set()

    async def _generate(self, kind: str, receive, send):
        started = time.monotonic()
        self._take_slot()
        try:
            raw = await read_body(receive)
            body = protocol.parse_json(raw)
            request = protocol.parse_request(
                body, kind=kind, served_name=self.name, max_new_tokens_cap=self.max_new_tokens_cap
            )
            # Tokenizing a long prompt takes a while: off the event loop, so other streams keep flowing.
            input_ids, max_new_tokens = await asyncio.to_thread(self._prepare, request)
            self.counters["requests"] += 1
            await self._run(request, input_ids, max_new_tokens, started, receive, send)
        finally:
            self._release_slot()

    def _prepare(self, request: protocol.Request) -> tuple[list[int], int]:
        tokenizer = self.tokenizer
        if request.kind == "chat":
            param = "messages"
            if not getattr(tokenizer, "chat_template", None):
                raise protocol.bad(
                    "messages",
                    "This model has no chat template; send a prompt to /v1/completions instead.",
                    code="no_chat_template",
                )
            try:
                text = tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=False)
            except Exception as exc:  # the template itself refuses (e.g. roles out of order)
                raise protocol.bad("messages", f"The model's chat template refused these messages: {exc}")
            input_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        else:
            param = "prompt"
            input_ids = tokenizer(request.prompt)["input_ids"]
        if not input_ids:
            # An empty prompt starts a fresh document, as OpenAI's models do.
            start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
            input_ids = [start if start is not None else 0]
        prompt_tokens = len(input_ids)
        if prompt_tokens >= self.context:
            raise protocol.bad(
                param,
                f"This model's maximum context length is {self.context} tokens; your {param} has {prompt_tokens} tokens.",
                code="context_length_exceeded",
            )
        room = self.context - prompt_tokens
        if request.max_tokens is None:
            return input_ids, min(self.max_new_tokens_cap, room)
        if request.max_tokens > room:
            param = request.max_tokens_param
            raise protocol.bad(
                param,
                f"This model's maximum context length is {self.context} tokens; {prompt_tokens} prompt tokens "
                f"+ {param} {request.max_tokens} is over it (at most {room} here).",
                code="context_length_exceeded",
            )
        return input_ids, request.max_tokens

    async def _run(self, request, input_ids, max_new_tokens, started, receive, send):
        from console.services.engine.generation import Generation

        generation = Generation(
            self.tokenizer,
            self.model,
            input_ids,
            max_new_tokens=max_new_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            timeout=max(0.001, self.request_timeout - (time.monotonic() - started)),
            ignore_eos=request.ignore_eos,
        )
        # A client that goes away stops its generation (the flag is read between two tokens).
        disconnected = asyncio.Event()

        async def watch():
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    disconnected.set()
                    generation.cancel()
                    return

        watcher = asyncio.create_task(watch())
        stops = protocol.StopMatcher(request.stop)
        meta = dict(kind=request.kind, id=protocol.new_id(request.kind), created=protocol.now(), model=self.name)
        first_token_at = None
        try:
            if request.stream:
                await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
                await send_body(send, protocol.sse(protocol.chunk(**meta, text="", finish_reason=None, first=True)))
                async for piece in generation.pieces():
                    if first_token_at is None:
                        first_token_at = time.monotonic()
                    text = stops.feed(piece)
                    if stops.stopped:
                        generation.cancel()
                    if text:
                        await send_body(send, protocol.sse(protocol.chunk(**meta, text=text, finish_reason=None)))
                    if disconnected.is_set():
                        break
                outcome = await generation.wait()
                tail = stops.flush()
                if disconnected.is_set() or outcome.cancelled and not stops.stopped:
                    self.counters["cancelled"] += 1
                    self.counters["tokens_generated"] += outcome.completion_tokens
                    return
                if outcome.error or outcome.timed_out:
                    self._count_failure(outcome)
                    error = self._failure(outcome)
                    await send_body(send, protocol.sse(error.body()))
                else:
                    if tail:
                        await send_body(send, protocol.sse(protocol.chunk(**meta, text=tail, finish_reason=None)))
                    reason = "stop" if stops.stopped else outcome.finish_reason
                    await send_body(send, protocol.sse(protocol.chunk(**meta, text=None, finish_reason=reason)))
                    if request.include_usage:
                        await send_body(
                            send,
                            protocol.sse(
                                protocol.usage_chunk(
                                    **meta,
                                    prompt_tokens=len(input_ids),
                                    completion_tokens=outcome.completion_tokens,
                                )
                            ),
                        )
                    self._count_served(len(input_ids), outcome, started, first_token_at)
                await send_body(send, b"data: [DONE]\n\n", more=False)
            else:
                parts = []
                async for piece in generation.pieces():
                    if first_token_at is None:
                        first_token_at = time.monotonic()
                    parts.append(stops.feed(piece))
                    if stops.stopped:
                        generation.cancel()
                outcome = await generation.wait()
                parts.append(stops.flush())
                if disconnected.is_set() or outcome.cancelled and not stops.stopped:
                    self.counters["cancelled"] += 1
                    self.counters["tokens_generated"] += outcome.completion_tokens
                    return
                if outcome.error or outcome.timed_out:
                    self._count_failure(outcome)
                    error = self._failure(outcome)
                    await respond(send, error.status, error.body())
                    return
                reason = "stop" if stops.stopped else outcome.finish_reason
                self._count_served(len(input_ids), outcome, started, first_token_at)
                await respond(
                    send,
                    200,
                    protocol.full_response(
                        **meta,
                        text="".join(parts),
                        finish_reason=reason,
                        prompt_tokens=len(input_ids),
                        completion_tokens=outcome.completion_tokens,
                    ),
                )
        finally:
            generation.cancel()
            watcher.cancel()
            await generation.wait()

    def _failure(self, outcome) -> ApiError:
        if outcome.timed_out:
            return ApiError(
                504,
                f"The request took longer than this service's timeout of {self.request_timeout:g} s.",
                type="timeout",
                code="request_timeout",
            )
        return ApiError(500, f"The generation failed: {outcome.error}", type="server_error", code="generation_failed")

    def _count_failure(self, outcome) -> None:
        self.counters["failed"] += 1
        self.counters["tokens_generated"] += outcome.completion_tokens
        logger.warning("request failed: %s", "timeout" if outcome.timed_out else outcome.error)

    def _count_served(self, prompt_tokens, outcome, started, first_token_at) -> None:
        ended = time.monotonic()
        self.counters["served"] += 1
        self.counters["prompt_tokens"] += prompt_tokens
        self.counters["tokens_generated"] += outcome.completion_tokens
        self.counters["latency_seconds_total"] = round(self.counters["latency_seconds_total"] + ended - started, 6)
        self.counters["first_token_seconds_total"] = round(
            self.counters["first_token_seconds_total"] + ((first_token_at or ended) - started), 6
        )


async def read_body(receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, "The client went away before sending its request.", code="client_disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > protocol.MAX_BODY_BYTES:
            raise ApiError(
                413,
                f"The request body is over {protocol.MAX_BODY_BYTES // (1024 * 1024)} MiB.",
                code="request_too_large",
            )
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def send_body(send, data: bytes, more: bool = True) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})


async def respond(send, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
    payload = json.dumps(body, ensure_ascii=False).encode()
    extra = [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": JSON_HEADERS + [(b"content-length", str(len(payload)).encode())] + extra,
        }
    )
    await send({"type": "http.response.body", "body": payload})
