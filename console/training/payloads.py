"""The seed's response bodies, built from the rows (for the REST API and the pages' JSON).

Field names and nesting are the seed's (训练作业 flow): flavors, engines, algorithms,
training jobs, metrics. Sensitive parameter values are masked in every payload.
"""

from __future__ import annotations

from django.conf import settings

from console.storage.paths import ObsPath
from console.training import params
from console.training.models import Algorithm, Engine, Flavor, TrainingJob
from console.training.selectors import job_tasks, node_count_metrics

WORKSPACE_ID = "0"
AI_PROJECT = "default-ai-project"
UPLOAD_MODE = "upload_periodically"


def ms(value) -> int:
    return int(value.timestamp() * 1000) if value else 0


def flavor_payload(flavor: Flavor, *, max_num: int | None = None) -> dict:
    max_num = getattr(flavor, "max_num", 0) if max_num is None else max_num
    info = {
        "max_num": max_num,
        "cpu": {"arch": flavor.cpu_arch, "core_num": flavor.cpu_cores},
        "memory": {"size": flavor.memory_gb, "unit": "GB"},
        "disk": {"size": flavor.disk_gb, "unit": "GB"},
    }
    if flavor.gpu_count:
        info["gpu"] = {"unit_num": flavor.gpu_count, "product_name": flavor.gpu_type, "memory": ""}
    return {
        "flavor_id": flavor.flavor_id,
        "flavor_name": flavor.flavor_name,
        "flavor_type": flavor.flavor_type,
        "billing": {"code": flavor.billing_code or flavor.flavor_id, "unit_num": flavor.billing_unit_num},
        "flavor_info": info,
    }


def flavors_payload(flavors: list[Flavor]) -> dict:
    return {"total_count": len(flavors), "flavors": [flavor_payload(f) for f in flavors]}


def engine_payload(engine: Engine | dict) -> dict:
    data = engine.snapshot() if isinstance(engine, Engine) else dict(engine)
    payload = {
        "engine_id": data["engine_id"],
        "engine_name": data["engine_name"],
        "engine_version": data["engine_version"],
        "v1_compatible": data.get("v1_compatible", False),
        "run_user": data.get("run_user", ""),
        # No container images here: an engine is an interpreter (a virtualenv) on the nodes; say which.
        "image_info": {
            "cpu_image_url": "",
            "gpu_image_url": "",
            "image_version": data["engine_id"],
            "python_path": data.get("python_path", ""),
            "python_version": data.get("python_version", ""),
            "framework_version": data.get("framework_version", ""),
        },
    }
    if data.get("tags"):
        payload["tags"] = data["tags"]
    return payload


def engines_payload(engines) -> dict:
    items = [engine_payload(e) for e in engines]
    return {"total": len(items), "items": items}


def algorithm_payload(algorithm: Algorithm) -> dict:
    project = algorithm.project
    return {
        "metadata": {
            "id": str(algorithm.uuid),
            "name": algorithm.name,
            "description": algorithm.description,
            "create_time": ms(algorithm.created_at),
            "workspace_id": WORKSPACE_ID,
            "ai_project": AI_PROJECT,
            "user_name": algorithm.created_by.username if algorithm.created_by else "",
            "domain_id": project.organization.domain_id,
            "source": "custom",
            "api_version": "",
            "is_valid": True,
            "state": "",
            "size": algorithm.code_size,
            "tags": None,
            "attr_list": None,
            "version_num": 0,
            "update_time": ms(algorithm.updated_at),
        },
        "share_info": {},
        "job_config": {
            "code_dir": algorithm.code_dir,
            "boot_file": algorithm.boot_file,
            "parameters": params.masked_definitions(algorithm.parameters),
            "parameters_customization": algorithm.parameters_customization,
            "inputs": algorithm.inputs,
            "outputs": algorithm.outputs,
            "engine": engine_payload(algorithm.engine),
            "code_tree": algorithm.code_tree,
        },
        "resource_requirements": [],
        "advanced_config": {},
    }


def task_local_root(job: TrainingJob, task_name: str = "worker-0") -> str:
    return f"{settings.TRAINING_WORK_DIR}/{job.uuid}/{task_name}"


