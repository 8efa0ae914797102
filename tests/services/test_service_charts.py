"""Issue 14: a service's live charts — counters → per-bucket rates (a restart gives no negative rate), the
JSON endpoint (project-scoped, constant queries), the samples' bound, and the chart container on the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from console.services.charts import Reading, compute_series, samples_prune
from console.services.models import Service, ServiceInstance, ServiceSample
from console.services.reconcile import reconcile
from tests.services.fixtures import (  # noqa: F401 — fixtures
    _fast_services,
    bucket_root,
    default_pool,
    storage_project,
    tiny_version,
)

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)  # on a minute boundary


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_counters_become_rates_summed_over_instances():
    readings = [
        # instance 1: 10 requests, 200 tokens, 5 s of latency in the 20 s from 0 to 20
        Reading(1, at(0), 100, 1000, 50.0),
        Reading(1, at(10), 105, 1100, 52.5),
        Reading(1, at(20), 110, 1200, 55.0),
        # instance 2: 2 requests, 40 tokens, 1 s of latency in 10 s
        Reading(2, at(5), 0, 0, 0.0),
        Reading(2, at(15), 2, 40, 1.0),
        # the next minute: instance 1 only, idle
        Reading(1, at(70), 110, 1200, 55.0),
    ]
    series = compute_series(readings, bucket_seconds=60)
    assert series["t"] == [int(T0.timestamp()) * 1000, int(T0.timestamp()) * 1000 + 60_000]
    # 10/20 + 2/10 requests per second; (5 + 1) s over 12 requests = 500 ms; 200/20 + 40/10 tokens/s
    assert series["requests_per_second"] == [pytest.approx(0.7), 0.0]
    assert series["latency_ms"] == [pytest.approx(500.0), None]  # nothing served: no mean
    assert series["tokens_per_second"] == [pytest.approx(14.0), 0.0]


def test_a_restart_that_resets_the_counters_gives_no_negative_rate():
    readings = [
        Reading(1, at(0), 500, 9000, 100.0),
        Reading(1, at(30), 510, 9100, 102.0),
        Reading(1, at(65), 3, 30, 0.6),  # the engine restarted: back near zero
        Reading(1, at(75), 8, 80, 1.6),
        Reading(1, at(185), 8, 80, 1.6),  # minute 2 has no reading: a gap, not a zero
    ]
    series = compute_series(readings, bucket_seconds=60)
    assert len(series["t"]) == 4
    assert all(v is None or v >= 0 for key in ("requests_per_second", "latency_ms", "tokens_per_second")
               for v in series[key])  # fmt: skip
    assert series["requests_per_second"][0] == pytest.approx(10 / 30, abs=1e-3)
    # minute 1: only the pair after the restart (5 requests, 50 tokens, 1 s in 10 s)
    assert series["requests_per_second"][1] == pytest.approx(0.5)
    assert series["latency_ms"][1] == pytest.approx(200.0)
    assert series["tokens_per_second"][1] == pytest.approx(5.0)
    assert series["requests_per_second"][2] is None and series["latency_ms"][2] is None
    assert series["requests_per_second"][3] == 0.0


def test_no_readings_and_unpaired_readings_give_empty_series():
    assert compute_series([])["t"] == []
    assert compute_series([Reading(1, at(0), 1, 1, 1.0), Reading(None, at(5), 9, 9, 9.0)])["t"] == []


@pytest.fixture
def service(storage_project, member, tiny_version):
    return Service.objects.create(project=storage_project, owner=member, name="svc-charts", version=tiny_version)


def _sample(service, instance, seconds_ago, served, tokens, latency, now):
    ServiceSample.objects.create(
        service=service, instance=instance, at=now - timedelta(seconds=seconds_ago), served=served,
        tokens_generated=tokens, latency_seconds_total=latency,
    )  # fmt: skip


@pytest.mark.django_db
def test_endpoint_is_project_scoped_with_constant_queries(
    client_for, member, viewer, make_member, other_project, service
):
    now = timezone.now()
    instances = [ServiceInstance.objects.create(service=service, slot=slot) for slot in range(3)]
    url = reverse(
        "services:charts", kwargs={"project_id": service.project.project_id, "service_id": service.service_id}
    )
    client = client_for(viewer)  # a viewer reads the charts
    _sample(service, instances[0], 20, 0, 0, 0.0, now)
    _sample(service, instances[0], 10, 4, 80, 2.0, now)
    with CaptureQueriesContext(connection) as few:
        body = client.get(url).json()
    assert body["service_id"] == str(service.service_id)
    assert sum(v for v in body["requests_per_second"] if v) == pytest.approx(0.4)
    assert body["latency_ms"][-1] == pytest.approx(500.0)
    assert all(isinstance(t, int) and t > now.timestamp() * 1000 - 3_600_000 for t in body["t"])  # ms
    for instance in instances:
        for k in range(6):
            _sample(service, instance, 60 - k * 10, k, k * 10, k * 0.1, now)
    with CaptureQueriesContext(connection) as many:
        client.get(url).json()
    assert len(many) == len(few)

    outsider = make_member(other_project, username="outsider")
    assert client_for(outsider).get(url).status_code == 404
    other_url = reverse(
        "services:charts", kwargs={"project_id": other_project.project_id, "service_id": service.service_id}
    )
    assert client_for(outsider).get(other_url).status_code == 404  # not found through another project either


@pytest.mark.django_db
def test_old_samples_are_dropped_by_the_beat_reconcile_in_one_delete(settings, service):
    settings.SERVICE_SAMPLE_KEEP = 3600
    now = timezone.now()
    instance = ServiceInstance.objects.create(service=service, slot=0)
    _sample(service, instance, 7200, 1, 1, 1.0, now)
    _sample(service, instance, 3700, 2, 2, 2.0, now)
    _sample(service, instance, 60, 3, 3, 3.0, now)
    with CaptureQueriesContext(connection) as queries:
        assert samples_prune(now=now) == 2
    assert [q["sql"] for q in queries if "servicesample" in q["sql"].lower()] == [queries[0]["sql"]]
    assert queries[0]["sql"].startswith("DELETE")
    _sample(service, instance, 4000, 0, 0, 0.0, now)
    reconcile()  # the beat cycle names no service
    assert list(ServiceSample.objects.values_list("served", flat=True)) == [3]


@pytest.mark.django_db
def test_the_detail_page_has_the_chart_container(client_for, viewer, service):
    url = reverse(
        "services:detail", kwargs={"project_id": service.project.project_id, "service_id": service.service_id}
    )
    html = client_for(viewer).get(url).content.decode()
    charts_url = reverse(
        "services:charts", kwargs={"project_id": service.project.project_id, "service_id": service.service_id}
    )
    assert f'data-service-charts-url="{charts_url}"' in html
    for name in ("requests", "latency", "tokens"):
        assert f'data-service-chart="{name}"' in html
    assert "js/charts.js" in html


@pytest.mark.django_db
def test_the_runner_stores_a_sample_at_most_every_sample_seconds(settings, service):
    from console.services.workload import InstanceRun

    settings.SERVICE_SAMPLE_SECONDS = 3600
    instance = ServiceInstance.objects.create(service=service, slot=0, runner_token="tok")
    run = InstanceRun(ServiceInstance.objects.select_related("service").get(pk=instance.pk))
    run.token = "tok"
    health = {"outstanding": 1, "served": 7, "failed": 1, "tokens_generated": 70, "latency_seconds_total": 3.5}
    run._store_health(health)
    run._store_health({**health, "served": 8})  # within SERVICE_SAMPLE_SECONDS: the row only
    sample = ServiceSample.objects.get()
    assert (sample.instance_id, sample.served, sample.failed, sample.tokens_generated) == (instance.pk, 7, 1, 70)
    assert sample.latency_seconds_total == 3.5
    assert ServiceInstance.objects.get(pk=instance.pk).served == 8
    run.next_sample = 0.0  # the interval passed
    run._store_health({**health, "served": 9})
    assert list(ServiceSample.objects.order_by("at", "pk").values_list("served", flat=True)) == [7, 9]
    run.token = "another run"  # a runner that lost its row stores nothing
    run.next_sample = 0.0
    run._store_health(health)
    assert ServiceSample.objects.count() == 2
