"""The command-line route for big files: upload_file streams in parts on both backends."""

import os
import tracemalloc

import pytest

from console.storage import SizeMismatch
from console.storage.multipart import upload_file

MiB = 1024 * 1024


@pytest.fixture
def big_file(tmp_path):
    path = tmp_path / "model-00001-of-00002.safetensors"
    with open(path, "wb") as handle:
        for _ in range(12):
            handle.write(os.urandom(MiB))
        handle.write(b"tail")
    return path


def test_it_uploads_a_file_bigger_than_the_part_size(backend, big_file):
    progress = []
    written = upload_file(
        backend,
        big_file,
        "models/qwen/model.safetensors",
        part_size=5 * MiB,
        progress=lambda done, total: progress.append((done, total)),
    )
    size = big_file.stat().st_size
    assert written == size
    assert backend.stat("models/qwen/model.safetensors").size == size
    assert progress[0] == (0, size) and progress[-1] == (size, size)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    with backend.open_read("models/qwen/model.safetensors") as stored:
        with open(big_file, "rb") as original:
            while chunk := original.read(MiB):
                assert stored.read(len(chunk)) == chunk


def test_it_streams_without_holding_the_file_in_memory(local_backend, big_file):
    tracemalloc.start()
    try:
        upload_file(local_backend, big_file, "big.bin", part_size=5 * MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * MiB  # copies in chunks; the file is 12 MiB


def test_it_refuses_a_file_that_shrinks_while_uploading(backend, big_file):
    class Truncated:
        """The file as read by an uploader while someone truncates it."""

        def __init__(self, handle, limit):
            self.handle, self.left = handle, limit

        def read(self, n=-1):
            data = self.handle.read(self.left if n < 0 else min(n, self.left))
            self.left -= len(data)
            return data

    size = big_file.stat().st_size
    with open(big_file, "rb") as handle:
        with pytest.raises(SizeMismatch):
            backend.write_stream("x.bin", Truncated(handle, 6 * MiB), size=size, part_size=5 * MiB)
    assert not backend.exists("x.bin")


def test_it_refuses_a_missing_local_file(local_backend, tmp_path):
    with pytest.raises(FileNotFoundError):
        upload_file(local_backend, tmp_path / "nope.bin", "nope.bin")
