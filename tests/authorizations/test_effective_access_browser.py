"""Issue 15 §6.9 in Chromium: the authorizations page shows each member's effective access."""

import pytest
from playwright.sync_api import expect

from console.authorizations.models import Access, Agency, Authorization
from console.storage.models import Bucket
from console.storage.services import project_storage_defaults_apply

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_sees_each_members_effective_access(sign_in_page, live_server, screenshot, project_admin, member,
                                                     project):  # fmt: skip
    project_storage_defaults_apply(project=project, actor=None)
    extra = Bucket.objects.create(project=project, name=f"{Bucket.objects.get(project=project).name}-extra")
    narrow = Agency.objects.create(project=project, name="ma_agency_narrow", all_buckets=False, access=Access.READ)
    narrow.buckets.add(extra)
    Authorization.objects.create(project=project, user=member, type="agency", agency=narrow)
    page = sign_in_page(project_admin.username)
    page.goto(f"{live_server.url}/projects/{project.project_id}/authorizations/")
    row = page.locator(f"#effective-{member.pk}")
    expect(row.locator(f'[data-bucket="{extra.name}"]')).to_have_attribute("data-level", "read_write")
    expect(row).to_contain_text("read and write, through agency modelarts_agency")
    expect(page.locator("#authorization-form")).to_contain_text("The all-users authorization applies too")
    page.locator("#effective-access").scroll_into_view_if_needed()
    screenshot("h9-authorizations-effective-access")
