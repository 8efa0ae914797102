"""Flavors, engines, algorithms and training jobs, with the field names of the seed's API.

A job's row is the truth about it; the runner beside each task (a separate
process on the task's node, console.nodepools.workloads) reports heartbeat, exit,
log lines and metric samples into the rows below, and the beat poller
(console.training.reconcile) turns task facts into the job's phase with
conditional updates.
"""

import uuid

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from console.training.phases import (
    ACTIVE_PHASES,
    PHASE_BADGE,
    STOPPABLE_PHASES,
    TERMINAL_PHASES,
    TERMINAL_TASK_STATUSES,
    Executor,
    Phase,
    SecondaryPhase,
    TaskStatus,
)

flavor_id_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9._-]{0,63}$",
    _("Use lowercase letters, digits, '.', '_' or '-' (such as modelarts.vm.cpu.8u)."),
)


class FlavorType(models.TextChoices):
    CPU = "CPU", "CPU"
    GPU = "GPU", "GPU"
    NPU = "NPU", "NPU"


class CpuArch(models.TextChoices):
    X86 = "x86", "x86"
    ARM = "arm", "arm"


class Flavor(models.Model):
    """A resource specification (公共规格) a job asks for, per node."""

    flavor_id = models.CharField(_("flavor ID"), max_length=64, unique=True, validators=[flavor_id_validator])
    flavor_name = models.CharField(_("name"), max_length=128)
    flavor_type = models.CharField(_("type"), max_length=8, choices=FlavorType.choices, default=FlavorType.CPU)
    cpu_arch = models.CharField(_("CPU architecture"), max_length=8, choices=CpuArch.choices, default=CpuArch.X86)
    cpu_cores = models.PositiveIntegerField(_("CPU cores"), validators=[MinValueValidator(1)])
    memory_gb = models.PositiveIntegerField(_("memory (GB)"), validators=[MinValueValidator(1)])
    disk_gb = models.PositiveIntegerField(_("disk (GB)"), default=50)
    gpu_count = models.PositiveIntegerField(_("GPUs"), default=0)
    gpu_type = models.CharField(_("GPU type"), max_length=64, blank=True)
    npu_count = models.PositiveIntegerField(_("NPUs"), default=0)
    billing_code = models.CharField(_("billing code"), max_length=64, blank=True)
    billing_unit_num = models.PositiveIntegerField(_("billing units"), default=1)
    enabled = models.BooleanField(_("offered to users"), default=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "cpu_cores", "flavor_id"]

    def __str__(self):
        return self.flavor_id

    @property
    def memory_bytes(self) -> int:
        return self.memory_gb * 1024**3

    @property
    def disk_bytes(self) -> int:
        return self.disk_gb * 1024**3

    def snapshot(self) -> dict:
        """What a job keeps of its flavor (the flavor may be edited later)."""
        return {
            "flavor_id": self.flavor_id,
            "flavor_name": self.flavor_name,
            "flavor_type": self.flavor_type,
            "cpu_arch": self.cpu_arch,
            "cpu_cores": self.cpu_cores,
            "memory_gb": self.memory_gb,
            "disk_gb": self.disk_gb,
            "gpu_count": self.gpu_count,
            "npu_count": self.npu_count,
            "billing_code": self.billing_code or self.flavor_id,
            "billing_unit_num": self.billing_unit_num,
        }


class EngineSource(models.TextChoices):
    DETECTED = "detected", _("Detected on a node")
    ADMIN = "admin", _("Added by an administrator")


