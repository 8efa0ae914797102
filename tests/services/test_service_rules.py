"""Service rules, the reconcile loop's placement and statuses, the gateway's checks and the v1 API — without nodes."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from console.accounts.models import ApiToken, Role
from console.mymodels.models import ModelStatus
from console.services import gateway, services
from console.services.models import Service, ServiceInstance
from console.services.reconcile import reconcile
from console.services.services import ServiceSpec
from console.services.states import InstanceState, ServiceStatus
from console.versions.models import ModelVersion, TaskKind, TaskRecord
from tests.api.conftest import ApiClient, assert_error, token_body
from tests.services.fixtures import (  # noqa: F401 — fixtures
    _fast_services,
    bucket_root,
    default_pool,
    make_node,
    storage_project,
    tiny_version,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def nodes(default_pool):
    return [make_node(default_pool, "n1", cores=2, memory_gb=8), make_node(default_pool, "n2", cores=2, memory_gb=8)]


def deploy(member, project, version, **overrides):
    values = {"name": "svc-1", "version": version, "flavor_id": "test.svc.1u", "instance_count": 1}
    values.update(overrides)
    return services.service_deploy(actor=member, project=project, spec=ServiceSpec(**values))


def refusal(excinfo, field):
    errors = excinfo.value.message_dict
    assert field in errors, errors
    return " ".join(errors[field])


@pytest.mark.parametrize(
    ("count", "fragment"),
    [(0, "out of range"), (129, "out of range"), ("2", "not '2'"), (2.5, "not 2.5"), (True, "not True")],
)
def test_instance_count_rule(member, storage_project, tiny_version, nodes, count, fragment):
    with pytest.raises(ValidationError) as excinfo:
        deploy(member, storage_project, tiny_version, instance_count=count)
    message = refusal(excinfo, "instance_count")
    assert "instance_count must be an integer from 1 to 128" in message and fragment in message
    assert not Service.objects.exists()


@pytest.mark.parametrize(
    ("status", "fragment"), [(ModelStatus.CREATING, "still being created"), (ModelStatus.FAILED, "failed (创建失败)")]
)
def test_only_a_created_version_deploys(member, storage_project, tiny_version, nodes, status, fragment):
    ModelVersion.objects.filter(pk=tiny_version.pk).update(
        status=status, status_reason="Error loading weights in transformers."
    )
    tiny_version.refresh_from_db()
    with pytest.raises(ValidationError) as excinfo:
        deploy(member, storage_project, tiny_version)
    assert fragment in refusal(excinfo, "model_id")
    assert not Service.objects.exists()


def test_unknown_pool_flavor_too_small_and_bad_name(member, storage_project, tiny_version, nodes, settings):
    with pytest.raises(ValidationError) as excinfo:
        deploy(member, storage_project, tiny_version, pool_name="nowhere")
    assert "Unknown pool nowhere" in refusal(excinfo, "pool_name")
    with pytest.raises(ValidationError) as excinfo:
        deploy(member, storage_project, tiny_version, flavor_id="modelarts.vm.gpu.x")
    assert "Unknown flavor modelarts.vm.gpu.x" in refusal(excinfo, "specification")
    with pytest.raises(ValidationError) as excinfo:
        deploy(member, storage_project, tiny_version, flavor_id="test.svc.tiny")
    assert "the model needs about" in refusal(excinfo, "specification")
    # The estimate is from the weights on storage: with a 3 GB overhead a 2 GB flavor is too small too.
    settings.SERVICE_MEMORY_OVERHEAD_BYTES = 3 * 1024**3
    with pytest.raises(ValidationError) as excinfo:
        deploy(member, storage_project, tiny_version)
    assert "Flavor test.svc.1u has 2 GB" in refusal(excinfo, "specification")
    settings.SERVICE_MEMORY_OVERHEAD_BYTES = 256 * 1024**2
    with pytest.raises(ValidationError) as excinfo:
        deploy(member, storage_project, tiny_version, name="has space")
    assert "1 to 64 characters" in refusal(excinfo, "service_name")
    assert not Service.objects.exists()


def test_deploy_places_instances_and_records_the_inference_task(member, storage_project, tiny_version, nodes):
    service = deploy(member, storage_project, tiny_version, instance_count=3)
    record = TaskRecord.objects.get(pk=service.task_record_id)
    assert record.kind == TaskKind.INFERENCE and record.version_id == tiny_version.pk
    assert service.status == ServiceStatus.DEPLOYING and service.memory_needed_bytes > 0
    reconcile()
    instances = list(ServiceInstance.objects.filter(service=service).order_by("slot"))
    assert [i.state for i in instances] == [InstanceState.ASSIGNED] * 3
    assert sorted(i.node_name for i in instances) == ["n1", "n1", "n2"] or sorted(i.node_name for i in instances) == [
        "n1",
        "n2",
        "n2",
    ]
    # A fourth and fifth instance do not fit (2 nodes × 2 cores): pending with the reason.
    ServiceInstance.objects.filter(service=service).update(state=InstanceState.READY)
    reconcile()
    service.refresh_from_db()
    assert service.status == ServiceStatus.RUNNING
    Service.objects.filter(pk=service.pk).update(instance_count=5)
    reconcile()
    waiting = ServiceInstance.objects.filter(service=service, state=InstanceState.PENDING).order_by("slot")
    assert [i.slot for i in waiting] == [4] and "No free capacity" in waiting[0].pending_reason
    service.refresh_from_db()
    assert service.status == ServiceStatus.CONCERNING
    assert "3 of 5 instance(s) ready." in service.status_reason and "No free capacity" in service.status_reason
    # Reconcile twice changes nothing more.
    reconcile()
    assert ServiceInstance.objects.filter(service=service).count() == 5

    # Scale down: the unwanted slots drain (a pending one just stops).
    Service.objects.filter(pk=service.pk).update(instance_count=2)
    reconcile()
    states = dict(ServiceInstance.objects.filter(service=service).values_list("slot", "state"))
    # slot 3 was assigned without a runner yet: it just stops, like the pending slot 4.
    assert states == {0: "ready", 1: "ready", 2: "draining", 3: "stopped", 4: "stopped"}
    service.refresh_from_db()
    assert service.status == ServiceStatus.RUNNING

    # Delete (typed DELETE) removes the version's inference record.
    with pytest.raises(ValidationError):
        services.service_delete(actor=member, service=service, confirm="delete")
    services.service_delete(actor=member, service=service, confirm="DELETE")
    assert not TaskRecord.objects.filter(version=tiny_version, kind=TaskKind.INFERENCE).exists()
    assert not ServiceInstance.objects.exists()


def test_a_failed_instance_is_replaced_then_the_service_fails(member, storage_project, tiny_version, nodes, settings):
    settings.SERVICE_MAX_RESTARTS = 1
    service = deploy(member, storage_project, tiny_version)
    reconcile()
    ServiceInstance.objects.filter(service=service).update(state=InstanceState.READY)
    reconcile()
    ServiceInstance.objects.filter(service=service).update(
        state=InstanceState.FAILED, last_error="The engine was killed by SIGKILL."
    )
    reconcile()
    service.refresh_from_db()
    instance = ServiceInstance.objects.get(service=service)
    assert instance.restarts == 1 and instance.state == InstanceState.ASSIGNED
    assert service.status == ServiceStatus.CONCERNING
    assert "instance-0: The engine was killed by SIGKILL." in service.status_reason
    ServiceInstance.objects.filter(service=service).update(state=InstanceState.FAILED)
    reconcile()
    service.refresh_from_db()
    assert service.status == ServiceStatus.FAILED and "failed 2 times in a row" in service.status_reason


def test_scale_rule(member, storage_project, tiny_version, nodes, viewer):
    service = deploy(member, storage_project, tiny_version)
    with pytest.raises(ValidationError) as excinfo:
        services.service_scale(actor=member, service=service, instance_count=2)
    assert "only while the service is running or concerning; service svc-1 is deploying" in refusal(excinfo, "status")
    Service.objects.filter(pk=service.pk).update(status=ServiceStatus.RUNNING)
    with pytest.raises(ValidationError) as excinfo:
        services.service_scale(actor=member, service=service, instance_count=1)
    assert "must differ from the current instance count (1)" in refusal(excinfo, "instance_count")
    with pytest.raises(ValidationError) as excinfo:
        services.service_scale(actor=member, service=service, instance_count=2, model_id=99999)
    assert "is not the model of service svc-1" in refusal(excinfo, "configs.model_id")
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.service_scale(actor=viewer, service=service, instance_count=2)
    services.service_scale(actor=member, service=service, instance_count=2)
    assert Service.objects.get(pk=service.pk).instance_count == 2


# --- the v1 API ---------------------------------------------------------------------------------


@pytest.fixture
def api(client, member, storage_project):
    import json

    response = client.post(
        "/v3/auth/tokens", data=json.dumps(token_body(member.username, project=storage_project.name)),
        content_type="application/json",
    )  # fmt: skip
    return ApiClient(client, response["X-Subject-Token"])


def test_api_deploy_details_property_and_401(api, client, storage_project, tiny_version, nodes):
    base = f"/v1/{storage_project.project_id}/services"
    body = {
        "service_name": "svc-api",
        "infer_type": "real-time",
        "config": [{"model_id": str(tiny_version.pk), "weight": 100, "specification": "test.svc.1u",
                    "instance_count": 1, "envs": {}}],
    }  # fmt: skip
    for bad, fragment in ((0, "out of range"), ("2", "not '2'"), (2.5, "not 2.5"), (129, "out of range")):
        response = api.post(base, {**body, "config": [{**body["config"][0], "instance_count": bad}]})
        assert_error(response, 400, "ModelArts.3500", "instance_count must be an integer from 1 to 128", fragment)
    response = api.post(base, body)
    assert response.status_code == 200, response.content
    service_id = response.json()["service_id"]
    details = api.get(f"{base}/{service_id}").json()
    assert details["status"] == "deploying" and details["invocation_times"] == 0 and details["failed_times"] == 0
    assert details["access_address"].endswith(f"/v1/infers/{service_id}")
    assert details["config"][0]["model_id"] == str(tiny_version.pk) and details["config"][0]["instance_count"] == 1
    assert api.get(base).json()["total_count"] == 1

    prop = f"{base}/{service_id}/property"
    good = {"changed_property": "instance_count", "configs": [{"model_id": str(tiny_version.pk), "changed_value": 2}]}
    assert_error(api.put(prop, good), 409, "ModelArts.3507", "running or concerning", "deploying")
    Service.objects.filter(service_id=service_id).update(status=ServiceStatus.RUNNING)
    assert_error(api.put(prop, {**good, "changed_property": "description"}), 400, "ModelArts.3500",
                 "changed_property 'description' is not supported", "instance_count")  # fmt: skip
    bad_model = {**good, "configs": [{"model_id": "98240f41-6c69-437c-b894-9c488b1d9c43", "changed_value": 2}]}
    assert_error(api.put(prop, bad_model), 400, "ModelArts.3500", "is not the model of service svc-api")
    for bad in (1, 0, 129, "2", 2.5):
        response = api.put(prop, {**good, "configs": [{"model_id": str(tiny_version.pk), "changed_value": bad}]})
        assert_error(response, 400, "ModelArts.3500", "configs.changed_value")
    response = api.put(prop, good)
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"update_time", "resource_ids"}
    assert response.json()["resource_ids"] == [service_id] and response["X-Request-Id"]
    assert Service.objects.get(service_id=service_id).instance_count == 2
    # The seed's 401 body without a token.
    anonymous = ApiClient(client)
    assert_error(anonymous.put(prop, good), 401, "ModelArts.0101", "X-Auth-Token")

    # Stop / start through PUT …/services/{id}.
    assert api.put(f"{base}/{service_id}", {"status": "stopped"}).status_code == 200
    assert Service.objects.get(service_id=service_id).status == ServiceStatus.STOPPED
    assert_error(api.put(prop, good), 409, "ModelArts.3507", "stopped")
    assert api.put(f"{base}/{service_id}", {"status": "running"}).status_code == 200
    assert Service.objects.get(service_id=service_id).status == ServiceStatus.DEPLOYING
    assert api.delete(f"{base}/{service_id}").status_code == 200
    assert not TaskRecord.objects.filter(version=tiny_version, kind=TaskKind.INFERENCE).exists()
    assert_error(api.get(f"{base}/{service_id}"), 404, "ModelArts.3504")


# --- the gateway ---------------------------------------------------------------------------------


def test_gateway_checks(api, member, storage_project, tiny_version, nodes, make_member, other_project):
    service = deploy(member, storage_project, tiny_version)
    sid = str(service.service_id)
    with pytest.raises(gateway.GatewayRefusal) as excinfo:
        gateway.ready_instances(service_id=sid, x_auth_token=None, api_key=None)
    assert excinfo.value.status == 401 and set(excinfo.value.body()) == {"error_code", "error_msg"}
    with pytest.raises(gateway.GatewayRefusal) as excinfo:
        gateway.ready_instances(service_id=sid, x_auth_token="nonsense", api_key=None)
    assert excinfo.value.status == 401
    with pytest.raises(gateway.GatewayRefusal) as excinfo:
        gateway.ready_instances(service_id="98240f41-6c69-437c-b894-9c488b1d9c43", x_auth_token=api.token, api_key=None)
    assert excinfo.value.status == 404
    # A member of another project, with a valid token of theirs: 403.
    outsider = make_member(other_project, "olga", Role.MEMBER)
    from console.api.tokens import hash_token

    ApiToken.objects.create(user=outsider, project=other_project, key_hash=hash_token("t-olga"),
                            expires_at=ApiToken.objects.get().expires_at)  # fmt: skip
    with pytest.raises(gateway.GatewayRefusal) as excinfo:
        gateway.ready_instances(service_id=sid, x_auth_token="t-olga", api_key=None)
    assert excinfo.value.status == 403
    # Deploying: 503; running with a ready instance: its socket.
    with pytest.raises(gateway.GatewayRefusal) as excinfo:
        gateway.ready_instances(service_id=sid, x_auth_token=api.token, api_key=None)
    assert excinfo.value.status == 503
    reconcile()
    ServiceInstance.objects.filter(service=service).update(state=InstanceState.READY, socket_path="/tmp/x.sock")
    reconcile()
    raw, key = services.api_key_create(actor=member, service=service, name="ci")
    upstreams = gateway.ready_instances(service_id=sid, x_auth_token=None, api_key=f"Bearer {raw}")
    assert [(u.unix_socket, u.served_name) for u in upstreams] == [("/tmp/x.sock", "svc-1")]
    assert gateway.ready_instances(service_id=sid, x_auth_token=api.token, api_key=None)
    gateway.record_call(service_id=sid, instance_id=upstreams[0].instance_id, ok=False, api_key_id=key.pk, tokens=5)
    service.refresh_from_db()
    key.refresh_from_db()
    assert (service.invocation_times, service.failed_times, key.call_count, key.failed_count) == (2, 1, 1, 1)
    services.api_key_revoke(actor=member, key=key)
    with pytest.raises(gateway.GatewayRefusal) as excinfo:
        gateway.ready_instances(service_id=sid, x_auth_token=None, api_key=raw)
    assert excinfo.value.status == 401 and "revoked" in excinfo.value.message
    services.service_stop(actor=member, service=service)
    with pytest.raises(gateway.GatewayRefusal) as excinfo:
        gateway.ready_instances(service_id=sid, x_auth_token=api.token, api_key=None)
    assert excinfo.value.status == 409


def test_a_ray_pool_is_refused_for_service_instances(member, storage_project, tiny_version, nodes):
    from console.nodepools.models import Pool, PoolKind

    ray = Pool.objects.create(name="ray-pool", kind=PoolKind.RAY)
    with pytest.raises(ValidationError) as excinfo:
        deploy(member, storage_project, tiny_version, pool=ray)
    assert "Pool ray-pool is a Ray cluster: service instances run on pools of registered nodes." in refusal(
        excinfo, "pool_name"
    )
    assert not Service.objects.exists()
