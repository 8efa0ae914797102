"""The storage gate: who may read or write which bucket, and what a refusal says."""

import pytest

from console.accounts.models import Membership, Role
from console.authorizations.models import Access, Agency, Authorization
from console.authorizations.services import agency_create, authorization_create, authorization_delete
from console.storage import gate
from console.storage.backends import BackendFolderReader
from console.storage.paths import PATH_ERROR_MESSAGES, ObsPath, PathError
from tests.storage.django_support import *  # noqa: F403

pytestmark = pytest.mark.django_db

NO_AUTH_CHINESE = "若没有授权，ModelArts服务的数据管理、训练管理、开发环境、在线服务等功能将不能正常使用"


@pytest.mark.parametrize(
    ("role", "access", "allowed"),
    [
        (Role.ADMIN, "read", True),
        (Role.ADMIN, "write", True),
        (Role.MEMBER, "read", True),
        (Role.MEMBER, "write", True),
        (Role.VIEWER, "read", True),
        (Role.VIEWER, "write", False),
        (None, "read", False),
        (None, "write", False),
    ],
)
def test_it_applies_the_role_table(project, bucket, make_member, org, role, access, allowed):
    from tests.conftest import make_user

    user = make_member(project, "someone", role) if role else make_user(org, "outsider")
    path = f"obs://{bucket.name}/models/"
    if allowed:
        backend, obs_path = gate.storage_for(user=user, project=project, path=path, access=access)
        assert obs_path == ObsPath(bucket.name, "models/")
        assert backend.list_dir("") == []
    else:
        with pytest.raises(gate.StorageDenied) as refused:
            gate.storage_for(user=user, project=project, path=path, access=access)
        assert refused.value.code == ("viewer_write" if role else "not_member")
        assert project.name in refused.value.message


def test_it_accepts_the_api_form_of_a_path(member, project, bucket):
    _backend, obs_path = gate.storage_for(user=member, project=project, path=f"/{bucket.name}/a/b/")
    assert obs_path.uri == f"obs://{bucket.name}/a/b/"


def test_it_answers_another_projects_bucket_as_not_found(member, project, bucket, other_bucket):
    with pytest.raises(gate.StorageNotFound) as refused:
        gate.storage_for(user=member, project=project, path=f"obs://{other_bucket.name}/")
    assert refused.value.code == "no_bucket"
    with pytest.raises(gate.StorageNotFound) as missing:
        gate.storage_for(user=member, project=project, path="obs://no-such-bucket/")
    # Same words for "another project's" and "does not exist": nothing leaks.
    assert refused.value.message.replace(other_bucket.name, "X") == missing.value.message.replace("no-such-bucket", "X")


def test_it_refuses_without_an_authorization_and_says_how_to_get_one(member, project, bucket):
    Authorization.objects.filter(project=project).delete()
    with pytest.raises(gate.StorageDenied) as refused:
        gate.storage_for(user=member, project=project, path=f"obs://{bucket.name}/")
    assert refused.value.code == "no_authorization"
    assert NO_AUTH_CHINESE in refused.value.message
    assert "Ask a project administrator to authorize you" in refused.value.message
    assert "委托授权" in refused.value.message


def test_a_deleted_authorization_takes_effect_at_once(member, project, bucket, project_admin):
    path = f"obs://{bucket.name}/"
    gate.storage_for(user=member, project=project, path=path)
    authorization = Authorization.objects.get(project=project, user__isnull=True)
    authorization_delete(actor=project_admin, authorization=authorization)
    with pytest.raises(gate.StorageDenied):
        gate.storage_for(user=member, project=project, path=path)


def test_a_user_authorization_works_without_all_users(member, viewer, project, bucket, project_admin):
    Authorization.objects.filter(project=project).delete()
    agency = Agency.objects.get(project=project, name="modelarts_agency")
    authorization_create(actor=project_admin, project=project, user=member, agency=agency)
    gate.storage_for(user=member, project=project, path=f"obs://{bucket.name}/", access="write")
    # Only that user: the viewer has none.
    with pytest.raises(gate.StorageDenied) as refused:
        gate.storage_for(user=viewer, project=project, path=f"obs://{bucket.name}/")
    assert refused.value.code == "no_authorization"


def test_all_users_covers_every_member(member, viewer, project_admin, project, bucket):
    for user in (member, viewer, project_admin):
        gate.storage_for(user=user, project=project, path=f"obs://{bucket.name}/")