class Engine(models.Model):
    """A runtime (AI预置框架): a Python interpreter (a virtualenv) present on nodes."""

    engine_id = models.CharField(_("engine ID"), max_length=128, unique=True)
    engine_name = models.CharField(_("engine name"), max_length=64)  # "PyTorch"
    engine_version = models.CharField(_("engine version"), max_length=128)  # the seed repeats engine_id here
    framework_version = models.CharField(max_length=32, blank=True)  # "2.13.0"
    python_version = models.CharField(max_length=16, blank=True)  # "3.12"
    # Administrators register a virtualenv's interpreter; nodes report where they found it.
    python_path = models.CharField(_("Python interpreter"), max_length=500, blank=True)
    source = models.CharField(max_length=10, choices=EngineSource.choices, default=EngineSource.DETECTED)
    v1_compatible = models.BooleanField(default=False)
    run_user = models.CharField(max_length=32, blank=True)
    tags = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(_("offered to users"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    nodes = models.ManyToManyField("nodepools.Node", through="NodeEngine", related_name="engines")

    class Meta:
        ordering = ["engine_name", "engine_id"]

    def __str__(self):
        return self.engine_id

    def snapshot(self) -> dict:
        return {
            "engine_id": self.engine_id,
            "engine_name": self.engine_name,
            "engine_version": self.engine_version,
            "tags": self.tags,
            "v1_compatible": self.v1_compatible,
            "run_user": self.run_user,
            # What the engine is: an interpreter and its environment (ModelArts' image_info).
            "python_path": self.interpreter_path,
            "python_version": self.python_version,
            "framework_version": self.framework_version,
        }

    @property
    def interpreter_path(self) -> str:
        """The registered interpreter, or where the nodes found it (prefetched by the selectors)."""
        if self.python_path:
            return self.python_path
        if self.pk is None:
            return ""
        paths = sorted({entry.python_path for entry in self.node_engines.all() if entry.python_path})
        return paths[0] if paths else ""


class NodeEngine(models.Model):
    """Engine X runs on node Y with interpreter Z (reported by the node when it registers)."""

    node = models.ForeignKey("nodepools.Node", on_delete=models.CASCADE, related_name="node_engines")
    engine = models.ForeignKey(Engine, on_delete=models.CASCADE, related_name="node_engines")
    python_path = models.CharField(max_length=500)
    detected_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["node", "engine"], name="one_engine_entry_per_node")]


# Seed: "64个以内字符，仅支持大小写字母、数字、下划线和中划线" (used for algorithm and parameter names).
NAME_RE = r"^[A-Za-z0-9_-]{1,64}$"


class Algorithm(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # metadata.id
    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="algorithms")
    name = models.CharField(_("name"), max_length=64)
    description = models.CharField(_("description"), max_length=256, blank=True)
    code_dir = models.CharField(_("code directory"), max_length=1100)  # /bucket/path/ (seed form)
    boot_file = models.CharField(_("boot file"), max_length=1100)
    engine = models.ForeignKey(Engine, on_delete=models.PROTECT, related_name="algorithms")
    inputs = models.JSONField(default=list, blank=True)  # [{"name", "description"}]
    outputs = models.JSONField(default=list, blank=True)
    # [{"name", "description", "value", "constraint": {type, editable, required, sensitive, valid_type, valid_range}}]
    parameters = models.JSONField(default=list, blank=True)
    parameters_customization = models.BooleanField(default=False)
    code_size = models.BigIntegerField(default=0)  # metadata.size
    code_tree = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="algorithm_name_unique_in_project")]
        indexes = [models.Index(fields=["project", "-created_at", "-id"], name="algorithm_project_list")]

    def __str__(self):
        return self.name


