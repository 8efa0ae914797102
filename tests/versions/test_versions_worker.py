"""Weight validation through a real Celery worker (Redis broker, the test database).

1. A version created over HTTP is validated by the worker and ends 创建成功.
2. The worker's child is SIGKILLed while the record is running; a new worker with
   beat sweeps the stale record, runs it again, and exactly one finished record results.
"""

import os
import signal
import time

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from console.core.models import WorkState
from console.mymodels.models import ModelStatus, MyModel
from console.versions.models import ModelVersion, TaskRecord
from console.versions.services import SLOW_CHECK_ENV

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout=120, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def create_over_http(member, project, base_version, path, name="tiny-http"):
    client = Client()
    client.force_login(member, backend="django.contrib.auth.backends.ModelBackend")
    response = client.post(
        reverse("mymodels:model_create", kwargs={"project_id": project.project_id}),
        {"base_version": base_version.pk, "name": name, "weight_setting": "custom", "weights_path": path,
         "validate_weights": "on"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    model = MyModel.objects.get(name=name)
    return client, model, model.versions.get(), model.versions.get().task_records.get()


def worker_env(**extra):
    return {"CONSOLE_STORAGE_ROOT": str(settings.STORAGE_ROOT), **extra}


def test_a_version_created_over_http_is_validated_by_a_worker(
    celery_worker_process, member, project, tiny_base, tiny_folder
):
    celery_worker_process(queues="platform", extra_env=worker_env())
    client, model, version, record = create_over_http(member, project, tiny_base, tiny_folder)
    wait_for(lambda: TaskRecord.objects.get(pk=record.pk).is_finished, what="the check to finish")
    record.refresh_from_db()
    version.refresh_from_db()
    assert record.state == WorkState.SUCCEEDED, record.report
    assert (record.attempts, version.status) == (1, ModelStatus.CREATED)
    listing = client.get(reverse("mymodels:model_list", kwargs={"project_id": project.project_id})).content.decode()
    assert "创建成功" in listing


def test_a_worker_killed_mid_check_leaves_exactly_one_finished_record(
    celery_worker_process, member, project, tiny_base, tiny_folder
):
    first = celery_worker_process(queues="platform", name="doomed", extra_env=worker_env(**{SLOW_CHECK_ENV: "30"}))
    _client, model, version, record = create_over_http(member, project, tiny_base, tiny_folder, name="tiny-kill")
    wait_for(lambda: TaskRecord.objects.get(pk=record.pk).state == WorkState.RUNNING, what="the record to run")
    children = first.child_pids()
    assert children
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    first.stop()
    record.refresh_from_db()
    assert (record.state, record.attempts) == (WorkState.RUNNING, 1)  # left behind, heartbeat going stale

    celery_worker_process(queues="platform", name="rescuer", beat=True, extra_env=worker_env())
    wait_for(lambda: TaskRecord.objects.get(pk=record.pk).is_finished, what="the sweep to rerun the check")
    records = list(TaskRecord.objects.filter(version=version))
    assert len(records) == 1
    assert (records[0].state, records[0].attempts) == (WorkState.SUCCEEDED, 2)
    assert ModelVersion.objects.get(pk=version.pk).status == ModelStatus.CREATED
