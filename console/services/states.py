"""Service and instance statuses (ModelArts 在线服务: deploying, running, concerning, failed, stopped, pending)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ServiceStatus(models.TextChoices):
    DEPLOYING = "deploying", _("Deploying")
    RUNNING = "running", _("Running")
    CONCERNING = "concerning", _("Concerning")
    FAILED = "failed", _("Failed")
    STOPPED = "stopped", _("Stopped")
    PENDING = "pending", _("Pending")


class InstanceState(models.TextChoices):
    PENDING = "pending", _("Waiting for a node")
    ASSIGNED = "assigned", _("Assigned")
    STARTING = "starting", _("Starting")
    READY = "ready", _("Ready")
    DRAINING = "draining", _("Draining")
    STOPPING = "stopping", _("Stopping")
    STOPPED = "stopped", _("Stopped")
    FAILED = "failed", _("Failed")


# The service's desired instances are made of these (a draining one is on its way out).
LIVE = (InstanceState.PENDING, InstanceState.ASSIGNED, InstanceState.STARTING, InstanceState.READY)
# A runner is alive for the instance in these and must heartbeat.
HEARTBEATING = (InstanceState.STARTING, InstanceState.READY, InstanceState.DRAINING, InstanceState.STOPPING)
# With a node, these hold the flavor's share of it.
OCCUPYING = (InstanceState.ASSIGNED, *HEARTBEATING)
ENDED = (InstanceState.STOPPED, InstanceState.FAILED)
# Scale, stop and start are allowed in these (the seed's property API: running or concerning only).
SCALABLE = (ServiceStatus.RUNNING, ServiceStatus.CONCERNING)

BADGE = {
    ServiceStatus.DEPLOYING: "info",
    ServiceStatus.RUNNING: "success",
    ServiceStatus.CONCERNING: "warning",
    ServiceStatus.FAILED: "danger",
    ServiceStatus.STOPPED: "muted",
    ServiceStatus.PENDING: "info",
}
INSTANCE_BADGE = {
    InstanceState.PENDING: "info",
    InstanceState.ASSIGNED: "info",
    InstanceState.STARTING: "info",
    InstanceState.READY: "success",
    InstanceState.DRAINING: "warning",
    InstanceState.STOPPING: "warning",
    InstanceState.STOPPED: "muted",
    InstanceState.FAILED: "danger",
}

WORKLOAD_KIND = "service_instance"
