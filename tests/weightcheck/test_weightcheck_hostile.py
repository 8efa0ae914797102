"""Folders crafted to run code run nothing; pickle weights are never unpickled."""

import json
import os
import pickle
import struct
import zipfile

import pytest
import torch
import weightcheck_corpus as corpus
from weightcheck_corpus import run_check

WEIGHTS = "Error loading weights in transformers."


class SideEffect:
    """Unpickling this runs os.system, which would create the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def tiny_folder(build_folder, name="tiny"):
    folder = build_folder("tiny-llama", name=name, shards=1)
    (folder / "model.safetensors").unlink()
    return folder


def tiny_state_dict(dtype=torch.bfloat16):
    import transformers

    config = transformers.AutoConfig.from_pretrained(corpus.template_dir("tiny-llama"))
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).to(dtype)
    return model, model.state_dict()


def test_it_refuses_a_raw_pickle_bin_without_running_it(build_folder, tmp_path):
    folder = tiny_folder(build_folder)
    marker = tmp_path / "pickle-ran"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"model.norm.weight": SideEffect(marker)}))

    report = run_check(folder, "tiny-llama")

    assert report.code == "weights" and report.message == WEIGHTS
    assert any("not a torch.save zip archive" in d and "never unpickled" in d for d in report.details)
    assert not marker.exists()


def test_it_refuses_a_torch_archive_whose_pickle_calls_a_function(build_folder, tmp_path):
    folder = tiny_folder(build_folder)
    marker = tmp_path / "archive-pickle-ran"
    with zipfile.ZipFile(folder / "pytorch_model.bin", "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"model.norm.weight": SideEffect(marker)}, protocol=2))
        archive.writestr("archive/version", "3\n")

    report = run_check(folder, "tiny-llama")

    assert report.code == "weights"
    assert any("'posix.system'" in d and "nothing was run" in d for d in report.details), report.details
    assert not marker.exists()


def test_it_refuses_a_torch_archive_that_builds_arbitrary_objects(build_folder, tmp_path):
    folder = tiny_folder(build_folder)
    payload = pickle.dumps({"x": zipfile.ZipInfo("a")}, protocol=2)  # REDUCE of a class: not a tensor
    with zipfile.ZipFile(folder / "pytorch_model.bin", "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", payload)

    report = run_check(folder, "tiny-llama")

    assert report.code == "weights"
    assert any("zipfile.ZipInfo" in d for d in report.details), report.details


def test_it_reads_a_real_torch_save_archive_without_unpickling(build_folder, monkeypatch):
    folder = tiny_folder(build_folder)
    model, state = tiny_state_dict()
    torch.save(state, folder / "pytorch_model.bin")

    def refuse(*args, **kwargs):
        raise AssertionError("the check must not unpickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    report = run_check(folder, "tiny-llama")
    monkeypatch.undo()

    assert report.ok, (report.code, report.details)
    assert "pytorch" in report.notes[-1]
    # transformers itself loads this folder: the check agrees with the real loader.
    import transformers

    loaded = transformers.AutoModelForCausalLM.from_pretrained(folder)
    assert torch.equal(loaded.model.norm.weight.to(torch.bfloat16), state["model.norm.weight"])


def test_it_reads_a_sharded_torch_archive_index(build_folder):
    folder = tiny_folder(build_folder)
    _, state = tiny_state_dict(torch.float16)
    names = list(state)
    parts = {"pytorch_model-00001-of-00002.bin": names[:10], "pytorch_model-00002-of-00002.bin": names[10:]}
    weight_map = {}
    for shard, keys in parts.items():
        torch.save({k: state[k] for k in keys}, folder / shard)
        weight_map.update(dict.fromkeys(keys, shard))
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))

    assert run_check(folder, "tiny-llama").ok

    del state["model.layers.1.mlp.up_proj.weight"]
    torch.save({k: state[k] for k in names[10:] if k in state}, folder / "pytorch_model-00002-of-00002.bin")
    report = run_check(folder, "tiny-llama")
    assert report.code == "weights"
    assert any("model.layers.1.mlp.up_proj.weight" in d for d in report.details)


def test_it_fails_a_truncated_torch_archive(build_folder):
    folder = tiny_folder(build_folder)
    _, state = tiny_state_dict()
    torch.save(state, folder / "pytorch_model.bin")
    size = (folder / "pytorch_model.bin").stat().st_size
    with open(folder / "pytorch_model.bin", "r+b") as handle:
        handle.truncate(size // 2)

    report = run_check(folder, "tiny-llama")

    assert report.code == "weights"
    assert any("truncated" in d for d in report.details), report.details


def test_it_never_opens_pickles_next_to_safetensors(build_folder, tmp_path):
    folder = build_folder("Qwen2.5-7B")
    marker = tmp_path / "bin-ran"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(SideEffect(marker)))
    (folder / "training_args.bin").write_bytes(pickle.dumps(SideEffect(marker)))

    report = run_check(folder, "Qwen2.5-7B")

    assert report.ok
    assert any("pickle files present but not opened" in n for n in report.notes)
    assert not marker.exists()


def test_it_fails_overlapping_offsets_in_a_crafted_header(build_folder):
    folder = tiny_folder(build_folder)
    header = {
        "model.norm.weight": {"dtype": "BF16", "shape": [64], "data_offsets": [0, 128]},
        "lm_head.weight": {"dtype": "BF16", "shape": [320, 64], "data_offsets": [64, 64 + 40960]},
    }
    blob = json.dumps(header).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(blob)) + blob + bytes(64 + 40960))

    report = run_check(folder, "tiny-llama")

    assert report.code == "weights"
    assert any("overlap" in d for d in report.details)


def test_it_fails_a_header_claiming_more_than_the_file_holds(build_folder):
    folder = tiny_folder(build_folder)
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", 2**62) + b"{}")

    report = run_check(folder, "tiny-llama")

    assert report.code == "weights"
    assert any("header length" in d for d in report.details)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_it_does_not_follow_a_symlink_out_of_the_folder(build_folder, tmp_path):
    folder = build_folder("Yi-6B")
    secret = tmp_path / "secret.json"
    secret.write_text('{"model_type": "llama"}')
    (folder / "config.json").unlink()
    (folder / "config.json").symlink_to(secret)

    report = run_check(folder, "Yi-6B")

    assert report.code == "user_config"
    assert report.bytes_read == 0
