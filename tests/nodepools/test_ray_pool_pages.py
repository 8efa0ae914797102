"""The site administrator's pages of a Ray cluster pool, against a stand-in Ray dashboard (tests/fake_ray.py).

Create through the form (the head is contacted first: nothing is created when it refuses), edit with the
auth value never shown back, the pool page's health / nodes / limits / interpreter panel and its buttons,
the list row, only site administrators, CSRF on every POST, and the page in zh-hans.
"""

import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console.audit.models import AuditEntry
from console.core.secrets import decrypt_secret
from console.nodepools.models import Pool, PoolKind, RayCluster
from console.nodepools.raycluster import services as ray_services
from console.training.forms import JobForm
from console.training.models import TrainingJob, TrainingTask
from console.training.phases import Executor, Phase, SecondaryPhase, TaskStatus
from tests.fake_ray import FakeRay

HX = {"HTTP_HX_REQUEST": "true"}
PROBE_TASK = "console.nodepools.tasks.ray_interpreter_probe"


def url(name, *args):
    return reverse(f"nodepools:{name}", args=args)


@pytest.fixture
def fake_ray():
    fake = FakeRay(cpus=8, gpus=2, memory_gb=32)
    # A worker beside the head, as /api/v0/nodes lists it (resources in bytes for memory).
    fake.nodes.append(
        {
            "node_id": "a" * 56,
            "node_ip": "10.0.0.2",
            "is_head_node": False,
            "state": "ALIVE",
            "resources_total": {"CPU": 16.0, "memory": 64 * 1024**3},
        }
    )
    yield fake
    fake.close()


@pytest.fixture
def sent_tasks(monkeypatch):
    """The Celery tasks the pages send (no broker in these tests): [(name, args, queue)]."""
    from celery import current_app

    sent = []

    def send_task(name, args=None, kwargs=None, queue=None, **options):
        sent.append((name, list(args or []), queue))

    monkeypatch.setattr(current_app, "send_task", send_task)
    return sent


def form_data(fake, **overrides):
    data = {
        "name": "ray-a",
        "description": "The team's Ray cluster",
        "address": fake.address if fake else "",
        "auth_header": "",
        "auth_value": "",
        "interpreter": "/opt/venv/bin/python",
        "console_url": "http://console.example:8000",
        "max_concurrent_jobs": "20",
        "pending_deadline_seconds": "600",
    }
    data.update(overrides)
    return data


@pytest.fixture
def ray_pool(db, site_admin, fake_ray):
    return ray_services.ray_pool_create(
        actor=site_admin,
        name="ray-a",
        address=fake_ray.address,
        interpreter="/opt/venv/bin/python",
        console_url="http://console.example:8000",
        max_concurrent_jobs=2,
        pending_deadline_seconds=900,
    )


def closed_address() -> str:
    """An address where nothing listens any more (a server started and stopped)."""
    gone = FakeRay()
    gone.close()
    return gone.address


# --- create ------------------------------------------------------------------------------------


def test_the_list_offers_both_kinds_of_pool(client_for, site_admin):
    page = client_for(site_admin).get(url("pool_list")).content.decode()
    assert f'href="{url("pool_create")}"' in page
    assert f'href="{url("ray_pool_create")}"' in page
    assert "Create Ray cluster pool" in page


def test_the_ray_form_starts_from_the_consoles_public_address(client_for, site_admin):
    response = client_for(site_admin).get(url("ray_pool_create"))
    assert response.status_code == 200
    form = response.context["form"]
    assert form["console_url"].value() == settings.CONSOLE_PUBLIC_URL
    assert "clear_auth" not in form.fields
    page = response.content.decode()
    assert 'type="password"' in page
    assert "may not be the one with the libraries" in page
    assert "85 MB per running job supervisor" in page


