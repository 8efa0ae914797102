"""The project dashboard: counts that link to their lists, running jobs with their metric, failures, queue, storage."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console.accounts.models import Role
from console.dashboard.models import ProjectStorageUse
from console.dashboard.services import project_storage_use_refresh
from console.storage.models import Bucket
from console.training.models import TaskLogChunk, TrainingJob, TrainingTask
from console.training.phases import Phase, SecondaryPhase, TaskStatus
from console.training.workload import TrainingTaskRun

HX = {"HTTP_HX_REQUEST": "true"}


def url(project):
    return f"/projects/{project.project_id}/dashboard/"


def bulk_jobs(project, n, *, phase=Phase.COMPLETED):
    """``n`` finished jobs in one INSERT (fast enough for 10,000 in a test)."""
    now = timezone.now()
    TrainingJob.objects.bulk_create(
        [
            TrainingJob(
                project=project,
                name=f"bulk-{i}",
                phase=phase,
                secondary_phase=SecondaryPhase.COMPLETED,
                start_time=now - timedelta(hours=2),
                end_time=now - timedelta(hours=1),
            )
            for i in range(n)
        ],
        batch_size=5000,
    )


def failed_job(
    project, name, *, exit_code=3, reason="The script exited with code 3.", log="epoch 1\nValueError: bad shape\n"
):
    job = TrainingJob.objects.create(
        project=project,
        name=name,
        phase=Phase.FAILED,
        secondary_phase=SecondaryPhase.FAILED,
        exit_code=exit_code,
        phase_reason=reason,
    )
    task = TrainingTask.objects.create(job=job, index=0, name="worker-0", status=TaskStatus.FAILED, exit_code=exit_code)
    TaskLogChunk.objects.create(task=task, seq=1, text="starting\n", at=timezone.now())
    TaskLogChunk.objects.create(task=task, seq=2, text=log, at=timezone.now())
    return job


def log_loss(job, values):
    task = job.tasks.get(index=0)
    now = timezone.now()
    TrainingTaskRun(task).store_scalars(
        [{"name": "loss", "step": i * 10, "value": v, "wall_time": now} for i, v in enumerate(values)]
    )


@pytest.fixture
def scene(project, make_pool, make_node, make_running_job):
    pool = make_pool("ondemand")
    node = make_node(pool, "node-a")
    running = make_running_job(node, name="resnet-run")
    TrainingJob.objects.filter(pk=running.pk).update(start_time=timezone.now() - timedelta(minutes=4, seconds=5))
    log_loss(running, [2.0, 1.5, 1.1, 0.9, 0.72])
    failed = failed_job(project, "broken-run")
    waiting = TrainingJob.objects.create(
        project=project,
        name="queued-run",
        pool=pool,
        phase=Phase.PENDING,
        secondary_phase=SecondaryPhase.QUEUING,
        phase_reason="Waiting for 1 node with 8 free cores in pool ondemand.",
    )
    bulk_jobs(project, 3)
    return {"pool": pool, "node": node, "running": running, "failed": failed, "waiting": waiting}


def test_a_member_lands_on_the_dashboard(client_for, member, project):
    client = client_for(member)
    assert client.get("/")["Location"] == url(project)
    response = client.get(url(project))
    assert response.status_code == 200
    html = response.content.decode()
    assert b"<html" in response.content
    # Settings stay one click away, in the page and in the navigation.
    assert f'href="/projects/{project.project_id}/"' in html
    assert "Project settings" in html


def test_it_shows_counts_running_jobs_failures_and_the_queue(client_for, member, project, scene):
    html = client_for(member).get(url(project)).content.decode()
    jobs = f"/projects/{project.project_id}/training/jobs/"
    assert f'<a href="{jobs}" data-count="total">6</a>' in html
    assert f'<li data-phase="Running"><a href="{jobs}?phase=Running"><strong>1</strong> Running</a></li>' in html
    assert f'<li data-phase="Completed"><a href="{jobs}?phase=Completed"><strong>3</strong> Completed</a></li>' in html
    assert f'<a href="{jobs}?phase=Failed" data-count="failed">1 failed</a>' in html
    assert f'<a href="{jobs}?phase=Pending" data-count="pending">1 pending</a>' in html

    running = scene["running"]
    assert f'<a href="{jobs}{running.uuid}/">resnet-run</a>' in html
    elapsed = int(re.search(r'<td data-elapsed="(\d+)">4 min \d\d s</td>', html).group(1))
    assert 245 <= elapsed < 270  # started 4 min 05 s ago; a slow machine adds a few seconds
    assert "<td>node-a</td>" in html
    assert '<td data-metric="loss"><span class="muted">loss</span> <strong>0.72</strong>' in html
    assert "step 40" in html
    assert '<svg class="sparkline"' in html and "<polyline points=" in html

    failed = scene["failed"]
    assert f'<a href="{jobs}{failed.uuid}/">broken-run</a>' in html
    assert "The script exited with code 3." in html
    assert '<code class="log-line">ValueError: bad shape</code>' in html  # the last line of the last chunk
    assert "<td>3</td>" in html

    waiting = scene["waiting"]
    assert f'<a href="{jobs}{waiting.uuid}/">queued-run</a>' in html
    assert '<td data-position="1">1</td>' in html
    assert "Waiting for 1 node with 8 free cores in pool ondemand." in html


def test_every_link_of_the_dashboard_opens(client_for, member, project, scene):
    client = client_for(member)
    html = client.get(url(project)).content.decode()
    live = html[html.index('id="dashboard-live"') :]
    links = sorted(set(re.findall(r'href="(/projects/[^"]+)"', live)))
    assert len(links) > 15
    for link in links:
        assert client.get(link.replace("&amp;", "&")).status_code == 200, link


def test_the_phase_link_opens_the_filtered_list(client_for, member, project, scene):
    html = client_for(member).get(f"/projects/{project.project_id}/training/jobs/?phase=Running").content.decode()
    assert "resnet-run" in html and "broken-run" not in html and "queued-run" not in html


def test_htmx_polling_gets_only_the_live_part_while_the_tab_is_visible(client_for, member, project, scene):
    client = client_for(member)
    page = client.get(url(project)).content.decode()
    assert "every 5s [document.visibilityState === 'visible']" in page
    response = client.get(url(project), **HX)
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert response.content.lstrip().startswith(b'<div id="dashboard-live"')
    assert b"resnet-run" in response.content
    # What changed since the last poll shows in the next one.
    TrainingJob.objects.filter(name="queued-run").update(phase=Phase.RUNNING, nodes_assigned_at=timezone.now())
    again = client.get(url(project), **HX).content.decode()
    assert 'data-count="running">2</a>' in again
    assert "No job is waiting for nodes." in again


def test_models_versions_and_weight_checks_by_status(client_for, member, project, qwen25_7b):
    from console.core.models import WorkState
    from console.mymodels.models import ModelStatus, MyModel
    from console.versions.models import ModelVersion, TaskRecord

    model = MyModel.objects.create(project=project, name="llm", base_version=qwen25_7b, created_by=member)
    versions = [
        ModelVersion.objects.create(
            model=model, number=i + 1, base_version=qwen25_7b, weights_path="/b/w/", status=status
        )
        for i, status in enumerate([ModelStatus.CREATED, ModelStatus.CREATING, ModelStatus.FAILED])
    ]
    TaskRecord.objects.create(version=versions[1], state=WorkState.PENDING)
    TaskRecord.objects.create(version=versions[2], state=WorkState.FAILED)
    html = client_for(member).get(url(project)).content.decode()
    models = f"/projects/{project.project_id}/models/"
    assert f'<a href="{models}" data-count="models"><strong>1</strong> models</a>' in html
    assert f'<a href="{models}?status=created" data-model-status="created">1 created</a>' in html
    assert f'<a href="{models}" data-count="versions"><strong>3</strong> versions</a>' in html
    assert f'<a href="{models}?status=failed" data-version-status="failed">1 failed</a>' in html
    assert 'data-count="checks-pending">1 pending</a>' in html
    assert 'data-count="checks-failed">1 failed</a>' in html


def test_storage_use_comes_from_the_row_beat_fills_never_from_the_bucket(
    client_for, member, project, tmp_path, monkeypatch
):
    bucket = Bucket.objects.create(project=project, name="dash-bucket", local_root=str(tmp_path))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.bin").write_bytes(b"x" * 3000)
    (tmp_path / "b.txt").write_bytes(b"y" * 72)
    client = client_for(member)
    assert "Not summed yet" in client.get(url(project)).content.decode()

    row = project_storage_use_refresh(project=project)
    assert (row.total_bytes, row.object_count, row.buckets, row.errors) == (3072, 2, 1, [])

    # A page load never walks a bucket: break every backend, the page still answers from the row.
    from console.storage.backends.local import LocalBackend

    monkeypatch.setattr(LocalBackend, "walk", lambda *a, **k: (_ for _ in ()).throw(AssertionError("walked")))
    html = client.get(url(project)).content.decode()
    from console.core.sizes import binary_size

    shown = binary_size(3072)
    assert "3" in shown
    assert (
        f'<a href="/projects/{project.project_id}/storage/" data-count="storage"><strong>{shown}</strong></a>' in html
    )
    assert "in 2 objects" in html and "1 bucket" in html
    assert "Summed in the background" in html
    assert bucket.name  # the bucket stays; only its walk is refused


def test_the_beat_task_refreshes_every_project(project, other_project, tmp_path):
    from console.dashboard.tasks import refresh_storage_use

    Bucket.objects.create(project=project, name="dash-bucket-2", local_root=str(tmp_path))
    (tmp_path / "f").write_bytes(b"z" * 10)
    assert refresh_storage_use() == 2
    assert ProjectStorageUse.objects.get(project=project).total_bytes == 10
    assert ProjectStorageUse.objects.get(project=other_project).total_bytes == 0


def test_an_unreadable_bucket_is_named_and_the_others_still_counted(project, tmp_path):
    Bucket.objects.create(project=project, name="good-bucket", local_root=str(tmp_path))
    (tmp_path / "f").write_bytes(b"z" * 10)
    Bucket.objects.create(
        project=project, name="gone-bucket", kind=Bucket.Kind.S3, endpoint_url="http://127.0.0.1:1", s3_bucket="x"
    )
    row = project_storage_use_refresh(project=project)
    assert row.total_bytes == 10 and row.buckets == 2
    assert [e["bucket"] for e in row.errors] == ["gone-bucket"]


# --- access -----------------------------------------------------------------------------------------


def test_viewers_see_the_dashboard_and_non_members_get_404(client_for, viewer, project, other_project, make_member):
    assert client_for(viewer).get(url(project)).status_code == 200
    stranger = make_member(other_project, "stranger", Role.ADMIN)
    assert client_for(stranger).get(url(project)).status_code == 404
    assert client_for(stranger).get(url(project), **HX).status_code == 404


def test_anonymous_users_are_sent_to_sign_in(client, project):
    response = client.get(url(project))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- a constant number of queries ----------------------------------------------------------------


def queries_for(client, project):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url(project))
    assert response.status_code == 200
    return len(captured.captured_queries), [q["sql"] for q in captured.captured_queries]


def test_the_number_of_queries_is_the_same_at_100_and_10000_jobs(client_for, member, project, scene):
    client = client_for(member)
    for i in range(3):  # more running and failed jobs, each with metrics and logs, than the page shows
        job = make_running_job_again(project, scene["node"], f"more-{i}")
        log_loss(job, [1.0, 0.5])
        failed_job(project, f"failed-{i}")
    bulk_jobs(project, 100 - TrainingJob.objects.filter(project=project).count())
    assert TrainingJob.objects.filter(project=project).count() == 100
    client.get(url(project))  # warm: the session, the first-request caches
    small, _ = queries_for(client, project)

    for i in range(12):
        job = make_running_job_again(project, scene["node"], f"late-{i}")
        log_loss(job, [3.0, 2.0, 1.0])
        failed_job(project, f"late-failed-{i}")
    for phase in (Phase.COMPLETED, Phase.FAILED, Phase.TERMINATED):
        bulk_jobs(project, 3200, phase=phase)
    bulk_jobs(project, 10_000 - TrainingJob.objects.filter(project=project).count(), phase=Phase.PENDING)
    assert TrainingJob.objects.filter(project=project).count() == 10_000
    large, sqls = queries_for(client, project)
    assert large == small, "\n".join(sqls)
    assert small < 30


def make_running_job_again(project, node, name):
    now = timezone.now()
    job = TrainingJob.objects.create(
        project=project,
        name=name,
        pool=node.pool,
        phase=Phase.RUNNING,
        secondary_phase=SecondaryPhase.RUNNING,
        start_time=now,
        nodes_assigned_at=now,
        flavor_spec={"cpu_cores": 1, "memory_gb": 1},
    )
    TrainingTask.objects.create(
        job=job, index=0, name="worker-0", status=TaskStatus.RUNNING, node=node, node_name=node.name, running_at=now
    )
    return job
