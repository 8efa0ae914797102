"""docker-compose.yml and the Dockerfile: valid, complete, and configured the way settings.py reads it.

There is no Docker engine here. Debian's `docker-compose config -q` (installed by
scripts/test-services.sh) validates the file against the compose schema when present; a
structural check below runs always, and both are shown to fail on a broken file.
"""

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SERVICES = {"postgres", "redis", "web", "worker", "beat"}
CONSOLE_SERVICES = ("web", "worker", "beat")
ENV = {"SECRET_KEY": "k" * 60, "ALLOWED_HOSTS": "console.example.com"}

docker_compose = shutil.which("docker-compose")
needs_docker_compose = pytest.mark.skipif(not docker_compose, reason="docker-compose is not installed")


def compose_config(path: Path, env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "ALLOWED_HOSTS")}
    return subprocess.run(
        [docker_compose, "-f", str(path), "config", "-q"],
        cwd=path.parent,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def interpolate(value: str, env: dict) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, enough to resolve our own file."""

    def one(match):
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if name in env and env[name] != "":
            return env[name]
        if op == ":?":
            raise ValueError(f"{name}: {arg}")
        return arg or ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


def structural_problems(doc) -> list[str]:
    """What a working deployment needs from the compose file; [] when all is there."""
    problems = []
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        return ["no services mapping"]
    services = doc["services"]
    missing = SERVICES - set(services)
    if missing:
        problems.append(f"missing services: {sorted(missing)}")
    declared_volumes = set((doc.get("volumes") or {}).keys())
    for name in SERVICES & set(services):
        service = services[name] or {}
        if service.get("restart") not in ("always", "unless-stopped", "on-failure"):
            problems.append(f"{name}: not restarted when it exits")
        check = service.get("healthcheck") or {}
        if not check.get("test"):
            problems.append(f"{name}: no health check")
        for volume in service.get("volumes") or []:
            source = str(volume).split(":")[0]
            if not source.startswith((".", "/")) and source not in declared_volumes:
                problems.append(f"{name}: volume {source} is not declared")
        if not any(not str(v).startswith((".", "/")) for v in service.get("volumes") or []) and name != "worker":
            if name in ("postgres", "redis"):
                problems.append(f"{name}: its data is not on a named volume")
    for name in CONSOLE_SERVICES:
        service = services.get(name) or {}
        env = service.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env)
        for key in ("DATABASE_URL", "REDIS_URL", "CONSOLE_PRODUCTION", "SECRET_KEY", "ALLOWED_HOSTS"):
            if key not in env:
                problems.append(f"{name}: {key} is not set")
        if str(env.get("CONSOLE_PRODUCTION")) != "1":
            problems.append(f"{name}: not in production mode")
        if "SECRET_KEY" in env and not str(env["SECRET_KEY"]).startswith("${SECRET_KEY"):
            problems.append(f"{name}: SECRET_KEY must come from the environment / .env")
        if not service.get("build") and not service.get("image"):
            problems.append(f"{name}: no image to run")
    command = lambda name: " ".join(map(str, (services.get(name) or {}).get("command") or []))  # noqa: E731
    if "uvicorn console.asgi:application" not in command("web"):
        problems.append("web: does not run the front door (uvicorn console.asgi:application)")
    if not re.search(r"celery -A console worker", command("worker")):
        problems.append("worker: does not run a celery worker")
    if not re.search(r"celery -A console beat", command("beat")):
        problems.append("beat: does not run celery beat")
    for name in CONSOLE_SERVICES:
        depends = (services.get(name) or {}).get("depends_on") or {}
        if not depends:
            problems.append(f"{name}: starts without waiting for what it needs")
    return problems


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_it_has_every_part_of_a_deployment():
    assert structural_problems(load_compose()) == []


@pytest.mark.parametrize(
    "break_it, expected",
    [
        (lambda d: d["services"].pop("beat"), "missing services: ['beat']"),
        (lambda d: d["services"]["worker"].pop("healthcheck"), "worker: no health check"),
        (lambda d: d["services"]["beat"].pop("restart"), "beat: not restarted when it exits"),
        (lambda d: d["services"]["redis"].update(restart="no"), "redis: not restarted when it exits"),
        (lambda d: d.pop("volumes"), "volume postgres-data is not declared"),
        (lambda d: d["services"]["web"]["environment"].pop("REDIS_URL"), "web: REDIS_URL is not set"),
        (lambda d: d["services"]["web"]["environment"].update(SECRET_KEY="hard-coded"), "SECRET_KEY must come"),
        (
            lambda d: d["services"]["web"].update(command=["python", "manage.py", "runserver"]),
            "web: does not run the front door",
        ),
    ],
)
def test_its_structural_check_fails_on_a_broken_file(break_it, expected):
    doc = load_compose()
    # The console services share one anchor; give each its own copy before breaking one.
    for name in CONSOLE_SERVICES:
        doc["services"][name] = dict(doc["services"][name], environment=dict(doc["services"][name]["environment"]))
    break_it(doc)
    assert any(expected in problem for problem in structural_problems(doc)), structural_problems(doc)


@needs_docker_compose
def test_it_passes_docker_compose_config():
    result = compose_config(COMPOSE, ENV)
    assert result.returncode == 0, result.stderr


@needs_docker_compose
def test_docker_compose_config_fails_on_a_broken_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        COMPOSE.read_text().replace(
            '    healthcheck:\n      test: ["CMD", "redis-cli", "ping"]', "    healthcheck: yes-please", 1
        )
    )
    assert broken.read_text() != COMPOSE.read_text()
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    assert compose_config(broken, ENV).returncode != 0
    unknown_key = tmp_path / "unknown.yml"
    unknown_key.write_text(COMPOSE.read_text().replace("  redis:\n", "  redis:\n    restrat: always\n", 1))
    assert compose_config(unknown_key, ENV).returncode != 0


@needs_docker_compose
def test_it_refuses_to_start_without_a_secret_key():
    result = compose_config(COMPOSE, {"ALLOWED_HOSTS": "console.example.com"})
    assert result.returncode != 0
    assert "Set SECRET_KEY in .env" in result.stderr


def console_environment(env: dict) -> dict[str, str]:
    raw = load_compose()["services"]["web"]["environment"]
    return {key: interpolate(str(value), env) for key, value in raw.items()}


def test_the_worker_runs_without_a_connection_pool_and_web_with_one():
    services = load_compose()["services"]
    assert str(services["worker"]["environment"]["DATABASE_POOL_MAX_SIZE"]) == "0"
    assert interpolate(str(services["web"]["environment"]["DATABASE_POOL_MAX_SIZE"]), ENV) == "4"


def test_it_sets_only_variables_that_settings_read():
    settings_source = (ROOT / "console" / "settings.py").read_text()
    for key in console_environment(ENV):
        assert re.search(rf"""(env\w*|os\.environ\.get)\("{key}\"""", settings_source) or key in (
            "DJANGO_SETTINGS_MODULE",
        ), f"{key} is set in docker-compose.yml but console/settings.py never reads it"


def test_its_environment_passes_check_deploy(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(console_environment({**ENV, "SECRET_KEY": secrets.token_urlsafe(60)}))
    env.update(DJANGO_SETTINGS_MODULE="console.settings", CONSOLE_VAR_DIR=str(tmp_path / "data"))
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_collects_static_files_for_whitenoise_in_production_mode(tmp_path):
    """The Dockerfile's collectstatic step: manifest storage fails on a CSS url() to a missing file."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(
        DJANGO_SETTINGS_MODULE="console.settings",
        CONSOLE_PRODUCTION="1",
        SECRET_KEY="build-time-only-not-used-at-run-time",
        STATIC_ROOT=str(tmp_path / "static"),
        CONSOLE_VAR_DIR=str(tmp_path / "data"),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "static" / "staticfiles.json").exists()
    assert list((tmp_path / "static" / "css").glob("console.*.css.gz"))
    assert not (tmp_path / "data" / "secret_key").exists()


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_the_dockerfile_builds_a_slim_non_root_image():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.12-slim")
    runs = " ".join(arg for op, arg in instructions if op == "RUN")
    assert "pip install -r requirements.txt" in runs
    assert "collectstatic --noinput" in runs
    users = [arg.strip() for op, arg in instructions if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert instructions[-1][0] == "CMD" and "console.asgi:application" in instructions[-1][1]
    copies = [arg for op, arg in instructions if op == "COPY"]
    assert copies[0].split()[0] == "requirements.txt", "dependencies are installed before the code is copied"


def test_the_image_leaves_out_local_state():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "var/", ".env", "test-artifacts/"):
        assert entry in ignored


def test_collectstatic_still_fails_on_a_missing_file_that_is_not_a_source_map(tmp_path, settings):
    from django.core.files.base import ContentFile

    from console.core.staticfiles import ConsoleStaticFilesStorage

    storage = ConsoleStaticFilesStorage(location=str(tmp_path), base_url="/static/")
    storage.save("a.css", ContentFile(b"body { background: url(missing.png); }\n/*# sourceMappingURL=a.css.map */"))
    storage.save("b.css", ContentFile(b"body { color: red; }\n/*# sourceMappingURL=b.css.map */"))
    paths = {name: (storage, name) for name in ("a.css", "b.css")}
    errors = [
        (name, str(error)) for name, _hashed, error in storage.post_process(paths) if isinstance(error, Exception)
    ]
    assert len(errors) == 1
    assert errors[0][0] == "a.css" and "missing.png" in errors[0][1]
