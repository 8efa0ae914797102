"""Buckets and project defaults: naming, secrets, create/delete, the new-project hook, setup backfill."""

import io

import pytest
from django.core.exceptions import ValidationError

from console.accounts.models import Project
from console.audit.models import AuditEntry
from console.authorizations.models import Agency, Authorization
from console.storage import services
from console.storage.models import Bucket, ProjectStorageDefaults, decrypt_secret, encrypt_secret
from console.storage.paths import validate_bucket
from tests.storage.django_support import *  # noqa: F403

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("name", "expected_base"),
    [
        ("vision", "vision"),
        ("My Project_1", "my-project-1"),
        ("a.b", "a-b"),
        ("中文项目", "project"),
        ("--x--", "x"),
        ("L" * 64, "l" * 56),
    ],
)
def test_the_default_bucket_name_follows_bucket_rules(org, name, expected_base):
    project = Project(organization=org, name=name, project_id="abcdef0123456789abcdef0123456789")
    bucket_name = services.default_bucket_name(project)
    assert bucket_name == f"{expected_base}-abcdef"
    validate_bucket(bucket_name)


def test_a_new_project_gets_a_bucket_and_the_all_users_agency(
    site_admin, org, storage_root, django_capture_on_commit_callbacks
):
    from console.accounts.services import project_create

    with django_capture_on_commit_callbacks(execute=True):
        project = project_create(actor=site_admin, organization=org, name="Vision")
    bucket = Bucket.objects.get(project=project)
    assert bucket.name == f"vision-{project.project_id[:6]}"
    assert bucket.kind == "local"
    assert bucket.local_path() == storage_root / bucket.name
    assert bucket.local_path().is_dir()
    # The seed's authorization list, first entry: all-users → modelarts_agency.
    authorization = Authorization.objects.get(project=project)
    assert authorization.user is None and authorization.user_label == "all-users"
    assert authorization.type == "agency" and authorization.content == "modelarts_agency"
    agency = authorization.agency
    assert agency.all_buckets and agency.access == "read_write"
    actions = set(AuditEntry.objects.filter(project=project).values_list("action", flat=True))
    assert {"project.create", "bucket.create", "agency.create", "authorization.create"} <= actions


def test_defaults_are_applied_once(project, storage_root):
    assert services.project_storage_defaults_apply(project=project) is True
    assert services.project_storage_defaults_apply(project=project) is False
    assert Bucket.objects.filter(project=project).count() == 1
    assert Authorization.objects.filter(project=project).count() == 1


def test_the_setup_step_backfills_only_projects_without_defaults(project, other_project, storage_root):
    services.project_storage_defaults_apply(project=project)
    # An administrator removed the all-users authorization on purpose...
    Authorization.objects.filter(project=project).delete()
    out = io.StringIO()
    assert services.setup_storage_defaults(stdout=out) == 1
    assert "1 project" in out.getvalue()
    # ...and setup does not put it back; the older project was backfilled.
    assert not Authorization.objects.filter(project=project).exists()
    assert Authorization.objects.filter(project=other_project, user__isnull=True).exists()
    assert ProjectStorageDefaults.objects.filter(project=other_project).exists()
    assert services.setup_storage_defaults() == 0


def test_the_setup_step_is_registered():
    from console.core.setup_steps import setup_steps

    assert services.setup_storage_defaults in setup_steps()


def test_setup_console_runs_the_step(project, storage_root):
    from django.core.management import call_command

    call_command("setup_console", "--no-static", stdout=io.StringIO())
    assert Bucket.objects.filter(project=project).exists()


def test_secrets_are_encrypted_and_survive_a_key_rotation(settings):
    token = encrypt_secret("s3cr3t")
    assert "s3cr3t" not in token
    assert decrypt_secret(token) == "s3cr3t"
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert decrypt_secret(token) == "s3cr3t"
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(ValueError, match="SECRET_KEY changed"):
        decrypt_secret(token)
    assert encrypt_secret("") == "" and decrypt_secret("") == ""


@pytest.mark.parametrize("name", ["ab", "UPPER", "under_score", "-start", "192.168.1.1", "a..b", "x" * 64])
def test_bucket_create_refuses_bad_names(project_admin, project, storage_root, name):
    with pytest.raises(ValidationError) as refused:
        services.bucket_create(actor=project_admin, project=project, name=name)
    assert "3 to 63 characters" in " ".join(refused.value.messages)
    assert not Bucket.objects.exists()


def test_bucket_names_are_unique_across_projects(project_admin, project, other_project, storage_root):
    services.bucket_create(actor=project_admin, project=other_project, name="shared-name")
    with pytest.raises(ValidationError) as refused:
        services.bucket_create(actor=project_admin, project=project, name="shared-name")
    assert "unique across the console" in str(refused.value)


