"""ModelArts Console's bootstrap for one training task on a Ray cluster (runs on a Ray node).

Ray starts it through a shell as ``<interpreter> ma_bootstrap.py <signed job-spec URL>``, nothing
else on the line: every value of the job (boot file, parameters, folders) arrives in the spec and
goes to the training process as an argument list, never through a shell. Standard library only:
the Ray node's Python needs nothing installed for it.

  1. GET the spec (job-scoped, short-lived credential in the URL: no password, no long-lived key).
  2. Download the code and the inputs into a fresh workspace through the console's signed URLs.
  3. Run the boot file with the same arguments as on the console's own nodes; its output is this
     process's output (Ray's job log) and a local copy for the log export.
  4. Upload the output folders every ``upload_period`` seconds and at the end; export the log.
  5. Exit with the training process's exit code (128 + signal when a signal ended it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

# Where the console's argument list names a workspace folder; no real argument can hold a NUL.
WORKSPACE_MARK = "\x00WS\x00"
RETRIES = 4
CHUNK = 1024 * 1024


def say(message: str) -> None:
    sys.stdout.write(f"[modelarts bootstrap] {message}\n")
    sys.stdout.flush()


def request(url: str, *, method: str = "GET", data=None, headers=None, timeout: float = 60):
    """urllib with a few retries on network errors and 5xx (a console restart must not fail a job)."""
    for attempt in range(RETRIES):
        try:
            req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
            return urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as error:
            if error.code < 500 or attempt == RETRIES - 1:
                detail = error.read(500).decode("utf-8", "replace").strip()
                raise RuntimeError(f"{method} {redact(url)} answered {error.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            if attempt == RETRIES - 1:
                raise RuntimeError(f"{method} {redact(url)} failed: {error}") from None
        if hasattr(data, "seek"):
            data.seek(0)
        time.sleep(1 + attempt * 2)
    raise AssertionError("unreachable")


def redact(url: str) -> str:
    """The URL without its credential (it must not land in a log)."""
    parts = urllib.parse.urlsplit(url)
    segments = parts.path.split("/")
    if "ray" in segments:
        index = segments.index("ray") + 1
        if index < len(segments):
            segments[index] = "…"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/".join(segments), "", ""))


def inside(root: str, relative: str) -> str:
    """``root/relative``, refusing a path that would leave ``root``."""
    target = os.path.realpath(os.path.join(root, relative))
    if os.path.isabs(relative) or not (target == root or target.startswith(root + os.sep)):
        raise RuntimeError(f"refusing a path outside the workspace: {relative!r}")
    return target


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def download(files: list[dict], into: str) -> int:
    os.makedirs(into, exist_ok=True)
    root = os.path.realpath(into)
    for item in files:
        target = inside(root, item["path"])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with request(item["url"]) as response, open(target + ".part", "wb") as out:
            shutil.copyfileobj(response, out, CHUNK)
        os.replace(target + ".part", target)
    return len(files)


class Outputs:
    """Output folders, uploaded file by file when their size or time changed."""

    def __init__(self, outputs: list[dict], workspace: str):
        self.outputs = [(o["name"], os.path.join(workspace, o["dir"]), o["upload"]) for o in outputs]
        self.seen: dict[str, tuple[int, int]] = {}
        self.lock = threading.Lock()
        for _name, local, _url in self.outputs:
            os.makedirs(local, exist_ok=True)

    def sync(self) -> int:
        sent = 0
        with self.lock:
            for _name, local, base in self.outputs:
                for dirpath, dirnames, filenames in os.walk(local):
                    # Symlinks are skipped: a script must not publish /etc/passwd by linking it.
                    dirnames[:] = sorted(d for d in dirnames if not os.path.islink(os.path.join(dirpath, d)))
                    for name in sorted(filenames):
                        path = os.path.join(dirpath, name)
                        if os.path.islink(path) or not os.path.isfile(path) or name.endswith(".part"):
                            continue
                        stat = os.stat(path)
                        stamp = (stat.st_size, stat.st_mtime_ns)
                        if self.seen.get(path) == stamp:
                            continue
                        relative = os.path.relpath(path, local).replace(os.sep, "/")
                        url = base + urllib.parse.quote(relative)
                        with open(path, "rb") as body:
                            headers = {"Content-Length": str(stat.st_size), "Content-Type": "application/octet-stream"}
                            request(url, method="PUT", data=body, headers=headers).close()
                        self.seen[path] = stamp
                        sent += 1
        return sent


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        say("usage: ma_bootstrap.py <job-spec URL>")
        return 2
    with request(argv[1]) as response:
        spec = json.load(response)
    workspace = tempfile.mkdtemp(prefix=f"modelarts-{spec['job']}-")
    try:
        return run(spec, workspace)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def run(spec: dict, workspace: str) -> int:
    started = time.monotonic()
    code_dir = os.path.join(workspace, spec["code_dir"])
    counts = [f"code: {download(spec['files']['code'], code_dir)} file(s)"]
    for name, files in spec["files"]["inputs"].items():
        counts.append(f"{name}: {download(files, os.path.join(workspace, spec['input_dirs'][name]))} file(s)")
    say(f"downloaded {', '.join(counts)} in {time.monotonic() - started:.1f} s.")
    outputs = Outputs(spec["outputs"], workspace)
    os.makedirs(os.path.join(workspace, "tmp"), exist_ok=True)

    argv = [arg.replace(WORKSPACE_MARK, workspace) for arg in spec["argv"]]
    env = dict(os.environ)
    env.update({key: value.replace(WORKSPACE_MARK, workspace) for key, value in spec["env"].items()})
    if env.get("MASTER_PORT") == "0":
        env["MASTER_PORT"] = str(free_port())
    log_path = os.path.join(workspace, spec["log_name"])
    stopping = threading.Event()

    def on_term(signum, frame):
        # Ray stops a job with SIGTERM to the whole group (the training process gets it too);
        # the final upload below still runs before Ray's SIGKILL.
        stopping.set()

    signal.signal(signal.SIGTERM, on_term)
    say(f"starting {spec['boot_name']} with {argv[0]}.")
    child = subprocess.Popen(argv, cwd=code_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def copy_output():
        with open(log_path, "ab") as log:
            for line in iter(child.stdout.readline, b""):
                sys.stdout.buffer.write(line)
                sys.stdout.buffer.flush()
                log.write(line)

    reader = threading.Thread(target=copy_output, daemon=True)
    reader.start()
    period = max(1, int(spec.get("upload_period") or 30))
    next_upload = time.monotonic() + period
    while child.poll() is None:
        time.sleep(0.2)
        if time.monotonic() >= next_upload and not stopping.is_set():
            try:
                outputs.sync()
            except RuntimeError as error:
                say(f"periodic upload failed (retried at the end): {error}")
            next_upload = time.monotonic() + period
    reader.join(timeout=5)
    code = child.returncode if child.returncode >= 0 else 128 - child.returncode

    failed = False
    try:
        sent = outputs.sync()
        say(f"outputs uploaded ({sent} file(s) in the final sync).")
    except RuntimeError as error:
        say(f"could not upload the outputs: {error}")
        failed = True
    if spec.get("log_upload"):
        try:
            with open(log_path, "rb") as body:
                size = os.fstat(body.fileno()).st_size
                request(spec["log_upload"], method="PUT", data=body, headers={"Content-Length": str(size)}).close()
        except (OSError, RuntimeError) as error:
            say(f"could not export the log: {error}")
    if code == 0 and failed:
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
