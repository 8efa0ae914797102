"""What an interpreter can run, found without importing any framework in our own process.

An engine is a Python interpreter (a virtualenv) on the nodes. We ask the
interpreter itself, in a subprocess, which frameworks its environment has
installed (importlib.metadata reads package metadata only: torch is never
imported, so probing costs milliseconds and no GPU memory), then name it the
seed's way: ``pytorch_2.13.0-cpu-py_3.12-debian_12-x86_64``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import dataclass
from functools import cache

PROBE_SOURCE = r"""
import json, platform, sys
from importlib import metadata

def version(*names):
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return ""

print(json.dumps({
    "python": "%d.%d" % sys.version_info[:2],
    "executable": sys.executable,
    "machine": platform.machine(),
    "torch": version("torch"),
    "tensorflow": version("tensorflow", "tensorflow-cpu"),
    "mindspore": version("mindspore"),
}))
"""

# Framework key in the probe → (engine_name as the seed writes it, id prefix).
FRAMEWORKS = [
    ("torch", "PyTorch", "pytorch"),
    ("tensorflow", "TensorFlow", "tensorflow"),
    ("mindspore", "MindSpore", "mindspore"),
]


class EngineProbeError(Exception):
    pass


@dataclass(frozen=True)
class EngineIdentity:
    engine_id: str
    engine_name: str
    framework_version: str
    python_version: str
    python_path: str

    def as_dict(self) -> dict:
        return {
            "engine_id": self.engine_id,
            "engine_name": self.engine_name,
            "framework_version": self.framework_version,
            "python_version": self.python_version,
            "python_path": self.python_path,
        }


def probe_interpreter(python_path: str, *, timeout: float = 30) -> dict:
    """Run the interpreter with the probe; its facts as a dict, or EngineProbeError saying why not."""
    if not python_path or not os.path.isabs(python_path):
        raise EngineProbeError(f"{python_path!r} is not an absolute path to a Python interpreter.")
    if not os.path.isfile(python_path) or not os.access(python_path, os.X_OK):
        raise EngineProbeError(f"There is no executable interpreter at {python_path}.")
    try:
        result = subprocess.run(
            [python_path, "-I", "-c", PROBE_SOURCE],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise EngineProbeError(f"{python_path} could not be run: {error}") from None
    if result.returncode != 0:
        raise EngineProbeError(f"{python_path} failed: {result.stderr.strip()[-300:]}")
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise EngineProbeError(f"{python_path} did not answer like a Python interpreter.") from None


def current_os_user() -> str:
    """The OS user this process runs as: the runner starts training processes as this same user,
    so a node reports it as its engines' run_user (``getpass`` falls back to $USER/$LOGNAME)."""
    try:
        import pwd  # POSIX only; the nodes are Linux

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        import getpass

        try:
            return getpass.getuser()
        except OSError:
            return str(os.getuid()) if hasattr(os, "getuid") else ""


@cache
def os_tag() -> str:
    """``debian_12``, ``ubuntu_22.04``… from /etc/os-release (the seed's engine ids carry the OS)."""
    values = {}
    try:
        with open("/etc/os-release") as handle:
            for line in handle:
                key, _, value = line.strip().partition("=")
                values[key] = value.strip('"')
    except OSError:
        return platform.system().lower() or "linux"
    name = values.get("ID", "linux")
    version = values.get("VERSION_ID", "")
    return f"{name}_{version}" if version else name


def identity_for(probe: dict, *, python_path: str, accelerator: str = "cpu") -> EngineIdentity:
    """The seed-style engine id of a probed interpreter; the first framework found names it."""
    python = probe.get("python", "")
    machine = probe.get("machine") or platform.machine()
    suffix = f"py_{python}-{os_tag()}-{machine}"
    for key, engine_name, prefix in FRAMEWORKS:
        version = probe.get(key) or ""
        if version:
            version = version.split("+", 1)[0]
            return EngineIdentity(
                engine_id=f"{prefix}_{version}-{accelerator}-{suffix}",
                engine_name=engine_name,
                framework_version=version,
                python_version=python,
                python_path=python_path,
            )
    return EngineIdentity(
        engine_id=f"python_{python}-{suffix}",
        engine_name="Python",
        framework_version=python,
        python_version=python,
        python_path=python_path,
    )