def test_creating_a_ray_pool_checks_the_head_shows_its_nodes_and_sends_the_probe(
    client_for, site_admin, fake_ray, sent_tasks, django_capture_on_commit_callbacks
):
    client = client_for(site_admin)
    data = form_data(fake_ray, auth_header="X-Ray-Token", auth_value="s3cret-token")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("ray_pool_create"), data)
    pool = Pool.objects.get(name="ray-a")
    assert response.status_code == 302 and response["Location"] == url("pool_detail", pool.pk)
    assert pool.kind == PoolKind.RAY and pool.hourly_price is None
    cluster = RayCluster.objects.get(pool=pool)
    assert cluster.reachable and cluster.ray_version == "2.60.0" and len(cluster.nodes) == 2
    assert cluster.console_url == "http://console.example:8000"
    # The value is stored encrypted, and the head was asked with it.
    assert cluster.auth_value_encrypted and "s3cret-token" not in cluster.auth_value_encrypted
    assert decrypt_secret(cluster.auth_value_encrypted) == "s3cret-token"
    assert fake_ray.headers_seen[-1].get("X-Ray-Token") == "s3cret-token"
    # The interpreter probe goes to the platform queue once the pool is committed; the page shows it pending.
    assert sent_tasks == [(PROBE_TASK, [cluster.pk], "platform")]
    assert cluster.interpreter_probe["pending"] is True
    assert AuditEntry.objects.filter(action="pool.create").count() == 1

    detail = client.get(response["Location"])
    page = detail.content.decode()
    assert "created. Its interpreter is being checked" in page
    assert "Reachable" in page and "2.60.0" in page
    assert "f" * 12 in page and "a" * 12 in page  # short node ids
    assert "10.0.0.1" in page and "10.0.0.2" in page
    assert "Head node" in page and "Worker node" in page
    assert "Ray owns these nodes: they join and leave in Ray, not here." in page
    assert "0 of 20 concurrent jobs" in page
    assert "it is not enforced on Ray" in page
    assert "Multi-node jobs are not supported on Ray pools yet." in page
    assert "/opt/venv/bin/python" in page and "Checking" in page
    # Polled faster while the probe is pending.
    assert 'hx-trigger="every 2s' in page
    # The secret never comes back.
    assert "s3cret-token" not in page


def test_an_unreachable_address_is_refused_on_its_field_and_nothing_is_created(client_for, site_admin, sent_tasks):
    client = client_for(site_admin)
    response = client.post(url("ray_pool_create"), form_data(None, address=closed_address()), **HX)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["address"]
    assert "Could not reach the Ray head" in errors["address"][0]
    page = response.content.decode()
    assert "<html" not in page  # the form fragment only
    assert 'id="id_address-error"' in page
    assert not Pool.objects.filter(name="ray-a").exists()
    assert not RayCluster.objects.exists()
    assert sent_tasks == []


def test_a_head_that_answers_503_is_refused_with_the_reason(client_for, site_admin, fake_ray):
    fake_ray.down = True
    response = client_for(site_admin).post(url("ray_pool_create"), form_data(fake_ray))
    assert "is not answering (503" in response.context["form"].errors["address"][0]
    assert not Pool.objects.filter(name="ray-a").exists()


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("interpreter", "python", "Give the absolute path of the Python on the Ray nodes"),
        ("interpreter", "/opt/my venv/python", "Give the absolute path of the Python on the Ray nodes"),
        ("max_concurrent_jobs", "0", "Allow 1 to 500 concurrent jobs"),
        ("max_concurrent_jobs", "100000", "Allow 1 to 500 concurrent jobs"),
        ("pending_deadline_seconds", "5", "The pending deadline is 10 seconds to 7 days."),
        ("console_url", "console:8000", "Give the console's address as the Ray nodes reach it"),
        ("auth_header", "X Token", "A header name is 1–64 letters, digits or '-'"),
        ("name", "bad name!", "Use 1–64 letters, digits"),
    ],
)
def test_bad_fields_are_refused_on_their_field(client_for, site_admin, fake_ray, field, value, message):
    response = client_for(site_admin).post(url("ray_pool_create"), form_data(fake_ray, **{field: value}))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert message in errors[field][0]
    assert not Pool.objects.exists()
    # Field rules are checked before the head is contacted.
    assert fake_ray.requests["version"] == 0


def test_a_name_already_taken_is_refused(client_for, site_admin, fake_ray, ray_pool):
    response = client_for(site_admin).post(url("ray_pool_create"), form_data(fake_ray, name="RAY-A"))
    assert "already exists" in response.context["form"].errors["name"][0]
    assert Pool.objects.count() == 1


