"""PostgreSQL connections: a bounded psycopg pool per process, configured from the environment."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def settings_in_subprocess(tmp_path, **env_overrides) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_POOL_")}
    env.update(DJANGO_SETTINGS_MODULE="console.settings", CONSOLE_VAR_DIR=str(tmp_path), **env_overrides)
    script = (
        "import json, django; django.setup(); from django.conf import settings; "
        "db = settings.DATABASES['default']; "
        "print(json.dumps({'pool': db.get('OPTIONS', {}).get('pool'), 'conn_max_age': db['CONN_MAX_AGE']}))"
    )
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


POSTGRES_URL = "postgres://console:secret@db.example.com:5432/console"


def test_postgresql_gets_a_bounded_pool_and_no_persistent_connections(tmp_path):
    result = settings_in_subprocess(tmp_path, DATABASE_URL=POSTGRES_URL)
    assert result.returncode == 0, result.stderr
    db = json.loads(result.stdout)
    assert db == {"pool": {"min_size": 1, "max_size": 4, "timeout": 10.0, "max_idle": 60}, "conn_max_age": 0}


def test_the_pool_size_and_wait_come_from_the_environment(tmp_path):
    result = settings_in_subprocess(
        tmp_path, DATABASE_URL=POSTGRES_URL,
        DATABASE_POOL_MIN_SIZE="2", DATABASE_POOL_MAX_SIZE="12", DATABASE_POOL_TIMEOUT="2.5",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["pool"] == {"min_size": 2, "max_size": 12, "timeout": 2.5, "max_idle": 60}


def test_a_pool_size_of_zero_turns_it_off(tmp_path):
    # What serve and docker-compose give the Celery worker: prefork children must not inherit a pool.
    result = settings_in_subprocess(tmp_path, DATABASE_URL=POSTGRES_URL, DATABASE_POOL_MAX_SIZE="0")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"pool": None, "conn_max_age": 60}


def test_sqlite_has_no_pool(tmp_path):
    env_without_url = {"DATABASE_URL": ""}
    result = settings_in_subprocess(tmp_path, **env_without_url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["pool"] is None


@pytest.mark.parametrize(
    "env", [{"DATABASE_POOL_MIN_SIZE": "5", "DATABASE_POOL_MAX_SIZE": "4"}, {"DATABASE_POOL_MAX_SIZE": "many"}]
)
def test_an_impossible_pool_size_is_refused_at_start(tmp_path, env):
    result = settings_in_subprocess(tmp_path, DATABASE_URL=POSTGRES_URL, **env)
    assert result.returncode != 0
    assert "DATABASE_POOL_" in result.stderr


def test_the_running_console_uses_the_pool_on_postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip("the pool is PostgreSQL's")
    assert settings.DATABASES["default"]["OPTIONS"]["pool"]["max_size"] == settings.DATABASE_POOL_MAX_SIZE
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 0
    connection.ensure_connection()
    pool = connection.pool
    assert pool is not None, "psycopg-pool is not installed: pip install -r requirements.txt"
    assert (pool.min_size, pool.max_size) == (settings.DATABASE_POOL_MIN_SIZE, settings.DATABASE_POOL_MAX_SIZE)
    assert connection.connection._pool is pool  # the connection in use came from it
