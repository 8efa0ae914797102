"""A member signs in, lands on the dashboard and sees a running job's loss fall, live, without a reload."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from console.training.models import TaskLogChunk, TrainingJob, TrainingTask
from console.training.phases import Phase, SecondaryPhase, TaskStatus
from console.training.workload import TrainingTaskRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log(job, points):
    now = timezone.now()
    TrainingTaskRun(job.tasks.get(index=0)).store_scalars(
        [{"name": name, "step": step, "value": value, "wall_time": now} for name, step, value in points]
    )


def test_a_member_lands_on_the_live_dashboard(
    sign_in_page, screenshot, live_server, member, project, make_pool, make_node, make_running_job
):
    pool = make_pool("ondemand")
    first = make_running_job(make_node(pool, "node-a"), name="llama-finetune")
    second = make_running_job(make_node(pool, "node-b"), name="resnet-baseline")
    for job, start in ((first, 2.4), (second, 1.8)):
        TrainingJob.objects.filter(pk=job.pk).update(start_time=timezone.now() - timedelta(minutes=12))
        log(job, [("loss", s * 10, start * (0.93**s)) for s in range(30)] + [("accuracy", 290, 0.71)])
    failed = TrainingJob.objects.create(
        project=project,
        name="bert-sweep-7",
        phase=Phase.FAILED,
        secondary_phase=SecondaryPhase.FAILED,
        exit_code=1,
        phase_reason="The script exited with code 1.",
    )
    task = TrainingTask.objects.create(job=failed, index=0, name="worker-0", status=TaskStatus.FAILED, exit_code=1)
    TaskLogChunk.objects.create(task=task, seq=1, text="RuntimeError: CUDA out of memory\n", at=timezone.now())
    TrainingJob.objects.create(
        project=project,
        name="queued-eval",
        pool=pool,
        phase=Phase.PENDING,
        secondary_phase=SecondaryPhase.QUEUING,
        phase_reason="Waiting for 1 node with 2 free cores in pool ondemand.",
    )

    page = sign_in_page(member.username)
    expect(page).to_have_url(f"{live_server.url}/projects/{project.project_id}/dashboard/")
    row = page.locator('tr[data-job="llama-finetune"]')
    expect(row).to_contain_text("node-a")
    expect(row.locator("svg.sparkline polyline")).to_have_count(1)
    expect(page.locator('tr[data-job="bert-sweep-7"]')).to_contain_text("RuntimeError: CUDA out of memory")
    expect(page.locator('tr[data-job="queued-eval"]')).to_contain_text("Waiting for 1 node")
    page.evaluate("window.__sameDocument = true")

    # The script logs a new, lower loss: the next poll shows it, in the same document.
    log(first, [("loss", 300, 0.0123)])
    expect(row.locator('td[data-metric="loss"]')).to_contain_text("0.0123", timeout=15_000)
    assert page.evaluate("window.__sameDocument") is True
    screenshot("dashboard")

    # The phase count opens the filtered job list.
    page.locator('a[data-count="running"]').click()
    expect(page).to_have_url(f"{live_server.url}/projects/{project.project_id}/training/jobs/?phase=Running")
    expect(page.locator("body")).to_contain_text("resnet-baseline")


def test_an_administrator_sees_both_nodes_busy(
    sign_in_page, screenshot, live_server, site_admin, project, make_pool, make_node, make_running_job
):
    from console.core.models import ServiceHeartbeat
    from console.training.models import TaskMetricSample

    pool = make_pool("ondemand")
    for name, cpu in (("node-a", 180), ("node-b", 95)):
        job = make_running_job(make_node(pool, name), name=f"train-{name}", cores=2, memory_gb=8)
        TaskMetricSample.objects.create(
            task=job.tasks.get(), at=timezone.now(), cpu_usage=cpu, mem_bytes=6 * 1024**3, gpu_util=-1
        )
    TrainingJob.objects.create(
        project=project,
        name="waits-for-a-node",
        pool=pool,
        phase=Phase.PENDING,
        secondary_phase=SecondaryPhase.QUEUING,
        phase_reason="Waiting for 1 node with 2 free cores in pool ondemand.",
    )
    ServiceHeartbeat.objects.create(name="beat", beat_at=timezone.now())
    page = sign_in_page(site_admin.username)
    page.goto(f"{live_server.url}/admin/operations/")
    for name in ("node-a", "node-b"):
        expect(page.locator(f'tr[data-node="{name}"]')).to_contain_text(f"train-{name} / worker-0")
    expect(page.locator('tr[data-pool="ondemand"]')).to_contain_text("waits-for-a-node")
    screenshot("operations")
