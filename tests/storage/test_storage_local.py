"""Local-disk backend: the bucket root is a wall, symlinks included."""

import io
import os
import threading

import pytest

from console.storage import LocalBackend, PathError, backend_for
from console.storage.backends.base import TEMP_PREFIX


@pytest.fixture
def outside(tmp_path):
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "passwd").write_bytes(b"root:x:0:0")
    return secret


def refused(operation):
    with pytest.raises(PathError) as caught:
        operation()
    return caught.value.code


def test_it_refuses_a_file_symlink_pointing_outside(local_backend, outside):
    root = local_backend.root
    os.symlink(outside / "passwd", os.path.join(root, "passwd"))
    assert refused(lambda: local_backend.read_range("passwd", 0)) == "path_escape"
    assert refused(lambda: local_backend.open_read("passwd")) == "path_escape"
    assert refused(lambda: local_backend.stat("passwd")) == "path_escape"
    write = lambda: local_backend.write_stream("passwd", io.BytesIO(b"pwned"))  # noqa: E731
    assert refused(write) == "path_escape"
    assert (outside / "passwd").read_bytes() == b"root:x:0:0"


def test_it_refuses_a_folder_symlink_pointing_outside(local_backend, outside):
    os.symlink(outside, os.path.join(local_backend.root, "escape"), target_is_directory=True)
    assert refused(lambda: local_backend.list_dir("escape/")) == "path_escape"
    assert refused(lambda: local_backend.read_range("escape/passwd", 0)) == "path_escape"
    assert refused(lambda: list(local_backend.walk("escape/"))) == "path_escape"
    assert refused(lambda: local_backend.mkdir("escape/sub/")) == "path_escape"
    write = lambda: local_backend.write_stream("escape/new", io.BytesIO(b"x"))  # noqa: E731
    assert refused(write) == "path_escape"
    assert refused(lambda: local_backend.folder_reader("escape/").list_files()) == "path_escape"
    assert sorted(os.listdir(outside)) == ["passwd"]


def test_it_leaves_escaping_links_out_of_listings_and_walks(local_backend, outside):
    root = local_backend.root
    os.makedirs(os.path.join(root, "model"))
    with open(os.path.join(root, "model", "config.json"), "wb") as handle:
        handle.write(b"{}")
    os.symlink(outside / "passwd", os.path.join(root, "model", "passwd"))
    os.symlink(outside, os.path.join(root, "model", "escape"))
    assert [e.name for e in local_backend.list_dir("model/")] == ["config.json"]
    assert [e.path for e in local_backend.walk("")] == ["model/config.json"]
    assert local_backend.folder_reader("model/").list_files() == {"config.json": 2}


def test_it_allows_symlinks_that_stay_inside(local_backend):
    root = local_backend.root
    os.makedirs(os.path.join(root, "shared", "weights"))
    with open(os.path.join(root, "shared", "weights", "model.safetensors"), "wb") as handle:
        handle.write(b"0123456789")
    os.makedirs(os.path.join(root, "model"))
    relative_target = "../shared/weights/model.safetensors"
    os.symlink(relative_target, os.path.join(root, "model", "model.safetensors"))
    os.symlink(os.path.join(root, "shared", "weights"), os.path.join(root, "model", "linked"))

    assert local_backend.read_range("model/model.safetensors", 2, 3) == b"234"
    assert [(e.name, e.is_dir) for e in local_backend.list_dir("model/")] == [
        ("linked", True),
        ("model.safetensors", False),
    ]
    assert local_backend.folder_reader("model/").list_files() == {
        "linked/model.safetensors": 10,
        "model.safetensors": 10,
    }


def test_it_survives_a_symlink_loop(local_backend):
    root = local_backend.root
    os.makedirs(os.path.join(root, "a"))
    os.symlink(os.path.join(root, "a"), os.path.join(root, "a", "loop"))
    with open(os.path.join(root, "a", "f.txt"), "wb") as handle:
        handle.write(b"f")
    assert [e.path for e in local_backend.walk("a/")] == ["a/f.txt"]


def test_it_deletes_a_link_not_its_target(local_backend):
    root = local_backend.root
    os.makedirs(os.path.join(root, "data"))
    with open(os.path.join(root, "data", "real.bin"), "wb") as handle:
        handle.write(b"keep me")
    os.symlink(os.path.join(root, "data"), os.path.join(root, "alias"))
    os.symlink(os.path.join(root, "data", "real.bin"), os.path.join(root, "link.bin"))
    assert local_backend.delete("link.bin") is True
    assert local_backend.delete_prefix("alias/") == 0
    assert sorted(os.listdir(root)) == ["data"]
    assert local_backend.read_range("data/real.bin", 0) == b"keep me"


