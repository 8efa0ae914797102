"""In Chromium: a member uploads a folder with progress bars, navigates, is refused an
oversized file, picks a folder in the picker dialog, and deletes a folder with DELETE."""

import pytest
from playwright.sync_api import expect

from tests.storage.django_support import *  # noqa: F403

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def weights_folder(tmp_path):
    folder = tmp_path / "upload" / "Qwen2.5-7B"
    (folder / "tokenizer").mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "qwen2", "hidden_size": 3584}')
    (folder / "generation_config.json").write_text('{"do_sample": true}')
    (folder / "model.safetensors").write_bytes(b"\x08" * 300_000)
    (folder / "tokenizer" / "tokenizer.json").write_text('{"version": "1.0"}')
    return folder


def test_a_member_uploads_browses_picks_and_deletes(
    sign_in_page, live_server, screenshot, member, project, bucket, bucket_backend, weights_folder, tmp_path, settings
):
    settings.STORAGE_MAX_BROWSER_UPLOAD = 1_000_000  # ~1 MB here; 5 GB by default
    page = sign_in_page(member.username)
    page.goto(f"{live_server.url}/projects/{project.project_id}/storage/")
    expect(page.get_by_role("heading", name="Storage")).to_be_visible()
    screenshot("storage-buckets")

    # Into the bucket, then a new folder "models".
    page.get_by_role("link", name=bucket.name).click()
    expect(page.locator("#storage-page")).to_have_attribute("data-current-folder", bucket.uri)
    page.get_by_role("button", name="New folder").click()
    page.fill("#new-folder-name", "models")
    page.locator("#new-folder-dialog").get_by_role("button", name="Create").click()
    expect(page.locator("#storage-table")).to_contain_text("Folder obs://%s/models/ created." % bucket.name)
    page.locator("#storage-table").get_by_role("link", name="models/").click()
    expect(page.locator("#storage-page")).to_have_attribute("data-current-folder", f"{bucket.uri}models/")
    assert page.url.endswith(f"?path={bucket.uri}models/")  # hx-push-url: the address is shareable

    # A whole folder, one request per file, each with its own progress bar.
    page.set_input_files("input[data-upload-folder]", str(weights_folder))
    rows = page.locator("#upload-list .upload-row")
    expect(rows).to_have_count(4)
    expect(page.locator("#upload-list .upload-row.done")).to_have_count(4)
    for index in range(4):
        expect(rows.nth(index).locator("progress")).to_have_attribute("value", "100")
    expect(page.locator("#storage-table")).to_contain_text("Qwen2.5-7B/")
    screenshot("storage-upload-folder")

    # Too big for the browser: refused before sending, pointing to the command line.
    big = tmp_path / "huge.safetensors"
    big.write_bytes(b"\x00" * 1_100_000)
    page.set_input_files("input[data-upload-input]:not([data-upload-folder])", str(big))
    refused = page.locator("#upload-list .upload-row.failed")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("huge.safetensors is 1.0\xa0MiB: a browser upload is limited to")
    expect(refused).to_contain_text("python manage.py storage_upload <file> obs://%s/models/" % bucket.name)
    screenshot("storage-upload-refused")
    assert not bucket_backend.exists("models/huge.safetensors")
    assert bucket_backend.read_range("models/Qwen2.5-7B/model.safetensors", 0) == b"\x08" * 300_000
    assert bucket_backend.read_range("models/Qwen2.5-7B/tokenizer/tokenizer.json", 0) == b'{"version": "1.0"}'
    page.locator("[data-upload-panel-close]").click()

    # Navigate: into the model folder, then back with the breadcrumb.
    page.locator("#storage-table").get_by_role("link", name="Qwen2.5-7B/").click()
    expect(page.locator("#storage-table")).to_contain_text("model.safetensors")
    expect(page.locator("#storage-table")).to_contain_text("293.0\xa0KiB")
    page.locator(".crumbs").get_by_role("link", name=bucket.name).click()
    expect(page.locator("#storage-page")).to_have_attribute("data-current-folder", bucket.uri)

    # The folder picker: buckets → models → Qwen2.5-7B → "Select this folder".
    page.get_by_role("button", name="Choose").click()
    dialog = page.locator("#id_path-picker")
    expect(dialog).to_be_visible()
    # It opens where the input points (the bucket); up to the bucket list and down again.
    expect(dialog.locator(".picker-footer code")).to_have_text(bucket.uri)
    dialog.get_by_role("link", name="All buckets").click()
    dialog.locator(f'[data-picker-folder="{bucket.name}"]').click()
    dialog.locator('[data-picker-folder="models"]').click()
    expect(dialog).to_contain_text("Qwen2.5-7B/")
    dialog.locator('[data-picker-folder="Qwen2.5-7B"]').click()
    expect(dialog.locator(".picker-list")).to_contain_text("config.json")  # files show, not selectable
    screenshot("storage-picker")
    dialog.get_by_role("button", name="Select this folder").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#id_path")).to_have_value(f"{bucket.uri}models/Qwen2.5-7B/")
    page.get_by_role("button", name="Go").click()
    expect(page.locator("#storage-page")).to_have_attribute("data-current-folder", f"{bucket.uri}models/Qwen2.5-7B/")

    # Typing a file path into the picker opens the folder it is in, with the folder message.
    page.fill("#id_path", f"{bucket.uri}models/Qwen2.5-7B/config.json")
    page.get_by_role("button", name="Choose").click()
    expect(dialog.locator("#picker-error")).to_contain_text("必须选择到模型文件夹")
    dialog.get_by_role("button", name="Cancel").click()

    # Delete the model folder: the button stays disabled until DELETE is typed exactly.
    page.goto(f"{live_server.url}/projects/{project.project_id}/storage/?path={bucket.uri}models/")
    page.locator("#storage-table").get_by_role("button", name="Delete").first.click()
    confirm = page.locator("dialog[open]")
    confirm.locator("input[name=confirm]").fill("delete")
    expect(confirm.get_by_role("button", name="Delete")).to_be_disabled()
    confirm.locator("input[name=confirm]").fill("DELETE")
    screenshot("storage-delete-folder")
    confirm.get_by_role("button", name="Delete").click()
    expect(page.locator("#storage-table")).to_contain_text("deleted (4 files)")
    assert not bucket_backend.exists("models/Qwen2.5-7B/")