def _parameters_with_values(job: TrainingJob) -> list[dict]:
    """The algorithm's definitions, each with the value this job runs with (masked if sensitive)."""
    definitions = job.algorithm_spec.get("parameters", [])
    values = {v["name"]: v["value"] for v in params.masked(job.parameters, definitions)}
    result = []
    for definition in definitions:
        item = dict(definition)
        if definition["name"] in values:
            item["value"] = values[definition["name"]]
        elif (definition.get("constraint") or {}).get("sensitive") and item.get("value"):
            item["value"] = params.MASK
        result.append(item)
    known = {d["name"] for d in definitions}
    for value in job.parameters:
        if value["name"] not in known:
            result.append({"name": value["name"], "description": "", "i18n_description": None, "value": value["value"],
                           "constraint": {"type": "String", "editable": True, "required": False, "sensitive": False,
                                          "valid_type": "None", "valid_range": []}})  # fmt: skip
    return result


def job_payload(job: TrainingJob, *, tasks=None) -> dict:
    tasks = job_tasks(job) if tasks is None else tasks
    spec = job.algorithm_spec
    flavor = job.flavor_spec
    root = task_local_root(job)
    engine = {**engine_payload(spec.get("engine", {})), "usage": "training", "support_groups": "public"}
    engine.pop("image_info", None)
    return {
        "kind": job.kind,
        "metadata": {
            "id": str(job.uuid),
            "name": job.name,
            "description": job.description,
            "create_time": ms(job.created_at),
            "workspace_id": WORKSPACE_ID,
            "ai_project": AI_PROJECT,
            "user_name": job.user_name,
            "annotations": {"job_template": "Template DL", "key_task": "worker"},
        },
        "status": {
            "phase": job.phase,
            "secondary_phase": job.secondary_phase,
            "duration": job.duration_ms,
            "start_time": ms(job.start_time),
            "node_count_metrics": node_count_metrics(job),
            "tasks": [t.name for t in tasks],
            "task_statuses": [
                {"task": t.name, "exit_code": t.exit_code if t.exit_code is not None else -1, "message": t.message}
                for t in tasks
            ],
            "reason": job.phase_reason,
        },
        "algorithm": {
            "id": spec.get("id", ""),
            "name": spec.get("name", ""),
            "code_dir": spec.get("code_dir", ""),
            "boot_file": spec.get("boot_file", ""),
            "parameters": _parameters_with_values(job),
            "parameters_customization": spec.get("parameters_customization", False),
            "inputs": [
                {
                    "name": item["name"],
                    "description": item.get("description", ""),
                    "local_dir": f"{root}/inputs/{item['name']}_0",
                    "remote": {"obs": {"obs_url": item["obs_url"]}},
                }
                for item in job.inputs
            ],
            "outputs": [
                {
                    "name": item["name"],
                    "description": item.get("description", ""),
                    "local_dir": f"{root}/outputs/{item['name']}_0",
                    "remote": {"obs": {"obs_url": item["obs_url"]}},
                    "mode": UPLOAD_MODE,
                    "period": settings.TRAINING_OUTPUT_UPLOAD_PERIOD,
                }
                for item in job.outputs
            ],
            "engine": engine,
        },
        "spec": {
            "resource": {
                "flavor_id": flavor.get("flavor_id", ""),
                "flavor_name": flavor.get("flavor_name", ""),
                "node_count": job.node_count,
                "flavor_detail": {
                    "flavor_type": flavor.get("flavor_type", "CPU"),
                    "billing": {"code": flavor.get("billing_code", ""), "unit_num": flavor.get("billing_unit_num", 1)},
                    "flavor_info": {
                        "cpu": {"arch": flavor.get("cpu_arch", "x86"), "core_num": flavor.get("cpu_cores", 0)},
                        "memory": {"size": flavor.get("memory_gb", 0), "unit": "GB"},
                        "disk": {"size": flavor.get("disk_gb", 0), "unit": "GB"},
                    },
                },
            },
            "log_export_path": {"obs_url": job.log_export_path},
            "is_hosted_log": True,
        },
    }


def obs_uri(api_path: str) -> str:
    """/bucket/key → obs://bucket/key for display."""
    if not api_path:
        return ""
    bucket, _, key = api_path.lstrip("/").partition("/")
    try:
        return ObsPath(bucket, key).uri
    except Exception:
        return api_path
