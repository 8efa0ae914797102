"""In Chromium, as a site administrator does it: create a Ray cluster pool (a refused address first), see its
nodes, the interpreter check arriving by itself, the head going down and "Check now", and the page in zh-hans.

The Ray head is the stand-in dashboard of tests/fake_ray.py; the interpreter probe runs for real against it
(a thread plays Ray finishing the probe job), started where the platform queue's worker would start it.
"""

import threading

import pytest
from django.db import connection
from playwright.sync_api import expect

from console.nodepools.models import Pool, RayCluster
from console.nodepools.raycluster import services as ray_services
from tests.fake_ray import FakeRay
from tests.nodepools.test_ray_pool_pages import closed_address, ray_finishes_probes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def fake_ray():
    fake = FakeRay(cpus=8, gpus=1, memory_gb=32)
    fake.nodes.append(
        {
            "node_id": "3c" * 28,
            "node_ip": "10.0.0.2",
            "is_head_node": False,
            "state": "ALIVE",
            "resources_total": {"CPU": 16.0, "GPU": 2.0, "memory": 64 * 1024**3},
        }
    )
    fake.nodes.append(
        {
            "node_id": "9d" * 28,
            "node_ip": "10.0.0.3",
            "is_head_node": False,
            "state": "DEAD",
            "resources_total": {"CPU": 4.0, "memory": 16 * 1024**3},
        }
    )
    yield fake
    fake.close()


@pytest.fixture
def platform_queue(monkeypatch, fake_ray):
    """Run the interpreter probe the pages send, as the platform queue's worker would (Ray played by a thread)."""
    from celery import current_app

    threads = []

    def probe(cluster_id):
        try:
            with ray_finishes_probes(fake_ray, status="SUCCEEDED"):
                ray_services.ray_interpreter_probe(cluster_id=cluster_id)
        finally:
            connection.close()

    def send_task(name, args=None, **options):
        assert name == ray_services.PROBE_TASK
        thread = threading.Thread(target=probe, args=(args[0],), daemon=True)
        threads.append(thread)
        thread.start()

    monkeypatch.setattr(current_app, "send_task", send_task)
    yield
    for thread in threads:
        thread.join(timeout=30)


def test_an_administrator_creates_a_ray_pool_and_watches_it(
    transactional_db, sign_in_page, live_server, screenshot, site_admin, fake_ray, platform_queue
):
    Pool.objects.create(name="ondemand", hourly_price="2.5000")  # a pool of registered nodes beside it
    page = sign_in_page("root")
    page.goto(f"{live_server.url}/admin/pools/")
    page.locator("#create-ray-pool").click()
    expect(page.locator("h1")).to_contain_text("Create Ray cluster pool")
    form = page.locator("#ray-pool-form")
    expect(form.locator("#id_console_url")).not_to_have_value("")
    form.locator("#id_name").fill("team-ray")
    form.locator("#id_description").fill("The research team's Ray cluster")
    form.locator("#id_address").fill(closed_address())
    form.locator("#id_interpreter").fill("/opt/venv/bin/python")
    screenshot("ray-pool-create-form")

    # A head that does not answer: refused on the address field, nothing created.
    form.locator("button[type=submit]").click()
    expect(page.locator("#id_address-error")).to_contain_text("Could not reach the Ray head")
    screenshot("ray-pool-create-unreachable")
    assert not Pool.objects.filter(name="team-ray").exists()

    page.locator("#id_address").fill(fake_ray.address)
    page.locator("#ray-pool-form button[type=submit]").click()
    expect(page.locator("h1")).to_contain_text("team-ray")
    expect(page.locator(".flash-success")).to_contain_text("Ray cluster pool “team-ray” created.")
    nodes = page.locator("#ray-nodes tbody tr")
    expect(nodes).to_have_count(3)
    expect(nodes.first).to_contain_text("Head node")
    expect(page.locator("#ray-status")).to_contain_text("Reachable")
    expect(page.locator("#ray-concurrency")).to_have_text("0 of 20 concurrent jobs")
    expect(page.locator("#node-table")).to_have_count(0)
    # The interpreter check runs and the panel shows what it found without a reload.
    expect(page.locator("#ray-probe")).to_contain_text("Python 3.12.3", timeout=20_000)
    expect(page.locator("#ray-probe")).to_contain_text("/opt/venv/bin/python3.12")
    screenshot("ray-pool-detail")

    # The head goes down: "Check now" says so, with the reason, and the nodes last seen stay.
    fake_ray.down = True
    page.locator("#ray-check-now").click()
    expect(page.locator("#ray-status")).to_contain_text("Unreachable")
    expect(page.locator("#ray-reason")).to_contain_text("is not answering (503")
    expect(page.locator("#ray-status")).to_contain_text("since")
    expect(nodes).to_have_count(3)
    screenshot("ray-pool-unreachable")
    assert RayCluster.objects.get(pool__name="team-ray").reachable is False

    fake_ray.down = False
    page.locator("#ray-check-now").click()
    expect(page.locator("#ray-status")).to_contain_text("Reachable")
    expect(page.locator("#ray-status")).not_to_contain_text("Unreachable")

    page.goto(f"{live_server.url}/admin/pools/")
    row = page.locator("tr", has_text="team-ray")
    expect(row).to_contain_text("Ray cluster")
    expect(row).to_contain_text("Reachable")
    expect(page.locator("tr", has_text="ondemand")).to_contain_text("Registered nodes")
    screenshot("ray-pool-list")


def test_the_ray_pool_page_in_chinese(transactional_db, sign_in_page, live_server, screenshot, site_admin, fake_ray):
    site_admin.profile.language = "zh-hans"
    site_admin.profile.save(update_fields=["language"])
    pool = ray_services.ray_pool_create(
        actor=site_admin,
        name="team-ray",
        address=fake_ray.address,
        interpreter="/opt/venv/bin/python",
        console_url="http://console.example:8000",
    )
    page = sign_in_page("root")
    page.goto(f"{live_server.url}/admin/pools/{pool.pk}/")
    expect(page.locator("#ray-status")).to_contain_text("可连接")
    expect(page.locator("#ray-check-now")).to_have_text("立即检查")
    expect(page.locator("#ray-nodes")).to_contain_text("头节点")
    screenshot("ray-pool-detail-zh")
    page.goto(f"{live_server.url}/admin/pools/create/ray/")
    expect(page.locator("h1")).to_have_text("创建Ray集群资源池")
    screenshot("ray-pool-create-form-zh")
