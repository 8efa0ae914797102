"""Notebook rules without a node process: the transition table, bad input (API and services), the
gateway's refusals, the pages, and the training scheduler counting notebooks as occupants."""

from __future__ import annotations

import sys

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from console.core.secrets import encrypt_secret
from console.notebooks import rules
from console.notebooks.gateway import GatewayRefusal, open_upstream
from console.notebooks.models import Image, NodeImage, Notebook
from console.notebooks.services import NotebookSpec, notebook_create, notebook_lease_update, notebook_start
from console.notebooks.states import State
from tests.api.conftest import ApiClient, assert_error, token_body  # noqa: F401
from tests.notebooks.conftest import TEST_FLAVOR
from tests.training.conftest import make_node

HOUR = 3_600_000


@pytest.fixture
def image(db):
    return Image.objects.create(name="jupyterlab4.6.6-python3.12", jupyterlab_version="4.6.6", python_version="3.12")


@pytest.fixture
def node(default_pool, image):
    node = make_node(default_pool, "nb-unit", cores=4, memory_gb=16)
    NodeImage.objects.create(node=node, image=image, python_path=sys.executable)
    return node


@pytest.fixture
def api(client, member, storage_project):
    import json

    response = client.post(
        "/v3/auth/tokens",
        data=json.dumps(
            token_body(member.username, project=storage_project.name, domain=member.profile.organization.name)
        ),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return ApiClient(client, response["X-Subject-Token"])


def body(image, **overrides):
    data = {
        "name": "my-notebook_1",
        "flavor": TEST_FLAVOR["flavor_id"],
        "image_id": str(image.image_id),
        "lease": {"duration": HOUR, "type": "TIMING"},
    }
    data.update(overrides)
    return data


def make(project, owner, image, name="nb", state=None):
    notebook = notebook_create(
        actor=owner,
        project=project,
        spec=NotebookSpec(name=name, flavor_id=TEST_FLAVOR["flavor_id"], image_id=str(image.image_id)),
    )
    if state:
        Notebook.objects.filter(pk=notebook.pk).update(state=state)
        notebook.refresh_from_db()
    return notebook


# --- the transition table ----------------------------------------------------------------------


def test_every_state_has_a_row_and_refusals_name_the_state_and_what_it_allows():
    assert set(rules.ALLOWED) == set(State.values)
    with pytest.raises(ValidationError) as refused:
        rules.decide(State.STOPPED, rules.RENEW)
    message = refused.value.messages[0]
    assert "STOPPED" in message and "start" in message and "delete" in message
    assert rules.decide(State.STOPPED, rules.STOP) == rules.NOTHING  # idempotent
    assert rules.decide(State.STARTING, rules.START) == rules.NOTHING
    with pytest.raises(ValidationError):
        rules.decide(State.RUNNING, rules.START)
    with pytest.raises(ValidationError):
        rules.decide(State.FROZEN, rules.START)
    assert rules.decide(State.FROZEN, rules.UNFREEZE) == rules.DO


# --- bad input through the API: a 4xx naming the field and rule, nothing written ---------------


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"name": "has space"}, "name: The name must be 1 to 128 letters"),
        ({"name": "x" * 129}, "name: The name must be 1 to 128"),
        ({"description": "a<b"}, "description: The description has at most 512 characters"),
        ({"flavor": "nope"}, "flavor: Unknown flavor nope"),
        ({"image_id": "not-a-uuid"}, "image_id: Unknown image"),
        ({"lease": {"duration": 1000, "type": "TIMING"}}, "lease.duration: lease.duration must be between 3600000 ms"),
        ({"lease": {"duration": 259_200_001, "type": "TIMING"}}, "out of range"),
    ],
)
def test_create_refuses_bad_input_naming_the_field(api, storage_project, node, image, overrides, fragment):
    response = api.post(f"/v1/{storage_project.project_id}/notebooks", body(image, **overrides))
    assert_error(response, 400, "ModelArts.6400", fragment)
    assert not Notebook.objects.exists()


def test_lease_not_an_integer_is_refused_by_the_schema(api, storage_project, node, image):
    response = api.post(f"/v1/{storage_project.project_id}/notebooks", body(image, lease={"duration": "1h"}))
    assert response.status_code == 400 and "lease.duration" in response.json()["error_msg"]
    assert not Notebook.objects.exists()