# --- edit ------------------------------------------------------------------------------------------


def test_edit_goes_to_the_ray_form_keeps_the_auth_value_when_blank_and_clears_it_with_the_checkbox(
    client_for, site_admin, fake_ray, sent_tasks, django_capture_on_commit_callbacks
):
    pool = ray_services.ray_pool_create(
        actor=site_admin,
        name="ray-a",
        address=fake_ray.address,
        interpreter="/opt/venv/bin/python",
        console_url="http://console.example:8000",
        auth_header="X-Ray-Token",
        auth_value="s3cret-token",
    )
    client = client_for(site_admin)
    detail = client.get(url("pool_detail", pool.pk)).content.decode()
    assert f'href="{url("pool_edit", pool.pk)}"' in detail

    edit = client.get(url("pool_edit", pool.pk))
    form = edit.context["form"]
    assert "address" in form.fields and "billing_mode" not in form.fields and "name" not in form.fields
    assert "clear_auth" in form.fields
    assert form["auth_header"].value() == "X-Ray-Token"
    page = edit.content.decode()
    assert "s3cret-token" not in page
    assert "A value is stored (never shown)" in page

    # Blank value: the stored one stays, and is what the head keeps receiving.
    data = form_data(fake_ray, auth_header="X-Ray-Token", max_concurrent_jobs="7", description="changed")
    data.pop("name")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("pool_edit", pool.pk), data)
    assert response.status_code == 302
    cluster = RayCluster.objects.get(pool=pool)
    assert cluster.max_concurrent_jobs == 7
    assert decrypt_secret(cluster.auth_value_encrypted) == "s3cret-token"
    assert sent_tasks == []  # same interpreter, same cluster: no new probe
    client.post(url("ray_cluster_check", pool.pk), **HX)
    assert fake_ray.headers_seen[-1].get("X-Ray-Token") == "s3cret-token"

    # The checkbox clears it; the head is asked without it.
    data["clear_auth"] = "on"
    response = client.post(url("pool_edit", pool.pk), data)
    assert response.status_code == 302
    cluster.refresh_from_db()
    assert cluster.auth_value_encrypted == "" and cluster.auth_header == ""
    assert "X-Ray-Token" not in fake_ray.headers_seen[-1]
    assert "clear_auth" not in client.get(url("pool_edit", pool.pk)).context["form"].fields
    assert AuditEntry.objects.filter(action="pool.update").count() == 2


def test_a_new_interpreter_is_probed_after_the_edit(
    client_for, site_admin, fake_ray, ray_pool, sent_tasks, django_capture_on_commit_callbacks
):
    data = form_data(fake_ray, interpreter="/usr/local/bin/python3.12")
    data.pop("name")
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(site_admin).post(url("pool_edit", ray_pool.pk), data)
    assert response.status_code == 302
    cluster = RayCluster.objects.get(pool=ray_pool)
    assert cluster.interpreter == "/usr/local/bin/python3.12"
    assert sent_tasks == [(PROBE_TASK, [cluster.pk], "platform")]


def test_an_edit_to_an_unreachable_address_changes_nothing(client_for, site_admin, fake_ray, ray_pool):
    data = form_data(fake_ray, address=closed_address(), max_concurrent_jobs="9")
    data.pop("name")
    response = client_for(site_admin).post(url("pool_edit", ray_pool.pk), data, **HX)
    assert response.status_code == 200
    assert "Could not reach the Ray head" in response.context["form"].errors["address"][0]
    cluster = RayCluster.objects.get(pool=ray_pool)
    assert cluster.address == fake_ray.address and cluster.max_concurrent_jobs == 2


# --- the pool page -----------------------------------------------------------------------------------


