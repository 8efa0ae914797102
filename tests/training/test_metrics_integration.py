"""Logged scalars for real: the shipped tiny example through a node worker, its curves on the job page.

The example prints ``MA_METRIC`` lines (always) and writes a TensorBoard event file (when the
engine's interpreter can import torch.utils.tensorboard): both reach the database while it runs.
"""

from __future__ import annotations

import subprocess

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from console.training import metrics
from console.training.models import Flavor, TaskScalar, TaskScalarSeries
from console.training.phases import Phase
from console.training.services.catalog import flavor_max_num
from tests.training.conftest import wait_for
from tests.training.test_jobs_integration import TERMINAL, log_text, phase_of, start_node, submit, tiny_algorithm

pytestmark = pytest.mark.integration


def node_ready(node, engine, pool) -> None:
    """The node's worker registers its capacity a moment after it starts: wait for it under load."""
    flavor = Flavor.objects.get(flavor_id="test.cpu.1u")
    wait_for(lambda: flavor_max_num(flavor, pool=pool, engine=engine) > 0, timeout=60, message="the node's capacity")


def can_write_event_files(python: str) -> bool:
    """Whether the engine's interpreter (the script's, with the script's bare environment) has tensorboard."""
    probe = subprocess.run(
        [python, "-c", "import torch.utils.tensorboard"], env={"PATH": "/usr/bin:/bin"}, capture_output=True
    )
    return probe.returncode == 0


def test_a_job_logs_scalars_both_ways_and_they_are_stored_while_it_runs(
    node_worker, storage_project, member, examples_in_bucket, default_pool, flavors, bucket_name, client_for
):
    _worker, node = start_node(node_worker)
    engine = node.engines.get()
    python = node.node_engines.get().python_path
    node_ready(node, engine, default_pool)
    algorithm = tiny_algorithm(storage_project, member, bucket_name, engine)
    job = submit(
        storage_project,
        member,
        algorithm,
        bucket_name,
        "tiny-scalars",
        [{"name": "epochs", "value": "6"}, {"name": "epoch_seconds", "value": "1"}],
    )
    # Stored while the job runs, not at its end.
    wait_for(lambda: TaskScalar.objects.filter(task__job=job, name="loss").count() >= 2, timeout=90, message="scalars")
    assert phase_of(job) == Phase.RUNNING
    wait_for(lambda: phase_of(job) in TERMINAL, timeout=90, message="the job to end")
    task = job.tasks.get()
    assert phase_of(job) == Phase.COMPLETED, log_text(task)

    steps = list(TaskScalar.objects.filter(task=task, name="loss").order_by("step").values_list("step", flat=True))
    assert steps == [1, 2, 3, 4, 5, 6]
    assert TaskScalar.objects.filter(task=task, name="accuracy").count() == 6
    names = metrics.scalar_names(job)
    if can_write_event_files(python):
        # The event file was read incrementally while the script ran (flush_secs=1).
        assert {"train/loss", "train/accuracy"} <= set(names), names
        assert TaskScalar.objects.filter(task=task, name="train/loss").count() == 6
    else:
        assert names == ["accuracy", "loss"]
    series = TaskScalarSeries.objects.get(task=task, name="loss")
    assert series.points == 6 and series.last_step == 6
    summary = metrics.scalar_summary([job.pk])[job.pk]
    assert summary["loss"]["best"] == summary["loss"]["min"] <= summary["loss"]["last"]
    assert summary["accuracy"]["best"] == summary["accuracy"]["max"]
    latest = {item["name"]: item for item in metrics.latest_scalars([job.pk])[job.pk]}
    assert latest["loss"]["step"] == 6

    client = client_for(member)
    url = reverse("training:job_scalars", kwargs={"project_id": storage_project.project_id, "job_id": job.uuid})
    body = client.get(url).json()
    assert body["live"] is False and "loss" in body["names"]
    assert body["curves"]["loss"]["tasks"][0]["xs"] == [1, 2, 3, 4, 5, 6]
    csv = client.get(reverse("training:job_scalars_download", kwargs={
        "project_id": storage_project.project_id, "job_id": job.uuid}) + "?name=loss")  # fmt: skip
    assert b"".join(csv.streaming_content).decode().count("\nworker-0,loss,") == 6


