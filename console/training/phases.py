"""Job phases exactly as ModelArts names them, and the statuses of a job's tasks."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Phase(models.TextChoices):
    CREATING = "Creating", _("Creating")
    PENDING = "Pending", _("Pending")
    RUNNING = "Running", _("Running")
    COMPLETED = "Completed", _("Completed")
    FAILED = "Failed", _("Failed")
    TERMINATING = "Terminating", _("Terminating")
    TERMINATED = "Terminated", _("Terminated")
    ABNORMAL = "Abnormal", _("Abnormal")


class SecondaryPhase(models.TextChoices):
    CREATING = "Creating", _("Creating")
    QUEUING = "Queuing", _("Queuing")
    RUNNING = "Running", _("Running")
    FAILED = "Failed", _("Failed")
    COMPLETED = "Completed", _("Completed")
    TERMINATING = "Terminating", _("Terminating")
    TERMINATED = "Terminated", _("Terminated")
    CREATE_FAILED = "CreateFailed", _("Create failed")
    TERMINATED_FAILED = "TerminatedFailed", _("Termination failed")
    UNKNOWN = "Unknown", _("Unknown")
    LOST = "Lost", _("Lost")


# A terminal phase is never overwritten (every phase update names the phase it expects).
TERMINAL_PHASES = (Phase.COMPLETED, Phase.FAILED, Phase.TERMINATED, Phase.ABNORMAL)
ACTIVE_PHASES = (Phase.CREATING, Phase.PENDING, Phase.RUNNING, Phase.TERMINATING)
STOPPABLE_PHASES = (Phase.CREATING, Phase.PENDING, Phase.RUNNING)

# Badge colours of components/status_badge.html.
PHASE_BADGE = {
    Phase.CREATING: "info",
    Phase.PENDING: "warning",
    Phase.RUNNING: "info",
    Phase.COMPLETED: "success",
    Phase.FAILED: "danger",
    Phase.TERMINATING: "warning",
    Phase.TERMINATED: "muted",
    Phase.ABNORMAL: "danger",
}


class TaskStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting for a node")
    ASSIGNED = "assigned", _("Assigned to a node")
    STARTING = "starting", _("Preparing")  # runner alive: downloading code and inputs
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    TERMINATED = "terminated", _("Terminated")
    LOST = "lost", _("Lost")


# A task in these holds its node: nobody else may be scheduled there.
OCCUPYING_STATUSES = (TaskStatus.ASSIGNED, TaskStatus.STARTING, TaskStatus.RUNNING)
# A task in these has a runner that must heartbeat.
HEARTBEATING_STATUSES = (TaskStatus.STARTING, TaskStatus.RUNNING)
TERMINAL_TASK_STATUSES = (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.TERMINATED, TaskStatus.LOST)

# The node-workload layer (console.nodepools.workloads) knows a training task by this kind name.
WORKLOAD_KIND = "training"


class Executor(models.TextChoices):
    """What runs a task: a runner on one of the console's nodes, or a Ray cluster's Jobs API."""

    NODE = "node", _("Console node")
    RAY = "ray", _("Ray cluster")
