"""API test helpers: JSON calls with a token, the seed's token request body."""

import functools
import json

import pytest

from tests.conftest import PASSWORD


def token_body(username, *, password=PASSWORD, domain="acme", project="vision", methods=("password",)):
    """The seed's POST /v3/auth/tokens body."""
    return {
        "auth": {
            "identity": {
                "methods": list(methods),
                "password": {"user": {"name": username, "password": password, "domain": {"name": domain}}},
            },
            "scope": {"project": {"name": project}},
        }
    }


class ApiClient:
    """Calls the API as a script would: JSON bodies, X-Auth-Token, no session."""

    def __init__(self, client, token=None):
        self.client = client
        self.token = token

    def _headers(self, headers):
        merged = {}
        if self.token:
            merged["HTTP_X_AUTH_TOKEN"] = self.token
        for name, value in (headers or {}).items():
            merged["HTTP_" + name.upper().replace("-", "_")] = value
        return merged

    def call(self, method, path, body=None, *, raw=None, headers=None, content_type="application/json", **params):
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        kwargs = self._headers(headers)
        if method in ("get", "delete") and params:
            from urllib.parse import urlencode

            path = f"{path}?{urlencode(params)}"
        if data is not None:
            return getattr(self.client, method)(path, data=data, content_type=content_type, **kwargs)
        return getattr(self.client, method)(path, **kwargs)

    def get(self, path, **params):
        return self.call("get", path, **params)

    def post(self, path, body=None, **kwargs):
        return self.call("post", path, body, **kwargs)

    def put(self, path, body=None, **kwargs):
        return self.call("put", path, body, **kwargs)

    def delete(self, path, **params):
        return self.call("delete", path, **params)


@pytest.fixture
def anonymous_api(client):
    return ApiClient(client)


@pytest.fixture
def api_as(client):
    """api_as(user, project) -> ApiClient holding a token requested over HTTP, like a script."""

    def make(user, project):
        response = client.post(
            "/v3/auth/tokens",
            data=json.dumps(token_body(user.username, project=project.name, domain=user.profile.organization.name)),
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
        return ApiClient(client, response["X-Subject-Token"])

    return make


def assert_error(response, status, code, *fragments):
    assert response.status_code == status, (response.status_code, response.content)
    body = response.json()
    assert set(body) == {"error_code", "error_msg"}, body
    assert body["error_code"] == code, body
    for fragment in fragments:
        assert fragment in body["error_msg"], body
    assert response["X-Request-Id"]
    assert "Traceback" not in body["error_msg"]
    return body


# --- training: the training engineer's fixtures (storage, pool, flavors, engine, nodes) ---------

from tests.training.conftest import (  # noqa: E402,F401 — registered as fixtures here
    _fast_training,
    bucket_name,
    bucket_root,
    default_pool,
    examples_in_bucket,
    flavors,
    node_env,
    storage_project,
)


@functools.cache
def _local_identity():
    # Probing the interpreter is a subprocess; the answer does not change within a run.
    import sys

    from console.training.engines import identity_for, probe_interpreter

    return identity_for(probe_interpreter(sys.executable), python_path=sys.executable)


@pytest.fixture
def local_engine(db):
    """This interpreter's engine, as a node running it detects it (probed once per run)."""
    from console.training.models import Engine

    identity = _local_identity()
    engine, _ = Engine.objects.get_or_create(
        engine_id=identity.engine_id,
        defaults={
            "engine_name": identity.engine_name,
            "engine_version": identity.engine_id,
            "framework_version": identity.framework_version,
            "python_version": identity.python_version,
        },
    )
    return engine
