"""Issue 15 §6.4 in Chromium: deleting a file asks once (one dialog), and the file goes."""

import pytest
from playwright.sync_api import expect

from tests.storage.django_support import *  # noqa: F403

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_deleting_a_file_asks_once(sign_in_page, live_server, screenshot, member, project, bucket, bucket_backend):
    put_file(bucket_backend, "a/b.txt", b"x" * 3000)  # noqa: F405
    page = sign_in_page(member.username)
    page.goto(f"{live_server.url}/projects/{project.project_id}/storage/?path={bucket.uri}a/")
    expect(page.locator("#storage-table")).to_contain_text("2.9\xa0KiB")
    screenshot("h9-storage-folder-binary-sizes")
    questions = []

    def answer(dialog):
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    page.locator("#storage-table tr", has_text="b.txt").get_by_role("button", name="Delete").click()
    expect(page.locator("#storage-table tr", has_text="b.txt")).to_have_count(0)
    assert questions == ["Delete the file b.txt? This cannot be undone."]
    assert not bucket_backend.exists("a/b.txt")
