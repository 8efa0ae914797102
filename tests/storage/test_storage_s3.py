"""S3 backend specifics, against moto's server over real HTTP."""

import hashlib
import io
import os

import boto3
import pytest

from console.storage import S3Backend, backend_for
from console.storage.multipart import upload_file

MiB = 1024 * 1024


@pytest.fixture
def raw(s3_config):
    """A plain boto3 client, to look at what the backend really stored."""
    return boto3.client(
        "s3",
        endpoint_url=s3_config["endpoint_url"],
        aws_access_key_id=s3_config["access_key"],
        aws_secret_access_key=s3_config["secret_key"],
        region_name=s3_config["region"],
    )


def keys(raw, bucket):
    return sorted(obj["Key"] for obj in raw.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_it_is_built_from_config(s3_backend, s3_config):
    assert isinstance(s3_backend, S3Backend)
    assert s3_backend.bucket == s3_config["bucket"]


def test_it_makes_a_zero_byte_marker_for_a_folder(s3_backend, raw):
    s3_backend.mkdir("models/qwen")
    head = raw.head_object(Bucket=s3_backend.bucket, Key="models/qwen/")
    assert head["ContentLength"] == 0
    assert keys(raw, s3_backend.bucket) == ["models/qwen/"]


def test_it_lists_folders_made_by_other_tools_without_markers(s3_backend, raw):
    raw.put_object(Bucket=s3_backend.bucket, Key="a/b/c.txt", Body=b"c")
    assert [e.path for e in s3_backend.list_dir("")] == ["a/"]
    assert [e.path for e in s3_backend.list_dir("a/")] == ["a/b/"]
    assert s3_backend.is_dir("a/b")


def test_it_hides_keys_that_are_not_valid_console_paths(s3_backend, raw):
    for key in ("ok.txt", "a//b.txt", "../up.txt", "back\\slash", "dir/./x"):
        raw.put_object(Bucket=s3_backend.bucket, Key=key, Body=b"x")
    # "a/" and "dir/" are fine folders; the odd keys inside them are not shown.
    assert [e.path for e in s3_backend.list_dir("")] == ["a/", "dir/", "ok.txt"]
    assert s3_backend.list_dir("a/") == []
    assert s3_backend.list_dir("dir/") == []
    assert [e.path for e in s3_backend.walk("")] == ["ok.txt"]


def test_it_uploads_in_parts_above_the_part_size(s3_backend, raw, tmp_path):
    data = os.urandom(12 * MiB + 12345)
    source = tmp_path / "big.safetensors"
    source.write_bytes(data)
    calls = []
    made_parts = []
    original = s3_backend.client.upload_part

    def spy(**kwargs):
        made_parts.append(len(kwargs["Body"]))
        return original(**kwargs)

    s3_backend.client.upload_part = spy

    written = upload_file(
        s3_backend,
        source,
        "models/big.safetensors",
        part_size=5 * MiB,
        progress=lambda done, total: calls.append((done, total)),
    )

    assert written == len(data)
    assert made_parts == [5 * MiB, 5 * MiB, 2 * MiB + 12345]
    total = len(data)
    assert calls == [(0, total), (5 * MiB, total), (10 * MiB, total), (total, total)]
    head = raw.head_object(Bucket=s3_backend.bucket, Key="models/big.safetensors")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")  # S3's mark of a 3-part upload
    stored = raw.get_object(Bucket=s3_backend.bucket, Key="models/big.safetensors")["Body"].read()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()


def test_it_uploads_small_files_in_one_request(s3_backend, raw):
    s3_backend.client.create_multipart_upload = None  # would fail if called
    s3_backend.write_stream("small.txt", io.BytesIO(b"hello"), part_size=5 * MiB)
    assert raw.get_object(Bucket=s3_backend.bucket, Key="small.txt")["Body"].read() == b"hello"


def test_it_aborts_a_failed_multipart_upload(s3_backend, raw):
    class DiesAfterTwoParts(io.RawIOBase):
        sent = 0

        def readable(self):
            return True

        def readinto(self, buffer):
            if self.sent >= 11 * MiB:
                raise ConnectionResetError("client went away")
            n = min(len(buffer), MiB)
            buffer[:n] = b"p" * n
            self.sent += n
            return n

    s3_backend.write_stream("models/w.bin", io.BytesIO(b"previous"))
    with pytest.raises(ConnectionResetError):
        s3_backend.write_stream("models/w.bin", DiesAfterTwoParts(), part_size=5 * MiB)
    assert raw.list_multipart_uploads(Bucket=s3_backend.bucket).get("Uploads", []) == []
    assert s3_backend.read_range("models/w.bin", 0) == b"previous"


def test_it_hides_the_new_file_until_every_part_is_in(s3_backend):
    seen_during_upload = []

    class Watching(io.RawIOBase):
        sent = 0

        def readable(self):
            return True

        def readinto(self, buffer):
            if self.sent == 6 * MiB:
                seen_during_upload.append(s3_backend.stat("late.bin"))
            if self.sent >= 11 * MiB:
                return 0
            n = min(len(buffer), MiB)
            buffer[:n] = b"l" * n
            self.sent += n
            return n

    s3_backend.write_stream("late.bin", Watching(), part_size=5 * MiB)
    assert seen_during_upload == [None]
    assert s3_backend.stat("late.bin").size == 11 * MiB


def test_it_refuses_parts_below_the_s3_minimum(s3_backend):
    with pytest.raises(ValueError):
        s3_backend.write_stream("x.bin", io.BytesIO(b"x"), part_size=MiB)


def test_it_fetches_only_the_requested_bytes(s3_backend, tmp_path):
    # A "weights" file of 12 MiB of which the check reads an 8-byte length and a header.
    header = b'{"w":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}'
    body = len(header).to_bytes(8, "little") + header + os.urandom(12 * MiB)
    source = tmp_path / "model.safetensors"
    source.write_bytes(body)
    upload_file(s3_backend, source, "m/model.safetensors", part_size=5 * MiB)
    s3_backend.write_stream("m/config.json", io.BytesIO(b'{"model_type": "llama"}'))
    s3_backend.bytes_fetched = 0

    reader = s3_backend.folder_reader("m/")
    assert reader.list_files() == {"config.json": 23, "model.safetensors": len(body)}
    length = int.from_bytes(reader.read("model.safetensors", 0, 8), "little")
    assert reader.read("model.safetensors", 8, length) == header

    assert reader.bytes_read == 8 + len(header)
    assert s3_backend.bytes_fetched == 8 + len(header)  # what came over the wire
    assert reader.bytes_read < len(body) / 1000


def test_it_sends_a_range_header(s3_backend):
    s3_backend.write_stream("d.bin", io.BytesIO(b"0123456789"))
    sent = []
    s3_backend.client.meta.events.register(
        "before-send.s3.GetObject", lambda request, **kw: sent.append(request.headers.get("Range"))
    )
    s3_backend.read_range("d.bin", 3, 4)
    assert [h.decode() if isinstance(h, bytes) else h for h in sent] == ["bytes=3-6"]


def test_it_works_inside_a_prefix(s3_config, raw):
    team = backend_for({**s3_config, "prefix": "team-a/"})
    other = backend_for({**s3_config, "prefix": "team-b"})
    team.write_stream("model/config.json", io.BytesIO(b"{}"))
    other.write_stream("model/config.json", io.BytesIO(b"[]"))
    assert [e.path for e in team.list_dir("")] == ["model/"]
    assert team.read_range("model/config.json", 0) == b"{}"
    assert [e.path for e in team.walk("")] == ["model/config.json"]
    assert team.delete_prefix("model/") == 1
    assert keys(raw, s3_config["bucket"]) == ["team-b/model/config.json"]


def test_it_reports_a_missing_bucket_as_an_error(s3_config):
    backend = backend_for({**s3_config, "bucket": "no-such-bucket-here"})
    with pytest.raises(Exception) as caught:
        backend.list_dir("")
    assert "NoSuchBucket" in str(caught.value)


def test_it_keeps_secrets_out_of_its_repr(s3_backend, s3_config):
    assert s3_config["secret_key"] not in repr(s3_backend)
