"""A project admin manages authorizations in the browser: agency, authorize, delete all-users with DELETE."""

import pytest

from console.authorizations.models import Agency, Authorization
from console.storage.services import project_storage_defaults_apply


@pytest.mark.browser
def test_an_admin_manages_authorizations_in_the_browser(
    sign_in_page, screenshot, live_server, project_admin, member, project
):
    project_storage_defaults_apply(project=project, actor=None)
    page = sign_in_page("pam")
    page.goto(f"{live_server.url}/projects/{project.project_id}/authorizations/")
    assert page.locator("h1").inner_text().startswith("Authorizations")

    # Create an agency (htmx form), then authorize mia with it.
    page.fill("#id_agency_name_suffix", "iam-user01")
    page.click("#agency-form button[type=submit]")
    page.wait_for_url(f"**/projects/{project.project_id}/authorizations/")
    page.locator("#messages").get_by_text("Agency ma_agency_iam-user01 created.").wait_for()
    assert Agency.objects.filter(project=project, name="ma_agency_iam-user01").exists()

    page.select_option("#id_user", str(member.pk))
    page.select_option("#id_agency", label="ma_agency_iam-user01")
    page.click("#authorization-form button[type=submit]")
    page.locator("#messages").get_by_text("Authorized mia with ma_agency_iam-user01.").wait_for()
    assert Authorization.objects.get(project=project, user=member).agency.name == "ma_agency_iam-user01"

    # All-users: the Delete button stays disabled until DELETE is typed.
    page.locator("#authorization-table tr", has_text="all-users").get_by_role("button", name="Delete").click()
    dialog = page.locator("#delete-all-users")
    confirm = dialog.locator("[data-confirm-submit]")
    assert confirm.is_disabled()
    dialog.locator("input[name=confirm]").fill("delete")
    assert confirm.is_disabled()
    dialog.locator("input[name=confirm]").fill("DELETE")
    assert confirm.is_enabled()
    screenshot("authorizations-delete-all-users")
    confirm.click()
    page.locator("#messages").get_by_text("Delete all-users auth info successfully!").wait_for()
    assert not Authorization.objects.filter(project=project, user__isnull=True).exists()
    page.wait_for_load_state("networkidle")
    screenshot("authorizations-list")