def test_bucket_create_checks_an_s3_endpoint(project_admin, project, storage_root):
    with pytest.raises(ValidationError) as refused:
        services.bucket_create(
            actor=project_admin,
            project=project,
            name="remote",
            kind="s3",
            endpoint_url="http://127.0.0.1:9",
            access_key="a",
            secret_key="b",
        )
    assert "could not be reached" in str(refused.value)
    assert not Bucket.objects.exists()


def test_bucket_create_validates_s3_fields(project_admin, project, storage_root):
    with pytest.raises(ValidationError) as refused:
        services.bucket_create(
            actor=project_admin,
            project=project,
            name="remote",
            kind="s3",
            endpoint_url="ftp://x",
            prefix="../up",
            access_key="only-key",
            s3_bucket="Bad_Name",
        )
    errors = refused.value.message_dict
    assert set(errors) == {"endpoint_url", "prefix", "secret_key", "s3_bucket"}


def test_an_s3_bucket_over_moto(project_admin, project, s3_config, member):
    bucket = services.bucket_create(
        actor=project_admin,
        project=project,
        name="remote-models",
        kind="s3",
        endpoint_url=s3_config["endpoint_url"],
        region=s3_config["region"],
        s3_bucket=s3_config["bucket"],
        prefix="team-a/",
        access_key=s3_config["access_key"],
        secret_key=s3_config["secret_key"],
    )
    assert bucket.secret_encrypted and s3_config["secret_key"] not in bucket.secret_encrypted
    services.project_storage_defaults_apply(project=project)  # the authorization; the bucket exists already
    assert Bucket.objects.filter(project=project).count() == 1
    from console.storage import gate

    backend, path = gate.storage_for(user=member, project=project, path="obs://remote-models/a/", access="write")
    put_file(backend, path.key + "b.txt", b"hello")
    assert backend.read_range("a/b.txt", 0) == b"hello"
    import boto3

    raw = boto3.client(
        "s3",
        endpoint_url=s3_config["endpoint_url"],
        aws_access_key_id=s3_config["access_key"],
        aws_secret_access_key=s3_config["secret_key"],
        region_name=s3_config["region"],
    )
    assert raw.get_object(Bucket=s3_config["bucket"], Key="team-a/a/b.txt")["Body"].read() == b"hello"


def test_bucket_delete_only_when_empty(
    project_admin, project, bucket, bucket_backend, django_capture_on_commit_callbacks
):
    put_file(bucket_backend, "a/b.txt")
    with pytest.raises(ValidationError) as refused:
        services.bucket_delete(actor=project_admin, bucket=bucket)
    assert "not empty" in str(refused.value)
    bucket_backend.delete_prefix("a/")
    root = bucket.local_path()
    with django_capture_on_commit_callbacks(execute=True):
        services.bucket_delete(actor=project_admin, bucket=bucket)
    assert not Bucket.objects.filter(pk=bucket.pk).exists()
    assert not root.exists()
    assert AuditEntry.objects.filter(action="bucket.delete", object_repr=bucket.name).exists()


def test_an_agency_naming_follows_the_seed(project_admin, project, storage_root):
    from console.authorizations.services import agency_create, agency_name_for

    assert agency_name_for("") == "modelarts_agency"
    assert agency_name_for("iam-user01") == "ma_agency_iam-user01"
    with pytest.raises(ValidationError):
        agency_name_for("x" * 51)
    agency_create(actor=project_admin, project=project, suffix="iam-user01")
    with pytest.raises(ValidationError):
        agency_create(actor=project_admin, project=project, suffix="iam-user01")
    assert Agency.objects.filter(project=project).count() == 1


def test_an_authorization_replaces_the_users_previous_one(project_admin, member, project, bucket):
    from console.authorizations.services import agency_create, authorization_create

    first = agency_create(actor=project_admin, project=project, suffix="one")
    second = agency_create(actor=project_admin, project=project, suffix="two")
    authorization_create(actor=project_admin, project=project, user=member, agency=first)
    authorization_create(actor=project_admin, project=project, user=member, agency=second)
    assert list(Authorization.objects.filter(user=member).values_list("agency__name", flat=True)) == ["ma_agency_two"]


def test_an_authorization_needs_a_member_and_an_agency_of_the_project(
    project_admin, project, other_project, org, storage_root
):
    from console.authorizations.services import agency_create, authorization_create
    from tests.conftest import make_user

    foreign = agency_create(actor=project_admin, project=other_project, suffix="x")
    with pytest.raises(ValidationError):
        authorization_create(actor=project_admin, project=project, user=None, agency=foreign)
    local = agency_create(actor=project_admin, project=project, suffix="y")
    with pytest.raises(ValidationError):
        authorization_create(actor=project_admin, project=project, user=make_user(org, "stranger"), agency=local)
