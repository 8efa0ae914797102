"""Resource pools and the nodes that registered themselves into them.

A node is a real Celery worker started with a pool name (CONSOLE_NODE_POOL): it
registers its hardware and engines (console.nodepools.services.node_register)
and heartbeats. Jobs for a pool go through the queue ``pool.<name>`` that only
the pool's workers consume, plus ``node.<name>`` for work aimed at one node
(launching a task's runner there). The platform's own work uses ``platform``.

Billing fields (pool billing mode, each node's own subscription dates, the
legacy flag) are carried here so the node-pools console adds rules, not models.
"""

from datetime import timedelta

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from console.core.money import money

# A pool or node name becomes part of a queue name: keep it to safe characters.
name_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
    _("Use 1–64 letters, digits, '_', '-' or '.', starting with a letter or digit."),
)

DEFAULT_POOL_NAME = "default"


class BillingMode(models.TextChoices):
    PAY_PER_USE = "pay_per_use", _("Pay-per-use")  # 按需计费
    YEARLY_MONTHLY = "yearly_monthly", _("Yearly/Monthly")  # 包年/包月


class PoolKind(models.TextChoices):
    NODES = "nodes", _("Registered nodes")  # the console's own workers
    RAY = "ray", _("Ray cluster")  # an existing Ray cluster, through its Jobs API


class Pool(models.Model):
    kind = models.CharField(_("kind"), max_length=8, choices=PoolKind.choices, default=PoolKind.NODES)
    name = models.CharField(_("name"), max_length=64, unique=True, validators=[name_validator])
    description = models.CharField(_("description"), max_length=255, blank=True)
    billing_mode = models.CharField(
        _("billing mode"), max_length=20, choices=BillingMode.choices, default=BillingMode.PAY_PER_USE
    )
    # Pay-per-use: price of one node-hour (the cost so far is worked out when shown).
    hourly_price = models.DecimalField(_("price per node-hour"), max_digits=10, decimal_places=4, null=True, blank=True)
    # Yearly/monthly: how long a node stays usable after its subscription ended (宽限期).
    grace_period_days = models.PositiveIntegerField(_("grace period (days)"), default=15)
    # The pool a job runs in when it names none (created by the setup step).
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Added by the node-pools console: yearly/monthly term a joining node is subscribed for
    # (its end = start + this, unless the node's own subscription_end is set, e.g. renewed).
    subscription_months = models.PositiveIntegerField(_("subscription term (months)"), default=1)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_pool"),
        ]

    def __str__(self):
        return self.name

    @property
    def hourly_price_text(self) -> str:
        """The price per node-hour with its currency (settings.CONSOLE_CURRENCY)."""
        return money(self.hourly_price)

    @property
    def queue_name(self) -> str:
        return pool_queue_name(self.name)

    @property
    def is_ray(self) -> bool:
        return self.kind == PoolKind.RAY


class RayCluster(models.Model):
    """What the console knows of the Ray cluster behind a pool of kind Ray (one per such pool).

    Ray owns the cluster's nodes: the console shows them (``nodes``, refreshed by beat) but never
    adds, removes or bills them. Jobs reach the cluster through its dashboard's Jobs API.
    """

    pool = models.OneToOneField(Pool, on_delete=models.CASCADE, related_name="ray")
    address = models.CharField(_("dashboard address"), max_length=255)  # http(s)://ray-head:8265
    # Optional auth in front of the dashboard (a proxy's header or a token): name in clear, value encrypted.
    auth_header = models.CharField(_("auth header name"), max_length=64, blank=True)
    auth_value_encrypted = models.TextField(blank=True)
    # The absolute path of the Python on the Ray nodes that runs the bootstrap and the boot file.
    interpreter = models.CharField(_("Python interpreter on the Ray nodes"), max_length=500)
    # The console's address as the Ray nodes reach it (the bootstrap fetches and uploads through it).
    console_url = models.CharField(_("console address seen from the cluster"), max_length=255)
    # Ray's head holds a job supervisor (~85 MB) per running job: the console keeps it bounded.
    max_concurrent_jobs = models.PositiveIntegerField(_("concurrent jobs at most"), default=20)
    # A job Ray keeps PENDING longer than this is stopped and fails with the reason.
    pending_deadline_seconds = models.PositiveIntegerField(_("pending deadline (seconds)"), default=600)

    # What the last check found (beat refreshes it; the page shows it).
    reachable = models.BooleanField(default=False)
    ray_version = models.CharField(max_length=32, blank=True)
    session_name = models.CharField(max_length=128, blank=True)
    nodes = models.JSONField(default=list, blank=True)  # [RayNode.as_dict()]
    message = models.TextField(blank=True)  # why it is unreachable, or a warning
    checked_at = models.DateTimeField(null=True, blank=True)
    unreachable_since = models.DateTimeField(null=True, blank=True)
    # What a short Ray job found about the interpreter ({"ok", "python_version", "executable", "message", "at"}).
    interpreter_probe = models.JSONField(default=dict, blank=True)

    def __str__(self):
        return f"{self.pool.name} → {self.address}"

    @property
    def alive_nodes(self) -> list[dict]:
        return [n for n in self.nodes if n.get("state") == "ALIVE"]

    @property
    def total_cpus(self) -> float:
        return sum(n.get("cpus", 0) for n in self.alive_nodes)

    @property
    def total_gpus(self) -> float:
        return sum(n.get("gpus", 0) for n in self.alive_nodes)

    @property
    def total_memory_bytes(self) -> int:
        return sum(int(n.get("memory_bytes", 0)) for n in self.alive_nodes)


