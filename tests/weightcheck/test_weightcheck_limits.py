"""Hostile indexes: a header listing millions of tensors is refused from the template's layout,
unparsed, in bounded time and memory (issue 15 §7)."""

import json
import struct
import time
import tracemalloc

import pytest
import weightcheck_corpus as corpus
from weightcheck_corpus import run_check

from console.weightcheck import load_template
from console.weightcheck.layouts import expected_layout
from console.weightcheck.limits import TensorBudget
from console.weightcheck.weights import expected_tensors

WEIGHTS = "Error loading weights in transformers."
MAX_SECONDS = 2.0
MAX_BYTES = 300 << 20


ENTRY = b'"t%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}'
# The same, with the key spelled with a JSON escape (what a counter of plain bytes misses).
ESCAPED_ENTRY = b'"%x":{"dtype":"F32","shape":[0],"\\u0064ata_offsets":[0,0]}'


def zero_size_entries(count: int, entry: bytes = ENTRY) -> bytes:
    """`count` zero-size tensors with short names: about 55 bytes each, all valid."""
    return b"{" + b",".join([entry % i for i in range(count)]) + b"}"


def template_budget(slug: str) -> TensorBudget:
    template = load_template(corpus.template_dir(slug))
    config = template.standard_config()
    layout, _ = expected_layout(template.layout, template.architectures[0], config)
    required, optional = expected_tensors(layout, config.get("quantization_config"))
    return TensorBudget.for_names([*required, *optional])


def write_header(path, blob: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(blob)) + blob)


def weightless_folder(build_folder, slug: str):
    """A passing folder, checked once (so the timed check pays no import or layout build,
    as in a warmed-up worker), then without its weights."""
    folder = build_folder(slug, shards=1)
    assert run_check(folder, slug).ok
    (folder / "model.safetensors").unlink()
    return folder


def measured_check(folder, slug):
    """The check's wall time, then (in a second run) its peak traced allocation."""
    started = time.perf_counter()
    report = run_check(folder, slug)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    try:
        again = run_check(folder, slug)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert again.details == report.details
    return report, seconds, peak


def test_it_refuses_the_reproduced_92_mb_header_of_1_5_million_tensors_unparsed(build_folder):
    folder = weightless_folder(build_folder, "tiny-llama")
    blob = zero_size_entries(1_500_000)
    assert len(blob) > 80_000_000
    write_header(folder / "model.safetensors", blob)
    del blob

    report, seconds, peak = measured_check(folder, "tiny-llama")

    assert report.code == "weights" and report.message == WEIGHTS
    (detail,) = report.details
    assert detail.startswith("model.safetensors: header too large: ")
    assert "this model's template has" in detail and "tensors" in detail
    assert seconds <= MAX_SECONDS, seconds
    assert peak <= MAX_BYTES, peak
    assert report.bytes_read < 1 << 20  # the header itself was never fetched


@pytest.mark.parametrize("slug, entry", [("tiny-llama", ENTRY), ("DeepSeek-V3", ENTRY), ("DeepSeek-V3", ESCAPED_ENTRY)])
def test_it_stops_parsing_a_header_listing_far_more_tensors_than_the_template_has(build_folder, slug, entry):
    """The worst case: as many tiny entries as the byte bound lets through (the bound is largest
    for the largest template, DeepSeek-V3 with 90,427 tensors)."""
    folder = weightless_folder(build_folder, slug)
    budget = template_budget(slug)
    count = budget.max_header_bytes // (len(entry) + 6)  # just under the byte bound
    blob = zero_size_entries(count, entry)
    assert len(blob) <= budget.max_header_bytes
    write_header(folder / "model.safetensors", blob)
    del blob

    report, seconds, peak = measured_check(folder, slug)

    assert report.code == "weights" and report.message == WEIGHTS
    (detail,) = report.details
    listed = f"about {count}" if entry == ENTRY else f"more than {budget.max_tensors}"
    assert detail.startswith(f"model.safetensors: too many tensors: it lists {listed}; "), detail
    assert f"at most {budget.max_tensors} with allowed extras" in detail
    assert seconds <= MAX_SECONDS, seconds
    assert peak <= MAX_BYTES, peak


def test_the_budget_spans_every_shard_and_the_index(build_folder):
    folder = build_folder("tiny-llama", shards=2)
    budget = template_budget("tiny-llama")
    # Each shard alone is under the limit, together they are not.
    half = budget.max_tensors // 2 + 10
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    index["weight_map"] = {}
    for number in (1, 2):
        shard = f"model-0000{number}-of-00002.safetensors"
        entries = b'"s%d_%%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}' % number
        write_header(folder / shard, b"{" + b",".join([entries % i for i in range(half)]) + b"}")
        # The index stays under the limit (it maps only part of the second shard).
        index["weight_map"].update({f"s{number}_{i}": shard for i in range(half if number == 1 else 10)})
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))

    report = run_check(folder, "tiny-llama")
    assert report.code == "weights"
    assert report.details == [
        f"model-00002-of-00002.safetensors: too many tensors: it lists {half} (after {half} in earlier shards); "
        f"this model's template has {budget.expected} tensors (at most {budget.max_tensors} with allowed extras)"
    ]

    index["weight_map"].update({f"x{i}": "model-00001-of-00002.safetensors" for i in range(budget.max_tensors)})
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    report = run_check(folder, "tiny-llama")
    assert report.details[0].startswith("model.safetensors.index.json: too many tensors: it lists ")


def test_an_oversized_index_is_refused_before_it_is_read(build_folder):
    folder = build_folder("tiny-llama", shards=2)
    budget = template_budget("tiny-llama")
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    index["metadata"]["padding"] = "x" * budget.max_header_bytes
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))

    report = run_check(folder, "tiny-llama")

    assert report.code == "weights"
    assert report.details[0].startswith("model.safetensors.index.json: index too large: ")
    assert report.bytes_read < 1 << 20


def test_a_header_just_over_the_tensor_limit_is_parsed_at_c_speed_and_refused_with_its_count(build_folder):
    # Between the tensor limit and the brace allowance: parsed (bounded), then counted exactly.
    folder = weightless_folder(build_folder, "DeepSeek-V3")
    budget = template_budget("DeepSeek-V3")
    count = budget.max_tensors + 4000
    write_header(folder / "model.safetensors", zero_size_entries(count))

    report, seconds, peak = measured_check(folder, "DeepSeek-V3")

    assert report.details == [
        f"model.safetensors: too many tensors: it lists {count}; this model's template has {budget.expected} "
        f"tensors (at most {budget.max_tensors} with allowed extras)"
    ]
    assert seconds <= MAX_SECONDS, seconds
    assert peak <= MAX_BYTES, peak