@pytest.mark.browser
def test_the_job_page_draws_the_curves_while_the_job_runs(
    node_worker,
    sign_in_page,
    live_server,
    screenshot,
    storage_project,
    member,
    examples_in_bucket,
    default_pool,
    flavors,
    bucket_name,
):
    _worker, node = start_node(node_worker)
    node_ready(node, node.engines.get(), default_pool)
    algorithm = tiny_algorithm(storage_project, member, bucket_name, node.engines.get())
    job = submit(
        storage_project,
        member,
        algorithm,
        bucket_name,
        "tiny-live",
        [{"name": "epochs", "value": "12"}, {"name": "epoch_seconds", "value": "1"}],
    )
    page = sign_in_page("mia")
    page.goto(f"{live_server.url}/projects/{storage_project.project_id}/training/jobs/{job.uuid}/")
    loss = page.locator('[data-scalar="loss"]')
    expect(loss.locator("canvas")).to_have_count(1, timeout=60_000)
    expect(page.locator('[data-scalar="accuracy"] canvas')).to_have_count(1)
    # Live: more points arrive without a reload (the legend's count of x values grows with the curve).
    wait_for(lambda: TaskScalar.objects.filter(task__job=job, name="loss").count() >= 4, timeout=60, message="4 points")
    assert phase_of(job) == Phase.RUNNING
    page.wait_for_timeout(2500)  # one more poll of the chart endpoint (every 2 s)
    shown = page.evaluate(
        "() => document.querySelector('[data-scalar=\"loss\"] .scalar-plot')._consoleChart.data[0].length"
    )
    assert shown >= 4
    page.fill("[data-scalar-smoothing]", "0.6")
    page.check("[data-scalar-log]")
    screenshot("training-job-scalars-running")
    expect(page.locator("#cpu-worker-0 canvas")).to_have_count(1, timeout=15_000)
    wait_for(lambda: phase_of(job) in TERMINAL, timeout=90, message="the job to end")


BAD_SCRIPT = """\
import json, os, time
with open(os.path.join(os.environ["MA_TENSORBOARD_DIR"], "events.out.tfevents.1.garbage"), "wb") as f:
    f.write(os.urandom(2048))
print("MA_METRIC {not json", flush=True)
print("MA_METRIC {not json either", flush=True)
print('MA_METRIC {"step": 1, "loss": NaN, "acc": Infinity}', flush=True)
print("MA_METRIC " + json.dumps({"step": 1, "x" * 10240: 1.0}), flush=True)
print('MA_METRIC {"step": 123456789012345678901234567890, "loss": 1}', flush=True)
for step in range(3):
    print("MA_METRIC " + json.dumps({"step": step, "loss": 1.0 / (step + 1)}), flush=True)
    time.sleep(0.3)
"""


def test_bad_metric_input_is_skipped_with_counted_warnings_and_the_job_completes(
    node_worker, storage_project, member, examples_in_bucket, default_pool, flavors, bucket_name, client_for
):
    from console.training.models import EventKind, JobEvent
    from console.training.services import algorithm_create

    _worker, node = start_node(node_worker)
    engine = node.engines.get()
    node_ready(node, engine, default_pool)
    code = examples_in_bucket / "code" / "bad"
    code.mkdir(parents=True)
    (code / "bad.py").write_text(BAD_SCRIPT)
    algorithm = algorithm_create(
        actor=member, project=storage_project, name="bad", code_dir=f"obs://{bucket_name}/code/bad/",
        boot_file=f"obs://{bucket_name}/code/bad/bad.py", engine=engine,
    )  # fmt: skip
    from console.training.services import training_job_create
    from console.training.services.jobs import JobSpec

    job = training_job_create(
        actor=member, project=storage_project, spec=JobSpec(name="bad-metrics", algorithm=algorithm, flavor_id="test.cpu.1u")
    )  # fmt: skip
    wait_for(lambda: phase_of(job) in TERMINAL, timeout=90, message="the job to end")
    task = job.tasks.get()
    assert phase_of(job) == Phase.COMPLETED, log_text(task)
    assert list(TaskScalar.objects.filter(task=task).order_by("step").values_list("name", "step")) == [
        ("loss", 0),
        ("loss", 1),
        ("loss", 2),
    ]
    problems = list(JobEvent.objects.filter(job=job, kind=EventKind.PROBLEM).values_list("message", flat=True))
    text = "\n".join(problems)
    assert "not a JSON object" in text and "NaN or infinite" in text and "longer than 200 characters" in text
    assert "not an integer" in text
    assert "events.out.tfevents.1.garbage" in text or "TensorBoard is not installed" in text
    assert "worker-0: 2 times in all: a MA_METRIC line is not a JSON object" in text  # counted
    assert len(problems) <= 8 and all(len(p) < 500 for p in problems)  # bounded, no 10 KB name copied
    page = client_for(member).get(
        reverse("training:job_detail", kwargs={"project_id": storage_project.project_id, "job_id": job.uuid})
    )
    assert page.status_code == 200
