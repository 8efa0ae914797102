"""Notebook instances (ModelArts 开发环境), their timeline, their log, and the images nodes offer."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from console.notebooks.states import BADGE, LeaseType, State


class Image(models.Model):
    """An environment that can run Jupyter: an interpreter on the nodes with ``jupyterlab`` installed."""

    class Type(models.TextChoices):
        BUILD_IN = "BUILD_IN", _("Built-in")
        DEDICATED = "DEDICATED", _("Dedicated")

    image_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=128, unique=True)
    description = models.CharField(_("description"), max_length=512, blank=True)
    jupyterlab_version = models.CharField(max_length=32)
    python_version = models.CharField(max_length=32)
    arch = models.CharField(max_length=16, default="X86_64")
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.BUILD_IN)
    enabled = models.BooleanField(_("offered to users"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class NodeImage(models.Model):
    """Where an image is installed: the interpreter on that node that has it."""

    node = models.ForeignKey("nodepools.Node", on_delete=models.CASCADE, related_name="notebook_images")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="node_images")
    python_path = models.CharField(max_length=500)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["node", "image"], name="notebooks_nodeimage_unique")]


class Notebook(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="notebooks")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="notebooks")
    name = models.CharField(_("name"), max_length=128)
    description = models.CharField(_("description"), max_length=512, blank=True)
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="notebooks")
    flavor_spec = models.JSONField(default=dict)  # {"flavor_id", "cpu_cores", "memory_gb", ...} at create
    pool = models.ForeignKey("nodepools.Pool", null=True, on_delete=models.SET_NULL, related_name="notebooks")
    node = models.ForeignKey(
        "nodepools.Node", null=True, blank=True, on_delete=models.SET_NULL, related_name="notebooks"
    )
    node_name = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.INIT, db_index=True)
    fail_reason = models.TextField(blank=True)
    stop_requested = models.BooleanField(default=False)
    stop_reason = models.TextField(blank=True)  # why the current/last stop happened (user, lease, idle, node)
    delete_requested = models.BooleanField(default=False)
    ever_ran = models.BooleanField(default=False)

    # Lease (ModelArts LeaseReq/Lease): duration in ms; TIMING stops at lease_create_at + duration,
    # IDLE after `duration` of idleness.
    lease_type = models.CharField(max_length=8, choices=LeaseType.choices, default=LeaseType.TIMING)
    lease_duration_ms = models.BigIntegerField(default=3_600_000)
    lease_enable = models.BooleanField(default=True)
    lease_create_at = models.DateTimeField(null=True, blank=True)
    lease_update_at = models.DateTimeField(null=True, blank=True)
    lease_warned_at = models.DateTimeField(null=True, blank=True)

    # Storage: the work folder (restored at start, saved back) and an optional read-only data folder.
    work_path = models.CharField(max_length=1024)
    data_path = models.CharField(max_length=1024, blank=True)
    volume_capacity_gb = models.PositiveIntegerField(default=5)

    # The Jupyter server of the current start.
    token_encrypted = models.TextField(blank=True)
    socket_path = models.CharField(max_length=1024, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)

    # Activity, read from Jupyter's own /api/status and /api/kernels by the runner.
    last_activity_at = models.DateTimeField(null=True, blank=True)  # Jupyter's (kernels, terminals, API)
    kernels_busy = models.PositiveIntegerField(default=0)
    connections = models.PositiveIntegerField(default=0)
    console_activity_at = models.DateTimeField(null=True, blank=True)  # opened through the console

    # The runner of the current start (like a training task's).
    runner_pid = models.IntegerField(null=True, blank=True)
    runner_token = models.CharField(max_length=64, blank=True)
    process_pid = models.IntegerField(null=True, blank=True)
    local_dir = models.CharField(max_length=1024, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    log_seq = models.PositiveIntegerField(default=0)
    log_bytes = models.BigIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    start_requested_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)  # the runner claimed it
    running_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    work_saved_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "owner", "state"])]

    def __str__(self):
        return self.name

    @property
    def badge(self) -> str:
        return BADGE.get(self.state, "muted")

    @property
    def lease_expires_at(self):
        if self.lease_create_at is None:
            return None
        return self.lease_create_at + timedelta(milliseconds=self.lease_duration_ms)


class NotebookEvent(models.Model):
    notebook = models.ForeignKey(Notebook, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=32)
    message = models.TextField()

    class Meta:
        ordering = ["at", "pk"]


class NotebookLogChunk(models.Model):
    """The Jupyter server's own output (what it prints), for its owner."""

    notebook = models.ForeignKey(Notebook, on_delete=models.CASCADE, related_name="log_chunks")
    seq = models.PositiveIntegerField()
    text = models.TextField()
    at = models.DateTimeField()

    class Meta:
        ordering = ["pk"]
