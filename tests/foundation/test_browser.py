"""In Chromium, as a new team would: the first administrator sets up a project and a viewer; the viewer looks around."""

import re

import pytest

from console.accounts.models import Organization, Project
from console.accounts.services import ensure_first_admin

pytestmark = pytest.mark.browser


def html_lang(page) -> str:
    return page.get_attribute("html", "lang")


def test_it_takes_the_first_admin_and_a_viewer_through_the_console(
    page, live_server, sign_in_page, screenshot, celery_worker_process
):
    # A real worker with beat, so the health page shows every part up.
    celery_worker_process(beat=True, name="browserworker")
    admin, admin_password = ensure_first_admin()
    url = live_server.url
    shot = lambda name: screenshot(f"foundation-{name}")  # noqa: E731 - the folder is shared with other suites

    page.goto(f"{url}/accounts/login/")
    shot("login")

    # The first administrator signs in with the generated password.
    sign_in_page("admin", admin_password)
    assert page.url == f"{url}/"
    assert page.locator("h1").inner_text() == "Welcome"
    shot("admin-welcome")

    # 简体中文 and back.
    page.click("button[name=language][value=zh-hans]")
    page.wait_for_load_state("networkidle")
    assert html_lang(page) == "zh-hans"
    shot("admin-welcome-zh")
    page.click("button[name=language][value=en]")
    page.wait_for_load_state("networkidle")
    assert html_lang(page) == "en"

    # A project.
    page.goto(f"{url}/projects/new/")
    page.fill("#id_name", "1 bad name")
    page.click("#project-form button[type=submit]")
    page.wait_for_selector("#id_name-error")
    assert "starting with a letter" in page.inner_text("#id_name-error")
    shot("project-form-error")
    page.fill("#id_name", "vision")
    page.fill("#id_description", "Image models for the quality line")
    page.click("#project-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/projects/[0-9a-f]{32}/$"))
    project = Project.objects.get(name="vision")
    assert "Project “vision” created." in page.inner_text("#messages")

    # A viewer, with the password the page shows once.
    page.goto(f"{url}/users/new/")
    page.fill("#id_username", "vera")
    page.click("#user-form button[type=submit]")
    page.wait_for_selector("#new-password")
    vera_password = page.inner_text("#new-password").strip()
    assert len(vera_password) >= 16
    shot("user-created")

    page.goto(f"{url}/projects/{project.project_id}/")
    page.select_option("#id_user", label="vera")
    page.select_option("#id_role", value="viewer")
    page.click("#members form.inline-form button[type=submit]")
    page.wait_for_selector("#members tr:has-text('vera')")
    assert "vera added." in page.inner_text("#members")
    row = page.locator("#members tr", has_text="vera")
    assert row.locator("select[name=role]").input_value() == "viewer"
    shot("project-detail-admin")

    page.goto(f"{url}/users/")
    assert page.locator("#user-table tr", has_text="vera").count() == 1
    shot("users-list")

    page.goto(f"{url}/admin/health/")
    # htmx refreshes the table every 5 s; wait until beat's first heartbeat is in.
    page.wait_for_function("document.querySelectorAll('#health-table .badge-success').length === 5", timeout=30_000)
    shot("health")

    page.goto(f"{url}/admin/audit/")
    assert page.locator("#audit-table tbody tr").count() >= 4  # admin, project, user, membership
    page.select_option("select[name=action]", "membership.add")
    page.wait_for_function("document.querySelectorAll('#audit-table tbody tr').length === 1")
    assert "membership.add" in page.inner_text("#audit-table")
    shot("audit-log")

    page.click("form[action='/accounts/logout/'] button")
    page.wait_for_url(f"{url}/accounts/login/")

    # A project vera is not in.
    secret = Project.objects.create(organization=Organization.objects.get(name="default"), name="secret")

    # The viewer: the project read-only, 403 on user management, 404 on a project they are not in.
    sign_in_page("vera", vera_password)
    assert page.url == f"{url}/projects/{project.project_id}/dashboard/"  # a project opens on its dashboard
    page.goto(f"{url}/projects/{project.project_id}/")
    assert page.locator("#members tr", has_text="vera").count() == 1
    assert page.locator("text=Add a member").count() == 0
    assert page.locator("#members select, #members button").count() == 0
    assert "Users" not in page.inner_text("nav.sidebar")
    shot("project-detail-viewer")

    response = page.goto(f"{url}/users/")
    assert response.status == 403
    assert "You are not allowed to do this." in page.inner_text("main")
    shot("forbidden")

    response = page.goto(f"{url}/projects/{secret.project_id}/")
    assert response.status == 404
    assert "secret" not in page.inner_text("main")
    shot("not-found")
