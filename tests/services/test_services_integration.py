"""Services through real node workers: two nodes on this machine, the tiny model as a version (validation off).

deploy → running; PUT property 1 → 3 → 1 converges (the scaled-down instances drain and stop); kill -9 of an
instance's engine → concerning with the reason, then replaced and running again; stop / start; delete removes
the version's inference task record and every instance process.
"""

from __future__ import annotations

import json
import os
import signal

import psutil
import pytest

from console.services.client import EngineClient
from console.services.models import Service, ServiceInstance
from console.services.states import InstanceState
from console.versions.models import TaskKind, TaskRecord
from tests.api.conftest import ApiClient, token_body
from tests.services.fixtures import (  # noqa: F401 — fixtures
    _fast_services,
    bucket_root,
    default_pool,
    node_env,
    service_node,
    storage_project,
    tiny_version,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def instance_processes(service: Service, ids: set[int] | None = None) -> list[psutil.Process]:
    """Live processes carrying the marker of one of the service's instances (ids: once the rows are gone)."""
    ids = ids or set(ServiceInstance.objects.filter(service=service).values_list("pk", flat=True))
    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            marker = process.environ().get("MA_CONSOLE_WORKLOAD", "")
        except (psutil.Error, OSError):
            continue
        parts = marker.split(":")
        if len(parts) == 3 and parts[0] == "service_instance" and int(parts[1]) in ids:
            found.append(process)
    return found


def status(service_id) -> tuple[str, str]:
    row = Service.objects.filter(service_id=service_id).values_list("status", "status_reason").first()
    return row or ("gone", "")


def wait_status(service_id, wanted: str, *, ready: int | None = None, timeout=180):
    def check():
        current, _reason = status(service_id)
        if current != wanted:
            return False
        if ready is None:
            return True
        states = list(ServiceInstance.objects.filter(service__service_id=service_id).values_list("state", flat=True))
        return states.count(InstanceState.READY) == ready and not any(
            s in (InstanceState.DRAINING, InstanceState.STOPPING, InstanceState.ASSIGNED, InstanceState.STARTING)
            for s in states
        )

    return wait_for(check, timeout=timeout, interval=0.2, message=f"service {wanted} with {ready} ready")


def test_deploy_scale_kill_stop_start_delete(client, member, storage_project, tiny_version, service_node):
    service_node("svc-a", beat=True)
    service_node("svc-b", beat=False)
    response = client.post(
        "/v3/auth/tokens", data=json.dumps(token_body(member.username, project=storage_project.name)),
        content_type="application/json",
    )  # fmt: skip
    api = ApiClient(client, response["X-Subject-Token"])
    base = f"/v1/{storage_project.project_id}/services"
    response = api.post(
        base,
        {
            "service_name": "tiny-chat",
            "infer_type": "real-time",
            "config": [{"model_id": str(tiny_version.pk), "weight": 100, "specification": "test.svc.1u",
                        "instance_count": 1, "envs": {}}],
        },
    )  # fmt: skip
    assert response.status_code == 200, response.content
    sid = response.json()["service_id"]
    service = Service.objects.get(service_id=sid)
    assert TaskRecord.objects.filter(version=tiny_version, kind=TaskKind.INFERENCE).count() == 1

    wait_status(sid, "running", ready=1)
    instance = ServiceInstance.objects.get(service=service, slot=0)
    engine = EngineClient(socket_path=instance.socket_path)
    assert engine.health()["ready"] is True
    # What the instance answers is what the model generated (through its socket, as the front door will).
    answer = engine.request("POST", "/v1/completions", {"model": "tiny-chat", "prompt": "hello", "max_tokens": 4})
    assert answer["usage"]["completion_tokens"] >= 1, answer
    assert api.get(f"{base}/{sid}").json()["status"] == "running"

    # Scale 1 → 3 with the seed's property API: three instances ready, on both nodes.
    prop = f"{base}/{sid}/property"
    response = api.put(prop, {"changed_property": "instance_count",
                              "configs": [{"model_id": str(tiny_version.pk), "changed_value": 3}]})  # fmt: skip
    assert response.status_code == 200, response.content
    assert response.json()["resource_ids"] == [sid]
    wait_status(sid, "running", ready=3)
    nodes = set(
        ServiceInstance.objects.filter(service=service, state=InstanceState.READY).values_list("node_name", flat=True)
    )
    assert nodes == {"svc-a", "svc-b"}

    # Scale 3 → 1: two drain and stop; their processes end.
    response = api.put(prop, {"changed_property": "instance_count",
                              "configs": [{"model_id": str(tiny_version.pk), "changed_value": 1}]})  # fmt: skip
    assert response.status_code == 200, response.content
    wait_status(sid, "running", ready=1)
    states = dict(ServiceInstance.objects.filter(service=service).values_list("slot", "state"))
    assert states == {0: "ready", 1: "stopped", 2: "stopped"}
    wait_for(lambda: len(instance_processes(service)) == 1, timeout=30, message="scaled-down engines gone")

    # kill -9 the engine: concerning with the reason, then replaced and running again.
    instance.refresh_from_db()
    os.kill(instance.process_pid, signal.SIGKILL)
    wait_for(lambda: status(sid)[0] == "concerning", timeout=10, interval=0.1, message="concerning within 10 s")
    assert "killed by SIGKILL" in status(sid)[1], status(sid)
    wait_status(sid, "running", ready=1)
    instance.refresh_from_db()
    assert instance.restarts == 1 and "SIGKILL" in instance.last_error

    # Stop, then start.
    assert api.put(f"{base}/{sid}", {"status": "stopped"}).status_code == 200
    wait_for(lambda: set(ServiceInstance.objects.filter(service=service).values_list("state", flat=True)) == {"stopped"},
             timeout=60, message="instances stopped")  # fmt: skip
    wait_for(lambda: not instance_processes(service), timeout=30, message="no engine left after stop")
    assert api.put(f"{base}/{sid}", {"status": "running"}).status_code == 200
    wait_status(sid, "running", ready=1)

    # Delete: the inference task record goes, and every engine.
    ids = set(ServiceInstance.objects.filter(service=service).values_list("pk", flat=True))
    assert instance_processes(service, ids)
    assert api.delete(f"{base}/{sid}").status_code == 200
    assert not TaskRecord.objects.filter(version=tiny_version, kind=TaskKind.INFERENCE).exists()
    wait_for(lambda: not instance_processes(service, ids), timeout=60, message="no engine left after delete")
