"""manage.py storage_upload: the command-line route for big files, through the same gate."""

import io
import os

import boto3
import pytest
from django.core.management import CommandError, call_command

from tests.storage.django_support import *  # noqa: F403

pytestmark = pytest.mark.django_db

MiB = 1024 * 1024


def run(*args):
    out = io.StringIO()
    call_command("storage_upload", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def model_folder(tmp_path):
    folder = tmp_path / "Qwen2.5-7B"
    (folder / "tokenizer").mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "qwen2"}')
    (folder / "tokenizer" / "vocab.txt").write_text("a b c")
    os.symlink("/etc/passwd", folder / "passwd-link")  # never followed
    return folder


def test_it_uploads_a_file_into_a_folder(member, project, bucket, bucket_backend, tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(b"w" * 3000)
    output = run(str(source), f"obs://{bucket.name}/models/", "--user", member.username, "--project", project.name)
    assert bucket_backend.read_range("models/weights.bin", 0) == b"w" * 3000
    assert f"obs://{bucket.name}/models/weights.bin" in output
    assert "100%" in output and "Done: 1 file(s)" in output


def test_it_uploads_a_file_to_an_exact_key_by_project_id(member, project, bucket, bucket_backend, tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(b"abc")
    run(str(source), f"/{bucket.name}/models/renamed.bin", "--user", member.username, "--project", project.project_id)
    assert bucket_backend.read_range("models/renamed.bin", 0) == b"abc"


def test_it_uploads_a_folder_under_its_name_and_skips_links(member, project, bucket, bucket_backend, model_folder):
    output = run(
        str(model_folder), f"obs://{bucket.name}/models/", "--user", member.username, "--project", project.name
    )
    files = {e.path: e.size for e in bucket_backend.walk("")}
    assert files == {
        "models/Qwen2.5-7B/config.json": 23,
        "models/Qwen2.5-7B/tokenizer/vocab.txt": 5,
    }
    assert "Uploading 2 file(s)" in output


def test_flat_uploads_the_folders_contents(member, project, bucket, bucket_backend, model_folder):
    run(str(model_folder), f"obs://{bucket.name}/qwen/", "--flat", "--user", member.username, "--project", project.name)
    assert sorted(e.path for e in bucket_backend.walk("")) == ["qwen/config.json", "qwen/tokenizer/vocab.txt"]


@pytest.mark.parametrize(
    ("who", "message"),
    [("vic", "Viewers can browse storage but not change it"), ("nobody", "No user named 'nobody'")],
)
def test_it_refuses_whom_the_gate_refuses(member, viewer, project, bucket, bucket_backend, tmp_path, who, message):
    source = tmp_path / "a.bin"
    source.write_bytes(b"x")
    with pytest.raises(CommandError, match=message):
        run(str(source), f"obs://{bucket.name}/", "--user", who, "--project", project.name)
    assert bucket_backend.list_dir("") == []


def test_it_refuses_without_an_authorization(member, project, bucket, bucket_backend, tmp_path):
    from console.authorizations.models import Authorization

    Authorization.objects.filter(project=project).delete()
    source = tmp_path / "a.bin"
    source.write_bytes(b"x")
    with pytest.raises(CommandError, match="若没有授权"):
        run(str(source), f"obs://{bucket.name}/", "--user", member.username, "--project", project.name)


@pytest.mark.parametrize(
    ("destination", "message"),
    [
        ("obs://{b}/../x/", "The path leaves its bucket"),
        ("obs://{b}/a%2fb/", "percent-encoded"),
        ("obs://someone-elses/", 'There is no bucket "someone-elses"'),
    ],
)
def test_it_refuses_bad_destinations(member, project, bucket, other_bucket, tmp_path, destination, message):
    source = tmp_path / "a.bin"
    source.write_bytes(b"x")
    with pytest.raises(CommandError, match=message):
        run(str(source), destination.format(b=bucket.name), "--user", member.username, "--project", project.name)


def test_it_refuses_a_missing_source_a_symlink_and_a_tiny_part_size(member, project, bucket, tmp_path):
    link = tmp_path / "link"
    os.symlink("/etc/passwd", link)
    for source in (tmp_path / "missing", link):
        with pytest.raises(CommandError, match="no such file or folder"):
            run(str(source), bucket.uri, "--user", member.username, "--project", project.name)
    with pytest.raises(CommandError, match="at least 5 MiB"):
        run(str(tmp_path), bucket.uri, "--user", member.username, "--project", project.name, "--part-size", "1")


def test_it_uploads_in_parts_to_s3_over_moto(member, project, project_admin, s3_config, tmp_path):
    from console.storage.services import bucket_create, project_storage_defaults_apply

    bucket_create(
        actor=project_admin,
        project=project,
        name="remote-weights",
        kind="s3",
        endpoint_url=s3_config["endpoint_url"],
        region=s3_config["region"],
        s3_bucket=s3_config["bucket"],
        prefix="console/",
        access_key=s3_config["access_key"],
        secret_key=s3_config["secret_key"],
    )
    project_storage_defaults_apply(project=project)
    data = os.urandom(11 * MiB + 99)
    source = tmp_path / "model-00001-of-00001.safetensors"
    source.write_bytes(data)
    output = run(
        str(source),
        "obs://remote-weights/qwen/",
        "--user",
        member.username,
        "--project",
        project.name,
        "--part-size",
        "5",
    )
    raw = boto3.client(
        "s3",
        endpoint_url=s3_config["endpoint_url"],
        aws_access_key_id=s3_config["access_key"],
        aws_secret_access_key=s3_config["secret_key"],
        region_name=s3_config["region"],
    )
    stored = raw.get_object(Bucket=s3_config["bucket"], Key="console/qwen/model-00001-of-00001.safetensors")
    assert stored["Body"].read() == data
    assert stored["ETag"].strip('"').endswith("-3")  # three parts: 5 + 5 + 1 MiB
    # A progress line per part (output is not a terminal) and the summary.
    assert " 45%" in output and " 90%" in output and "100%" in output
    assert "Done: 1 file(s), 11.0 MiB" in output
