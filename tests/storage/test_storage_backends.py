"""Behaviour every backend shares, run against the local disk and S3 (moto over HTTP)."""

import io
from datetime import datetime

import pytest

from console.storage import Entry, FolderNotEmpty, ObjectNotFound, PathError, SizeMismatch
from console.storage.backends.base import FolderReader


def put(backend, key, data):
    return backend.write_stream(key, io.BytesIO(data), size=len(data))


@pytest.fixture
def tree(backend):
    put(backend, "models/qwen/config.json", b'{"model_type": "qwen2"}')
    put(backend, "models/qwen/shards/model-00001.safetensors", b"x" * 100)
    put(backend, "models/qwen/tokenizer.json", b"{}")
    put(backend, "models/readme.md", b"# models")
    backend.mkdir("models/empty/")
    put(backend, "modelsx/other.bin", b"other")
    return backend


def test_it_lists_one_level_folders_first(tree):
    entries = tree.list_dir("models/")
    assert [(e.name, e.path, e.is_dir) for e in entries] == [
        ("empty", "models/empty/", True),
        ("qwen", "models/qwen/", True),
        ("readme.md", "models/readme.md", False),
    ]
    assert entries[2].size == 8
    assert isinstance(entries[2].modified, datetime)


def test_it_lists_the_same_with_or_without_trailing_slash(tree):
    assert tree.list_dir("models") == tree.list_dir("models/")


def test_it_lists_the_root(tree):
    assert [e.path for e in tree.list_dir("")] == ["models/", "modelsx/"]


def test_it_lists_an_empty_folder(tree):
    assert tree.list_dir("models/empty/") == []


def test_it_refuses_to_list_a_missing_folder(tree):
    with pytest.raises(ObjectNotFound):
        tree.list_dir("nothing/")
    with pytest.raises(FileNotFoundError):
        tree.list_dir("models/nothing")


def test_it_stats_files_and_folders(tree):
    entry = tree.stat("models/qwen/config.json")
    assert entry == Entry("config.json", "models/qwen/config.json", False, 23, entry.modified)
    folder = tree.stat("models/qwen")
    assert (folder.name, folder.path, folder.is_dir) == ("qwen", "models/qwen/", True)
    assert tree.stat("models/qwen/").is_dir
    assert tree.stat("models/empty/").is_dir
    assert tree.stat("").is_dir
    assert tree.stat("models/missing") is None
    assert tree.stat("models/qwen/config.json/") is None


def test_it_answers_exists_and_is_dir(tree):
    assert tree.exists("models/readme.md")
    assert not tree.is_dir("models/readme.md")
    assert tree.is_dir("models/qwen/shards")
    assert tree.is_dir("models/empty/")
    assert not tree.exists("models/qwen/nope.json")
    assert not tree.is_dir("models/nope/")


def test_it_reads_ranges(tree):
    put(tree, "data/digits.bin", b"0123456789")
    assert tree.read_range("data/digits.bin", 2, 3) == b"234"
    assert tree.read_range("data/digits.bin", 0, 1) == b"0"
    assert tree.read_range("data/digits.bin", 7, 100) == b"789"
    assert tree.read_range("data/digits.bin", 4) == b"456789"
    assert tree.read_range("data/digits.bin", 10, 5) == b""
    assert tree.read_range("data/digits.bin", 50, 5) == b""
    assert tree.read_range("data/digits.bin", 3, 0) == b""


def test_it_refuses_negative_ranges(tree):
    with pytest.raises(ValueError):
        tree.read_range("models/readme.md", -1, 2)


def test_it_refuses_to_read_missing_files(tree):
    with pytest.raises(ObjectNotFound):
        tree.read_range("models/nope.bin", 0, 10)
    with pytest.raises(FileNotFoundError):
        tree.open_read("models/nope.bin")


