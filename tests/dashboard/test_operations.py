"""The operations view: nodes with their use and tasks, each pool's queue, Celery's last answer, beat."""

import re
from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console.core.models import ServiceHeartbeat
from console.training.models import TaskMetricSample, TrainingJob
from console.training.phases import Phase, SecondaryPhase

URL = "/admin/operations/"
HX = {"HTTP_HX_REQUEST": "true"}
GB = 1024**3


def sample(job, *, cpu, mem_gb, gpu=-1, ago=2):
    task = job.tasks.get(index=0)
    TaskMetricSample.objects.create(
        task=task, at=timezone.now() - timedelta(seconds=ago + 10), cpu_usage=1, mem_bytes=1, gpu_util=-1
    )
    TaskMetricSample.objects.create(
        task=task, at=timezone.now() - timedelta(seconds=ago), cpu_usage=cpu, mem_bytes=int(mem_gb * GB), gpu_util=gpu
    )


def waiting_job(project, pool, name, *, minutes_ago, reason=""):
    job = TrainingJob.objects.create(
        project=project,
        name=name,
        pool=pool,
        phase=Phase.PENDING,
        secondary_phase=SecondaryPhase.QUEUING,
        phase_reason=reason,
    )
    TrainingJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
    return job


def test_it_shows_a_second_node_and_its_running_task_with_live_use(
    client_for, site_admin, project, other_project, make_pool, make_node, make_running_job
):
    pool = make_pool("ondemand")
    first = make_node(pool, "node-a", cores=8, memory_gb=32)
    second = make_node(pool, "node-b", cores=4, memory_gb=16, heartbeat_ago=3)
    on_first = make_running_job(first, name="train-a", cores=2, memory_gb=8)
    on_second = make_running_job(second, name="train-b", cores=4, memory_gb=8)
    sample(on_first, cpu=100, mem_gb=4)  # 2 of node-a's 8 cores busy, 4 of its 32 GB
    sample(on_second, cpu=50, mem_gb=8, gpu=70)  # 2 of node-b's 4 cores, 8 of 16 GB
    waiting_job(project, pool, "second-in-line", minutes_ago=1, reason="Waiting for a free node.")
    waiting_job(other_project, pool, "first-in-line", minutes_ago=5, reason="Waiting for 4 free cores.")

    html = client_for(site_admin).get(URL).content.decode()
    assert '<tr data-node="node-a">' in html and '<tr data-node="node-b">' in html
    node_b = html[html.index('<tr data-node="node-b">') :]
    node_b = node_b[: node_b.index("</tr>")]
    job_url = f"/projects/{project.project_id}/training/jobs/{on_second.uuid}/"
    assert f'<div data-occupant="train-b / worker-0"><a href="{job_url}">train-b / worker-0</a>' in node_b
    assert 'data-cpu="50.0"' in node_b and 'data-mem="50.0"' in node_b
    assert "<td>70.0 %</td>" in node_b
    # Three seconds old when created; a slow machine adds a few.
    assert 3 <= int(re.search(r'data-heartbeat-age="(\d+)"', node_b).group(1)) < 30
    assert "Pay-per-use" in node_b
    node_a = html[html.index('<tr data-node="node-a">') :]
    assert 'data-cpu="25.0"' in node_a[: node_a.index("</tr>")]
    assert 'data-mem="12.5"' in node_a[: node_a.index("</tr>")]

    queue = html[html.index('<tr data-pool="ondemand">') :]
    queue = queue[: queue.index("</tr>")]
    assert '<td data-waiting="2">2</td>' in queue
    assert '<div data-waiting-job="first-in-line" data-position="1">' in queue
    assert '<div data-waiting-job="second-in-line" data-position="2">' in queue
    assert queue.index("first-in-line") < queue.index("second-in-line")
    assert "Waiting for 4 free cores." in queue


def test_it_shows_celerys_last_answer_with_its_age_and_beats_last_cycle(client_for, site_admin):
    now = timezone.now()
    ServiceHeartbeat.objects.create(name="beat", beat_at=now - timedelta(seconds=4))
    ServiceHeartbeat.objects.create(
        name="workers",
        beat_at=now - timedelta(seconds=6),
        detail={
            "workers": {
                "platform@host": {
                    "pid": 4242,
                    "concurrency": 2,
                    "tasks_run": 17,
                    "uptime_s": 3700,
                    "queues": ["platform"],
                },
                "node-a@host": {"pid": 99, "concurrency": 1, "tasks_run": 3, "uptime_s": 50, "queues": ["node.node-a"]},
            },
            "queues": [{"name": "node.node-a", "waiting": 0}, {"name": "platform", "waiting": 5}],
            "errors": [],
            "took_ms": 1003.2,
        },
    )
    html = client_for(site_admin).get(URL).content.decode()
    assert "Asked 6 s ago (the question took 1003.2 ms)." in html
    assert '<span data-beat-age="4">4 s ago</span>' in html
    assert (
        '<tr data-worker="platform@host"><td>platform@host</td><td>4242</td><td>2</td><td>17</td>'
        "<td>1 h 01 min</td><td>platform</td></tr>"
    ) in html
    assert '<tr data-queue="platform"><td>platform</td><td>5</td></tr>' in html


def test_the_background_observer_fills_what_the_page_shows(client_for, site_admin):
    from console.core.tasks import observe_workers

    observe_workers()  # a real, time-boxed broadcast; no worker runs in this test
    html = client_for(site_admin).get(URL).content.decode()
    assert re.search(r"Asked \d+ s ago \(the question took \d+(\.\d)? ms\)", html)
    assert "No worker answered." in html
    assert '<tr data-queue="platform">' in html


def test_only_site_administrators_open_it(client_for, member, project_admin):
    assert client_for(member).get(URL).status_code == 403
    assert client_for(project_admin).get(URL).status_code == 403


def test_htmx_polling_gets_the_live_part_and_the_nav_links_it(client_for, site_admin, make_pool, make_node):
    make_node(make_pool("ondemand"), "node-a")
    client = client_for(site_admin)
    page = client.get(URL).content.decode()
    assert 'href="/admin/operations/" class="active"' in page
    assert "every 5s [document.visibilityState === 'visible']" in page
    part = client.get(URL, **HX)
    assert part.content.lstrip().startswith(b'<div id="operations-live"')
    assert b'<tr data-node="node-a">' in part.content


def test_its_queries_do_not_grow_with_nodes_or_tasks(client_for, site_admin, make_pool, make_node, make_running_job):
    client = client_for(site_admin)
    pool = make_pool("ondemand")

    def count():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(URL).status_code == 200
        return len(captured)

    job = make_running_job(make_node(pool, "n0"), name="j0")
    sample(job, cpu=10, mem_gb=1)
    client.get(URL)
    few = count()
    for i in range(1, 8):
        job = make_running_job(make_node(pool, f"n{i}"), name=f"j{i}")
        sample(job, cpu=10, mem_gb=1)
    assert count() == few
