"""In Chromium, as a member does it: an algorithm from the shipped example, a job watched live to Completed."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from console.nodepools.models import Node
from console.training.models import TrainingJob
from console.training.services import algorithm_create, training_job_create
from console.training.services.jobs import JobSpec

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_a_member_creates_an_algorithm_runs_a_job_and_watches_it_live(
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
    node_worker("node-a")
    engine = Node.objects.get(name="node-a").engines.get()
    project_id = storage_project.project_id
    page = sign_in_page("mia")

    # The algorithm, from the shipped example uploaded to the bucket (code/tiny/train.py).
    page.goto(f"{live_server.url}/projects/{project_id}/training/algorithms/create/")
    page.fill("#id_name", "tiny-mlp")
    page.fill("#id_description", "A small MLP on generated data")
    page.select_option("#id_engine", engine.engine_id)
    page.fill("#id_code_dir", f"obs://{bucket_name}/code/tiny/")
    page.fill("#id_boot_file", f"obs://{bucket_name}/code/tiny/train.py")
    for index, (name, value, type_) in enumerate([("epochs", "6", "Integer"), ("epoch_seconds", "0.8", "Float")]):
        page.click("[data-add-form=parameters]")
        page.fill(f"#id_parameters-{index}-name", name)
        page.fill(f"#id_parameters-{index}-value", value)
        page.select_option(f"#id_parameters-{index}-type", type_)
    page.fill("#id_parameters-0-valid_range", "1, 50")
    page.select_option("#id_parameters-0-valid_type", "Range")
    screenshot("training-algorithm-form")
    page.click("#algorithm-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("tiny-mlp")
    expect(page.locator(".flash-success")).to_contain_text("Algorithm tiny-mlp created.")

    # Another job holds the only node, so ours has to wait: Pending, with why and where in the queue.
    probe_dir = examples_in_bucket / "code" / "sleeper"
    probe_dir.mkdir(parents=True)
    (probe_dir / "sleep.py").write_text("import time\nprint('busy', flush=True)\ntime.sleep(5)\n")
    sleeper = algorithm_create(
        actor=member, project=storage_project, name="sleeper", code_dir=f"obs://{bucket_name}/code/sleeper/",
        boot_file=f"obs://{bucket_name}/code/sleeper/sleep.py", engine=engine,
    )  # fmt: skip
    blocker = training_job_create(
        actor=member,
        project=storage_project,
        spec=JobSpec(name="blocker", algorithm=sleeper, flavor_id="modelarts.vm.cpu.2u"),
    )

    # From the job list: create, pick the algorithm, and its parameter form appears (generated from its constraints).
    page.goto(f"{live_server.url}/projects/{project_id}/training/jobs/")
    page.click("a:has-text('Create training job')")
    expect(page.locator("#algorithm-fields")).to_contain_text("Choose an algorithm")
    from console.training.models import Algorithm

    page.select_option("#id_algorithm", str(Algorithm.objects.get(name="tiny-mlp").uuid))
    expect(page.locator("#id_param__epochs")).to_have_value("6")
    expect(page.locator("#algorithm-fields")).to_contain_text("Integer from 1 to 50.")
    page.fill("#id_name", "tiny-run-1")
    page.fill("#id_param__epochs", "6")
    page.fill("#id_input__data_url", f"obs://{bucket_name}/data/")
    page.fill("#id_output__train_url", f"obs://{bucket_name}/outputs/tiny-run-1/")
    page.fill("#id_log_export_path", f"obs://{bucket_name}/logs/")
    page.select_option("#id_flavor", "modelarts.vm.cpu.2u")
    expect(page.locator("#id_flavor option[value='modelarts.vm.cpu.2u']")).to_contain_text(
        re.compile("will queue|free now")
    )
    screenshot("training-job-form")
    page.click("#job-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("tiny-run-1")
    phase = page.locator("#job-phase")
    expect(phase).to_have_attribute("data-phase", "Pending", timeout=20_000)
    expect(page.locator("#job-reason")).to_contain_text(re.compile("Waiting for 1 free node|Queued|Starting on"))
    screenshot("training-job-pending")

    # Running: the log tail follows the script and the charts fill in.
    expect(phase).to_have_attribute("data-phase", "Running", timeout=60_000)
    log = page.locator("#log-worker-0")
    expect(log).to_contain_text("epoch 2/6 loss", timeout=30_000)
    expect(page.locator("#cpu-worker-0 canvas")).to_have_count(1, timeout=15_000)  # drawn by charts.js (uPlot)
    screenshot("training-job-running")

    # Completed: every epoch in the log, the checkpoint in the outputs browser, downloadable.
    expect(phase).to_have_attribute("data-phase", "Completed", timeout=60_000)
    expect(log).to_contain_text("checkpoint written to", timeout=10_000)
    expect(page.locator("#job-timeline")).to_contain_text("Outputs uploaded")
    page.click("#job-outputs button:has-text('Refresh')")
    expect(page.locator("#job-outputs")).to_contain_text("model.pt")
    page.locator("[data-log-search]").fill("epoch 6/6")
    expect(log).to_contain_text("epoch 6/6")
    expect(log).not_to_contain_text("epoch 1/6")
    screenshot("training-job-completed")
    with page.expect_download() as download_info:
        page.locator("#job-outputs tr:has-text('model.pt') a:has-text('Download')").click()
    download = download_info.value
    assert download.suggested_filename == "model.pt"
    assert download.path().stat().st_size > 0

    job = TrainingJob.objects.get(name="tiny-run-1")
    assert job.phase == "Completed"
    assert TrainingJob.objects.get(pk=blocker.pk).phase == "Completed"
    assert job.start_time >= TrainingJob.objects.get(pk=blocker.pk).end_time

    # The list shows both, with their badges and durations.
    page.goto(f"{live_server.url}/projects/{project_id}/training/jobs/")
    expect(page.locator(f"#job-{job.uuid}")).to_contain_text("Completed")
    expect(page.locator(f"#job-{job.uuid}")).to_contain_text("node-a")
    screenshot("training-job-list")