def test_it_opens_a_stream(tree):
    with tree.open_read("models/qwen/shards/model-00001.safetensors") as stream:
        assert stream.read(10) == b"x" * 10
        assert stream.read() == b"x" * 90


def test_it_writes_streams_and_counts_bytes(backend):
    data = bytes(range(256)) * 1000
    assert backend.write_stream("up/file.bin", io.BytesIO(data)) == len(data)
    with backend.open_read("up/file.bin") as stream:
        assert stream.read() == data


def test_it_writes_empty_files(backend):
    assert put(backend, "up/empty.txt", b"") == 0
    assert backend.stat("up/empty.txt").size == 0
    assert backend.read_range("up/empty.txt", 0, 10) == b""


def test_it_overwrites_a_file(backend):
    put(backend, "a.txt", b"old")
    put(backend, "a.txt", b"new content")
    assert backend.read_range("a.txt", 0) == b"new content"


def test_it_reports_progress(backend):
    seen = []
    backend.write_stream(
        "p.bin",
        io.BytesIO(b"z" * 1000),
        size=1000,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1] == (1000, 1000)


class FailingStream(io.RawIOBase):
    """Hands out ``good`` bytes, then fails like a browser that went away."""

    def __init__(self, good: int):
        self.left = good

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.left <= 0:
            raise ConnectionResetError("client went away")
        n = min(len(buffer), self.left, 64 * 1024)
        buffer[:n] = b"y" * n
        self.left -= n
        return n


def test_it_leaves_the_old_file_when_a_write_fails(backend):
    put(backend, "w/model.bin", b"old version")
    with pytest.raises(ConnectionResetError):
        backend.write_stream("w/model.bin", FailingStream(300_000))
    assert backend.read_range("w/model.bin", 0) == b"old version"
    assert [e.name for e in backend.list_dir("w/")] == ["model.bin"]


def test_it_stores_nothing_when_a_new_file_fails(backend):
    backend.mkdir("w/")
    with pytest.raises(ConnectionResetError):
        backend.write_stream("w/new.bin", FailingStream(300_000))
    assert not backend.exists("w/new.bin")
    assert backend.list_dir("w/") == []


def test_it_refuses_a_stream_shorter_than_announced(backend):
    with pytest.raises(SizeMismatch):
        backend.write_stream("w/short.bin", io.BytesIO(b"abc"), size=10)
    assert not backend.exists("w/short.bin")


def test_it_refuses_a_stream_longer_than_announced(backend):
    with pytest.raises(SizeMismatch):
        backend.write_stream("w/long.bin", io.BytesIO(b"abcdef"), size=3)
    assert not backend.exists("w/long.bin")


def test_it_refuses_to_write_a_folder_key(backend):
    with pytest.raises(PathError):
        put(backend, "w/folder/", b"x")
    with pytest.raises(PathError):
        put(backend, "", b"x")


def test_it_makes_folders(backend):
    backend.mkdir("new/deep/folder")
    assert backend.is_dir("new/deep/folder/")
    assert [e.path for e in backend.list_dir("new/deep/")] == ["new/deep/folder/"]
    backend.mkdir("new/deep/folder/")  # again: no error


def test_it_deletes_files(tree):
    assert tree.delete("models/readme.md") is True
    assert not tree.exists("models/readme.md")
    assert tree.delete("models/readme.md") is False


def test_it_deletes_empty_folders(tree):
    assert tree.delete("models/empty/") is True
    assert not tree.exists("models/empty/")


def test_it_refuses_to_delete_a_folder_with_content(tree):
    with pytest.raises(FolderNotEmpty):
        tree.delete("models/qwen/")
    assert tree.exists("models/qwen/config.json")


def test_it_refuses_to_delete_the_root(tree):
    with pytest.raises(ValueError):
        tree.delete("")
    with pytest.raises(ValueError):
        tree.delete_prefix("")


