"""Fixtures for the Django side of storage (buckets, authorizations, the gate, pages).

Imported by the tests/storage/test_{bucket,gate,picker,upload}_*.py files with
``from tests.storage.django_support import *``. Local buckets live in a temp
folder per test (settings.STORAGE_ROOT).
"""

from __future__ import annotations

import pytest

from console.storage.models import Bucket
from console.storage.services import project_storage_defaults_apply

__all__ = ["storage_root", "bucket", "other_bucket", "bucket_backend", "put_file"]


@pytest.fixture
def storage_root(settings, tmp_path):
    settings.STORAGE_ROOT = tmp_path / "buckets"
    return settings.STORAGE_ROOT


@pytest.fixture
def bucket(project, storage_root, django_capture_on_commit_callbacks) -> Bucket:
    """The project's default local bucket, with the all-users modelarts_agency authorization."""
    with django_capture_on_commit_callbacks(execute=True):
        project_storage_defaults_apply(project=project)
    return Bucket.objects.get(project=project)


@pytest.fixture
def other_bucket(other_project, storage_root, django_capture_on_commit_callbacks) -> Bucket:
    with django_capture_on_commit_callbacks(execute=True):
        project_storage_defaults_apply(project=other_project)
    return Bucket.objects.get(project=other_project)


@pytest.fixture
def bucket_backend(bucket):
    from console.storage.gate import backend_for_bucket

    return backend_for_bucket(bucket)


def put_file(backend, key: str, data: bytes = b"x") -> None:
    import io

    backend.write_stream(key, io.BytesIO(data), size=len(data))
