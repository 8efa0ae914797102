"""The 10-version limit and "one delete wins" under parallel requests, on PostgreSQL.

Each thread is its own HTTP client with its own database connection; they start
together behind a barrier. The model row lock in the services is what holds.
"""

import threading

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from console.mymodels.models import MyModel
from console.versions.models import ModelVersion

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")


def in_parallel(n, work):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def run(i):
        try:
            barrier.wait(timeout=30)
            results.append(work(i))
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_parallel_add_version_requests_stop_at_exactly_ten(member, make_model, weights_folder):
    model = make_model()  # V1
    url = reverse("versions:version_create", kwargs={"project_id": model.project.project_id, "model_id": model.pk})
    data = {"base_version": model.base_version_id, "weights_path": weights_folder}

    def post(_i):
        client = Client()
        client.force_login(member, backend="django.contrib.auth.backends.ModelBackend")
        response = client.post(url, data)
        return response.status_code

    statuses = in_parallel(16, post)
    assert sorted(statuses) == [200] * 7 + [302] * 9  # 9 accepted (V2..V10), 7 refused on the form
    assert ModelVersion.objects.filter(model=model).count() == 10
    assert sorted(ModelVersion.objects.filter(model=model).values_list("number", flat=True)) == list(range(1, 11))
    assert MyModel.objects.get(pk=model.pk).version_counter == 10


@pytest.mark.django_db(transaction=True)
def test_parallel_deletes_one_wins(member, make_model):
    from console.audit.models import AuditEntry

    model = make_model()
    url = reverse("mymodels:model_delete", kwargs={"project_id": model.project.project_id, "model_id": model.pk})

    def post(_i):
        client = Client()
        client.force_login(member, backend="django.contrib.auth.backends.ModelBackend")
        return client.post(url, {"confirm": "DELETE"}).status_code

    statuses = in_parallel(6, post)
    assert statuses.count(302) == 1  # the others: 404 (gone) or the "already deleted" message
    assert not MyModel.objects.filter(pk=model.pk).exists()
    assert AuditEntry.objects.filter(action="model.delete").count() == 1