def pool_queue_name(pool_name: str) -> str:
    """The Celery queue only this pool's workers consume."""
    return f"pool.{pool_name}"


def node_queue_name(node_name: str) -> str:
    """The Celery queue only this node's worker consumes (launching runners there)."""
    return f"node.{node_name}"


class NodeState(models.TextChoices):
    # ModelArts node phases.
    CREATING = "Creating", _("Creating")
    AVAILABLE = "Available", _("Available")
    ABNORMAL = "Abnormal", _("Abnormal")  # heartbeats stopped
    DELETING = "Deleting", _("Deleting")
    # Removed by an administrator: the row stays for history, the worker never rejoins by itself.
    DELETED = "Deleted", _("Deleted")


# States in which a node belongs to its pool (may take work when its heartbeat is fresh).
MEMBER_STATES = (NodeState.CREATING, NodeState.AVAILABLE, NodeState.ABNORMAL)


class NodeQuerySet(models.QuerySet):
    def members(self):
        """Nodes still in their pool (not removed by an administrator)."""
        return self.filter(state__in=MEMBER_STATES, removed_at__isnull=True)

    def live(self, now=None):
        """Nodes that may take work now: in their pool and heartbeating."""
        now = now or timezone.now()
        cutoff = now - timedelta(seconds=settings.NODE_TIMEOUT_SECONDS)
        return self.filter(state=NodeState.AVAILABLE, removed_at__isnull=True, heartbeat_at__gte=cutoff)


class Node(models.Model):
    pool = models.ForeignKey(Pool, on_delete=models.PROTECT, related_name="nodes")
    # CONSOLE_NODE_NAME (default: the host name); distinct names allow several workers per machine.
    name = models.CharField(_("name"), max_length=64, unique=True, validators=[name_validator])
    hostname = models.CharField(max_length=255)
    # Where other nodes reach this one (MASTER_ADDR of distributed jobs).
    address = models.CharField(max_length=255, default="127.0.0.1")
    # The Celery worker's own name (e.g. "node-a@host"): the destination of remote-control commands.
    worker_name = models.CharField(max_length=255, blank=True)
    state = models.CharField(max_length=16, choices=NodeState.choices, default=NodeState.CREATING, db_index=True)

    # Capacity, as the worker measured it when it registered.
    cpu_arch = models.CharField(max_length=32, blank=True)  # "x86" / "arm", as flavors say it
    cpu_cores = models.PositiveIntegerField(default=0)
    memory_bytes = models.BigIntegerField(default=0)
    disk_bytes = models.BigIntegerField(default=0)
    gpu_count = models.PositiveIntegerField(default=0)
    gpus = models.JSONField(default=list, blank=True)  # [{"index", "name", "memory_bytes"}] from NVML
    # Interpreters the worker found ([{"python_path", "engine_id", ...}]); engines link through NodeEngine.
    interpreters = models.JSONField(default=list, blank=True)

    registered_at = models.DateTimeField(auto_now_add=True)
    last_started_at = models.DateTimeField(null=True, blank=True)  # the worker's most recent (re)start
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    # Billing: each node carries its own subscription (nodes join at different times).
    subscription_start = models.DateTimeField(null=True, blank=True)
    subscription_end = models.DateTimeField(null=True, blank=True)
    legacy = models.BooleanField(_("legacy node"), default=False)  # 存量节点: shows "Delete"

    # Set when an administrator removes the node (delete / unsubscribe / release).
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_reason = models.CharField(max_length=255, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = NodeQuerySet.as_manager()

    class Meta:
        ordering = ["pool__name", "name"]

    def __str__(self):
        return self.name

    @property
    def queue_name(self) -> str:
        return node_queue_name(self.name)

    @property
    def memory_gb(self) -> float:
        return self.memory_bytes / 1024**3

    @property
    def disk_gb(self) -> float:
        return self.disk_bytes / 1024**3

    @property
    def is_removed(self) -> bool:
        return self.removed_at is not None or self.state in (NodeState.DELETING, NodeState.DELETED)

    @property
    def heartbeat_fresh(self) -> bool:
        if self.heartbeat_at is None:
            return False
        return timezone.now() - self.heartbeat_at <= timedelta(seconds=settings.NODE_TIMEOUT_SECONDS)

    @property
    def display_state(self) -> str:
        """The state as a person should read it: a silent member node is Abnormal."""
        if self.state in MEMBER_STATES and not self.heartbeat_fresh and self.state != NodeState.CREATING:
            return NodeState.ABNORMAL
        return self.state
