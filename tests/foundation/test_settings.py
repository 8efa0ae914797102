"""Settings: production mode passes `check --deploy` with zero warnings; bad environment fails loudly."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(args, env_overrides, tmp_path):
    # A clean deployment environment: nothing from the test run (DJANGO_ALLOW_ASYNC_UNSAFE is a deploy error).
    dropped = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "ALLOWED_HOSTS")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(DJANGO_SETTINGS_MODULE="console.settings", CONSOLE_VAR_DIR=str(tmp_path / "var"), **env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


PRODUCTION = {
    "CONSOLE_PRODUCTION": "1",
    "DEBUG": "0",
    "ALLOWED_HOSTS": "console.example.com",
}


def test_it_passes_check_deploy_with_zero_warnings_in_production(tmp_path):
    result = manage(
        ["check", "--deploy", "--fail-level", "WARNING"],
        {**PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(60)},
        tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output
    assert "WARNING" not in output


def test_it_passes_check_deploy_on_postgresql_and_redis_too(tmp_path):
    result = manage(
        ["check", "--deploy", "--fail-level", "WARNING"],
        {
            **PRODUCTION,
            "SECRET_KEY": secrets.token_urlsafe(60),
            "DATABASE_URL": "postgres://console:pw@db.internal:5432/console",
            "REDIS_URL": "redis://redis.internal:6379/0",
        },
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_refuses_to_start_in_production_without_a_secret_key(tmp_path):
    result = manage(["check"], PRODUCTION, tmp_path)
    assert result.returncode != 0
    assert "Set the SECRET_KEY environment variable." in result.stderr


def test_it_names_a_malformed_setting(tmp_path):
    result = manage(["check"], {"CONSOLE_PRODUCTION": "maybe"}, tmp_path)
    assert result.returncode != 0
    assert "CONSOLE_PRODUCTION must be a boolean (1/0, true/false), not 'maybe'." in result.stderr
    result = manage(["check"], {"AXES_FAILURE_LIMIT": "five"}, tmp_path)
    assert "AXES_FAILURE_LIMIT must be an integer, not 'five'." in result.stderr


def test_it_works_on_one_machine_with_embedded_defaults(tmp_path):
    """No environment at all: SQLite in WAL mode, the filesystem broker, a generated secret key kept on disk."""
    code = (
        "from django.conf import settings as s; from django.db import connection as c;"
        "c.ensure_connection(); cur = c.cursor(); cur.execute('PRAGMA journal_mode'); "
        "print(s.DATABASES['default']['ENGINE'], cur.fetchone()[0], s.CELERY_BROKER_URL, s.DEBUG, "
        "s.SESSION_COOKIE_SECURE, s.SECURE_SSL_REDIRECT)"
    )
    result = manage(["shell", "-v", "0", "-c", code], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "wal", "filesystem://", "False", "False", "False"]
    key = (tmp_path / "var" / "secret_key").read_text()
    assert len(key) >= 50
    assert oct((tmp_path / "var" / "secret_key").stat().st_mode & 0o777) == "0o600"
    # The same key on the next start: sessions survive a restart.
    manage(["check"], {}, tmp_path)
    assert (tmp_path / "var" / "secret_key").read_text() == key
