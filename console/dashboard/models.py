"""What the dashboard shows that is too expensive to compute on a page load."""

from django.db import models


class ProjectStorageUse(models.Model):
    """A project's storage use, summed by a beat task (console.dashboard.tasks), never on a page load.

    Walking a bucket lists every object; on S3 that is one request per 1,000 keys. The page
    reads this row and says how old it is.
    """

    project = models.OneToOneField("accounts.Project", on_delete=models.CASCADE, related_name="storage_use")
    total_bytes = models.BigIntegerField(default=0)
    object_count = models.BigIntegerField(default=0)
    buckets = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()
    took_ms = models.PositiveIntegerField(default=0)
    # A bucket that could not be read (backend down, credentials revoked): named here, the others still summed.
    errors = models.JSONField(default=list, blank=True)

    def __str__(self):
        return f"{self.project_id}: {self.total_bytes} B"
