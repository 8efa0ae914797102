"""Request and response shapes of the training API, field for field as the seed shows them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr

from console.api.schemas import RequestBody, Schema

NAME = Field(min_length=1, max_length=64)
PATH = Field(min_length=1, max_length=1100)
DESCRIPTION = Field(default="", max_length=256)

# --- flavors -------------------------------------------------------------------------


class Billing(Schema):
    code: str
    unit_num: int


class Cpu(Schema):
    arch: str
    core_num: int


class Size(Schema):
    size: int
    unit: str


class Gpu(Schema):
    unit_num: int
    product_name: str
    memory: str = ""


class FlavorInfo(Schema):
    max_num: int = Field(description="How many nodes one job of this flavor can use now (live nodes that fit).")
    cpu: Cpu
    memory: Size
    disk: Size
    gpu: Gpu | None = None


class FlavorOut(Schema):
    flavor_id: str
    flavor_name: str
    flavor_type: Literal["CPU", "GPU", "NPU"]
    billing: Billing
    flavor_info: FlavorInfo


class FlavorListOut(Schema):
    total_count: int
    flavors: list[FlavorOut]


# --- engines -------------------------------------------------------------------------


class Tag(Schema):
    key: str
    value: str


class ImageInfo(Schema):
    cpu_image_url: str
    gpu_image_url: str
    image_version: str
    python_path: str = Field(default="", description="The engine's interpreter on the nodes.")
    python_version: str = Field(default="", description="Its Python version, such as 3.12.")
    framework_version: str = Field(default="", description="The framework's version, such as 2.13.0.")


class EngineOut(Schema):
    engine_id: str
    engine_name: str
    engine_version: str
    v1_compatible: bool
    run_user: str
    image_info: ImageInfo
    tags: list[Tag] | None = Field(default=None, description="Present when the engine has tags.")


class EngineListOut(Schema):
    total: int
    items: list[EngineOut]


# --- algorithms ----------------------------------------------------------------------


class ConstraintIn(RequestBody):
    type: Literal["String", "Integer", "Float", "Boolean"] = "String"
    editable: StrictBool = True
    required: StrictBool = False
    sensitive: StrictBool = False
    valid_type: Literal["None", "Range", "Choice"] = "None"
    valid_range: list[StrictStr | StrictInt | float] = Field(default_factory=list, max_length=1000)


class ParameterIn(RequestBody):
    name: str = NAME
    description: str = DESCRIPTION
    # Sent back by scripts that re-post an algorithm they read.
    i18n_description: Any = None
    value: str = Field(default="", max_length=4096)
    constraint: ConstraintIn = Field(default_factory=ConstraintIn)


class IoIn(RequestBody):
    name: str = NAME
    description: str = DESCRIPTION


class EngineRefIn(RequestBody):
    engine_id: str = Field(default="", max_length=128)
    engine_name: str = Field(default="", max_length=64)
    engine_version: str = Field(default="", max_length=128)


class JobConfigIn(RequestBody):
    code_dir: str = PATH
    boot_file: str = PATH
    engine: EngineRefIn
    inputs: list[IoIn] = Field(default_factory=list, max_length=50)
    outputs: list[IoIn] = Field(default_factory=list, max_length=50)
    parameters: list[ParameterIn] = Field(default_factory=list, max_length=200)
    parameters_customization: StrictBool = False


class AlgorithmMetadataIn(RequestBody):
    name: str = NAME
    description: str = DESCRIPTION


class ResourceRequirementIn(RequestBody):
    key: str = Field(max_length=64)
    operator: str = Field(max_length=16)
    values: list[str] = Field(max_length=50)


class AlgorithmIn(RequestBody):
    metadata: AlgorithmMetadataIn
    job_config: JobConfigIn
    resource_requirements: list[ResourceRequirementIn] = Field(
        default_factory=list, description="Only [] is supported: jobs choose their flavor themselves."
    )


class ConstraintOut(Schema):
    type: str
    editable: bool
    required: bool
    sensitive: bool
    valid_type: str
    valid_range: list[Any]


class ParameterOut(Schema):
    name: str
    description: str
    i18n_description: Any = None
    value: str
    constraint: ConstraintOut


class IoOut(Schema):
    name: str
    description: str


class EngineDetailOut(Schema):
    engine_id: str
    engine_name: str
    engine_version: str
    tags: list[Tag] | None = None
    v1_compatible: bool
    run_user: str
    image_info: ImageInfo


class JobConfigOut(Schema):
    code_dir: str
    boot_file: str
    parameters: list[ParameterOut]
    parameters_customization: bool
    inputs: list[IoOut]
    outputs: list[IoOut]
    engine: EngineDetailOut
    code_tree: dict


class AlgorithmMetadataOut(Schema):
    id: str
    name: str
    description: str
    create_time: int
    workspace_id: str
    ai_project: str
    user_name: str
    domain_id: str
    source: str
    api_version: str
    is_valid: bool
    state: str
    size: int
    tags: list[Tag] | None
    attr_list: list[Any] | None
    version_num: int
    update_time: int


class AlgorithmOut(Schema):
    metadata: AlgorithmMetadataOut
    share_info: dict
    job_config: JobConfigOut
    resource_requirements: list[Any]
    advanced_config: dict


class AlgorithmListOut(Schema):
    total: int
    count: int
    limit: int
    offset: int
    sort_by: str
    order: str
    items: list[AlgorithmOut]


class AlgorithmQuery(Schema):
    offset: int = Field(default=0, ge=0, le=1_000_000)
    limit: int = Field(default=10, ge=1, le=100)
    sort_by: Literal["create_time", "name"] = "create_time"
    order: Literal["asc", "desc"] = "desc"
    searches: str = Field(default="", max_length=64, description="Part of the algorithm name.")


# --- training jobs ---------------------------------------------------------------------


class ObsIn(RequestBody):
    obs_url: str = PATH


class RemoteIn(RequestBody):
    obs: ObsIn


class JobIoIn(RequestBody):
    name: str = NAME
    remote: RemoteIn


class ParameterValueIn(RequestBody):
    name: str = NAME
    value: str = Field(default="", max_length=4096)


class JobAlgorithmIn(RequestBody):
    id: str = Field(min_length=1, max_length=64, description="metadata.id of an algorithm of this project.")
    parameters: list[ParameterValueIn] = Field(default_factory=list, max_length=200)
    inputs: list[JobIoIn] = Field(default_factory=list, max_length=50)
    outputs: list[JobIoIn] = Field(default_factory=list, max_length=50)


class ResourceIn(RequestBody):
    flavor_id: str = Field(min_length=1, max_length=64)
    node_count: StrictInt = Field(default=1, ge=1, le=64)
    pool_id: str | None = Field(
        default=None, max_length=64, description="A node pool name; the default pool if omitted."
    )


class SpecIn(RequestBody):
    resource: ResourceIn
    log_export_path: ObsIn | None = None


class JobMetadataIn(RequestBody):
    name: str = NAME
    description: str = DESCRIPTION


class TrainingJobIn(RequestBody):
    kind: Literal["job"] = "job"
    metadata: JobMetadataIn
    algorithm: JobAlgorithmIn
    spec: SpecIn


class Annotations(Schema):
    job_template: str
    key_task: str


class JobMetadataOut(Schema):
    id: str
    name: str
    description: str
    create_time: int
    workspace_id: str
    ai_project: str
    user_name: str
    annotations: Annotations


class TaskStatusOut(Schema):
    task: str
    exit_code: int
    message: str


class JobStatusOut(Schema):
    phase: str
    secondary_phase: str
    duration: int
    start_time: int
    node_count_metrics: list[list[int]] | None
    tasks: list[str]
    task_statuses: list[TaskStatusOut] = Field(
        default_factory=list, description="Each task's exit code (-1 while it runs) and message."
    )
    reason: str = Field(
        default="", description="Why the job is in this phase (waiting, failed, stopped); empty when running normally."
    )


class ObsOut(Schema):
    obs_url: str


class RemoteOut(Schema):
    obs: ObsOut


class JobInputOut(Schema):
    name: str
    description: str
    local_dir: str
    remote: RemoteOut


class JobOutputOut(JobInputOut):
    mode: str
    period: int


class JobEngineOut(Schema):
    engine_id: str
    engine_name: str
    engine_version: str
    usage: str
    support_groups: str
    tags: list[Tag] | None = None
    v1_compatible: bool
    run_user: str


class JobAlgorithmOut(Schema):
    id: str
    name: str
    code_dir: str
    boot_file: str
    parameters: list[ParameterOut]
    parameters_customization: bool
    inputs: list[JobInputOut]
    outputs: list[JobOutputOut]
    engine: JobEngineOut


class FlavorDetail(Schema):
    flavor_type: str
    billing: Billing
    flavor_info: dict


class ResourceOut(Schema):
    flavor_id: str
    flavor_name: str
    node_count: int
    flavor_detail: FlavorDetail


class SpecOut(Schema):
    resource: ResourceOut
    log_export_path: ObsOut
    is_hosted_log: bool


class TrainingJobOut(Schema):
    kind: str
    metadata: JobMetadataOut
    status: JobStatusOut
    algorithm: JobAlgorithmOut
    spec: SpecOut


class SearchFilterIn(RequestBody):
    key: Literal["phase", "name", "algorithm_id"]
    operator: Literal["in", "like"] = "in"
    value: list[str] = Field(min_length=1, max_length=20)


class JobSearchIn(RequestBody):
    offset: StrictInt = Field(default=0, ge=0, le=1_000_000)
    limit: StrictInt = Field(default=10, ge=1, le=100)
    sort_by: Literal["create_time", "name", "phase"] = "create_time"
    order: Literal["asc", "desc"] = "desc"
    filters: list[SearchFilterIn] = Field(default_factory=list, max_length=10)


class JobListOut(Schema):
    total: int
    count: int
    limit: int
    offset: int
    sort_by: str
    order: str
    items: list[TrainingJobOut]


class ActionIn(RequestBody):
    action_type: Literal["terminate"]


class LogUrlOut(Schema):
    obs_url: str


class MetricOut(Schema):
    metric: Literal["cpuUsage", "memUsage", "npuUtil", "npuMemUsage", "gpuUtil", "gpuMemUsage"]
    value: list[int | float]


class MetricsOut(Schema):
    metrics: list[MetricOut]