def test_a_read_only_agency_allows_reading_but_not_writing(member, project, bucket, project_admin):
    Authorization.objects.filter(project=project).delete()
    agency = agency_create(actor=project_admin, project=project, suffix="readers", access=Access.READ)
    authorization_create(actor=project_admin, project=project, user=None, agency=agency)
    gate.storage_for(user=member, project=project, path=f"obs://{bucket.name}/", access="read")
    with pytest.raises(gate.StorageDenied) as refused:
        gate.storage_for(user=member, project=project, path=f"obs://{bucket.name}/", access="write")
    assert refused.value.code == "read_only"
    assert "ma_agency_readers" in refused.value.message


def test_an_agency_reaches_only_its_buckets(member, project, bucket, project_admin, storage_root):
    from console.storage.services import bucket_create

    second = bucket_create(actor=project_admin, project=project, name="second-bucket")
    Authorization.objects.filter(project=project).delete()
    agency = agency_create(actor=project_admin, project=project, suffix="one", all_buckets=False, buckets=[second])
    authorization_create(actor=project_admin, project=project, user=member, agency=agency)
    gate.storage_for(user=member, project=project, path="obs://second-bucket/", access="write")
    with pytest.raises(gate.StorageDenied) as refused:
        gate.storage_for(user=member, project=project, path=f"obs://{bucket.name}/")
    assert refused.value.code == "bucket_not_covered"
    assert "ma_agency_one" in refused.value.message


def test_user_and_all_users_authorizations_add_up(member, project, bucket, project_admin):
    # all-users: read only; the member personally: read-write.
    Authorization.objects.filter(project=project).delete()
    readers = agency_create(actor=project_admin, project=project, suffix="r", access=Access.READ)
    writers = agency_create(actor=project_admin, project=project, suffix="w", access=Access.READ_WRITE)
    authorization_create(actor=project_admin, project=project, user=None, agency=readers)
    authorization_create(actor=project_admin, project=project, user=member, agency=writers)
    gate.storage_for(user=member, project=project, path=f"obs://{bucket.name}/", access="write")


def test_a_credential_authorization_grants_access_with_the_users_keys(member, project, bucket, project_admin):
    Authorization.objects.filter(project=project).delete()
    authorization_create(
        actor=project_admin, project=project, user=member, type="credential", access_key="AK1", secret_key="SK1"
    )
    gate.storage_for(user=member, project=project, path=f"obs://{bucket.name}/", access="write")
    row = Authorization.objects.get(project=project, user=member)
    assert "SK1" not in row.secret_encrypted and row.secret() == "SK1"


def test_a_removed_member_is_refused_at_once(member, project, bucket):
    gate.storage_for(user=member, project=project, path=f"obs://{bucket.name}/")
    Membership.objects.filter(user=member, project=project).delete()
    with pytest.raises(gate.StorageDenied):
        gate.storage_for(user=member, project=project, path=f"obs://{bucket.name}/")


def test_an_inactive_user_is_refused(member, project, bucket):
    member.is_active = False
    member.save()
    with pytest.raises(gate.StorageDenied) as refused:
        gate.storage_for(user=member, project=project, path=f"obs://{bucket.name}/")
    assert refused.value.code == "inactive"


def test_a_site_admin_acts_as_project_admin(site_admin, project, bucket):
    gate.storage_for(user=site_admin, project=project, path=f"obs://{bucket.name}/", access="write")


def test_task_access_runs_the_same_checks_for_the_owner(member, viewer, project, bucket):
    backend, _ = gate.storage_for_task(owner=member, project=project, path=f"obs://{bucket.name}/", access="write")
    assert backend is not None
    with pytest.raises(gate.StorageDenied):
        gate.storage_for_task(owner=viewer, project=project, path=f"obs://{bucket.name}/", access="write")
    with pytest.raises(gate.StorageDenied) as gone:
        gate.storage_for_task(owner=None, project=project, path=f"obs://{bucket.name}/")
    assert gone.value.code == "no_user"


