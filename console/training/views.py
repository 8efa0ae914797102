"""Training pages: jobs (list, create, detail with live logs and charts, stop, delete) and algorithms."""

from __future__ import annotations

import mimetypes

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from console.accounts.models import Role
from console.accounts.permissions import can, project_view
from console.core.confirm import typed_delete_errors
from console.core.htmx import query_without_page, redirect_after_post, render_page
from console.core.paging import paginate_deferred
from console.storage import gate
from console.storage.backends import StorageError
from console.storage.paths import ObsPath, PathError, folder_key
from console.training import charts, job_metrics, metrics, params, selectors
from console.training.forms import (
    AlgorithmForm,
    IOFormSet,
    JobForm,
    ParameterFormSet,
    algorithm_initial,
    algorithm_service_args,
    apply_job_errors,
)
from console.training.payloads import obs_uri
from console.training.phases import PHASE_BADGE, TERMINAL_TASK_STATUSES, Phase
from console.training.services import (
    algorithm_create,
    algorithm_delete,
    algorithm_update,
    training_job_create,
    training_job_delete,
    training_job_stop,
)

LOG_POLL_MS = 700  # new lines show at most ~1 s after the runner flushed them


# --- jobs ------------------------------------------------------------------------------------


@project_view(Role.VIEWER)
@require_GET
def job_list(request):
    phase = request.GET.get("phase", "")
    search = request.GET.get("q", "").strip()
    jobs = selectors.job_list(user=request.user, project=request.project, phase=phase, search=search)
    # Chosen metric columns (?metric=loss,accuracy) and sorting by one of them (?sort=loss:best).
    metric_columns = job_metrics.columns_from(request)
    metric_sort = job_metrics.sort_from(request, metric_columns)
    if metric_sort is not None:
        jobs = job_metrics.sort_jobs(jobs, metric_sort)
    page = paginate_deferred(request, jobs, per_page=20)
    context = {
        "page": page,
        "query": query_without_page(request),
        "phase": phase,
        "search": search,
        "phase_choices": Phase.choices,
        "can_write": can(request, Role.MEMBER),
        "metric_offered": job_metrics.attach(page.object_list, metric_columns),
        "metric_columns": metric_columns,
        "metric_headers": job_metrics.headers(request, metric_columns, metric_sort),
        "metric_query": job_metrics.row_query(metric_columns),
    }
    return render_page(request, "training/job_list.html", context, fragment="job-table")


@project_view(Role.VIEWER)
@require_GET
def job_row(request, job_id):
    """One row of the list; polled while the job is not terminal, then 286 stops the polling."""
    job = selectors.job_get(user=request.user, project=request.project, job_id=job_id)
    metric_columns = job_metrics.columns_from(request)
    job_metrics.attach([job], metric_columns)
    context = {"job": job, "can_write": can(request, Role.MEMBER), "metric_columns": metric_columns,
               "metric_query": job_metrics.row_query(metric_columns)}  # fmt: skip
    response = render(request, "training/job_list.html#job-row", context)
    if job.is_terminal:
        response.status_code = HttpResponseStopPolling.status_code
    return response


def _flavor_labels(request, pool=None, node_count=1):
    labels = []
    for flavor in selectors.flavor_list(pool=pool):
        availability = selectors.flavor_availability(flavor=flavor, pool=pool, node_count=node_count)
        if availability["state"] == "free":
            note = _("free now")
        elif availability["state"] == "queue":
            note = (
                _("will queue behind %(n)s job(s)") % {"n": availability["ahead"]}
                if availability["ahead"]
                else _("will queue: nodes busy")
            )
        else:
            note = _("no online node can run it")
        memory = _("%(gb)s GiB") % {"gb": flavor.memory_gb}
        labels.append(
            (
                flavor.flavor_id,
                f"{flavor.flavor_id} — {flavor.cpu_cores} vCPU · {memory} · max_num {flavor.max_num} · {note}",
            )
        )
    return labels


def _job_form(request, data=None, algorithm=None):
    return JobForm(
        data,
        project=request.project,
        algorithm=algorithm,
        flavor_labels=_flavor_labels(request),
        initial=None if data else {"flavor": _default_flavor(request)},
    )


def _default_flavor(request):
    for flavor in selectors.flavor_list():
        if flavor.max_num:
            return flavor.flavor_id
    return None


