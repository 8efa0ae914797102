"""Detail lines say what a file really is: a symlink leaving the folder, a directory, a FIFO,
a symlink loop; the failure message stays the seed's (issue 15 §7)."""

import os
import threading

import pytest
from weightcheck_corpus import run_check

from console.weightcheck import LocalFolderReader, ReaderError

USER_CONFIG = "Failed to read user config.json."
WEIGHTS = "Error loading weights in transformers."

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs symlinks and FIFOs")


def run_with_deadline(folder, slug, seconds=60):
    """A check that opened a FIFO would wait forever for a writer: fail instead of hanging."""
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("report", run_check(folder, slug)), daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        # Unblock the reader so the process can end, then fail.
        for fifo in folder.rglob("*"):
            if fifo.is_fifo():
                with open(fifo, "wb"):
                    pass
        pytest.fail("the check blocked (it opened a FIFO)")
    return result["report"]


def replace_config(folder, make):
    (folder / "config.json").unlink()
    make(folder / "config.json")


@pytest.mark.parametrize(
    "make, detail",
    [
        (lambda p: p.mkdir(), "config.json at the top of the model folder is not a regular file: a directory"),
        (os.mkfifo, "config.json at the top of the model folder is not a regular file: a FIFO (named pipe)"),
        (lambda p: p.symlink_to(p), "config.json at the top of the model folder is a symlink loop"),
        (
            lambda p: p.symlink_to(p.parent / "nowhere.json"),
            "config.json at the top of the model folder is a broken symlink (what it points to does not exist)",
        ),
    ],
    ids=["directory", "fifo", "symlink-loop", "broken-symlink"],
)
def test_a_config_json_that_is_not_a_file_is_named_for_what_it_is(build_folder, make, detail):
    folder = build_folder("Yi-6B")
    replace_config(folder, make)

    report = run_with_deadline(folder, "Yi-6B")

    assert report.code == "user_config" and report.message == USER_CONFIG
    assert report.details == [detail]
    assert report.bytes_read == 0


def test_a_config_json_symlink_leaving_the_folder_says_so_and_reads_nothing(build_folder, tmp_path):
    folder = build_folder("Yi-6B")
    outside = tmp_path / "secret.json"
    outside.write_text('{"model_type": "llama"}')
    replace_config(folder, lambda p: p.symlink_to(outside))

    report = run_check(folder, "Yi-6B")

    assert report.code == "user_config" and report.message == USER_CONFIG
    assert report.details == [
        "config.json at the top of the model folder is a symlink leaving the model folder "
        "(only links to files inside the folder are followed)"
    ]
    assert str(tmp_path) not in report.details[0]  # the server's paths are not shown
    assert report.bytes_read == 0


def test_a_missing_config_json_is_still_reported_as_not_found(build_folder):
    folder = build_folder("Yi-6B")
    (folder / "config.json").unlink()

    assert run_check(folder, "Yi-6B").details == ["config.json not found at the top of the model folder"]


def test_a_shard_symlink_leaving_the_folder_is_not_called_missing(build_folder, tmp_path):
    folder = build_folder("Llama-2-7b-hf", shards=3)
    shard = folder / "model-00002-of-00003.safetensors"
    outside = tmp_path / "elsewhere.safetensors"
    shard.rename(outside)
    shard.symlink_to(outside)

    report = run_check(folder, "Llama-2-7b-hf")

    assert report.code == "weights" and report.message == WEIGHTS
    assert report.details == [
        "model.safetensors.index.json names shard files that cannot be read (1): "
        "model-00002-of-00003.safetensors is a symlink leaving the model folder "
        "(only links to files inside the folder are followed)"
    ]
    assert not any("missing" in d for d in report.details)


def test_a_shard_that_is_a_fifo_is_named_and_never_opened(build_folder):
    folder = build_folder("Llama-2-7b-hf", shards=3)
    shard = folder / "model-00003-of-00003.safetensors"
    shard.unlink()
    os.mkfifo(shard)

    report = run_with_deadline(folder, "Llama-2-7b-hf")

    assert report.details == [
        "model.safetensors.index.json names shard files that cannot be read (1): "
        "model-00003-of-00003.safetensors is not a regular file: a FIFO (named pipe)"
    ]


def test_a_truly_missing_shard_is_still_missing(build_folder):
    folder = build_folder("Llama-2-7b-hf", shards=3)
    (folder / "model-00002-of-00003.safetensors").unlink()

    report = run_check(folder, "Llama-2-7b-hf")

    assert report.details == [
        "model.safetensors.index.json names shard files that are missing (1): model-00002-of-00003.safetensors"
    ]


def test_a_single_weights_file_linking_outside_is_named_instead_of_no_weights(build_folder, tmp_path):
    folder = build_folder("Yi-6B", shards=1)
    outside = tmp_path / "outside.safetensors"
    (folder / "model.safetensors").rename(outside)
    (folder / "model.safetensors").symlink_to(outside)

    report = run_check(folder, "Yi-6B")

    assert report.code == "weights"
    assert report.details == [
        "model.safetensors is a symlink leaving the model folder (only links to files inside the folder are followed)"
    ]


def test_the_reader_refuses_a_fifo_swapped_in_after_the_listing_without_blocking(tmp_path):
    root = tmp_path / "model"
    root.mkdir()
    (root / "weights.bin").write_bytes(b"x" * 16)
    reader = LocalFolderReader(root)
    assert reader.list_files() == {"weights.bin": 16}
    (root / "weights.bin").unlink()
    os.mkfifo(root / "weights.bin")

    with pytest.raises(ReaderError):
        reader.read("weights.bin")
