"""Schemathesis against the served OpenAPI document: no 5xx, no response outside the document.

Every operation gets schema-valid (positive) and schema-invalid (negative)
requests with a real token for a real project, through the WSGI app in-process.
No node is registered and no worker runs, so a generated training job is
created and stays waiting; nothing starts. Examples are capped so the whole
run stays well under a minute.
"""

import time

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from console.storage.services import project_storage_defaults_apply

from .conftest import token_body

POSITIVE_EXAMPLES = 10
NEGATIVE_EXAMPLES = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def token(client, project_admin, project, flavors, local_engine, default_pool):
    # A catalog to list, a pool with no node: generated jobs are refused (max_num 0), nothing starts.
    project_storage_defaults_apply(project=project, actor=None)
    import json

    response = client.post("/v3/auth/tokens", data=json.dumps(token_body("pam")), content_type="application/json")
    return response["X-Subject-Token"]


@pytest.fixture
def wsgi_app():
    """The WSGI app in-process, keeping the test's database connection (and transaction) open,
    as Django's test client does: the handler would otherwise close it after each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def existing(token, storage_project, member, bucket_root, bucket_name, local_engine, default_pool):
    """A real algorithm and job to aim at. The job was created while one node row existed; the
    row is gone before the run, so no node is registered and nothing can start."""
    from console.training.services import algorithm_create, training_job_create
    from console.training.services.jobs import JobSpec
    from tests.training.conftest import make_node

    code = bucket_root / "code"
    code.mkdir()
    (code / "train.py").write_text("print('hi')\n")
    algorithm = algorithm_create(
        actor=member,
        project=storage_project,
        name="fuzzed",
        engine=local_engine,
        code_dir=f"obs://{bucket_name}/code/",
        boot_file=f"obs://{bucket_name}/code/train.py",
    )
    node = make_node(default_pool, "short-lived", engine=local_engine)
    job = training_job_create(
        actor=member,
        project=storage_project,
        spec=JobSpec(name="fuzzed-job", algorithm=algorithm, flavor_id="modelarts.vm.cpu.2u"),
    )
    node.delete()
    return {"algorithm_id": str(algorithm.uuid), "training_job_id": str(job.uuid), "task_id": "worker-0"}


def _run(operation, mode, examples, *, project_id, token, checks, ids=None):
    overrides = {}
    names = {p.name for p in operation.path_parameters}
    if "project_id" in names:
        overrides["path_parameters"] = {"project_id": project_id}
        for name, value in (ids or {}).items():
            if name in names:
                overrides["path_parameters"][name] = value

    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        # No shrinking: a failure is reported as generated, and the run stays short.
        phases=[Phase.explicit, Phase.generate],
    )
    @given(case=operation.as_strategy(generation_mode=mode, **overrides))
    def run(case):
        if operation.path != "/v3/auth/tokens":
            case.headers = {**(case.headers or {}), "X-Auth-Token": token}
        response = case.call()
        case.validate_response(response, checks=checks)

    run()


def test_the_api_keeps_to_its_own_document(db, token, existing, project, settings, wsgi_app):
    settings.ALLOWED_HOSTS = ["*"]
    started = time.monotonic()
    schema = schemathesis.openapi.from_wsgi("/v2/openapi.json", wsgi_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 19
    # Deletions last, so the other operations still find the real algorithm and job.
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    for operation in operations:
        common = {"project_id": project.project_id, "token": token}
        # Random ids (not found, bad shapes), then the real algorithm and job.
        _run(operation, GenerationMode.POSITIVE, POSITIVE_EXAMPLES, checks=CHECKS, **common)
        _run(operation, GenerationMode.POSITIVE, POSITIVE_EXAMPLES, checks=CHECKS, ids=existing, **common)
        _run(
            operation,
            GenerationMode.NEGATIVE,
            NEGATIVE_EXAMPLES,
            checks=[*CHECKS, negative_data_rejection],
            ids=existing,
            **common,
        )
    assert time.monotonic() - started < 90
