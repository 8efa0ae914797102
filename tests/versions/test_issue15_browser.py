"""Issue 15 §6.1 and §6.7 in Chromium: a finished weight check blocks the model's delete; the member
deletes the record on the version page (one confirmation), then the model; at 10/10 "Add version" is
disabled with the reason."""

import pytest
from playwright.sync_api import expect

from console.core.models import WorkState
from console.mymodels.models import MyModel
from console.versions.models import TaskKind, TaskRecord
from console.versions.services import task_record_create_for_training, task_record_finish
from tests.mymodels.fixtures import add_versions

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_finished_check_blocks_until_deleted_from_the_version_page(
    sign_in_page, live_server, screenshot, member, project, make_model, weights_folder
):
    model = make_model()
    version = model.versions.get()
    check = TaskRecord.objects.create(version=version, kind=TaskKind.WEIGHT_VALIDATION, state=WorkState.SUCCEEDED)
    training = task_record_create_for_training(version=version, job_name="sft-1", actor=member)
    task_record_finish(record=training, succeeded=True)
    add_versions(model, 9, actor=member, path=weights_folder)
    page = sign_in_page(member.username)
    base = f"{live_server.url}/projects/{project.project_id}/models/{model.pk}/"
    page.goto(base)
    expect(page.locator("#add-version")).to_be_disabled()
    expect(page.locator("#add-version-reason")).to_contain_text("a model can have at most 10")
    screenshot("h9-model-add-version-disabled")

    # The delete is refused, naming both records with links.
    page.click("#model-delete-button")
    page.fill("#model-delete-dialog input[name=confirm]", "DELETE")
    page.locator("#model-delete-dialog [data-confirm-submit]").click()
    blockers = page.locator("#model-delete-dialog [data-blockers]")
    expect(blockers).to_contain_text(f"#{check.pk}")
    expect(blockers).to_contain_text("sft-1")
    screenshot("h9-model-delete-refused-by-finished-check")

    # On V1's page: delete both finished records, each after one confirmation.
    page.goto(f"{base}versions/1/")
    expect(page.locator(f"#record-{training.pk} td").nth(3)).to_have_text("—")  # no "Attempts 0"
    screenshot("h9-version-records")
    questions = []
    page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    for record in (check, training):
        page.locator(f"#record-{record.pk}").get_by_role("button", name="Delete").click()
        expect(page.locator(f"#record-{record.pk}")).to_have_count(0)
    assert questions == ["Delete this task record?"] * 2

    page.goto(base)
    page.click("#model-delete-button")
    page.fill("#model-delete-dialog input[name=confirm]", "DELETE")
    page.locator("#model-delete-dialog [data-confirm-submit]").click()
    page.wait_for_url(f"{live_server.url}/projects/{project.project_id}/models/")
    assert not MyModel.objects.filter(pk=model.pk).exists()
