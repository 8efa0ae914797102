"""What the console's front door adds to a streamed completion (issue 14). Not part of CI.

    .venv/bin/python -m bench.infer_forwarder [--runs 20] [--tokens 64]

A real engine (the tiny model, one thread) on a unix socket; the front door (console.frontdoor, the
same CallRoute code as /v1/infers/<id>/) in front of it with a gateway that admits the call. The
same streamed completion, alternately straight to the engine and through the front door:
time to the first token, and the gap between tokens; the difference is the forwarder's cost.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")


@dataclass(frozen=True)
class Instance:
    instance_id: int
    base_url: str
    unix_socket: str
    host: str
    port: int | None
    token: str
    max_concurrency: int
    served_name: str


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    import django

    django.setup()
    import uvicorn

    from bench.serving import start, stream
    from console.frontdoor.calls import CallRoute
    from console.frontdoor.router import FrontDoor
    from tests.services.conftest import build_tiny_model

    folder = Path(tempfile.mkdtemp(prefix="fwd-"))
    model = build_tiny_model(folder / "model")
    engine_socket = folder / "e.sock"
    engine, ready_after = start(model, engine_socket, threads=1, cap=4096, log=folder / "engine.log")
    instance = Instance(1, "", str(engine_socket), "", None, "", 4, "bench")
    door = FrontDoor(
        lambda scope, receive, send: None,
        [
            CallRoute(
                re.compile(r"^/v1/infers/(?P<service_id>[0-9a-f-]+)/(?P<rest>v1/.*)$"),
                lambda **_: [instance],
                lambda **_: None,
            )
        ],
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(door, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    through = f"http://127.0.0.1:{port}/v1/infers/00000000-0000-4000-8000-000000000001"
    try:
        stream(str(engine_socket), "hello", 8)
        stream(through, "hello", 8)
        results = {"direct": [], "through the front door": []}
        for _ in range(args.runs):
            results["direct"].append(stream(str(engine_socket), "hello world", args.tokens))
            results["through the front door"].append(stream(through, "hello world", args.tokens))
        print(f"engine ready after {ready_after:.1f} s; {args.runs} streams of {args.tokens} tokens each way")
        summary = {}
        for name, runs in results.items():
            first = [r.times[0] * 1000 for r in runs if r.times]
            gaps = [(b - a) * 1000 for r in runs for a, b in zip(r.times, r.times[1:], strict=False)]
            summary[name] = (statistics.median(first), statistics.median(gaps))
            print(
                f"  {name:24s} first token p50 {summary[name][0]:7.2f} ms   gap between tokens p50 {summary[name][1]:6.2f} ms"
            )
        d, f = summary["direct"], summary["through the front door"]
        print(f"  the forwarder adds {f[0] - d[0]:+.2f} ms to the first token and {f[1] - d[1]:+.3f} ms per token")
    finally:
        server.should_exit = True
        os.killpg(engine.pid, signal.SIGTERM)


if __name__ == "__main__":
    main()