def _algorithm_from(request, value):
    if not value:
        return None
    try:
        return selectors.algorithm_get(user=request.user, project=request.project, algorithm_id=value)
    except Http404:
        return None


@project_view(Role.MEMBER)
def job_create(request):
    algorithm = _algorithm_from(request, request.POST.get("algorithm") or request.GET.get("algorithm"))
    if request.method == "POST":
        form = _job_form(request, request.POST, algorithm)
        if form.is_valid():
            try:
                job = training_job_create(actor=request.user, project=request.project, spec=form.spec())
            except ValidationError as error:
                apply_job_errors(form, error)
            except gate.StorageRefused as refusal:
                form.add_error(None, refusal.message)
            else:
                messages.success(request, _("Training job %(name)s created.") % {"name": job.name})
                return redirect_after_post(
                    request, "training:job_detail", project_id=request.project.project_id, job_id=job.uuid
                )
    else:
        form = _job_form(request, algorithm=algorithm)
        if algorithm is not None:
            form.initial["algorithm"] = algorithm.uuid
    context = {"form": form, "algorithm": algorithm, "has_algorithms": form.fields["algorithm"].queryset.exists()}
    return render_page(request, "training/job_form.html", context, fragment="job-form")


@project_view(Role.MEMBER)
@require_GET
def job_algorithm_fields(request):
    """The parameter / input / output fields of the chosen algorithm (the form swaps them in)."""
    algorithm = _algorithm_from(request, request.GET.get("algorithm"))
    form = _job_form(request, algorithm=algorithm)
    return render(request, "training/job_form.html#algorithm-fields", {"form": form, "algorithm": algorithm})


def _detail_context(request, job):
    tasks = selectors.job_tasks(job)
    definitions = job.algorithm_spec.get("parameters", [])
    return {
        "job": job,
        "tasks": tasks,
        "events": selectors.job_events(job),
        "queue_position": selectors.job_queue_position(job),
        "parameters": params.masked(job.parameters, definitions),
        "inputs": [{**item, "uri": obs_uri(item["obs_url"])} for item in job.inputs],
        "outputs": [{**item, "uri": obs_uri(item["obs_url"])} for item in job.outputs],
        "log_export_uri": obs_uri(job.log_export_path),
        "code_dir_uri": obs_uri(job.algorithm_spec.get("code_dir", "")),
        "can_write": can(request, Role.MEMBER),
        "log_poll_ms": LOG_POLL_MS,
        "phase_badge": PHASE_BADGE,
    }


@project_view(Role.VIEWER)
@require_GET
def job_detail(request, job_id):
    job = selectors.job_get(user=request.user, project=request.project, job_id=job_id)
    context = _detail_context(request, job)
    for task in context["tasks"]:
        # The first paint shows the log's last lines; the live tail continues from there.
        task.log_tail_text, task.log_tail_seq = selectors.task_log_tail(task)
    return render(request, "training/job_detail.html", context)


@project_view(Role.VIEWER)
@require_GET
def job_status(request, job_id):
    """Overview + timeline, polled while the job is active; 286 once it is terminal."""
    job = selectors.job_get(user=request.user, project=request.project, job_id=job_id)
    response = render(request, "training/job_detail.html#job-status", _detail_context(request, job))
    if job.is_terminal:
        response.status_code = HttpResponseStopPolling.status_code
    return response


@project_view(Role.MEMBER)
@require_POST
def job_stop(request, job_id):
    job = selectors.job_get(user=request.user, project=request.project, job_id=job_id)
    try:
        training_job_stop(actor=request.user, job=job)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Stopping %(name)s.") % {"name": job.name})
    target = request.POST.get("next") or reverse(
        "training:job_detail", kwargs={"project_id": request.project.project_id, "job_id": job.uuid}
    )
    return redirect_after_post(request, target if target.startswith("/") else "/")


@project_view(Role.MEMBER)
@require_POST
def job_delete(request, job_id):
    job = selectors.job_get(user=request.user, project=request.project, job_id=job_id)
    refused = typed_delete_errors(request.POST.get("confirm"))
    if refused:
        messages.error(request, refused[0])
        return redirect_after_post(
            request, "training:job_detail", project_id=request.project.project_id, job_id=job.uuid
        )
    try:
        training_job_delete(actor=request.user, job=job)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Training job %(name)s deleted; its outputs stay in storage.") % {"name": job.name})
    return redirect_after_post(request, "training:job_list", project_id=request.project.project_id)


