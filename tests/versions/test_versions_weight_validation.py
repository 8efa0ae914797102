"""The weight-check run in unit form: claim, check through the storage gate, finish once.

The real check (console.weightcheck) runs against tiny real folders in the project's
bucket; only Celery is left out (the integration tests run a real worker).
"""

from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.utils import timezone

from console.core.models import WorkState
from console.core.work import sweep_stale_work, work_claim
from console.mymodels.models import ModelStatus
from console.versions.models import ModelVersion, TaskRecord
from console.versions.services import model_create, weight_validation_rerun, weight_validation_run

DO_SAMPLE = (
    "The value of do_sample is not set to true in generation_config.json, which is inconsistent with the "
    "configured sampling parameters such as temperature, top_p, top_k etc."
)
UNKNOWN = (
    "Unknown error, please contact the operation and maintenance personnel or check the log to locate the "
    "specific problem."
)


@pytest.fixture
def tiny_model(member, project, tiny_base):
    def make(path, name="tiny"):
        model = model_create(actor=member, project=project, name=name, base_version=tiny_base,
                             weights_path=path, validate_weights=True)  # fmt: skip
        version = model.versions.get()
        return version, version.task_records.get()

    return make


def test_a_good_folder_passes_and_the_version_is_created(tiny_model, tiny_folder):
    version, record = tiny_model(tiny_folder)
    assert weight_validation_run(record_id=record.pk) == "succeeded"
    record.refresh_from_db()
    version.refresh_from_db()
    assert (record.state, record.attempts, version.status) == (WorkState.SUCCEEDED, 1, ModelStatus.CREATED)
    assert record.report["ok"] is True and record.report["template"] == "tiny-llama"
    assert [step["status"] for step in record.report["steps"]][-1] == "passed"
    assert record.started_at and record.finished_at and record.log_reference
    assert "checking obs://" in record.log


def test_a_bad_folder_fails_with_the_seed_message(tiny_model, broken_folder):
    version, record = tiny_model(broken_folder)
    assert weight_validation_run(record_id=record.pk) == "failed"
    record.refresh_from_db()
    version.refresh_from_db()
    assert record.state == WorkState.FAILED and version.status == ModelStatus.FAILED
    assert record.report["message"] == DO_SAMPLE and record.failure_reason == DO_SAMPLE
    assert record.report["explanation_zh"].startswith("在generation_config.json中没有将do_sample")
    assert record.report["advice_zh"] == "将“generation_config.json”文件中的“do_sample”的值设置为“true”。"
    assert version.status_reason == DO_SAMPLE
    assert version.failure["message"] == DO_SAMPLE


def test_a_second_delivery_does_nothing(tiny_model, tiny_folder):
    version, record = tiny_model(tiny_folder)
    assert weight_validation_run(record_id=record.pk) == "succeeded"
    finished_at = TaskRecord.objects.get(pk=record.pk).finished_at
    with mock.patch("console.versions.services.check_folder") as check:
        assert weight_validation_run(record_id=record.pk) == "not_claimed"
    check.assert_not_called()
    record.refresh_from_db()
    assert (record.attempts, record.finished_at) == (1, finished_at)


def test_a_record_claimed_by_a_live_worker_is_left_alone(tiny_model, tiny_folder):
    version, record = tiny_model(tiny_folder)
    assert work_claim(TaskRecord, record.pk) is not None
    assert work_claim(TaskRecord, record.pk) is None  # claim twice: the second gets nothing
    assert weight_validation_run(record_id=record.pk) == "not_claimed"
    record.refresh_from_db()
    assert (record.state, record.attempts) == (WorkState.RUNNING, 1)


def test_a_run_whose_claim_was_taken_over_finishes_nothing(tiny_model, tiny_folder):
    version, record = tiny_model(tiny_folder)
    real_check = __import__("console.versions.services", fromlist=["_check"])._check

    def check_then_lose_claim(**kwargs):
        report = real_check(**kwargs)
        # Meanwhile the sweep judged us dead and another worker re-owned the row.
        TaskRecord.objects.filter(pk=record.pk).update(claimed_by="someone-else")
        return report

    with mock.patch("console.versions.services._check", side_effect=check_then_lose_claim):
        assert weight_validation_run(record_id=record.pk) == "lost_claim"
    record.refresh_from_db()
    version.refresh_from_db()
    assert record.state == WorkState.RUNNING and not record.finished_at
    assert version.status == ModelStatus.CREATING