class TrainingJob(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # metadata.id
    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="training_jobs")
    kind = models.CharField(max_length=16, default="job")
    name = models.CharField(_("name"), max_length=64)
    description = models.CharField(_("description"), max_length=256, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    user_name = models.CharField(max_length=150, blank=True)

    # The algorithm as it was when the job was created (it may be edited later).
    algorithm = models.ForeignKey(Algorithm, null=True, on_delete=models.SET_NULL, related_name="jobs")
    algorithm_spec = models.JSONField(default=dict)
    engine = models.ForeignKey(Engine, null=True, on_delete=models.SET_NULL, related_name="jobs")
    # [{"name", "value"}]: what the script gets; sensitive values are never shown back.
    parameters = models.JSONField(default=list, blank=True)
    inputs = models.JSONField(default=list, blank=True)  # [{"name", "description", "obs_url"}]
    outputs = models.JSONField(default=list, blank=True)
    flavor = models.ForeignKey(Flavor, null=True, on_delete=models.SET_NULL, related_name="jobs")
    flavor_spec = models.JSONField(default=dict)
    node_count = models.PositiveIntegerField(default=1)
    pool = models.ForeignKey("nodepools.Pool", null=True, on_delete=models.SET_NULL, related_name="training_jobs")
    log_export_path = models.CharField(max_length=1100, blank=True)
    # Optional model version used as an input; its training task record blocks deleting the model.
    model_version = models.ForeignKey(
        "versions.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="training_jobs"
    )
    model_version_input = models.CharField(max_length=64, blank=True)
    task_record = models.ForeignKey(
        "versions.TaskRecord", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.CREATING, db_index=True)
    secondary_phase = models.CharField(max_length=20, choices=SecondaryPhase.choices, default=SecondaryPhase.CREATING)
    # Why the job is where it is: why it waits, why it failed or stopped.
    phase_reason = models.TextField(blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    nodes_assigned_at = models.DateTimeField(null=True, blank=True)  # the scheduler gave it its nodes
    start_time = models.DateTimeField(null=True, blank=True)  # every task's script running
    end_time = models.DateTimeField(null=True, blank=True)
    # worker-0's runner publishes the rendezvous port of a distributed job here.
    master_port = models.PositiveIntegerField(null=True, blank=True)
    stop_requested_at = models.DateTimeField(null=True, blank=True)
    # Delete asked while the job still ran: hidden at once, purged when its runners are gone.
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="trainingjob_project_created"),
            # The list's order over the rows it shows: its COUNT and the ids of a page (however deep)
            # come from this index alone, never from the ~2 KB rows (issue 15).
            models.Index(
                fields=["project", "-created_at", "-id"],
                name="trainingjob_live_list",
                condition=models.Q(deleted_at__isnull=True),
            ),
            # The same for the phase filter (its count and its pages).
            models.Index(
                fields=["project", "phase", "-created_at", "-id"],
                name="trainingjob_live_phase",
                condition=models.Q(deleted_at__isnull=True),
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def is_terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES

    @property
    def is_active(self) -> bool:
        return self.phase in ACTIVE_PHASES

    @property
    def can_stop(self) -> bool:
        return self.phase in STOPPABLE_PHASES

    @property
    def badge(self) -> str:
        return PHASE_BADGE.get(self.phase, "muted")

    @property
    def duration_ms(self) -> int:
        """Seed `duration`: milliseconds since the job started running (to its end when finished)."""
        from django.utils import timezone

        if self.start_time is None:
            return 0
        end = self.end_time or timezone.now()
        return max(0, int((end - self.start_time).total_seconds() * 1000))


class TrainingTask(models.Model):
    """worker-0 … worker-N-1 of a job: one runner, one process group, on one node."""

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="tasks")
    index = models.PositiveIntegerField()
    name = models.CharField(max_length=32)  # "worker-0"
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.WAITING, db_index=True)
    node = models.ForeignKey("nodepools.Node", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")
    node_name = models.CharField(max_length=64, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)  # runner claimed the task
    running_at = models.DateTimeField(null=True, blank=True)  # script process started
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    runner_pid = models.IntegerField(null=True, blank=True)
    process_pid = models.IntegerField(null=True, blank=True)  # also its process group id
    runner_token = models.CharField(max_length=32, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    # Failed before the script ran (download, missing boot file...): the job shows CreateFailed.
    create_failed = models.BooleanField(default=False)
    stop_requested = models.BooleanField(default=False)
    stop_reason = models.CharField(max_length=255, blank=True)
    local_dir = models.CharField(max_length=1000, blank=True)
    log_bytes = models.BigIntegerField(default=0)
    log_truncated = models.BooleanField(default=False)
    log_seq = models.PositiveIntegerField(default=0)  # last chunk written
    outputs_uploaded_at = models.DateTimeField(null=True, blank=True)
    # A task of a Ray pool's job runs as one Ray job (console.training.services.ray_jobs): the
    # poller, not a runner, reports it; these fields are what it keeps between cycles.
    executor = models.CharField(max_length=8, choices=Executor.choices, default=Executor.NODE)
    ray_submission_id = models.CharField(max_length=128, blank=True, db_index=True)
    ray_status = models.CharField(max_length=16, blank=True)  # PENDING / RUNNING / SUCCEEDED / FAILED / STOPPED
    ray_submitted_at = models.DateTimeField(null=True, blank=True)
    ray_log_offset = models.BigIntegerField(default=0)  # characters of Ray's log already stored
    ray_logs_at = models.DateTimeField(null=True, blank=True)  # last log fetch (the fairest goes first)

    class Meta:
        ordering = ["job_id", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="one_task_per_index")]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="trainingtask_status_heartbeat")]

    def __str__(self):
        return f"{self.job_id}/{self.name}"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_TASK_STATUSES