@project_view(Role.VIEWER)
@require_GET
def task_log(request, job_id, task_name):
    """New log text after chunk ``after`` (JSON), for the live tail. ``done`` once nothing more can come."""
    job = selectors.job_get(user=request.user, project=request.project, job_id=job_id)
    task = selectors.task_get(job=job, task_name=task_name)
    try:
        after = max(0, int(request.GET.get("after", "0")))
    except ValueError:
        after = 0
    text, last = selectors.task_log_after(task, after=after)
    finished = task.status in TERMINAL_TASK_STATUSES and last >= task.log_seq
    return JsonResponse(
        {
            "text": text,
            "next": last,
            "done": finished,
            "status": task.get_status_display(),
            "node": task.node_name,
            "truncated": task.log_truncated,
        }
    )


@project_view(Role.VIEWER)
@require_GET
def task_log_download(request, job_id, task_name):
    job = selectors.job_get(user=request.user, project=request.project, job_id=job_id)
    task = selectors.task_get(job=job, task_name=task_name)
    response = StreamingHttpResponse(
        (chunk.encode("utf-8") for chunk in selectors.task_log_stream(task)), content_type="text/plain; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="modelarts-job-{job.uuid}-{task.name}.log"'
    return response


@project_view(Role.VIEWER)
@require_GET
def task_metrics(request, job_id, task_name):
    """Charts of one task (CPU, memory, GPU when present), drawn by charts.js; polled while the task runs."""
    job = selectors.job_get(user=request.user, project=request.project, job_id=job_id)
    task = selectors.task_get(job=job, task_name=task_name)
    rows = selectors.task_metric_samples(task, limit=400)

    def series(field, scale=1.0):
        return [(row["at"].timestamp(), row[field] * scale if row[field] >= 0 else -1) for row in rows]

    memory_gb = job.flavor_spec.get("memory_gb") or 0
    chart_list = [
        charts.line_chart(title=_("CPU usage (of %(n)s vCPU)") % {"n": job.flavor_spec.get("cpu_cores")}, points=series("cpu_usage"),
                          unit="%", y_max=100, chart_id=f"cpu-{task.name}"),
        charts.line_chart(title=_("Memory"), points=series("mem_bytes", 1 / 1024**2), unit="MiB",
                          limit=memory_gb * 1024 if memory_gb else None, limit_label=_("flavor limit"),
                          color="#1b8a4b", chart_id=f"mem-{task.name}"),
    ]  # fmt: skip
    if any(row["gpu_util"] >= 0 for row in rows):
        chart_list.append(
            charts.line_chart(
                title=_("GPU utilisation"),
                points=series("gpu_util"),
                unit="%",
                y_max=100,
                color="#b86e00",
                chart_id=f"gpu-{task.name}",
            )
        )
    response = render(
        request,
        "training/job_detail.html#task-charts",
        {"job": job, "task": task, "charts": chart_list, "samples": len(rows)},
    )
    if task.status in TERMINAL_TASK_STATUSES and job.is_terminal:
        response.status_code = HttpResponseStopPolling.status_code
    return response


def _scalar_request(request):
    x = request.GET.get("x", metrics.X_STEP)
    if x not in (metrics.X_STEP, metrics.X_TIME):
        x = metrics.X_STEP
    try:
        max_points = int(request.GET.get("max_points", metrics.DEFAULT_MAX_POINTS))
    except ValueError:
        max_points = metrics.DEFAULT_MAX_POINTS
    return x, max_points


@project_view(Role.VIEWER)
@require_GET
def job_scalars(request, job_id):
    """Every logged metric of the job (downsampled per task), for the charts; polled while it runs."""
    job = selectors.job_get(user=request.user, project=request.project, job_id=job_id)
    x, max_points = _scalar_request(request)
    names = metrics.scalar_names(job)
    wanted = request.GET.get("name")
    shown = [n for n in names if n == wanted] if wanted else names
    return JsonResponse(
        {
            "names": shown,
            "x": x,
            "live": not job.is_terminal,
            "usage": metrics.scalar_usage(job),
            "download": reverse(
                "training:job_scalars_download", kwargs={"project_id": request.project.project_id, "job_id": job.uuid}
            ),
            "curves": {name: metrics.scalar_series(job, name, x=x, max_points=max_points) for name in shown},
        }
    )


@project_view(Role.VIEWER)
@require_GET
def job_scalars_download(request, job_id):
    """Every stored point of one metric (``name``) or of all, as CSV or JSON (not downsampled)."""
    job = selectors.job_get(user=request.user, project=request.project, job_id=job_id)
    name = request.GET.get("name") or None
    fmt = "json" if request.GET.get("format") == "json" else "csv"
    rows = metrics.scalar_points(job, name=name)
    stem = f"{job.name}-{name or 'metrics'}".replace("/", "_").replace('"', "")[:120]
    if fmt == "json":
        response = JsonResponse({"job_id": str(job.uuid), "job_name": job.name, "points": list(rows)})
    else:
        response = StreamingHttpResponse(metrics.points_csv(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{stem}.{fmt}"'
    return response


def _output_root(job, name):
    for item in job.outputs:
        if item["name"] == name:
            return gate.parse_path(item["obs_url"])
    raise Http404("No such output.")


def _inside(root: ObsPath, relative: str) -> ObsPath:
    relative = (relative or "").lstrip("/")
    try:
        return (
            ObsPath(root.bucket, folder_key(root.key) + relative)
            if relative
            else ObsPath(root.bucket, folder_key(root.key))
        )
    except PathError:
        raise Http404("Bad path.") from None


@project_view(Role.VIEWER)
@require_GET
def job_outputs(request, job_id):
    """Browse a job's output folders (read through the storage gate as the viewer)."""
    job = selectors.job_get(user=request.user, project=request.project, job_id=job_id)
    name = request.GET.get("output") or (job.outputs[0]["name"] if job.outputs else "")
    relative = request.GET.get("path", "")
    entries, error, folder = [], "", None
    if job.outputs:
        root = _output_root(job, name)
        try:
            folder = _inside(root, folder_key(relative) if relative else "")
        except PathError as refused:  # ?path=../../etc/passwd, \..\..: the rule's message, not a 500
            context = {"job": job, "output": name, "entries": [], "error": gate.path_error_message(refused), "relative": "",
                       "crumbs": [], "folder_uri": ""}  # fmt: skip
            return render(request, "training/job_detail.html#job-outputs", context, status=400)
        try:
            backend, _path = gate.storage_for(user=request.user, project=request.project, path=folder, access=gate.READ)
            for entry in backend.list_dir(folder.key):
                entries.append({"name": entry.name, "is_dir": entry.is_dir, "size": entry.size, "modified": entry.modified,
                                "relative": entry.path[len(folder_key(root.key)):]})  # fmt: skip
        except gate.StorageRefused as refusal:
            error = refusal.message
        except (StorageError, PathError, FileNotFoundError):
            error = _("Nothing uploaded here yet.")
    crumbs = []
    walked = ""
    for part in [p for p in relative.strip("/").split("/") if p]:
        walked += part + "/"
        crumbs.append({"name": part, "path": walked})
    context = {"job": job, "output": name, "entries": entries, "error": error, "relative": relative, "crumbs": crumbs,
               "folder_uri": folder.uri if folder else ""}  # fmt: skip
    return render(request, "training/job_detail.html#job-outputs", context)


@project_view(Role.VIEWER)
@require_GET
def job_output_download(request, job_id):
    job = selectors.job_get(user=request.user, project=request.project, job_id=job_id)
    root = _output_root(job, request.GET.get("output", ""))
    target = _inside(root, request.GET.get("path", ""))
    if target.is_folder:
        raise Http404("Choose a file.")
    try:
        backend, path = gate.storage_for(user=request.user, project=request.project, path=target, access=gate.READ)
        stream = backend.open_read(path.key)
    except gate.StorageRefused as refusal:
        return HttpResponse(refusal.message, status=403, content_type="text/plain; charset=utf-8")
    except (StorageError, PathError, FileNotFoundError):
        raise Http404("No such file.") from None
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(stream, as_attachment=True, filename=path.name, content_type=content_type)


# --- algorithms --------------------------------------------------------------------------------


@project_view(Role.VIEWER)
@require_GET
def algorithm_list(request):
    search = request.GET.get("q", "").strip()
    algorithms = selectors.algorithm_list(user=request.user, project=request.project, search=search)
    context = {"page": paginate_deferred(request, algorithms), "query": query_without_page(request), "search": search,
               "can_write": can(request, Role.MEMBER)}  # fmt: skip
    return render_page(request, "training/algorithm_list.html", context, fragment="algorithm-table")


def _algorithm_forms(request, data=None, initial=None):
    base, inputs, outputs, parameters = initial or (
        {},
        [{"name": "data_url", "description": ""}],
        [{"name": "train_url", "description": ""}],
        [],
    )
    return (
        AlgorithmForm(data, project=request.project, initial=base),
        IOFormSet(data, prefix="inputs", initial=inputs),
        IOFormSet(data, prefix="outputs", initial=outputs),
        ParameterFormSet(data, prefix="parameters", initial=parameters),
    )


def _save_algorithm(request, forms, algorithm=None):
    form, inputs, outputs, parameters = forms
    if not all([form.is_valid(), inputs.is_valid(), outputs.is_valid(), parameters.is_valid()]):
        return None
    args = algorithm_service_args(form, inputs, outputs, parameters, algorithm=algorithm)
    try:
        if algorithm is None:
            return algorithm_create(actor=request.user, project=request.project, **args)
        return algorithm_update(actor=request.user, algorithm=algorithm, **args)
    except ValidationError as error:
        messages_by_field = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
        for field, texts in messages_by_field.items():
            if field in form.fields:
                form.add_error(field, texts)
            elif field == "parameters":
                parameters.service_errors = texts
            elif field == "inputs":
                inputs.service_errors = texts
            elif field == "outputs":
                outputs.service_errors = texts
            else:
                form.add_error(None, texts)
        return None


@project_view(Role.MEMBER)
def algorithm_create_view(request):
    forms = _algorithm_forms(request, request.POST if request.method == "POST" else None)
    if request.method == "POST":
        algorithm = _save_algorithm(request, forms)
        if algorithm is not None:
            messages.success(request, _("Algorithm %(name)s created.") % {"name": algorithm.name})
            return redirect_after_post(
                request, "training:algorithm_detail", project_id=request.project.project_id, algorithm_id=algorithm.uuid
            )
    form, inputs, outputs, parameters = forms
    context = {"form": form, "inputs": inputs, "outputs": outputs, "parameters": parameters, "algorithm": None}
    return render_page(request, "training/algorithm_form.html", context, fragment="algorithm-form")


@project_view(Role.MEMBER)
def algorithm_edit(request, algorithm_id):
    algorithm = selectors.algorithm_get(user=request.user, project=request.project, algorithm_id=algorithm_id)
    forms = _algorithm_forms(request, request.POST if request.method == "POST" else None, algorithm_initial(algorithm))
    if request.method == "POST":
        saved = _save_algorithm(request, forms, algorithm)
        if saved is not None:
            messages.success(request, _("Algorithm %(name)s saved.") % {"name": saved.name})
            return redirect_after_post(
                request, "training:algorithm_detail", project_id=request.project.project_id, algorithm_id=saved.uuid
            )
    form, inputs, outputs, parameters = forms
    context = {"form": form, "inputs": inputs, "outputs": outputs, "parameters": parameters, "algorithm": algorithm}
    return render_page(request, "training/algorithm_form.html", context, fragment="algorithm-form")


@project_view(Role.VIEWER)
@require_GET
def algorithm_detail(request, algorithm_id):
    algorithm = selectors.algorithm_get(user=request.user, project=request.project, algorithm_id=algorithm_id)
    jobs = selectors.job_list(user=request.user, project=request.project).filter(algorithm=algorithm)[:10]
    context = {
        "algorithm": algorithm,
        "parameters": params.masked_definitions(algorithm.parameters),
        "code_dir_uri": obs_uri(algorithm.code_dir),
        "boot_file_uri": obs_uri(algorithm.boot_file),
        "jobs": jobs,
        "can_write": can(request, Role.MEMBER),
    }
    return render(request, "training/algorithm_detail.html", context)


@project_view(Role.MEMBER)
@require_POST
def algorithm_delete_view(request, algorithm_id):
    algorithm = selectors.algorithm_get(user=request.user, project=request.project, algorithm_id=algorithm_id)
    try:
        algorithm_delete(actor=request.user, algorithm=algorithm)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect_after_post(
            request, "training:algorithm_detail", project_id=request.project.project_id, algorithm_id=algorithm.uuid
        )
    messages.success(request, _("Algorithm %(name)s deleted.") % {"name": algorithm.name})
    return redirect_after_post(request, "training:algorithm_list", project_id=request.project.project_id)
