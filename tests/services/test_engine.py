"""The serving engine as a process on a unix socket, driven by the official openai client (no Django DB)."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import httpx2
import openai
import pytest

from tests.services.conftest import start_engine, stop_engine

NAME = "tiny-llama"
CAP = 400  # the tiny model's context is 512


def client_for(socket: Path, **options) -> openai.OpenAI:
    transport = httpx2.HTTPTransport(uds=str(socket))
    return openai.OpenAI(
        http_client=httpx2.Client(transport=transport, timeout=60),
        base_url="http://engine/v1",
        api_key="x",
        max_retries=0,  # the client would retry a 429 by itself
        **options,
    )


def raw_for(socket: Path) -> httpx2.Client:
    return httpx2.Client(transport=httpx2.HTTPTransport(uds=str(socket)), base_url="http://engine", timeout=60)


def health(socket: Path) -> dict:
    with raw_for(socket) as raw:
        return raw.get("/health").json()


def wait_ready(socket: Path, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = health(socket)
        if state["ready"]:
            return state
        assert state["state"] == "loading", state
        time.sleep(0.1)
    raise TimeoutError("the engine never became ready")


def wait_until(predicate, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="module")
def engine(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("engine")
    socket = folder / "engine.sock"
    process = start_engine(
        tiny_model_dir,
        socket,
        log=folder / "engine.log",
        name=NAME,
        max_concurrency=2,
        max_new_tokens_cap=CAP,
        request_timeout=60,
    )
    try:
        wait_ready(socket)
        yield socket
    finally:
        stop_engine(process)


@pytest.fixture(scope="module")
def reference(tiny_model_dir):
    """The same folder loaded in this process: what the engine answers must be what generate() gives."""
    from console.services.engine.generation import load

    tokenizer, model = load(tiny_model_dir, threads=1)
    return tokenizer, model


def greedy(reference, input_ids: list[int], n: int) -> str:
    import torch

    tokenizer, model = reference
    ids = torch.tensor([input_ids])
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=n,
            min_new_tokens=n,
            do_sample=False,
            pad_token_id=tokenizer.eos_token_id,
        )
    return tokenizer.decode(out[0, len(input_ids) :], skip_special_tokens=True)


def test_models_names_the_served_model(engine):
    models = client_for(engine).models.list()
    assert [model.id for model in models.data] == [NAME]


def test_health_is_ready_after_a_real_generation(engine):
    state = health(engine)
    assert state["ready"] is True and state["state"] == "ready"
    assert {"outstanding", "served", "failed", "tokens_generated", "latency_seconds_total"} <= set(state)


def test_a_completion_is_what_the_model_generates(engine, reference):
    tokenizer, _ = reference
    before = health(engine)
    prompt = "The quick brown fox"
    answer = client_for(engine).completions.create(
        model=NAME, prompt=prompt, max_tokens=12, temperature=0, extra_body={"ignore_eos": True}
    )
    prompt_ids = tokenizer(prompt)["input_ids"]
    assert answer.model == NAME
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage.prompt_tokens == len(prompt_ids)
    assert answer.usage.completion_tokens == 12
    assert answer.usage.total_tokens == len(prompt_ids) + 12
    # No canned answer: the exact greedy continuation of the same weights in this process.
    assert answer.choices[0].text == greedy(reference, prompt_ids, 12)
    after = health(engine)
    assert after["served"] == before["served"] + 1
    assert after["tokens_generated"] == before["tokens_generated"] + 12
    assert after["latency_seconds_total"] > before["latency_seconds_total"]


def test_a_streamed_chat_completion_arrives_in_chunks(engine, reference):
    tokenizer, _ = reference
    client = client_for(engine)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is a pool?"}]
    stream = client.chat.completions.create(
        model=NAME,
        messages=messages,
        max_tokens=24,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"ignore_eos": True},
    )
    chunks = list(stream)
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(deltas) >= 3, deltas
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    usage = chunks[-1].usage
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert (usage.prompt_tokens, usage.completion_tokens) == (len(prompt_ids), 24)
    assert "".join(deltas) == greedy(reference, prompt_ids, 24)

    whole = client.chat.completions.create(
        model=NAME, messages=messages, max_tokens=24, temperature=0, extra_body={"ignore_eos": True}
    )
    assert whole.choices[0].message.content == "".join(deltas)
    assert whole.usage.completion_tokens == 24


def test_sampling_parameters_and_stop(engine, reference):
    tokenizer, _ = reference
    client = client_for(engine)
    sampled = client.completions.create(model=NAME, prompt="Loss goes", max_tokens=8, temperature=0.8, top_p=0.9)
    assert 1 <= sampled.usage.completion_tokens <= 8
    full = greedy(reference, tokenizer("Loss goes")["input_ids"], 20)
    # The first two-character piece after the start that appears nowhere earlier (and is whole characters).
    at = next(i for i in range(3, len(full) - 1) if full.find(full[i : i + 2]) == i and "\ufffd" not in full[i : i + 2])
    stop = full[at : at + 2]
    cut = client.completions.create(
        model=NAME, prompt="Loss goes", max_tokens=20, temperature=0, stop=[stop], extra_body={"ignore_eos": True}
    )
    assert cut.choices[0].text == full[: full.index(stop)]
    assert cut.choices[0].finish_reason == "stop"
    # Streamed, the stop sequence is cut the same way, even when it spans two chunks.
    chunks = list(
        client.completions.create(
            model=NAME,
            prompt="Loss goes",
            max_tokens=20,
            temperature=0,
            stop=stop,
            stream=True,
            extra_body={"ignore_eos": True},
        )
    )
    assert "".join(c.choices[0].text for c in chunks) == full[: full.index(stop)]
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_stop_matcher_holds_back_a_possible_start_of_a_stop_sequence():
    from console.services.engine.protocol import StopMatcher

    matcher = StopMatcher(["END", "xy"])
    assert matcher.feed("abcE") == "abc"  # "E" may begin "END"
    assert matcher.feed("Nope") == "ENope"
    assert matcher.feed("zzx") == "zz"
    assert matcher.feed("yes") == "" and matcher.stopped
    assert matcher.feed("more") == "" and matcher.flush() == ""
    tail = StopMatcher(["END"])
    assert tail.feed("abEN") == "ab" and tail.flush() == "EN"  # the end of the text is sent whole


def test_beyond_max_concurrency_is_429_with_retry_after(engine):
    body = {"prompt": "Numbers", "max_tokens": CAP, "stream": True, "ignore_eos": True, "temperature": 0}
    with raw_for(engine) as first, raw_for(engine) as second, raw_for(engine) as third:
        with (
            first.stream("POST", "/v1/completions", json=body) as a,
            second.stream("POST", "/v1/completions", json=body) as b,
        ):
            lines_a, lines_b = a.iter_lines(), b.iter_lines()
            assert next(lines_a).startswith("data: ") and next(lines_b).startswith("data: ")
            assert health(engine)["outstanding"] == 2
            refused = third.post("/v1/completions", json={"prompt": "x", "max_tokens": 2})
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["error"]["type"] == "rate_limit_error"
            with pytest.raises(openai.RateLimitError):
                client_for(engine).completions.create(model=NAME, prompt="x", max_tokens=2)
            # Both streams were still running and finish in full: nothing was queued or dropped.
            rest_a, rest_b = list(lines_a), list(lines_b)
            assert [line for line in rest_a if line][-1] == "data: [DONE]"
            assert [line for line in rest_b if line][-1] == "data: [DONE]"
    wait_until(lambda: health(engine)["outstanding"] == 0)
    assert client_for(engine).completions.create(model=NAME, prompt="x", max_tokens=2).usage.completion_tokens >= 1


def test_a_client_that_disconnects_stops_its_generation(engine):
    before = health(engine)
    body = {"prompt": "Fine-tuning", "max_tokens": CAP, "stream": True, "ignore_eos": True}
    with raw_for(engine) as raw:
        with raw.stream("POST", "/v1/completions", json=body) as response:
            lines = response.iter_lines()
            next(lines), next(lines), next(lines)
            assert health(engine)["outstanding"] == 1
        # the connection is closed here, mid-stream
    started = time.monotonic()
    after = wait_until(lambda: (state := health(engine))["outstanding"] == 0 and state)
    assert time.monotonic() - started < 5
    assert after["cancelled"] == before["cancelled"] + 1
    # Stopped, not run to the end: far fewer than the CAP tokens asked for were generated.
    assert after["tokens_generated"] - before["tokens_generated"] < CAP / 2


def long_prompt(tokens: int) -> str:
    return " ".join(["fox"] * tokens)


@pytest.mark.parametrize(
    ("kind", "body", "param", "fragment"),
    [
        ("completion", {"prompt": "x", "n": 2}, "n", "'n' must be 1"),
        ("completion", {"prompt": "x", "max_tokens": CAP + 1}, "max_tokens", f"at most {CAP}"),
        ("completion", {"prompt": "x", "max_tokens": 0}, "max_tokens", "at least 1"),
        ("completion", {"prompt": "x", "max_tokens": "5"}, "max_tokens", "integer"),
        ("completion", {"prompt": "x", "temperature": 3}, "temperature", "0 to 2"),
        ("completion", {"prompt": "x", "top_p": 0}, "top_p", "greater than 0"),
        ("completion", {"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, "stop", "at most 4"),
        ("completion", {"prompt": "x", "logprobs": 3}, "logprobs", "not supported"),
        ("completion", {"prompt": 5}, "prompt", "must be a string"),
        ("completion", {"prompt": long_prompt(600)}, "prompt", "maximum context length is 512"),
        ("completion", {"prompt": long_prompt(150), "max_tokens": CAP}, "max_tokens", "maximum context length"),
        (
            "chat",
            {"messages": [{"role": "user", "content": long_prompt(150)}], "max_completion_tokens": CAP},
            "max_completion_tokens",
            "maximum context length",
        ),
        ("chat", {"messages": [{"role": "user", "content": long_prompt(600)}]}, "messages", "maximum context"),
        ("chat", {"messages": []}, "messages", "non-empty list"),
        ("chat", {"messages": "hello"}, "messages", "non-empty list"),
        ("chat", {"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role", "must be one of"),
        ("chat", {"messages": [{"role": "user", "content": 5}]}, "messages[0].content", "must be a string"),
        ("chat", {"messages": [{"role": "user"}]}, "messages[0].content", "must be a string"),
        ("chat", {"messages": ["hi"]}, "messages[0]", "must be an object"),
        ("chat", {"messages": [{"role": "user", "content": "x"}], "tools": [{}]}, "tools", "not supported"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(engine, kind, body, param, fragment):
    client = client_for(engine)
    create = client.chat.completions.create if kind == "chat" else client.completions.create
    before = health(engine)
    with pytest.raises(openai.BadRequestError) as caught:
        create(model=NAME, **body)
    error = caught.value.body
    assert caught.value.status_code == 400
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert fragment in error["message"], error["message"]
    after = health(engine)
    assert after["requests"] == before["requests"] and after["invalid"] == before["invalid"] + 1


def test_malformed_json_unknown_model_and_method(engine):
    with raw_for(engine) as raw:
        response = raw.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
        response = raw.post("/v1/completions", json={"model": "gpt-4", "prompt": "x"})
        assert response.status_code == 404 and response.json()["error"]["param"] == "model"
        response = raw.get("/v1/completions")
        assert response.status_code == 405
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_drain_refuses_new_requests_and_answers_when_in_flight_ones_finish(tiny_model_dir, tmp_path):
    socket = tmp_path / "drain.sock"
    process = start_engine(
        tiny_model_dir, socket, log=tmp_path / "engine.log", name=NAME, max_concurrency=2, max_new_tokens_cap=CAP
    )
    try:
        wait_ready(socket)
        body = {"prompt": "Safetensors", "max_tokens": CAP, "stream": True, "ignore_eos": True}
        drained: dict = {}

        def drain():
            with raw_for(socket) as raw:
                response = raw.post("/drain")
                drained.update(response.json(), status=response.status_code, at=time.monotonic())

        with raw_for(socket) as raw, raw.stream("POST", "/v1/completions", json=body) as stream:
            lines = stream.iter_lines()
            next(lines)
            thread = threading.Thread(target=drain)
            thread.start()
            wait_until(lambda: health(socket)["state"] == "draining")
            with raw_for(socket) as other:
                refused = other.post("/v1/completions", json={"prompt": "x", "max_tokens": 2})
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
            assert refused.json()["error"]["code"] == "draining"
            assert not drained, "drain answered while a request was in flight"
            events = [line for line in lines if line]
            finished_at = time.monotonic()
        thread.join(timeout=30)
        assert events[-1] == "data: [DONE]"
        last = json.loads(events[-2].removeprefix("data: "))
        assert last["choices"][0]["finish_reason"] == "length"
        assert drained["status"] == 200 and drained["drained"] is True and drained["outstanding"] == 0
        assert drained["at"] >= finished_at - 0.5
        assert drained["served"] == 1
    finally:
        stop_engine(process)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it so the exit status tells why.
    assert process.returncode in (0, -signal.SIGTERM)


def test_a_request_over_the_timeout_fails_with_504(tiny_model_dir, tmp_path):
    socket = tmp_path / "timeout.sock"
    process = start_engine(
        tiny_model_dir, socket, log=tmp_path / "engine.log", name=NAME, max_new_tokens_cap=CAP, request_timeout=0.1
    )
    try:
        wait_ready(socket)
        with pytest.raises(openai.APIStatusError) as caught:
            client_for(socket).completions.create(
                model=NAME, prompt="x", max_tokens=CAP, extra_body={"ignore_eos": True}
            )
        assert caught.value.status_code == 504
        assert caught.value.body["code"] == "request_timeout"
        # Streamed, the headers are gone already: the stream ends with an error event, then [DONE].
        body = {"prompt": "x", "max_tokens": CAP, "stream": True, "ignore_eos": True}
        with raw_for(socket) as raw, raw.stream("POST", "/v1/completions", json=body) as response:
            events = [line.removeprefix("data: ") for line in response.iter_lines() if line]
        assert events[-1] == "[DONE]"
        assert json.loads(events[-2])["error"]["code"] == "request_timeout"
        state = health(socket)
        assert state["failed"] == 2 and state["outstanding"] == 0
        assert state["tokens_generated"] < 2 * CAP  # both stopped early
    finally:
        stop_engine(process)


def test_a_folder_without_safetensors_never_becomes_ready(tiny_model_dir, tmp_path):
    folder = tmp_path / "no-weights"
    folder.mkdir()
    for item in Path(tiny_model_dir).iterdir():
        if item.suffix != ".safetensors":
            (folder / item.name).write_bytes(item.read_bytes())
    (folder / "pytorch_model.bin").write_bytes(b"not loaded: safetensors only")
    log = tmp_path / "engine.log"
    process = start_engine(folder, tmp_path / "bad.sock", log=log, wait=False, name=NAME)
    try:
        assert process.wait(timeout=60) == 1
    finally:
        stop_engine(process)
    assert "could not load the model" in log.read_text()
