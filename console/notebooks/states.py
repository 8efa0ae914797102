"""Notebook states exactly as ModelArts names them (v1 notebook API)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class State(models.TextChoices):
    INIT = "INIT", _("Initializing")
    CREATING = "CREATING", _("Creating")
    STARTING = "STARTING", _("Starting")
    STOPPING = "STOPPING", _("Stopping")
    DELETING = "DELETING", _("Deleting")
    RUNNING = "RUNNING", _("Running")
    STOPPED = "STOPPED", _("Stopped")
    SNAPSHOTTING = "SNAPSHOTTING", _("Saving the work folder")
    CREATE_FAILED = "CREATE_FAILED", _("Create failed")
    START_FAILED = "START_FAILED", _("Start failed")
    DELETE_FAILED = "DELETE_FAILED", _("Delete failed")
    ERROR = "ERROR", _("Error")
    DELETED = "DELETED", _("Deleted")
    FROZEN = "FROZEN", _("Frozen")


class LeaseType(models.TextChoices):
    TIMING = "TIMING", _("Scheduled stop")
    IDLE = "IDLE", _("Stop when idle")


# A runner is alive for a notebook in these states and must heartbeat.
HEARTBEATING = (State.STARTING, State.RUNNING, State.STOPPING, State.SNAPSHOTTING, State.DELETING)
# A notebook in these (with a node) holds its flavor's share of the node.
OCCUPYING = HEARTBEATING
# Waiting for a node: scheduled by the pool's scheduler.
WAITING = (State.CREATING, State.STARTING)
FAILED = (State.CREATE_FAILED, State.START_FAILED, State.DELETE_FAILED, State.ERROR)

BADGE = {
    State.INIT: "info",
    State.CREATING: "info",
    State.STARTING: "info",
    State.STOPPING: "warning",
    State.DELETING: "warning",
    State.RUNNING: "success",
    State.STOPPED: "muted",
    State.SNAPSHOTTING: "warning",
    State.CREATE_FAILED: "danger",
    State.START_FAILED: "danger",
    State.DELETE_FAILED: "danger",
    State.ERROR: "danger",
    State.DELETED: "muted",
    State.FROZEN: "muted",
}

WORKLOAD_KIND = "notebook"