def test_check_now_shows_unreachable_with_the_reason_then_reachable_again(client_for, site_admin, fake_ray, ray_pool):
    client = client_for(site_admin)
    fake_ray.down = True
    response = client.post(url("ray_cluster_check", ray_pool.pk), **HX)
    assert response.status_code == 200
    fragment = response.content.decode()
    assert "<html" not in fragment and fragment.lstrip().startswith('<section id="ray-section"')
    assert "Unreachable" in fragment and "since" in fragment
    assert "is not answering (503 to GET /api/version)" in fragment
    # The nodes last seen stay, said so.
    assert "10.0.0.2" in fragment and "the nodes the last successful check found" in fragment
    cluster = RayCluster.objects.get(pool=ray_pool)
    assert not cluster.reachable and cluster.unreachable_since is not None

    # The full page (and the list) say the same.
    page = client.get(url("pool_detail", ray_pool.pk)).content.decode()
    assert "Unreachable" in page and "is not answering (503" in page
    listing = client.get(url("pool_list")).content.decode()
    assert "Unreachable" in listing

    fake_ray.down = False
    fragment = client.post(url("ray_cluster_check", ray_pool.pk), **HX).content.decode()
    assert "Reachable" in fragment and "Unreachable" not in fragment


def test_check_now_without_htmx_redirects_with_a_message(client_for, site_admin, fake_ray, ray_pool):
    client = client_for(site_admin)
    fake_ray.down = True
    response = client.post(url("ray_cluster_check", ray_pool.pk), follow=True)
    assert response.redirect_chain == [(url("pool_detail", ray_pool.pk), 302)]
    assert "is unreachable: The Ray head at" in response.content.decode()


def test_the_panel_polls_as_a_fragment(client_for, site_admin, ray_pool):
    response = client_for(site_admin).get(url("pool_detail", ray_pool.pk), **HX)
    fragment = response.content.decode()
    assert "<html" not in fragment
    assert fragment.lstrip().startswith('<section id="ray-section"')
    assert 'hx-trigger="every 5s' in fragment


def test_the_node_actions_and_billing_are_absent_for_a_ray_pool(client_for, site_admin, ray_pool):
    page = client_for(site_admin).get(url("pool_detail", ray_pool.pk)).content.decode()
    for absent in (
        'id="node-table"',
        'id="node-batch"',
        "data-batch-action",
        "data-row-action",
        url("node_action_preview", ray_pool.pk),
        'id="node-action-dialog"',
        'id="pool-capacity"',
        "CONSOLE_NODE_POOL",
        "per node-hour",
    ):
        assert absent not in page, absent
    assert 'id="ray-nodes"' in page
    assert "the console bills none of its nodes" in page
    assert "Ray and its nodes are not touched" in page  # the delete dialog says what deleting does


def test_deleting_a_ray_pool_forgets_the_cluster(client_for, site_admin, fake_ray, ray_pool, make_pool):
    make_pool("ondemand")
    client = client_for(site_admin)
    refused = client.post(url("pool_delete", ray_pool.pk), {"pool-confirmation": "delete"}, follow=True)
    assert Pool.objects.filter(pk=ray_pool.pk).exists() and "DELETE" in refused.content.decode()
    response = client.post(url("pool_delete", ray_pool.pk), {"pool-confirmation": "DELETE"})
    assert response.status_code == 302 and response["Location"] == url("pool_list")
    assert not Pool.objects.filter(pk=ray_pool.pk).exists() and not RayCluster.objects.exists()
    assert AuditEntry.objects.filter(action="pool.delete").count() == 1


def make_ray_job(project, pool, name, *, submitted: bool):
    """A job as the Ray scheduler leaves it: handed to Ray (task named after the cluster), or still queued."""
    now = timezone.now()
    job = TrainingJob.objects.create(
        project=project,
        name=name,
        pool=pool,
        phase=Phase.RUNNING if submitted else Phase.PENDING,
        secondary_phase=SecondaryPhase.RUNNING if submitted else SecondaryPhase.CREATING,
        flavor_spec={"flavor_id": "modelarts.vm.cpu.2u", "cpu_cores": 2, "memory_gb": 8},
        node_count=1,
        start_time=now if submitted else None,
        nodes_assigned_at=now if submitted else None,
    )
    TrainingTask.objects.create(
        job=job,
        index=0,
        name="worker-0",
        status=TaskStatus.RUNNING if submitted else TaskStatus.WAITING,
        executor=Executor.RAY if submitted else Executor.NODE,
        node_name=f"ray:{pool.name}" if submitted else "",
        assigned_at=now if submitted else None,
    )
    return job