def test_it_refuses_an_unknown_access_level(member, project, bucket):
    with pytest.raises(ValueError):
        gate.storage_for(user=member, project=project, path=f"obs://{bucket.name}/", access="admin")


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("", "path_empty"),
        ("bucket/x", "path_form"),
        ("obs://Bad_Bucket/x", "path_bad_bucket"),
        ("obs://bkt/../x", "path_escape"),
        ("obs://bkt/a/%2e%2e/x", "path_encoded"),
        ("obs://bkt/a\x00b", "path_nul"),
        ("obs://bkt//etc/passwd", "path_double_slash"),
        ("obs://bkt/a\\b", "path_backslash"),
    ],
)
def test_a_bad_path_is_a_validation_error_naming_the_rule(member, project, bucket, path, code):
    with pytest.raises(gate.StoragePathInvalid) as refused:
        gate.storage_for(user=member, project=project, path=path)
    assert refused.value.code == code
    assert refused.value.message == PathError(code, **_params_for(code, path)).message


def _params_for(code, path):
    return {
        "path_bad_bucket": {"bucket": "Bad_Bucket"},
        "path_encoded": {"sequence": "%2e%2e"},
    }.get(code, {})


def test_every_path_rule_has_a_translatable_message_with_the_same_english():
    samples = {
        "path_bad_bucket": {"bucket": "B"},
        "path_encoded": {"sequence": "%2F"},
        "path_lookalike": {"char": "\u2024"},
        "path_too_long": {"length": 2000, "limit": 1024},
        "path_name_too_long": {"shown": '"aaa…aaa"', "length": 300, "limit": 255},
        "path_not_folder": {"path": "obs://b/x"},
        "path_bad_name": {"name": "a/b"},
    }
    assert set(gate.PATH_MESSAGES) == set(PATH_ERROR_MESSAGES)
    for code in PATH_ERROR_MESSAGES:
        error = PathError(code, **samples.get(code, {}))
        assert gate.path_error_message(error) == error.message, code


def test_folder_check_wants_an_existing_folder(member, project, bucket, bucket_backend):
    put_file(bucket_backend, "models/qwen/config.json", b"{}")
    _backend, folder = gate.folder_check(user=member, project=project, path=f"obs://{bucket.name}/models/qwen")
    assert folder.uri == f"obs://{bucket.name}/models/qwen/"
    with pytest.raises(gate.StoragePathInvalid) as a_file:
        gate.folder_check(user=member, project=project, path=f"obs://{bucket.name}/models/qwen/config.json")
    assert a_file.value.code == "not_folder"
    assert "必须选择到模型文件夹" in a_file.value.message
    assert a_file.value.message.startswith("Select a folder: the weights path must be the model folder itself")
    with pytest.raises(gate.StorageNotFound) as missing:
        gate.folder_check(user=member, project=project, path=f"obs://{bucket.name}/models/llama/")
    assert missing.value.code == "no_folder"


def test_folder_reader_for_reads_the_model_folder(member, project, bucket, bucket_backend):
    put_file(bucket_backend, "models/qwen/config.json", b'{"a": 1}')
    put_file(bucket_backend, "models/qwen/sub/x.bin", b"12345")
    reader = gate.folder_reader_for(user=member, project=project, path=f"obs://{bucket.name}/models/qwen/")
    assert isinstance(reader, BackendFolderReader)
    assert reader.list_files() == {"config.json": 8, "sub/x.bin": 5}
    assert reader.read("sub/x.bin", 1, 2) == b"23"


def test_folder_reader_for_task_refuses_after_the_authorization_is_gone(member, project, bucket, bucket_backend):
    put_file(bucket_backend, "m/config.json", b"{}")
    gate.folder_reader_for_task(owner=member, project=project, path=f"obs://{bucket.name}/m/")
    Authorization.objects.filter(project=project).delete()
    with pytest.raises(gate.StorageDenied):
        gate.folder_reader_for_task(owner=member, project=project, path=f"obs://{bucket.name}/m/")


def test_a_symlink_out_of_a_local_bucket_is_refused(member, project, bucket, bucket_backend, tmp_path):
    import os

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("s")
    os.symlink(outside, bucket.local_path() / "escape")
    with pytest.raises(gate.StoragePathInvalid) as refused:
        gate.folder_check(user=member, project=project, path=f"obs://{bucket.name}/escape/")
    assert refused.value.code == "path_escape"


def test_refusals_are_permission_denied_or_validation_errors():
    from django.core.exceptions import PermissionDenied, ValidationError

    assert issubclass(gate.StorageDenied, PermissionDenied)
    assert issubclass(gate.StorageNotFound, PermissionDenied)
    error = gate.StoragePathInvalid("bad", "path_nul")
    assert isinstance(error, ValidationError) and error.messages == ["bad"]