def test_renew_on_stopped_start_while_running_and_other_projects_id(
    api, storage_project, other_project, member, make_member, node, image
):
    pid = storage_project.project_id
    stopped = make(storage_project, member, image, "stopped", State.STOPPED)
    response = api.call("patch", f"/v1/{pid}/notebooks/{stopped.uuid}/lease", {"duration": HOUR})
    assert_error(response, 409, "ModelArts.6409", "STOPPED", "start")
    running = make(storage_project, member, image, "running", State.RUNNING)
    before = Notebook.objects.get(pk=running.pk).updated_at
    response = api.post(f"/v1/{pid}/notebooks/{running.uuid}/start")
    assert_error(response, 409, "ModelArts.6409", "RUNNING", "cannot start")
    assert Notebook.objects.get(pk=running.pk).updated_at == before
    response = api.call("patch", f"/v1/{pid}/notebooks/{running.uuid}/lease", {"duration": 300 * HOUR})
    assert_error(response, 400, "ModelArts.6400", "duration")
    # Stop is idempotent; a second stop answers 200 and changes nothing.
    assert api.post(f"/v1/{pid}/notebooks/{stopped.uuid}/stop").status_code == 200
    # Another project's notebook is not found from this project.
    make_member(other_project, member.username + "x")
    stranger = Notebook.objects.create(
        project=other_project, owner=member, name="theirs", image=image, work_path="obs://x/y/", state=State.RUNNING
    )
    assert_error(api.get(f"/v1/{pid}/notebooks/{stranger.uuid}"), 404, "ModelArts.6404")
    assert_error(api.post(f"/v1/{pid}/notebooks/{stranger.uuid}/stop"), 404, "ModelArts.6404")


def test_per_user_cap_names_the_cap(settings, storage_project, member, node, image):
    settings.NOTEBOOK_MAX_RUNNING_PER_USER = 1
    make(storage_project, member, image, "first")
    with pytest.raises(ValidationError) as refused:
        make(storage_project, member, image, "second")
    assert "the limit is 1 per user" in refused.value.messages[0]
    assert Notebook.objects.count() == 1


def test_images_api_lists_detected_images(api, storage_project, node, image):
    data = api.get(f"/v1/{storage_project.project_id}/images").json()
    assert data["total"] == 1 and data["data"][0]["id"] == str(image.image_id)
    assert data["data"][0]["nodes"] == ["nb-unit"]


def test_renew_is_at_most_72_hours_from_now(storage_project, member, node, image):
    running = make(storage_project, member, image, "r", State.RUNNING)
    with pytest.raises(ValidationError):
        notebook_lease_update(actor=member, notebook=running, duration_ms=72 * HOUR + 1)
    renewed = notebook_lease_update(actor=member, notebook=running, duration_ms=72 * HOUR, lease_type="IDLE")
    assert renewed.lease_type == "IDLE" and renewed.lease_duration_ms == 72 * HOUR


# --- the gateway ---------------------------------------------------------------------------------


def test_gateway_refusals_and_upstream(storage_project, other_project, member, viewer, make_member, node, image):
    notebook = make(storage_project, member, image, "gw")
    with pytest.raises(GatewayRefusal) as refused:
        open_upstream(user=member, notebook_id=str(notebook.uuid))
    assert refused.value.status == 409 and "CREATING" in refused.value.message or "STARTING" in refused.value.message
    with pytest.raises(GatewayRefusal) as refused:
        open_upstream(user=viewer, notebook_id=str(notebook.uuid))
    assert refused.value.status == 403
    outsider = make_member(other_project, "outsider")
    with pytest.raises(GatewayRefusal) as refused:
        open_upstream(user=outsider, notebook_id=str(notebook.uuid))
    assert refused.value.status == 404
    with pytest.raises(GatewayRefusal) as refused:
        open_upstream(user=member, notebook_id="nope")
    assert refused.value.status == 404
    Notebook.objects.filter(pk=notebook.pk).update(
        state=State.RUNNING, node=node, socket_path="/tmp/x.sock", token_encrypted=encrypt_secret("t0k")
    )
    upstream = open_upstream(user=member, notebook_id=str(notebook.uuid))
    assert upstream.base_url == f"/nb/{notebook.uuid}/" and upstream.token == "t0k"
    assert upstream.unix_socket == "/tmp/x.sock"
    assert Notebook.objects.get(pk=notebook.pk).console_activity_at is not None
    Notebook.objects.filter(pk=notebook.pk).update(state=State.STOPPED)
    with pytest.raises(GatewayRefusal) as refused:
        open_upstream(user=member, notebook_id=str(notebook.uuid))
    assert refused.value.status == 409 and "Start it" in refused.value.message


# --- pages ---------------------------------------------------------------------------------------


def test_pages_render_for_the_owner(client_for, storage_project, member, node, image):
    notebook = make(storage_project, member, image, "paged")
    client = client_for(member)
    pid = storage_project.project_id
    assert b"paged" in client.get(reverse("notebooks:list", kwargs={"project_id": pid})).content
    detail = client.get(reverse("notebooks:detail", kwargs={"project_id": pid, "notebook_id": notebook.uuid}))
    assert detail.status_code == 200 and b"Events" in detail.content
    form = client.get(reverse("notebooks:create", kwargs={"project_id": pid}))
    assert form.status_code == 200 and image.name.encode() in form.content
    bad = client.post(
        reverse("notebooks:create", kwargs={"project_id": pid}),
        {
            "name": "bad name",
            "image_id": str(image.image_id),
            "flavor": TEST_FLAVOR["flavor_id"],
            "lease_hours": "99",
            "lease_type": "TIMING",
        },
    )
    assert bad.status_code == 400 and b"name:" in bad.content and b"lease.duration" in bad.content
    Notebook.objects.filter(pk=notebook.pk).update(state=State.STOPPED)
    response = client.post(
        reverse("notebooks:action", kwargs={"project_id": pid, "notebook_id": notebook.uuid, "action": "start"})
    )
    assert response.status_code == 302
    assert Notebook.objects.get(pk=notebook.pk).state in (State.STARTING,)


