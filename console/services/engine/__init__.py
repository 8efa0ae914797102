"""The serving engine every service instance runs: OpenAI's wire format over one local model.

A library of the services app with no Django in it (an import-linter contract holds that): it runs
in the instance process on a node, started by the ``service_instance`` workload kind as::

    python -m console.services.engine --model <dir> --socket <path> --name <served model name> \\
        --max-concurrency N --max-new-tokens-cap M --request-timeout S

(``--host``/``--port`` instead of ``--socket`` for TCP on loopback). ``command(...)`` builds that
argument list. The model folder is loaded with transformers (``trust_remote_code=False``,
safetensors only) on the CPU, with as many torch threads as cores the process is pinned to; the
endpoints, health and drain are described in ``app.py``. Choice: transformers' ``generate`` with
its streamer in a thread, behind a small raw ASGI app on uvicorn — the same generation code as
``model.generate()`` in-process (bench/SERVING.md measures the cost), no extra dependency, and a
process we control (back-pressure, drain, cancellation) rather than ``transformers serve``.
"""

from __future__ import annotations

import sys


def command(
    *,
    model_dir: str,
    name: str,
    socket: str | None = None,
    host: str | None = None,
    port: int | None = None,
    max_concurrency: int = 4,
    max_new_tokens_cap: int = 512,
    request_timeout: float = 120.0,
    python: str | None = None,
) -> list[str]:
    """The argument list that starts an engine (never through a shell)."""
    argv = [python or sys.executable, "-m", "console.services.engine", "--model", str(model_dir), "--name", name]
    if socket:
        argv += ["--socket", str(socket)]
    else:
        argv += ["--host", host or "127.0.0.1", "--port", str(port)]
    argv += [
        "--max-concurrency",
        str(max_concurrency),
        "--max-new-tokens-cap",
        str(max_new_tokens_cap),
        "--request-timeout",
        f"{request_timeout:g}",
    ]
    return argv