def test_it_does_not_follow_links_when_deleting_a_prefix(local_backend, outside):
    root = local_backend.root
    os.makedirs(os.path.join(root, "job"))
    os.symlink(outside, os.path.join(root, "job", "escape"))
    with open(os.path.join(root, "job", "out.txt"), "wb") as handle:
        handle.write(b"o")
    assert local_backend.delete_prefix("job/") == 1
    assert (outside / "passwd").exists()


def test_it_never_shows_a_half_written_file(local_backend):
    # The stream pauses half-way; meanwhile the key must hold the old content.
    put_old = b"complete old version"
    local_backend.write_stream("m/weights.bin", io.BytesIO(put_old))
    halfway = threading.Event()
    resume = threading.Event()

    class SlowStream(io.RawIOBase):
        sent = 0

        def readable(self):
            return True

        def readinto(self, buffer):
            if self.sent == 2 * 1024 * 1024:
                halfway.set()
                resume.wait(10)
            if self.sent >= 4 * 1024 * 1024:
                return 0
            n = min(len(buffer), 1024 * 1024)
            buffer[:n] = b"n" * n
            self.sent += n
            return n

    writer = threading.Thread(target=local_backend.write_stream, args=("m/weights.bin", SlowStream()))
    writer.start()
    assert halfway.wait(10)
    try:
        assert local_backend.read_range("m/weights.bin", 0) == put_old
        assert [e.name for e in local_backend.list_dir("m/")] == ["weights.bin"]
        on_disk = os.listdir(os.path.join(local_backend.root, "m"))
        assert any(name.startswith(TEMP_PREFIX) for name in on_disk)
    finally:
        resume.set()
        writer.join(10)
    assert local_backend.stat("m/weights.bin").size == 4 * 1024 * 1024
    assert os.listdir(os.path.join(local_backend.root, "m")) == ["weights.bin"]


def test_it_cleans_up_its_temp_file_on_failure(local_backend):
    class Broken(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            raise ConnectionResetError("gone")

    with pytest.raises(ConnectionResetError):
        local_backend.write_stream("x/y.bin", Broken())
    assert os.listdir(os.path.join(local_backend.root, "x")) == []


def test_it_skips_symlinks_when_uploading_a_folder(local_backend, tmp_path, outside):
    job_output = tmp_path / "job-output"
    job_output.mkdir()
    (job_output / "model.bin").write_bytes(b"m")
    os.symlink(outside / "passwd", job_output / "stolen")
    os.symlink(outside, job_output / "stolen-dir")
    assert local_backend.upload_dir(job_output, "out/") == 1
    assert [e.path for e in local_backend.walk("out/")] == ["out/model.bin"]


def test_it_does_not_write_through_a_symlink_when_downloading(local_backend, tmp_path, outside):
    local_backend.write_stream("code/train.py", io.BytesIO(b"print(1)"))
    target = tmp_path / "workdir"
    target.mkdir()
    os.symlink(outside / "passwd", target / "train.py")
    assert local_backend.download_dir("code/", target) == 1
    assert (target / "train.py").read_bytes() == b"print(1)"
    assert not (target / "train.py").is_symlink()
    assert (outside / "passwd").read_bytes() == b"root:x:0:0"


def test_it_refuses_to_download_through_a_linked_folder(local_backend, tmp_path, outside):
    local_backend.write_stream("code/sub/train.py", io.BytesIO(b"print(1)"))
    target = tmp_path / "workdir"
    target.mkdir()
    os.symlink(outside, target / "sub")
    assert refused(lambda: local_backend.download_dir("code/", target)) == "path_escape"
    assert sorted(os.listdir(outside)) == ["passwd"]


def test_it_hides_unaddressable_names(local_backend):
    root = local_backend.root
    with open(os.path.join(root, "back\\slash"), "wb") as handle:
        handle.write(b"x")
    with open(os.path.join(root, "ok.txt"), "wb") as handle:
        handle.write(b"x")
    assert [e.name for e in local_backend.list_dir("")] == ["ok.txt"]


def test_it_refuses_to_open_a_fifo(local_backend):
    os.mkfifo(os.path.join(local_backend.root, "pipe"))
    with pytest.raises(FileNotFoundError):
        local_backend.read_range("pipe", 0, 1)
    assert local_backend.list_dir("") == []


def test_it_is_built_from_config(tmp_path):
    backend = backend_for({"kind": "local", "root": str(tmp_path / "b"), "create": True})
    assert isinstance(backend, LocalBackend)
    assert os.path.isdir(tmp_path / "b")


@pytest.mark.parametrize(
    "config",
    [
        {"kind": "local"},
        {"kind": "local", "root": "/tmp/x", "rot": 1},
        {"kind": "ftp", "root": "/tmp/x"},
        {"root": "/tmp/x"},
        {"kind": "s3", "endpoint_url": "http://127.0.0.1:1"},
    ],
)
def test_it_refuses_bad_configs(config):
    with pytest.raises(ValueError):
        backend_for(config)