def test_the_limits_count_the_jobs_handed_to_ray_against_the_cap(client_for, site_admin, project, ray_pool):
    make_ray_job(project, ray_pool, "bert-1", submitted=True)
    make_ray_job(project, ray_pool, "bert-2", submitted=True)
    make_ray_job(project, ray_pool, "bert-3", submitted=False)
    page = client_for(site_admin).get(url("pool_detail", ray_pool.pk)).content.decode()
    assert "2 of 2 concurrent jobs" in page
    assert "at the cap" in page
    assert "1 waiting in the console's queue" in page
    assert "runs out of memory at a few hundred" in page
    assert "900 s (15\xa0minutes)" in page  # timesince keeps a number and its unit together
    # The jobs table the page always had.
    assert 'id="pool-jobs"' in page
    assert "bert-1" in page and "bert-3" in page and f"ray:{ray_pool.name}" in page


def test_check_interpreter_sends_the_probe_and_the_panel_shows_what_it_found(
    client_for, site_admin, fake_ray, ray_pool, sent_tasks, django_capture_on_commit_callbacks
):
    client = client_for(site_admin)
    cluster = RayCluster.objects.get(pool=ray_pool)
    assert "not checked yet" in client.get(url("pool_detail", ray_pool.pk)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("ray_interpreter_check", ray_pool.pk), **HX)
    fragment = response.content.decode()
    assert sent_tasks == [(PROBE_TASK, [cluster.pk], "platform")]
    assert "Checking" in fragment and "A short Ray job runs it" in fragment
    assert 'hx-trigger="every 2s' in fragment
    assert 'id="ray-check-interpreter" disabled' in fragment

    # What the task does on the platform queue: a short Ray job (finished here as Ray would finish it).
    with ray_finishes_probes(fake_ray, status="SUCCEEDED"):
        ray_services.ray_interpreter_probe(cluster_id=cluster.pk)
    fragment = client.get(url("pool_detail", ray_pool.pk), **HX).content.decode()
    assert "Works" in fragment
    assert "Found <code>/opt/venv/bin/python3.12</code>, Python 3.12.3." in fragment
    assert 'hx-trigger="every 5s' in fragment

    with ray_finishes_probes(fake_ray, status="FAILED"):
        ray_services.ray_interpreter_probe(cluster_id=cluster.pk)
    fragment = client.get(url("pool_detail", ray_pool.pk), **HX).content.decode()
    assert "Check failed" in fragment and "exit code 127" in fragment


def test_a_probe_nobody_took_stops_polling_and_says_so(client_for, site_admin, ray_pool):
    cluster = RayCluster.objects.get(pool=ray_pool)
    long_ago = (timezone.now() - timedelta(minutes=10)).isoformat()
    RayCluster.objects.filter(pk=cluster.pk).update(
        interpreter_probe={"pending": True, "requested_at": long_ago, "interpreter": cluster.interpreter}
    )
    fragment = client_for(site_admin).get(url("pool_detail", ray_pool.pk), **HX).content.decode()
    assert "No answer" in fragment and "is a worker taking the <code>platform</code> queue?" in fragment
    assert 'hx-trigger="every 5s' in fragment


