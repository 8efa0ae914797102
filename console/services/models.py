"""Inference services (在线服务), their instances on nodes, API keys and timeline.

A service is what a member deploys: a model version on a pool with a flavor and a desired
instance count. Each instance is one engine process on one node, run by the node-workload
layer (console.services.workload) — its row is the truth, like a training task's.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from console.services.states import BADGE, INSTANCE_BADGE, InstanceState, ServiceStatus


class Service(models.Model):
    service_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="services")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="services")
    name = models.CharField(_("name"), max_length=64)
    description = models.CharField(_("description"), max_length=100, blank=True)
    version = models.ForeignKey("versions.ModelVersion", on_delete=models.PROTECT, related_name="services")
    # The version's inference task record (任务记录): it blocks deleting the model while the service exists.
    task_record_id = models.IntegerField(null=True, blank=True)
    pool = models.ForeignKey("nodepools.Pool", null=True, on_delete=models.SET_NULL, related_name="services")
    flavor_spec = models.JSONField(default=dict)  # {"flavor_id", "cpu_cores", "memory_gb", ...} at deploy
    memory_needed_bytes = models.BigIntegerField(default=0)
    instance_count = models.PositiveIntegerField(default=1)  # desired
    status = models.CharField(max_length=16, choices=ServiceStatus.choices, default=ServiceStatus.DEPLOYING)
    status_reason = models.TextField(blank=True)
    ever_ran = models.BooleanField(default=False)
    invocation_times = models.BigIntegerField(default=0)
    failed_times = models.BigIntegerField(default=0)
    tokens_generated = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Kept when a scale/start/stop changed the configuration (the property API's update_time).
    config_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="services_name_unique_in_project")]

    def __str__(self):
        return self.name

    @property
    def badge(self) -> str:
        return BADGE.get(self.status, "muted")

    @property
    def access_address(self) -> str:
        return f"/v1/infers/{self.service_id}"

    @property
    def served_name(self) -> str:
        """What the engine's /v1/models calls the model: the service's name."""
        return self.name


class ServiceInstance(models.Model):
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="instances")
    slot = models.PositiveIntegerField()  # instance-0, instance-1 … (a replacement keeps its slot)
    node = models.ForeignKey("nodepools.Node", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    node_name = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=16, choices=InstanceState.choices, default=InstanceState.PENDING)
    since = models.DateTimeField(auto_now_add=True)  # when the state last changed
    restarts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    log_tail = models.TextField(blank=True)  # the last lines of the run that ended
    pending_reason = models.TextField(blank=True)
    draining = models.BooleanField(default=False)
    drain_sent = models.BooleanField(default=False)
    stop_requested = models.BooleanField(default=False)
    stop_reason = models.TextField(blank=True)

    # The runner of the current run (like a training task's).
    runner_pid = models.IntegerField(null=True, blank=True)
    runner_token = models.CharField(max_length=64, blank=True)
    process_pid = models.IntegerField(null=True, blank=True)
    local_dir = models.CharField(max_length=1024, blank=True)
    socket_path = models.CharField(max_length=200, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    log_seq = models.PositiveIntegerField(default=0)
    log_bytes = models.BigIntegerField(default=0)
    # The engine's own counters, read from /health by the runner.
    outstanding = models.PositiveIntegerField(default=0)
    served = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    cpu_usage = models.FloatField(default=-1)
    mem_bytes = models.BigIntegerField(default=-1)

    class Meta:
        ordering = ["service_id", "slot", "pk"]
        indexes = [models.Index(fields=["state"], name="serviceinstance_state")]

    def __str__(self):
        return self.name

    @property
    def name(self) -> str:
        return f"instance-{self.slot}"

    @property
    def badge(self) -> str:
        return INSTANCE_BADGE.get(self.state, "muted")


class InstanceLogChunk(models.Model):
    instance = models.ForeignKey(ServiceInstance, on_delete=models.CASCADE, related_name="log_chunks")
    seq = models.PositiveIntegerField()
    text = models.TextField()
    at = models.DateTimeField()

    class Meta:
        ordering = ["instance_id", "seq", "pk"]


class ServiceApiKey(models.Model):
    """A per-service key (Authorization: Bearer …): shown once, stored as its SHA-256, revocable."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=64, blank=True)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)  # the page's "Try it" keys live minutes
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    call_count = models.BigIntegerField(default=0)
    failed_count = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]


class ServiceEvent(models.Model):
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    kind = models.CharField(max_length=32)
    message = models.TextField()
    instance_name = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]


class ServiceSample(models.Model):
    """One reading of an instance's engine counters (cumulative since its engine started, as /health says).

    The runner stores one per instance at most every SERVICE_SAMPLE_SECONDS; the charts are the
    differences of consecutive readings (console.services.charts). Kept SERVICE_SAMPLE_KEEP seconds.
    """

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="samples")
    # Nullable so a reading outlives its instance row; such readings cannot be paired and are not charted.
    instance = models.ForeignKey(
        ServiceInstance, null=True, blank=True, on_delete=models.SET_NULL, related_name="samples"
    )
    at = models.DateTimeField()
    served = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    tokens_generated = models.BigIntegerField(default=0)
    latency_seconds_total = models.FloatField(default=0)

    class Meta:
        ordering = ["service_id", "instance_id", "at", "pk"]
        indexes = [
            models.Index(fields=["service", "at"], name="servicesample_service_at"),
            models.Index(fields=["at"], name="servicesample_at"),
        ]