class TaskLogChunk(models.Model):
    """A batch of log lines as the runner flushed it (≤ TRAINING_LOG_FLUSH_SECONDS after printing)."""

    task = models.ForeignKey(TrainingTask, on_delete=models.CASCADE, related_name="log_chunks")
    seq = models.PositiveIntegerField()
    text = models.TextField()
    at = models.DateTimeField()

    class Meta:
        ordering = ["task_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["task", "seq"], name="one_log_chunk_per_seq")]


class TaskMetricSample(models.Model):
    """One resource sample of a task's process group. -1 = no data (as the seed's metrics show)."""

    task = models.ForeignKey(TrainingTask, on_delete=models.CASCADE, related_name="metric_samples")
    at = models.DateTimeField()
    cpu_usage = models.FloatField(default=-1)  # % of the flavor's cores
    mem_usage = models.FloatField(default=-1)  # % of the flavor's memory
    mem_bytes = models.BigIntegerField(default=-1)
    gpu_util = models.FloatField(default=-1)
    gpu_mem_usage = models.FloatField(default=-1)
    npu_util = models.FloatField(default=-1)
    npu_mem_usage = models.FloatField(default=-1)

    class Meta:
        ordering = ["task_id", "at", "id"]
        indexes = [models.Index(fields=["task", "at"], name="taskmetric_task_at")]


class TaskScalar(models.Model):
    """One scalar the training script logged (TensorBoard event file or a ``MA_METRIC`` stdout line).

    Written only by the task's runner (batched, capped per job: TRAINING_SCALAR_CAP points,
    TRAINING_SCALAR_NAME_CAP names); read through console.training.metrics.
    """

    task = models.ForeignKey(TrainingTask, on_delete=models.CASCADE, related_name="scalars")
    name = models.CharField(max_length=200)
    step = models.BigIntegerField()
    wall_time = models.DateTimeField()
    value = models.FloatField()

    class Meta:
        ordering = ["task_id", "name", "step", "id"]
        indexes = [models.Index(fields=["task", "name", "step"], name="taskscalar_task_name_step")]

    def __str__(self):
        return f"{self.task_id}/{self.name}@{self.step}={self.value}"


class TaskScalarSeries(models.Model):
    """One logged metric of a task, summed up as its points arrive (written with them by the runner).

    Lets lists, dashboards and comparisons read "last / min / max" of many jobs in one query
    instead of aggregating every point; also what bounds the number of names per job.
    """

    task = models.ForeignKey(TrainingTask, on_delete=models.CASCADE, related_name="scalar_series")
    name = models.CharField(max_length=200)
    points = models.PositiveIntegerField(default=0)
    last_step = models.BigIntegerField()
    last_value = models.FloatField()
    last_wall_time = models.DateTimeField()
    min_value = models.FloatField()
    max_value = models.FloatField()

    class Meta:
        ordering = ["task_id", "name"]
        constraints = [models.UniqueConstraint(fields=["task", "name"], name="one_scalar_series_per_name")]

    def __str__(self):
        return f"{self.task_id}/{self.name}"


class EventKind(models.TextChoices):
    # Contexts: as column headers these words mean "creation time" / "end time" in Chinese.
    CREATED = "created", pgettext_lazy("timeline event", "Created")
    QUEUED = "queued", _("Queued")
    ASSIGNED = "assigned", _("Nodes assigned")
    DOWNLOAD = "download", _("Code and inputs downloaded")
    RUNNING = "running", _("Running")
    UPLOAD = "upload", _("Outputs uploaded")
    LOG_EXPORT = "log_export", _("Log exported")
    STOP = "stop", _("Stop requested")
    TASK_EXIT = "task_exit", _("Task ended")
    FINISHED = "finished", pgettext_lazy("timeline event", "Finished")
    PROBLEM = "problem", _("Problem")


class JobEvent(models.Model):
    """The job's timeline. Events carrying running_nodes make the seed's node_count_metrics."""

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    message = models.TextField(blank=True)
    task_name = models.CharField(max_length=32, blank=True)
    running_nodes = models.IntegerField(null=True, blank=True)

    class Meta:
        ordering = ["job_id", "at", "id"]
        indexes = [models.Index(fields=["job", "at"], name="jobevent_job_at")]


class JobOutputVersion(models.Model):
    """Lineage: a model version registered from one of a job's output folders ("produced by job X").

    The link lives here, not on ModelVersion: versions sits below training and must not know it.
    The version page reads it through the panel hook training registers (console.versions.panels).
    """

    # SET_NULL: a deleted job still leaves the version saying which job (by name) produced it.
    job = models.ForeignKey(TrainingJob, null=True, on_delete=models.SET_NULL, related_name="produced_versions")
    job_name = models.CharField(max_length=64)
    job_uuid = models.UUIDField()
    version = models.OneToOneField("versions.ModelVersion", on_delete=models.CASCADE, related_name="produced_by")
    output_name = models.CharField(max_length=64)
    weights_path = models.CharField(max_length=1100)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.job_name} → {self.version_id}"
