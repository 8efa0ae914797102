"""Issue 15 §2 in the API: long path names, NUL and lone surrogates are a 400 naming the rule, never ModelArts.0500."""

import json

from console.training.models import Algorithm, TrainingJob
from tests.api.test_api_training import (  # noqa: F401 — fixtures
    algorithm_body,
    algorithm_id,
    job_body,
    member_api,
    node,
    seed_storage,
    v2,
)

from .conftest import assert_error

LONG = "a" * 300
NAME_RULE = "a file or folder name may have at most 255 bytes"


def test_an_algorithm_with_a_too_long_folder_name_is_refused(member_api, storage_project, algorithm_body, bucket_name):
    algorithm_body["job_config"]["code_dir"] = f"/{bucket_name}/{LONG}/"
    algorithm_body["job_config"]["boot_file"] = f"/{bucket_name}/{LONG}/train.py"
    assert_error(member_api.post(v2(storage_project, "algorithms"), algorithm_body), 400, "ModelArts.0202", NAME_RULE)
    assert not Algorithm.objects.exists()


def test_a_job_with_a_too_long_output_name_is_refused(member_api, storage_project, job_body, bucket_name):
    job_body["algorithm"]["outputs"][0]["remote"]["obs"]["obs_url"] = f"/{bucket_name}/{LONG}/"
    response = member_api.post(v2(storage_project, "training-jobs"), job_body)
    assert_error(response, 400, "ModelArts.0202", NAME_RULE)
    assert not TrainingJob.objects.exists()


def test_a_lone_surrogate_in_the_search_filter_is_refused(member_api, storage_project):
    # json.dumps writes "\ud800" as an escape: valid JSON, but not a Unicode string.
    body = json.dumps({"filters": [{"key": "name", "operator": "like", "value": ["\ud800"]}]})
    response = member_api.post(v2(storage_project, "training-job-searches"), raw=body)
    assert_error(response, 400, "ModelArts.0202", "filters[0].value[0]: lone surrogates")


def test_a_nul_in_a_json_body_is_refused_with_its_place(member_api, storage_project):
    response = member_api.post(
        v2(storage_project, "training-job-searches"), {"filters": [{"key": "name", "value": ["a\x00"]}]}
    )
    assert_error(response, 400, "ModelArts.0202", "filters[0].value[0]: NUL characters")


def test_a_nul_in_the_path_is_refused(member_api, storage_project):
    response = member_api.get(f"/v2/{storage_project.project_id}/training-jobs/a%00b")
    assert_error(response, 400, "ModelArts.0202", "path: NUL characters")