def test_start_rotates_the_token(storage_project, member, node, image):
    notebook = make(storage_project, member, image, "rot", State.STOPPED)
    before = Notebook.objects.get(pk=notebook.pk).token_encrypted
    notebook_start(actor=member, notebook=notebook)
    assert Notebook.objects.get(pk=notebook.pk).token_encrypted != before


# --- the sweep (no runner: rows only) ----------------------------------------------------------


def test_sweep_warns_before_any_automatic_stop_and_is_safe_twice(settings, storage_project, member, node, image):
    from datetime import timedelta

    from django.utils import timezone

    from console.notebooks.models import NotebookEvent
    from console.notebooks.sweep import sweep

    settings.NOTEBOOK_STOP_WARNING_SECONDS = 600
    now = timezone.now()
    expired = make(storage_project, member, image, "expired", State.RUNNING)
    Notebook.objects.filter(pk=expired.pk).update(
        node=node, lease_create_at=now - timedelta(hours=2), heartbeat_at=now, runner_token="r1"
    )
    sweep(now)
    sweep(now)  # twice at once: one warning, no stop yet (the warning comes at least 10 minutes first)
    row = Notebook.objects.get(pk=expired.pk)
    assert row.state == State.RUNNING and row.lease_warned_at == now
    assert NotebookEvent.objects.filter(notebook=expired, kind="lease_warning").count() == 1
    later = now + timedelta(seconds=601)
    Notebook.objects.filter(pk=expired.pk).update(heartbeat_at=later)
    sweep(later)
    sweep(later)
    row = Notebook.objects.get(pk=expired.pk)
    assert row.state == State.STOPPING and row.stop_reason == "Stopped automatically: the lease ran out."
    assert NotebookEvent.objects.filter(notebook=expired, kind="auto_stop").count() == 1


def test_sweep_marks_a_silent_runner_error_and_a_slow_start_start_failed(
    settings, storage_project, member, node, image
):
    from datetime import timedelta

    from django.utils import timezone

    from console.notebooks.sweep import sweep

    now = timezone.now()
    silent = make(storage_project, member, image, "silent", State.RUNNING)
    Notebook.objects.filter(pk=silent.pk).update(node=node, runner_token="r", heartbeat_at=now - timedelta(seconds=60))
    slow = make(storage_project, member, image, "slow", State.STARTING)
    Notebook.objects.filter(pk=slow.pk).update(
        node=node, runner_token="r2", heartbeat_at=now, start_requested_at=now - timedelta(hours=1)
    )
    sweep(now)
    silent, slow = Notebook.objects.get(pk=silent.pk), Notebook.objects.get(pk=slow.pk)
    assert silent.state == State.ERROR and "no heartbeat" in silent.fail_reason
    assert slow.state == State.START_FAILED and "did not answer within" in slow.fail_reason


def test_the_owner_sees_the_stop_warning_on_every_project_page(
    client_for, storage_project, member, make_member, node, image
):
    from django.utils import timezone

    warned = make(storage_project, member, image, "warned", State.RUNNING)
    Notebook.objects.filter(pk=warned.pk).update(lease_warned_at=timezone.now(), lease_create_at=timezone.now())
    pid = storage_project.project_id
    page = client_for(member).get(f"/projects/{pid}/models/")
    # Any project page asks for the warnings after it loads (no query of its own for them).
    assert f'hx-get="/projects/{pid}/notebooks/warnings/"' in page.content.decode()
    banner = client_for(member).get(f"/projects/{pid}/notebooks/warnings/").content.decode()
    assert "Notebook warned stops automatically" in banner and "Renew 1 hour" in banner
    other = make_member(storage_project, "olga")
    assert "warned" not in client_for(other).get(f"/projects/{pid}/notebooks/warnings/").content.decode()


def test_a_ray_pool_is_refused_for_notebooks(storage_project, member, image, node):
    from console.nodepools.models import Pool, PoolKind

    ray = Pool.objects.create(name="ray-pool", kind=PoolKind.RAY)
    spec = NotebookSpec(name="nb", flavor_id=TEST_FLAVOR["flavor_id"], image_id=str(image.image_id), pool=ray)
    with pytest.raises(ValidationError) as excinfo:
        notebook_create(actor=member, project=storage_project, spec=spec)
    assert excinfo.value.message_dict["pool_id"] == [
        "Pool ray-pool is a Ray cluster: notebooks run on pools of registered nodes."
    ]
    assert not Notebook.objects.exists()
