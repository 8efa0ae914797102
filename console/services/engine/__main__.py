"""``python -m console.services.engine``: serve one model folder until SIGTERM (see __init__)."""

from __future__ import annotations

import argparse
import logging
import os
import sys


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m console.services.engine", description=__doc__)
    parser.add_argument("--model", required=True, help="the model folder (config.json, safetensors, tokenizer)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--socket", help="listen on this unix socket")
    where.add_argument("--port", type=int, help="listen on this TCP port (with --host, loopback by default)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--name", required=True, help="the served model name (GET /v1/models)")
    parser.add_argument("--max-concurrency", type=positive_int, default=4)
    parser.add_argument("--max-new-tokens-cap", type=positive_int, default=512)
    parser.add_argument("--request-timeout", type=positive_float, default=120.0, help="seconds")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    parser.add_argument("--threads", type=positive_int, help="torch threads (default: the pinned cores)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not os.path.isdir(args.model):
        print(f"--model: {args.model} is not a folder", file=sys.stderr)
        return 2

    import uvicorn

    from console.services.engine.app import EngineApp

    fatal: list[str] = []
    server: uvicorn.Server | None = None

    def on_fatal(error: str) -> None:
        # The runner sees the exit code and the log tail; a half-alive instance helps nobody.
        fatal.append(error)
        if server is not None:
            server.should_exit = True

    app = EngineApp(
        model_dir=args.model,
        name=args.name,
        max_concurrency=args.max_concurrency,
        max_new_tokens_cap=args.max_new_tokens_cap,
        request_timeout=args.request_timeout,
        dtype=args.dtype,
        threads=args.threads,
        on_fatal=on_fatal,
    )
    if args.socket and os.path.exists(args.socket):
        os.unlink(args.socket)  # a stale socket of a previous run of this instance
    where = {"uds": args.socket} if args.socket else {"host": args.host, "port": args.port}
    config = uvicorn.Config(
        app,
        **where,
        lifespan="on",
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=int(args.request_timeout) + 5,
    )
    server = uvicorn.Server(config)
    server.run()
    return 1 if fatal else 0


if __name__ == "__main__":
    sys.exit(main())
