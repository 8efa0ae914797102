"""Model versions (seed 新增模型版本, 表3) and their task records (任务记录).

A version's status (创建中 → 创建成功 / 创建失败) is decided by its weight check,
or set to 创建成功 directly when validation is off. Task records are the seed's
任务记录 of a version: weight-validation tasks run by this app's Celery task,
and training / inference tasks that other apps report through
``console.versions.services`` (they are never run or swept here).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from console.core.models import LeasedWork, WorkState
from console.core.work import register_work
from console.mymodels.models import BaseModelVersion, ModelStatus, MyModel

MAX_VERSIONS_PER_MODEL = 10  # seed: 一个模型最多支持创建10个版本 (failed ones count too)


class ModelVersion(models.Model):
    model = models.ForeignKey(MyModel, on_delete=models.CASCADE, related_name="versions")
    # V1, V2 … assigned from MyModel.version_counter; never edited, never reused.
    number = models.PositiveIntegerField(editable=False)
    description = models.CharField(_("version description"), max_length=100, blank=True)
    base_version = models.ForeignKey(BaseModelVersion, on_delete=models.PROTECT, related_name="+")
    # obs://bucket/folder/ as the user picked it (seed: 必须选择到模型文件夹).
    weights_path = models.CharField(_("weights path"), max_length=1100)
    validate_weights = models.BooleanField(_("weight validation"), default=True)
    status = models.CharField(max_length=16, choices=ModelStatus.choices, default=ModelStatus.CREATING, db_index=True)
    # Why the version failed, in the seed's words when a check decided it.
    status_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["model", "number"], name="version_number_unique_in_model"),
        ]

    def __str__(self):
        return f"{self.model.name} {self.label}"

    @property
    def label(self) -> str:
        return f"V{self.number}"

    @property
    def is_terminal(self) -> bool:
        return self.status != ModelStatus.CREATING

    @property
    def latest_check(self):
        """The newest weight-check record (prefetched by the selectors when listed)."""
        records = getattr(self, "validation_records", None)
        if records is None:
            records = list(self.task_records.filter(kind=TaskKind.WEIGHT_VALIDATION).order_by("-created_at", "-id")[:1])
        return records[0] if records else None

    @property
    def failure(self) -> dict | None:
        """Why the version failed: the seed message, explanation and advice of its last check."""
        if self.status != ModelStatus.FAILED:
            return None
        check = self.latest_check
        if check is not None and check.failure:
            return check.failure
        return {"message": self.status_reason}


class TaskKind(models.TextChoices):
    WEIGHT_VALIDATION = "weight_validation", _("Weight validation")
    TRAINING = "training", _("Training")
    INFERENCE = "inference", _("Inference")


# Seed wording for record states: the seed shows 运行失败 for a failed check.
RECORD_SEED_LABELS = {
    WorkState.PENDING: "等待中",
    WorkState.RUNNING: "运行中",
    WorkState.SUCCEEDED: "运行成功",
    WorkState.FAILED: "运行失败",
}
RECORD_BADGE = {
    WorkState.PENDING: "muted",
    WorkState.RUNNING: "info",
    WorkState.SUCCEEDED: "success",
    WorkState.FAILED: "danger",
}


@register_work
class TaskRecord(LeasedWork):
    """One 任务记录 of a version.

    Weight-validation records are LeasedWork run by
    ``console.versions.tasks.validate_weights``: claimed, heartbeated, finished
    once, swept when their worker dies. Training / inference records are
    written by their own apps through ``task_record_create_for_training`` /
    ``task_record_finish``; they keep ``enqueued_at`` and ``heartbeat_at`` empty,
    which is exactly what the beat sweep never selects, so it never re-enqueues
    them as weight checks (and the task refuses any non-validation record anyway).
    """

    WORK_TASK = "console.versions.tasks.validate_weights"

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="task_records")
    kind = models.CharField(max_length=24, choices=TaskKind.choices, default=TaskKind.WEIGHT_VALIDATION)
    # Shown in the record list: the job's name for training/inference records.
    name = models.CharField(max_length=128, blank=True)
    # Training / inference records link to their job's page.
    link_url = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # console.weightcheck.CheckReport.to_dict() of the last attempt.
    report = models.JSONField(default=dict, blank=True)
    # Tag that marks this record's lines in the worker log ("weightcheck record=12 attempt=1").
    log_reference = models.CharField(max_length=128, blank=True)
    # What the check logged for this record (bounded), readable from the record page.
    log = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["version", "kind", "state"], name="taskrecord_version_kind_state")]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def failure(self) -> dict | None:
        """A failed record's seed message with its Chinese explanation and advice (report of table 4)."""
        if self.state != WorkState.FAILED:
            return None
        report = self.report or {}
        if report.get("message"):
            return report
        return {"message": self.failure_reason}

    @property
    def is_weight_check(self) -> bool:
        return self.kind == TaskKind.WEIGHT_VALIDATION

    @property
    def blocks_delete(self) -> bool:
        """Every record blocks deleting its version and model (seed: 当模型存在任务记录会删除失败)."""
        return True
