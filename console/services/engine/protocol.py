"""OpenAI's wire format: request validation and response bodies. Pure Python (no torch, no Django).

Every refusal is an ``ApiError`` that renders as OpenAI's error body
``{"error": {"message", "type", "param", "code"}}`` with the field in ``param`` and the rule in
``message``, so a client library raises its usual ``BadRequestError`` with a readable reason.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field

MAX_STOP_SEQUENCES = 4  # OpenAI's limit
MAX_BODY_BYTES = 4 * 1024 * 1024

# Fields the engine understands. Anything else is refused by name rather than silently ignored,
# except the ones below whose value changes nothing when it is the default.
COMMON_FIELDS = {"model", "max_tokens", "temperature", "top_p", "stop", "n", "stream", "stream_options", "user"}
COMPLETION_FIELDS = COMMON_FIELDS | {"prompt"}
CHAT_FIELDS = COMMON_FIELDS | {"messages", "max_completion_tokens"}
# vLLM's extension, kept for benchmarks: generate exactly max_tokens tokens.
EXTENSION_FIELDS = {"ignore_eos"}
HARMLESS_DEFAULTS = {
    "presence_penalty": (0, 0.0),
    "frequency_penalty": (0, 0.0),
    "logprobs": (False,),
    "echo": (False,),
    "logit_bias": ({},),
    "parallel_tool_calls": (True, False),
}
CHAT_ROLES = {"system", "developer", "user", "assistant"}


class ApiError(Exception):
    """An OpenAI-style error response."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        type: str = "invalid_request_error",
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.type = type
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad(param: str | None, message: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


@dataclass
class Request:
    """A validated generation request (one choice)."""

    kind: str  # "completion" or "chat"
    prompt: str | None = None
    messages: list[dict] | None = None
    max_tokens: int | None = None  # None: up to the cap and the context
    max_tokens_param: str = "max_tokens"  # or "max_completion_tokens": errors name what was sent
    temperature: float = 1.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    include_usage: bool = False
    ignore_eos: bool = False


def parse_json(raw: bytes) -> dict:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad(None, "We could not parse the JSON body of your request.", code="invalid_json")
    if not isinstance(body, dict):
        raise bad(None, "The request body must be a JSON object.", code="invalid_json")
    return body


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_request(body: dict, *, kind: str, served_name: str, max_new_tokens_cap: int) -> Request:
    allowed = (COMPLETION_FIELDS if kind == "completion" else CHAT_FIELDS) | EXTENSION_FIELDS
    for name, value in body.items():
        if name in allowed or value is None:
            continue
        if name in HARMLESS_DEFAULTS and value in HARMLESS_DEFAULTS[name]:
            continue
        raise bad(name, f"'{name}' is not supported by this service.", code="unsupported_parameter")

    model = body.get("model")
    if model is not None and model != served_name:
        raise ApiError(
            404,
            f"The model '{model}' does not exist; this service serves '{served_name}'.",
            param="model",
            code="model_not_found",
        )

    request = Request(kind=kind)
    if kind == "completion":
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]  # the client's list form with one prompt
        if not isinstance(prompt, str):
            raise bad("prompt", "'prompt' is required and must be a string (one prompt per request).")
        request.prompt = prompt
    else:
        request.messages = parse_messages(body.get("messages"))

    n = body.get("n")
    if n is not None and (not _is_int(n) or n != 1):
        raise bad("n", "'n' must be 1: this service generates one choice per request.")

    max_tokens = body.get("max_tokens")
    param = "max_tokens"
    if max_tokens is None and kind == "chat" and body.get("max_completion_tokens") is not None:
        max_tokens, param = body["max_completion_tokens"], "max_completion_tokens"
    if max_tokens is not None:
        if not _is_int(max_tokens) or max_tokens < 1:
            raise bad(param, f"'{param}' must be an integer of at least 1.")
        if max_tokens > max_new_tokens_cap:
            raise bad(param, f"'{param}' must be at most {max_new_tokens_cap} on this service (got {max_tokens}).")
        request.max_tokens, request.max_tokens_param = max_tokens, param

    temperature = body.get("temperature")
    if temperature is not None:
        if not _is_number(temperature) or not 0 <= temperature <= 2:
            raise bad("temperature", "'temperature' must be a number from 0 to 2.")
        request.temperature = float(temperature)

    top_p = body.get("top_p")
    if top_p is not None:
        if not _is_number(top_p) or not 0 < top_p <= 1:
            raise bad("top_p", "'top_p' must be a number greater than 0 and at most 1.")
        request.top_p = float(top_p)

    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if (
            not isinstance(stops, list)
            or not all(isinstance(item, str) and item for item in stops)
            or len(stops) > MAX_STOP_SEQUENCES
        ):
            raise bad("stop", f"'stop' must be a non-empty string or a list of at most {MAX_STOP_SEQUENCES} of them.")
        request.stop = stops

    stream = body.get("stream")
    if stream is not None:
        if not isinstance(stream, bool):
            raise bad("stream", "'stream' must be true or false.")
        request.stream = stream
    options = body.get("stream_options")
    if options is not None:
        if not request.stream:
            raise bad("stream_options", "'stream_options' is only allowed when 'stream' is true.")
        if not isinstance(options, dict) or not set(options) <= {"include_usage", "continuous_usage_stats"}:
            raise bad("stream_options", "'stream_options' may only hold 'include_usage'.")
        request.include_usage = bool(options.get("include_usage"))

    ignore_eos = body.get("ignore_eos")
    if ignore_eos is not None:
        if not isinstance(ignore_eos, bool):
            raise bad("ignore_eos", "'ignore_eos' must be true or false.")
        request.ignore_eos = ignore_eos
    return request