def test_the_sweep_gives_up_after_max_attempts(tiny_model, tiny_folder):
    version, record = tiny_model(tiny_folder)
    stale = timezone.now() - timedelta(seconds=settings.WORK_STALE_SECONDS + 5)
    TaskRecord.objects.filter(pk=record.pk).update(
        state=WorkState.RUNNING, attempts=settings.WORK_MAX_ATTEMPTS, heartbeat_at=stale, claimed_by="dead"
    )
    with mock.patch("celery.current_app.send_task") as send:
        assert sweep_stale_work()["failed"] == 1
    send.assert_not_called()
    record.refresh_from_db()
    version.refresh_from_db()
    assert record.state == WorkState.FAILED and "Gave up after" in record.failure_reason
    assert record.report["message"] == UNKNOWN and record.failure_reason in record.report["details"]
    assert version.status == ModelStatus.FAILED and version.status_reason == UNKNOWN


def test_the_sweep_requeues_a_stale_record_below_the_limit(tiny_model, tiny_folder):
    version, record = tiny_model(tiny_folder)
    stale = timezone.now() - timedelta(seconds=settings.WORK_STALE_SECONDS + 5)
    TaskRecord.objects.filter(pk=record.pk).update(state=WorkState.RUNNING, attempts=1, heartbeat_at=stale)
    with mock.patch("celery.current_app.send_task") as send:
        assert sweep_stale_work()["requeued"] == 1
    send.assert_called_once_with(
        "console.versions.tasks.validate_weights", args=[record.pk], task_id=f"versions.taskrecord-{record.pk}-1"
    )
    assert weight_validation_run(record_id=record.pk) == "succeeded"
    record.refresh_from_db()
    assert record.attempts == 2


def test_storage_refused_at_run_time_fails_with_the_reason(tiny_model, tiny_folder, project):
    from console.authorizations.models import Authorization

    version, record = tiny_model(tiny_folder)
    Authorization.objects.filter(project=project).delete()
    assert weight_validation_run(record_id=record.pk) == "failed"
    record.refresh_from_db()
    assert record.report["message"] == UNKNOWN
    assert "authorization" in " ".join(record.report["details"])


def test_the_check_runs_for_the_records_creator(tiny_model, tiny_folder, member):
    version, record = tiny_model(tiny_folder)
    member.is_active = False
    member.save()
    weight_validation_run(record_id=record.pk)
    record.refresh_from_db()
    assert record.state == WorkState.FAILED and "not active" in " ".join(record.report["details"])


def test_fixing_the_files_and_checking_again_succeeds(tiny_model, broken_folder, bucket, member):
    version, record = tiny_model(broken_folder)
    weight_validation_run(record_id=record.pk)
    (bucket.local_path() / "models" / "broken" / "generation_config.json").write_text(
        '{"do_sample": true, "temperature": 0.7}'
    )
    again = weight_validation_rerun(actor=member, version=ModelVersion.objects.get(pk=version.pk))
    assert weight_validation_run(record_id=again.pk) == "succeeded"
    version.refresh_from_db()
    assert version.status == ModelStatus.CREATED
    assert list(version.task_records.order_by("pk").values_list("state", flat=True)) == ["failed", "succeeded"]


def test_non_validation_records_are_never_run(make_model, member):
    from console.versions.services import task_record_create_for_training

    record = task_record_create_for_training(version=make_model().versions.get(), job_name="j", actor=member)
    TaskRecord.objects.filter(pk=record.pk).update(state=WorkState.PENDING)
    assert weight_validation_run(record_id=record.pk) == "not_claimed"
    assert TaskRecord.objects.get(pk=record.pk).state == WorkState.PENDING
