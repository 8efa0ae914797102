"""Issue 15 §6.3 in Chromium: the job page's Outputs panel shows the final upload without a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from console.training.models import TrainingJob, TrainingTask
from console.training.phases import Phase, TaskStatus
from console.training.services import algorithm_create, training_job_create
from console.training.services.jobs import JobSpec
from tests.training.conftest import make_node

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_outputs_panel_shows_the_final_upload_without_a_reload(
    sign_in_page, live_server, screenshot, storage_project, member, examples_in_bucket, default_pool, flavors,
    local_engine, bucket_name, bucket_root,
):  # fmt: skip
    make_node(default_pool, "node-a", engine=local_engine)
    algorithm = algorithm_create(
        actor=member, project=storage_project, name="tiny", code_dir=f"obs://{bucket_name}/code/tiny/",
        boot_file=f"obs://{bucket_name}/code/tiny/train.py", engine=local_engine,
        inputs=[{"name": "data_url"}], outputs=[{"name": "train_url"}],
    )  # fmt: skip
    job = training_job_create(actor=member, project=storage_project, spec=JobSpec(
        name="job-1", algorithm=algorithm, inputs={"data_url": f"obs://{bucket_name}/data/"},
        outputs={"train_url": f"obs://{bucket_name}/outputs/job-1/"}, flavor_id="test.cpu.1u",
    ))  # fmt: skip
    page = sign_in_page(member.username)
    page.goto(f"{live_server.url}/projects/{storage_project.project_id}/training/jobs/{job.uuid}/")
    panel = page.locator("#job-outputs")
    expect(panel).to_contain_text("Nothing uploaded here yet.")
    # The runner's final upload, then the job ends — as the runner and the poller would leave it.
    (bucket_root / "outputs" / "job-1").mkdir(parents=True, exist_ok=True)
    (bucket_root / "outputs" / "job-1" / "model.pt").write_bytes(b"w" * 2048)
    TrainingTask.objects.filter(job=job).update(status=TaskStatus.SUCCEEDED)
    TrainingJob.objects.filter(pk=job.pk).update(phase=Phase.COMPLETED)
    expect(panel).to_contain_text("model.pt", timeout=15_000)
    expect(panel).to_contain_text("2.0\xa0KiB")
    expect(panel).not_to_have_attribute("hx-trigger", "every 5s")
    expect(page.locator("body")).not_to_contain_text("{#")
    panel.scroll_into_view_if_needed()
    screenshot("h9-job-outputs-after-completion")
