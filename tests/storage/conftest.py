"""Fixtures for the storage layer: a local bucket, and an S3 bucket on moto's server.

The S3 backend is exercised over real HTTP: moto's server runs in a thread on a
free port of 127.0.0.1 (one per test session) and boto3 talks to it as it would
to OBS or MinIO. Every test gets its own bucket.
"""

from __future__ import annotations

import logging
import uuid

import pytest

from console.storage import LocalBackend

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"
REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    # One log line per request would drown every failure report.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_config(moto_endpoint):
    import boto3

    bucket = f"test-{uuid.uuid4().hex[:20]}"
    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )
    client.create_bucket(Bucket=bucket)
    return {
        "kind": "s3",
        "bucket": bucket,
        "endpoint_url": moto_endpoint,
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "region": REGION,
        "prefix": "",
    }


@pytest.fixture
def s3_backend(s3_config):
    from console.storage import backend_for

    return backend_for(s3_config)


@pytest.fixture
def local_backend(tmp_path):
    return LocalBackend(tmp_path / "bucket", create=True)


@pytest.fixture(params=["local", "s3"])
def backend(request):
    """The same behaviour, checked on both backends."""
    return request.getfixturevalue(f"{request.param}_backend")
