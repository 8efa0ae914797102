from django.db import models
from django.utils.translation import gettext_lazy as _


class ServiceHeartbeat(models.Model):
    """Last sign of life of a background service (beat), read by the health page."""

    name = models.CharField(max_length=64, unique=True)
    beat_at = models.DateTimeField()
    detail = models.JSONField(default=dict, blank=True)

    def __str__(self):
        return f"{self.name} @ {self.beat_at}"


class WorkState(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class LeasedWork(models.Model):
    """A row that background work claims, heartbeats and finishes exactly once.

    The row is the truth, not the broker: `console.core.work` claims it by
    compare-and-set, and the beat sweep re-enqueues it if its worker died.
    Subclasses set WORK_TASK (the Celery task name taking the row id) and may
    override `work_gave_up` to update what depends on the row.
    """

    WORK_TASK: str = ""

    state = models.CharField(max_length=16, choices=WorkState.choices, default=WorkState.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    claimed_by = models.CharField(max_length=64, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.state in (WorkState.SUCCEEDED, WorkState.FAILED)

    def work_gave_up(self) -> None:
        """Called once when the sweep fails the row after too many attempts."""
