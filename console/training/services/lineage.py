"""Lineage: register a completed job's output folder as a new model version (seed: models from training).

The version goes through the versions app's own services (model_create / version_create): the
10-version cap, the storage gate and the weight check hold exactly as on the version pages. The
link "version V produced by job J" is a training row (JobOutputVersion): versions sits below
training and knows nothing of jobs; its page shows the link through the panel hook that
training registers (console.versions.panels).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from console.mymodels.models import BaseModelVersion, MyModel
from console.storage import gate
from console.storage.paths import ObsPath, PathError, folder_key
from console.training.models import JobOutputVersion, TrainingJob
from console.training.phases import Phase
from console.versions.models import ModelVersion
from console.versions.services import model_create, version_create


def _refused(field: str, message: str, code: str) -> ValidationError:
    # The text may hold "%" (a path): it goes in as a parameter, never as the template.
    return ValidationError({field: [ValidationError("%(message)s", code=code, params={"message": message})]})


def job_output_folder(*, job: TrainingJob, output_name: str, subfolder: str = "") -> str:
    """obs:// URI of ``subfolder`` inside the job's output ``output_name``; ValidationError naming the field."""
    item = next((o for o in job.outputs if o.get("name") == output_name), None)
    if item is None:
        raise _refused(
            "output", _("The job has no output named %(name)s.") % {"name": output_name or "?"}, "unknown_output"
        )
    root = gate.parse_path(item["obs_url"])
    relative = (subfolder or "").strip().strip("/")
    if relative and (any(part in ("", ".", "..") for part in relative.split("/")) or "\\" in relative):
        raise _refused(
            "subfolder", _("Name a folder inside the output, such as checkpoint/ (no “..”)."), "invalid_path"
        )
    try:
        folder = ObsPath(root.bucket, folder_key(root.key) + (folder_key(relative) if relative else ""))
    except PathError as error:
        raise _refused("subfolder", gate.path_error_message(error), "invalid_path") from None
    return folder.uri


@transaction.atomic
def job_version_register(
    *,
    actor,
    job: TrainingJob,
    output_name: str,
    subfolder: str = "",
    model: MyModel | None = None,
    new_model_name: str = "",
    base_version: BaseModelVersion | None = None,
    description: str = "",
    validate_weights: bool = True,
) -> ModelVersion:
    """A new version whose weights path is an output folder of a completed ``job``.

    ``model``: add the version to this model of the job's project; otherwise create the model
    ``new_model_name`` from ``base_version`` with the folder as its V1. Raises ValidationError
    (field → messages; codes: phase, unknown_output, invalid_path, unknown_model, plus those of
    version_create / model_create, such as version_limit). Nothing is written when refused.
    The versions services reach storage before their own lock; here no lock is held before them.
    """
    if job.phase != Phase.COMPLETED or job.deleted_at is not None:
        raise ValidationError(
            _("Only a completed job's outputs can be registered as a model version; this job is %(phase)s.")
            % {"phase": job.get_phase_display()},
            code="phase",
        )
    path = job_output_folder(job=job, output_name=output_name, subfolder=subfolder)
    if model is not None:
        if model.project_id != job.project_id:
            raise _refused("model", _("Choose a model of this project."), "unknown_model")
        version = version_create(
            actor=actor,
            model=model,
            description=description,
            base_version=model.base_version,
            weights_path=path,
            validate_weights=validate_weights,
        )
    else:
        if not (new_model_name or "").strip():
            raise _refused("new_model_name", _("Choose a model, or name the new model to create."), "unknown_model")
        created = model_create(
            actor=actor,
            project=job.project,
            name=new_model_name,
            description=description,
            base_version=base_version,
            weights_path=path,
            validate_weights=validate_weights,
        )
        version = created.versions.get()
    JobOutputVersion.objects.create(
        job=job,
        job_name=job.name,
        job_uuid=job.uuid,
        version=version,
        output_name=output_name,
        weights_path=version.weights_path,
        created_by=actor,
    )
    return version
