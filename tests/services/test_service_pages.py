"""Service pages (no nodes needed): Deploy from the version page, the deploy form's refusals, the detail
page's actions (scale rule, stop/start, API keys shown once and revoked, the Try it key), typed DELETE."""

from __future__ import annotations

import pytest
from django.urls import reverse

from console.services.models import Service, ServiceApiKey, ServiceInstance
from console.services.reconcile import reconcile
from console.services.states import InstanceState, ServiceStatus
from console.versions.models import TaskKind, TaskRecord
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
    return [make_node(default_pool, "n1", cores=2, memory_gb=8)]


def test_deploy_from_the_version_page(client_for, member, storage_project, tiny_version, nodes, viewer):
    client = client_for(member)
    version_page = reverse(
        "versions:version_detail",
        kwargs={
            "project_id": storage_project.project_id,
            "model_id": tiny_version.model.pk,
            "number": tiny_version.number,
        },
    )
    deploy_url = reverse(
        "services:deploy", kwargs={"project_id": storage_project.project_id, "version_id": tiny_version.pk}
    )
    html = client.get(version_page).content.decode()
    assert "data-services-panel" in html and deploy_url in html

    response = client.post(deploy_url, {"service_name": "svc-page", "pool": "default", "specification": "test.svc.1u",
                                        "instance_count": "129", "description": ""})  # fmt: skip
    assert response.status_code == 400
    assert "instance_count must be an integer from 1 to 128; 129 is out of range." in response.content.decode()
    response = client.post(deploy_url, {"service_name": "svc-page", "pool": "default", "specification": "test.svc.1u",
                                        "instance_count": "2.5", "description": ""})  # fmt: skip
    assert response.status_code == 400 and "not &#x27;2.5&#x27;" in response.content.decode()
    assert not Service.objects.exists()
    response = client.post(deploy_url, {"service_name": "svc-page", "pool": "default", "specification": "test.svc.1u",
                                        "instance_count": "1", "description": "from the page"})  # fmt: skip
    service = Service.objects.get()
    assert response.status_code == 302 and str(service.service_id) in response["Location"]
    assert TaskRecord.objects.filter(version=tiny_version, kind=TaskKind.INFERENCE, name="svc-page").exists()

    detail = reverse(
        "services:detail", kwargs={"project_id": storage_project.project_id, "service_id": service.service_id}
    )
    html = client.get(detail).content.decode()
    assert f"/v1/infers/{service.service_id}/v1/chat/completions" in html and "from openai import OpenAI" in html
    assert "Try it" in html
    assert (
        "svc-page"
        in client.get(reverse("services:list", kwargs={"project_id": storage_project.project_id})).content.decode()
    )

    action = lambda name: reverse(  # noqa: E731
        "services:action",
        kwargs={"project_id": storage_project.project_id, "service_id": service.service_id, "action": name},
    )
    # Scale while deploying: refused with the rule, nothing changed.
    response = client.post(action("scale"), {"instance_count": "2"}, follow=True)
    assert "only while the service is running or concerning" in response.content.decode()
    reconcile()
    ServiceInstance.objects.filter(service=service).update(state=InstanceState.READY)
    reconcile()
    assert Service.objects.get(pk=service.pk).status == ServiceStatus.RUNNING
    client.post(action("scale"), {"instance_count": "2"})
    assert Service.objects.get(pk=service.pk).instance_count == 2

    # API keys: shown once, revocable, counted.
    response = client.post(action("keys"), {"name": "ci"}, follow=True)
    key = ServiceApiKey.objects.get(name="ci")
    page = response.content.decode()
    assert "shown once" in page and key.prefix in page
    import re

    raw = re.search(r"data-new-key>([^<]+)<", page).group(1)
    assert raw.startswith(key.prefix) and key.key_hash != raw
    assert "data-new-key" not in client.get(detail).content.decode()
    client.post(reverse("services:key_revoke", kwargs={"project_id": storage_project.project_id,
                                                       "service_id": service.service_id, "key_id": key.pk}))  # fmt: skip
    assert ServiceApiKey.objects.get(pk=key.pk).revoked_at is not None
    # Try it: a short-lived key for the signed-in member.
    data = client.post(reverse("services:try_key", kwargs={"project_id": storage_project.project_id,
                                                            "service_id": service.service_id})).json()  # fmt: skip
    assert data["url"] == f"/v1/infers/{service.service_id}/v1/chat/completions" and data["model"] == "svc-page"
    assert ServiceApiKey.objects.get(name="try-it").expires_at is not None

    # A viewer reads but cannot change.
    viewer_client = client_for(viewer)
    assert viewer_client.get(detail).status_code == 200
    assert viewer_client.post(action("stop")).status_code == 403

    # Stop, start, and delete with the typed word.
    client = client_for(member)
    client.post(action("stop"))
    assert Service.objects.get(pk=service.pk).status == ServiceStatus.STOPPED
    client.post(action("start"))
    assert Service.objects.get(pk=service.pk).status == ServiceStatus.DEPLOYING
    response = client.post(action("delete"), {"confirm": "delete"}, follow=True)
    assert "Type DELETE (in capitals) to confirm." in response.content.decode()
    assert Service.objects.exists()
    client.post(action("delete"), {"confirm": "DELETE"})
    assert not Service.objects.exists()
    assert not TaskRecord.objects.filter(version=tiny_version, kind=TaskKind.INFERENCE).exists()
