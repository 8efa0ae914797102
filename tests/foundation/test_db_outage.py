"""A database that is down or out of connections answers 503 (a page, or the API's error body), never 500.

The subprocess tests are the real thing: the console's full middleware stack against a port where
no database listens, and against a pool of one connection that another thread holds.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.db import OperationalError, connection
from django.db.backends.utils import CursorWrapper

from tests.api.conftest import token_body

ROOT = Path(__file__).resolve().parents[2]


def assert_outage_page(response):
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert response["Retry-After"] == "10"
    html = response.content.decode()
    assert "cannot reach its database" in html
    assert response["X-Request-Id"] in html


def assert_outage_json(response):
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    body = response.json()
    assert body["error_code"] == "ModelArts.0503"
    assert "database is unavailable" in body["error_msg"]
    assert response["X-Request-Id"] in body["error_msg"]


def test_a_view_whose_query_fails_answers_the_503_page(client_for, site_admin, monkeypatch):
    def down():
        raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')

    monkeypatch.setattr("console.core.views.run_checks", down)
    client = client_for(site_admin)
    client.raise_request_exception = False
    assert_outage_page(client.get("/admin/health/"))


def test_other_errors_stay_500(client_for, site_admin, monkeypatch):
    def bug():
        raise ValueError("a bug, not an outage")

    monkeypatch.setattr("console.core.views.run_checks", bug)
    client = client_for(site_admin)
    client.raise_request_exception = False
    assert client.get("/admin/health/").status_code == 500


def _queries_fail(monkeypatch):
    """Every query from here on fails as a dropped server connection does, inside Django's error wrapping."""

    def dropped(self, sql, params, *ignored):
        with self.db.wrap_database_errors:
            raise self.db.Database.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(CursorWrapper, "_execute", dropped)


def test_an_api_call_whose_query_fails_answers_503_json_not_the_apis_0500(client, member, monkeypatch):
    # The API turns every exception into its own ModelArts.0500 body: the outage must still be a 503.
    with monkeypatch.context() as patch:
        _queries_fail(patch)
        response = client.post("/v3/auth/tokens", data=json.dumps(token_body("mia")), content_type="application/json")
    assert_outage_json(response)


def test_a_page_whose_session_cannot_be_read_answers_the_503_page(client_for, member, monkeypatch):
    # The first query is the session's, inside the middleware: no view's process_exception sees it.
    client = client_for(member)
    client.raise_request_exception = False
    with monkeypatch.context() as patch:
        _queries_fail(patch)
        response = client.get("/")
    assert_outage_page(response)


# --- for real: no database at all, and a pool with no free connection ---------------------------


def run_requests(env_overrides: dict, script: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(DJANGO_SETTINGS_MODULE="tests.settings", PYTHONUNBUFFERED="1", **env_overrides)
    preamble = textwrap.dedent("""
        import json, django
        django.setup()
        from django.test import Client
        client = Client(raise_request_exception=False, HTTP_HOST="localhost")
        def answer(response):
            return {"status": response.status_code, "type": response["Content-Type"],
                    "retry": response.get("Retry-After"), "body": response.content.decode()}
    """)
    result = subprocess.run(
        [sys.executable, "-c", preamble + textwrap.dedent(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # released again: nothing listens there


def test_with_the_database_server_down_pages_and_api_answer_503(tmp_path):
    answers = run_requests(
        {
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed_port()}/nowhere",
            "CONSOLE_VAR_DIR": str(tmp_path),
            "DATABASE_POOL_TIMEOUT": "1",  # a pool waits this long for a connection that never comes
        },
        """
        client.cookies["sessionid"] = "x" * 32  # a signed-in browser: its session is read from the database
        page = client.get("/")
        api = client.get("/v2/0123456789abcdef0123456789abcdef/algorithms", HTTP_X_AUTH_TOKEN="t")
        token = client.post("/v3/auth/tokens", data="{}", content_type="application/json")
        print(json.dumps({"page": answer(page), "api": answer(api), "token": answer(token)}))
        """,
    )
    page = answers["page"]
    assert page["status"] == 503 and page["type"].startswith("text/html") and page["retry"] == "10"
    assert "cannot reach its database" in page["body"]
    for name in ("api", "token"):
        assert answers[name]["status"] == 503, answers[name]
        assert json.loads(answers[name]["body"])["error_code"] == "ModelArts.0503"


def test_with_every_pooled_connection_taken_a_request_answers_503(db, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the connection pool is PostgreSQL's")
    from tests.conftest import _database_url_for_subprocess

    answers = run_requests(
        {
            "DATABASE_URL": _database_url_for_subprocess(),
            "CONSOLE_VAR_DIR": str(tmp_path),
            "DATABASE_POOL_MIN_SIZE": "1",
            "DATABASE_POOL_MAX_SIZE": "1",
            "DATABASE_POOL_TIMEOUT": "0.5",
        },
        """
        import threading
        from django.db import connection

        taken, done = threading.Event(), threading.Event()

        def hold():  # another thread of this process holds the pool's only connection
            connection.ensure_connection()
            taken.set()
            done.wait(30)
            connection.close()

        threading.Thread(target=hold, daemon=True).start()
        taken.wait(10)
        api = client.get("/v2/0123456789abcdef0123456789abcdef/algorithms", HTTP_X_AUTH_TOKEN="t")
        client.cookies["sessionid"] = "x" * 32
        page = client.get("/")
        done.set()
        print(json.dumps({"page": answer(page), "api": answer(api)}))
        """,
    )
    assert answers["api"]["status"] == 503, answers["api"]
    assert json.loads(answers["api"]["body"])["error_code"] == "ModelArts.0503"
    assert answers["page"]["status"] == 503, answers["page"]["body"][-2000:]
    assert "cannot reach its database" in answers["page"]["body"]
