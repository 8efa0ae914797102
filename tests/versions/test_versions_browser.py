"""What a member does in Chromium: create a model with the folder picker, fill it up to 10
versions, meet the 11th refusal, meet a delete blocked by a training task, read a failed
check's message by hovering and tapping, delete with a wrong word and then with DELETE."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from console.mymodels.models import MyModel
from console.versions.models import ModelVersion, TaskRecord
from console.versions.services import task_record_create_for_training, task_record_finish, weight_validation_run
from tests.mymodels.fixtures import write_tiny_llama

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DO_SAMPLE = (
    "The value of do_sample is not set to true in generation_config.json, which is inconsistent with the "
    "configured sampling parameters such as temperature, top_p, top_k etc."
)


def pick_folder(page, field_id: str, names: list[str]):
    """Open the weights-path picker of `field_id`, walk down `names`, select that folder."""
    field = page.locator(f"#{field_id}")
    container = field.locator("xpath=ancestor::*[contains(@class,'folder-picker')][1]")
    container.locator("[data-picker-open]").click()
    for name in names:
        page.locator(f"[data-picker-folder='{name}']:visible").first.click()
        expect(page.locator(".picker-body:visible [aria-current='page']")).to_have_text(re.compile(re.escape(name)))
    page.locator("[data-picker-select]:visible").click()


def choose_base_model(page, name: str):
    page.click("#choose-base-model")
    page.locator(f"#base-model-dialog input[data-base-model='{name}']").check()
    expect(page.locator("#base-version-info [data-chosen-base-model]")).to_have_text(name)
    page.click("#base-model-dialog [data-close-dialog]")


def test_a_member_manages_a_model_from_create_to_delete(
    sign_in_page, live_server, member, project, bucket, qwen25_7b, tiny_base, screenshot
):
    # The member's weights, as uploaded into the project's bucket.
    qwen = Path(bucket.local_path()) / "models" / "qwen25"
    qwen.mkdir(parents=True)
    (qwen / "config.json").write_text('{"model_type": "qwen2"}')
    write_tiny_llama(Path(bucket.local_path()) / "models" / "broken",
                     generation_config={"do_sample": False, "temperature": 0.7})  # fmt: skip
    base = f"{live_server.url}/projects/{project.project_id}"

    page = sign_in_page("mia")
    page.goto(f"{base}/models/")
    expect(page.locator(".empty-state")).to_contain_text("No models yet")
    page.click(".empty-state a.button")

    # Create from Qwen2.5-7B, weights picked with the folder picker, validation off.
    choose_base_model(page, "Qwen2.5-7B")
    expect(page.locator("#base-version-info [data-constraint-note]")).to_have_count(0)
    page.fill("#id_name", "qwen-sft")
    page.fill("#id_description", "Qwen2.5-7B fine-tuned on support tickets")
    pick_folder(page, "id_weights_path", [bucket.name, "models", "qwen25"])
    expect(page.locator("#id_weights_path")).to_have_value(f"obs://{bucket.name}/models/qwen25/")
    page.uncheck("#id_validate_weights")
    screenshot("mymodels-create-form")
    page.click("#model-form button[type=submit]")
    expect(page.locator("h1")).to_contain_text("qwen-sft")
    expect(page.locator("#version-row-1")).to_contain_text("创建成功")

    page.goto(f"{base}/models/")
    expect(page.locator("#model-table")).to_contain_text("qwen-sft")
    expect(page.locator("#model-table")).to_contain_text("Qwen2.5-7B")
    screenshot("mymodels-list")

    # Versions V2 … V10.
    model = MyModel.objects.get(name="qwen-sft")
    for number in range(2, 11):
        page.goto(f"{base}/models/{model.pk}/versions/create/")
        expect(page.locator(f"input[value='V{number}']")).to_be_visible()
        page.fill("#id_description", f"round {number}")
        if number == 2:
            pick_folder(page, "id_weights_path", [bucket.name, "models", "qwen25"])
        else:
            page.fill("#id_weights_path", f"obs://{bucket.name}/models/qwen25/")
        page.uncheck("#id_validate_weights")
        page.click("#version-form button[type=submit]")
        expect(page.locator(f"#version-row-{number}")).to_be_visible()
    screenshot("mymodels-ten-versions")

    # At 10/10 "Add version" is disabled with the reason; the form itself still refuses an 11th.
    expect(page.locator("#add-version")).to_be_disabled()
    expect(page.locator("#add-version-reason")).to_contain_text("10")
    page.goto(f"{base}/models/{model.pk}/versions/create/")
    page.fill("#id_weights_path", f"obs://{bucket.name}/models/qwen25/")
    page.uncheck("#id_validate_weights")
    page.click("#version-form button[type=submit]")
    expect(page.locator("#version-form")).to_contain_text("at most 10 versions")
    screenshot("versions-eleventh-refused")
    assert ModelVersion.objects.filter(model=model).count() == 10

    # A training task uses V3: deleting the model is refused, with a link to the task.
    record = task_record_create_for_training(
        version=model.versions.get(number=3), job_name="sft-job-1", job_url="/jobs/1/", actor=member
    )
    page.goto(f"{base}/models/{model.pk}/")
    page.click("#model-delete-button")
    dialog = page.locator("#model-delete-dialog")
    expect(dialog).to_contain_text("are not deleted")
    dialog.locator("input[name=confirm]").fill("DELETE")
    dialog.locator("button[type=submit]").click()
    blockers = page.locator("#model-delete-dialog [data-blockers]")
    expect(blockers).to_contain_text("sft-job-1")
    screenshot("mymodels-delete-blocked")
    assert MyModel.objects.filter(pk=model.pk).exists()

    # The task finishes; the member deletes its record from the V3 page.
    task_record_finish(record=record, succeeded=True)
    page.goto(f"{base}/models/{model.pk}/versions/3/")
    page.once("dialog", lambda d: d.accept())
    page.locator(f"#record-{record.pk} button").click()
    expect(page.locator(".flash-success")).to_contain_text("Task record deleted")
    assert not TaskRecord.objects.exists()

    # A wrong word: the button stays disabled, and a forced submit is refused by the server.
    page.goto(f"{base}/models/{model.pk}/")
    page.click("#model-delete-button")
    dialog = page.locator("#model-delete-dialog")
    dialog.locator("input[name=confirm]").fill("delete")
    expect(dialog.locator("button[type=submit]")).to_be_disabled()
    page.evaluate("document.querySelector('#model-delete-dialog form').requestSubmit()")
    expect(page.locator("#model-delete-dialog .error")).to_contain_text("Type DELETE (in capitals) to confirm.")
    screenshot("mymodels-delete-wrong-word")
    assert MyModel.objects.filter(pk=model.pk).exists()

    page.locator("#model-delete-dialog input[name=confirm]").fill("DELETE")
    page.locator("#model-delete-dialog button[type=submit]").click()
    expect(page.locator(".flash-success")).to_contain_text("deleted")
    expect(page.locator("#model-table")).to_contain_text("No models yet")
    assert not MyModel.objects.filter(pk=model.pk).exists()


def test_a_failed_check_shows_its_message_on_hover_and_tap(
    sign_in_page, live_server, member, project, bucket, tiny_base, screenshot
):
    write_tiny_llama(Path(bucket.local_path()) / "models" / "broken",
                     generation_config={"do_sample": False, "temperature": 0.7})  # fmt: skip
    base = f"{live_server.url}/projects/{project.project_id}"
    page = sign_in_page("mia")
    page.goto(f"{base}/models/create/")
    choose_base_model(page, tiny_base.name)
    page.fill("#id_name", "tiny-broken")
    page.fill("#id_weights_path", f"obs://{bucket.name}/models/broken/")
    expect(page.locator("#id_validate_weights")).to_be_checked()
    page.click("#model-form button[type=submit]")
    row = page.locator("#version-row-1")
    expect(row).to_contain_text("创建中")

    # The check runs (here in the test process; the integration tests use a real worker)
    # and the page, polling, turns 创建失败 by itself.
    weight_validation_run(record_id=TaskRecord.objects.get().pk)
    expect(row).to_contain_text("创建失败", timeout=15000)
    expect(page.locator("#model-status")).to_contain_text("创建失败")  # the model's derived status follows
    summary = row.locator("details.status-failure summary")
    expect(summary).to_have_attribute("title", re.compile(re.escape(DO_SAMPLE)))
    summary.hover()
    summary.click()  # tap / click opens the explanation
    expect(row.locator("[data-failure-message]")).to_have_text(DO_SAMPLE)
    expect(row).to_contain_text("将“generation_config.json”文件中的“do_sample”的值设置为“true”。")
    screenshot("versions-failed-hover")

    page.click("#version-row-1 a:has-text('V1')")
    expect(page.locator("#version-live")).to_contain_text("运行失败")
    page.locator("#version-live a:has-text('#')").first.click()
    expect(page.locator("[data-record-failure]")).to_contain_text(DO_SAMPLE)
    expect(page.locator("#record-live")).to_contain_text("generation_config")
    screenshot("versions-record-report")