def parse_messages(messages) -> list[dict]:
    """Chat messages as the chat template expects them: role and text content."""
    if not isinstance(messages, list) or not messages:
        raise bad("messages", "'messages' is required and must be a non-empty list of messages.")
    parsed = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise bad(where, f"'{where}' must be an object with 'role' and 'content'.")
        role = message.get("role")
        if role not in CHAT_ROLES:
            raise bad(f"{where}.role", f"'{where}.role' must be one of {', '.join(sorted(CHAT_ROLES))}.")
        content = message.get("content")
        if isinstance(content, list):
            # The content-parts form: only text parts can reach a text model.
            texts = []
            for part_index, part in enumerate(content):
                if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                    raise bad(
                        f"{where}.content[{part_index}]",
                        f'\'{where}.content[{part_index}]\' must be a text part ({{"type": "text", "text": ...}}).',
                    )
                texts.append(part["text"])
            content = "".join(texts)
        if not isinstance(content, str):
            raise bad(f"{where}.content", f"'{where}.content' must be a string.")
        parsed.append({"role": "system" if role == "developer" else role, "content": content})
    return parsed


def new_id(kind: str) -> str:
    return ("chatcmpl-" if kind == "chat" else "cmpl-") + secrets.token_hex(12)


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def full_response(
    *,
    kind: str,
    id: str,
    created: int,
    model: str,
    text: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
) -> dict:
    if kind == "chat":
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "logprobs": None,
            "finish_reason": finish_reason,
        }
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}
        obj = "text_completion"
    return {
        "id": id,
        "object": obj,
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": usage(prompt_tokens, completion_tokens),
    }


def chunk(
    *, kind: str, id: str, created: int, model: str, text: str | None, finish_reason: str | None, first=False
) -> dict:
    if kind == "chat":
        delta: dict = {}
        if first:
            delta["role"] = "assistant"
        if text is not None:
            delta["content"] = text
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        obj = "chat.completion.chunk"
    else:
        choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish_reason}
        obj = "text_completion"
    return {"id": id, "object": obj, "created": created, "model": model, "choices": [choice]}


def usage_chunk(*, kind: str, id: str, created: int, model: str, prompt_tokens: int, completion_tokens: int) -> dict:
    obj = "chat.completion.chunk" if kind == "chat" else "text_completion"
    return {
        "id": id,
        "object": obj,
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage(prompt_tokens, completion_tokens),
    }


def sse(data: dict | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()


def now() -> int:
    return int(time.time())


class StopMatcher:
    """Cuts generated text at the first stop sequence, holding back a tail that may begin one.

    ``feed`` returns the text that is safe to send now; ``stopped`` turns true once a stop
    sequence appeared (the sequence itself is never sent, as in OpenAI's API).
    """

    def __init__(self, stops: list[str]):
        self.stops = stops
        self.pending = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        if self.stopped:
            return ""
        if not self.stops:
            return text
        self.pending += text
        cut = min((i for i in (self.pending.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            out, self.pending = self.pending[:cut], ""
            return out
        hold = 0
        for stop in self.stops:
            for length in range(min(len(stop) - 1, len(self.pending)), 0, -1):
                if self.pending.endswith(stop[:length]):
                    hold = max(hold, length)
                    break
        out = self.pending[: len(self.pending) - hold]
        self.pending = self.pending[len(self.pending) - hold :]
        return out

    def flush(self) -> str:
        out, self.pending = ("" if self.stopped else self.pending), ""
        return out