def test_it_deletes_a_prefix_and_only_that_prefix(tree):
    assert tree.delete_prefix("models") == 4
    assert not tree.exists("models/")
    assert tree.read_range("modelsx/other.bin", 0) == b"other"  # a sibling sharing the name start
    assert tree.delete_prefix("models/") == 0


def test_it_walks_files_recursively(tree):
    found = {e.path: e.size for e in tree.walk("models/qwen")}
    assert found == {
        "models/qwen/config.json": 23,
        "models/qwen/shards/model-00001.safetensors": 100,
        "models/qwen/tokenizer.json": 2,
    }
    assert all(not e.is_dir for e in tree.walk(""))
    assert len(list(tree.walk(""))) == 5


def test_it_walks_nothing_for_a_missing_folder(tree):
    assert list(tree.walk("nowhere/")) == []


def test_it_round_trips_folders_through_upload_and_download(backend, tmp_path):
    source = tmp_path / "outputs"
    (source / "ckpt" / "step-1").mkdir(parents=True)
    (source / "metrics.json").write_bytes(b'{"loss": 0.1}')
    (source / "ckpt" / "step-1" / "weights.bin").write_bytes(b"w" * 5000)
    (source / "empty-dir").mkdir()

    assert backend.upload_dir(source, "jobs/1/train_url/") == 2
    assert {e.path for e in backend.walk("jobs/1/")} == {
        "jobs/1/train_url/metrics.json",
        "jobs/1/train_url/ckpt/step-1/weights.bin",
    }

    target = tmp_path / "download"
    assert backend.download_dir("jobs/1/train_url", target) == 2
    assert (target / "metrics.json").read_bytes() == b'{"loss": 0.1}'
    assert (target / "ckpt" / "step-1" / "weights.bin").read_bytes() == b"w" * 5000
    names = sorted(p.name for p in target.rglob("*"))
    assert names == ["ckpt", "metrics.json", "step-1", "weights.bin"]


def test_it_reads_a_folder_for_the_weight_check(tree):
    reader = tree.folder_reader("models/qwen/")
    assert isinstance(reader, FolderReader)
    assert reader.list_files() == {
        "config.json": 23,
        "shards/model-00001.safetensors": 100,
        "tokenizer.json": 2,
    }
    assert reader.read("config.json", 2, 10) == b"model_type"
    assert reader.read("shards/model-00001.safetensors", 90) == b"x" * 10
    assert reader.bytes_read == 20
    assert reader.reads == 2


def test_it_keeps_the_reader_inside_its_folder(tree):
    reader = tree.folder_reader("models/qwen/")
    for hostile in ("../readme.md", "/models/readme.md", "a\x00b", "x/../../readme.md"):
        with pytest.raises(OSError):
            reader.read(hostile)
    with pytest.raises(FileNotFoundError):
        reader.read("missing.json")
    assert reader.bytes_read == 0


HOSTILE_KEYS = ["../x", "a/../../x", "/etc/passwd", "a\\b", "a\x00", "%2e%2e/x", "a//b"]


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_it_refuses_hostile_keys_in_every_operation(backend, key):
    operations = [
        lambda: backend.stat(key),
        lambda: backend.exists(key),
        lambda: backend.list_dir(key),
        lambda: backend.read_range(key, 0, 1),
        lambda: backend.open_read(key),
        lambda: put(backend, key, b"x"),
        lambda: backend.mkdir(key),
        lambda: backend.delete(key),
        lambda: backend.delete_prefix(key),
        lambda: list(backend.walk(key)),
        lambda: backend.folder_reader(key),
    ]
    for operation in operations:
        with pytest.raises(PathError):
            operation()


def test_it_keeps_unusual_but_valid_names_intact(backend):
    key = "模型/a b%20c (1).txt"
    put(backend, key, b"ok")
    assert [e.path for e in backend.list_dir("模型/")] == [key]
    assert backend.read_range(key, 0) == b"ok"
    assert [e.path for e in backend.walk("")] == [key]
