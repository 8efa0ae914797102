"""Writes of the dashboard: the cached storage use of each project (run by beat, never by a page)."""

import logging
import time

from django.utils import timezone

from console.accounts.models import Project
from console.dashboard.models import ProjectStorageUse
from console.storage.gate import backend_for_bucket
from console.storage.models import Bucket

logger = logging.getLogger(__name__)


def project_storage_use_refresh(*, project: Project) -> ProjectStorageUse:
    """Walk every bucket of ``project`` once and store the sum (bytes, objects) in its row.

    An administrative read of the project's own buckets: it goes straight to the backends
    (console.storage.gate.backend_for_bucket), as bucket creation does. A bucket that cannot be
    read is named in ``errors`` and the others are still counted.
    """
    started = time.perf_counter()
    total = count = 0
    errors = []
    buckets = list(Bucket.objects.filter(project=project).order_by("name"))
    for bucket in buckets:
        try:
            for entry in backend_for_bucket(bucket).walk(""):
                total += entry.size
                count += 1
        except Exception as error:  # one unreadable bucket must not hide the others' use
            logger.warning("storage use of bucket %s: %s", bucket.name, error)
            errors.append({"bucket": bucket.name, "error": f"{type(error).__name__}: {error}"[:300]})
    row, _ = ProjectStorageUse.objects.update_or_create(
        project=project,
        defaults={
            "total_bytes": total,
            "object_count": count,
            "buckets": len(buckets),
            "computed_at": timezone.now(),
            "took_ms": int((time.perf_counter() - started) * 1000),
            "errors": errors,
        },
    )
    return row


def storage_use_refresh_all() -> int:
    """Every project's row; returns how many were refreshed."""
    done = 0
    for project in Project.objects.order_by("pk"):
        project_storage_use_refresh(project=project)
        done += 1
    return done