class ray_finishes_probes:
    """While active, a thread finishes each probe job submitted to the fake head as Ray would."""

    def __init__(self, fake, *, status):
        self.fake, self.status, self.stop = fake, status, threading.Event()

    def _run(self):
        done = set()
        while not self.stop.is_set():
            for submission_id in [s for s in list(self.fake.jobs) if "probe-" in s and s not in done]:
                if self.status == "SUCCEEDED":
                    line = 'MA_PROBE {"executable": "/opt/venv/bin/python3.12", "python_version": "3.12.3"}\n'
                    self.fake.append_log(submission_id, line)
                    self.fake.set_status(submission_id, "SUCCEEDED", message="Job finished successfully.")
                else:
                    self.fake.append_log(submission_id, "/bin/sh: 1: /opt/venv/bin/python: not found\n")
                    self.fake.set_status(
                        submission_id,
                        "FAILED",
                        message="Job entrypoint command failed with exit code 127, last available logs: not found",
                    )
                done.add(submission_id)
            time.sleep(0.05)

    def __enter__(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def test_the_list_row_of_a_ray_pool(client_for, site_admin, ray_pool, make_pool):
    make_pool("ondemand")
    response = client_for(site_admin).get(url("pool_list"))
    page = response.content.decode()
    row = page[page.index(f'id="pool-{ray_pool.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "Ray cluster" in row and "Reachable" in row and "Not billed" in row
    assert "Alive: 2" in row
    assert "/ 24" in row  # CPUs: 8 on the head + 16 on the worker
    assert "/ 2" in row  # GPUs
    assert "/ 96.0" in row  # GiB
    other = page[page.index("ondemand") :]
    assert "Registered nodes" in other[: other.index("</tr>")]


def test_the_job_form_names_a_ray_pool_as_such(project, ray_pool, make_pool):
    make_pool("ondemand")
    choices = dict(JobForm(project=project).fields["pool"].choices)
    assert choices["ray-a"] == "ray-a (Ray cluster)"
    assert choices["ondemand"] == "ondemand"


# --- who may, CSRF ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,method,with_pool",
    [
        ("ray_pool_create", "get", False),
        ("ray_pool_create", "post", False),
        ("pool_detail", "get", True),
        ("pool_edit", "get", True),
        ("pool_edit", "post", True),
        ("ray_cluster_check", "post", True),
        ("ray_interpreter_check", "post", True),
    ],
)
def test_only_site_administrators_may(
    client_for, client, member, project_admin, fake_ray, ray_pool, sent_tasks, name, method, with_pool
):
    target = url(name, ray_pool.pk) if with_pool else url(name)
    data = form_data(fake_ray, name="ray-b", max_concurrent_jobs="3")
    before = sum(fake_ray.requests.values())
    anonymous = getattr(Client(), method)(target, data)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    for user in (member, project_admin):
        assert getattr(client_for(user), method)(target, data).status_code == 403
    assert list(Pool.objects.values_list("name", flat=True)) == ["ray-a"]
    assert RayCluster.objects.get(pool=ray_pool).max_concurrent_jobs == 2
    assert sum(fake_ray.requests.values()) == before  # the head was never asked
    assert sent_tasks == []


@pytest.mark.parametrize("name", ["ray_cluster_check", "ray_interpreter_check", "pool_edit"])
def test_the_post_buttons_need_the_csrf_token(site_admin, fake_ray, ray_pool, sent_tasks, name):
    client = Client(enforce_csrf_checks=True)
    client.force_login(site_admin, backend="django.contrib.auth.backends.ModelBackend")
    data = form_data(fake_ray, max_concurrent_jobs="3")
    data.pop("name")
    before = sum(fake_ray.requests.values())
    refused = client.post(url(name, ray_pool.pk), data, **HX)
    assert refused.status_code == 403
    assert sum(fake_ray.requests.values()) == before and sent_tasks == []
    assert RayCluster.objects.get(pool=ray_pool).max_concurrent_jobs == 2

    # The page carries the token (HTMX sends it from <body hx-headers>); with it the same POST goes through.
    page = client.get(url("pool_detail", ray_pool.pk))
    token = page.cookies["csrftoken"].value
    assert "X-CSRFToken" in page.content.decode()
    accepted = client.post(url(name, ray_pool.pk), data, HTTP_X_CSRFTOKEN=token, **HX)
    assert accepted.status_code == 200


def test_creating_needs_the_csrf_token(site_admin, fake_ray):
    client = Client(enforce_csrf_checks=True)
    client.force_login(site_admin, backend="django.contrib.auth.backends.ModelBackend")
    assert client.post(url("ray_pool_create"), form_data(fake_ray)).status_code == 403
    assert not Pool.objects.exists()


# --- zh-hans ---------------------------------------------------------------------------------------------


def test_the_pool_page_in_chinese(client_for, site_admin, fake_ray, ray_pool):
    site_admin.profile.language = "zh-hans"
    site_admin.profile.save(update_fields=["language"])
    client = client_for(site_admin)
    page = client.get(url("pool_detail", ray_pool.pk)).content.decode()
    for chinese in ("Ray集群", "可连接", "立即检查", "检查解释器", "头节点", "工作节点", "并发作业", "由Ray管理"):
        assert chinese in page, chinese
    for english in (
        "Check now",
        "Check interpreter",
        "Reachable",
        "Head node",
        "Ray owns these nodes",
        "concurrent jobs",
        "Multi-node jobs",
        "scheduling hint",
        "not checked yet",
        "Dashboard address",
    ):
        assert english not in page, english
    form = client.get(url("ray_pool_create")).content.decode()
    for english in ("Dashboard address", "Python interpreter on the Ray nodes", "Create Ray cluster pool"):
        assert english not in form, english
    assert "创建Ray集群资源池" in form

    # A head's reason comes from the HTTP client in English: read back in Chinese, on the panel and the form.
    fake_ray.down = True
    fragment = client.post(url("ray_cluster_check", ray_pool.pk), **HX).content.decode()
    assert (
        "无法连接" in fragment and f"位于{fake_ray.address}的Ray头节点无响应（GET /api/version返回503）。" in fragment
    )
    assert "is not answering" not in fragment
    refused = client.post(url("ray_pool_create"), form_data(None, name="ray-b", address=closed_address()))
    assert refused.context["form"].errors["address"][0].startswith("无法连接位于http://127.0.0.1:")
    refused = client.post(url("ray_pool_create"), form_data(None, name="ray-b", address="ray-head:8265"))
    assert refused.context["form"].errors["address"][0] == (
        "Dashboard地址无效：请填写以http://或https://开头的Dashboard地址，例如http://ray-head:8265。"
    )


def test_no_english_of_ours_on_the_chinese_ray_pages(
    client_for, site_admin, project, fake_ray, ray_pool, make_pool, sent_tasks, django_capture_on_commit_callbacks
):
    """As the every-page walk reads them (tests/foundation), in every state the Ray pages have."""
    from tests.foundation.page_walk import visible_text
    from tests.foundation.test_translations import ALLOWED_WORDS, english_in

    site_admin.profile.language = "zh-hans"
    site_admin.profile.save(update_fields=["language"])
    make_pool("ondemand")
    make_ray_job(project, ray_pool, "bert-1", submitted=True)
    make_ray_job(project, ray_pool, "bert-2", submitted=False)
    client = client_for(site_admin)
    cluster = RayCluster.objects.get(pool=ray_pool)
    allowed = ALLOWED_WORDS | {"ray", "a", "ondemand", "vision", "bert", "session_fake", "mia", "root"}
    problems = []

    def read(label, response):
        assert response.status_code == 200, label
        texts, _attributes = visible_text(response.content.decode())
        problems.extend(f"{label}: {t!r} {words}" for t in texts if (words := english_in(t, allowed)))

    detail = url("pool_detail", ray_pool.pk)
    read("detail, probe never run", client.get(detail))
    with django_capture_on_commit_callbacks(execute=True):
        read("probe pending", client.post(url("ray_interpreter_check", ray_pool.pk), **HX))
    with ray_finishes_probes(fake_ray, status="SUCCEEDED"):
        ray_services.ray_interpreter_probe(cluster_id=cluster.pk)
    read("probe found it", client.get(detail))
    RayCluster.objects.filter(pk=cluster.pk).update(
        interpreter_probe={**cluster.interpreter_probe, "at": timezone.now().isoformat(), "ok": True,
                           "interpreter": "/usr/bin/python3", "executable": "/usr/bin/python3",
                           "python_version": "3.11.2"}
    )  # fmt: skip
    read("probe of the interpreter before an edit", client.get(detail))
    RayCluster.objects.filter(pk=cluster.pk).update(
        interpreter_probe={"pending": True, "requested_at": (timezone.now() - timedelta(hours=1)).isoformat()}
    )
    read("probe never reported", client.get(detail))
    fake_ray.down = True
    read("unreachable", client.post(url("ray_cluster_check", ray_pool.pk), **HX))
    read("list", client.get(url("pool_list")))
    read("create form", client.get(url("ray_pool_create")))
    read("edit form", client.get(url("pool_edit", ray_pool.pk)))
    assert not problems, "\n".join(problems)
    listing = client.get(url("pool_list")).content.decode()
    assert "创建Ray集群资源池" in listing and "不计费" in listing
