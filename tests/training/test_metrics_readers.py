"""The scalar reader of the node-workload layer alone: MA_METRIC lines and TensorBoard event files.

No database, no runner: lines are fed and folders polled as the runner's threads do.
"""

from __future__ import annotations

import importlib.util
import json
import os

import pytest

from console.nodepools.workloads.scalars import MAX_NAME_LENGTH, STALLED_POLLS, ScalarReader
from console.training.metrics import lttb_indices, metric_direction

PREFIX = "MA_METRIC "
needs_tensorboard = pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is None, reason="tensorboard is not installed (requirements.txt pins it)"
)


def reader(tmp_path=None, *, cap=1000, name_cap=10) -> ScalarReader:
    return ScalarReader(prefix=PREFIX, dirs=[tmp_path] if tmp_path else [], cap=cap, name_cap=name_cap, who="worker-0")


def line(data) -> str:
    return PREFIX + (data if isinstance(data, str) else json.dumps(data)) + "\n"


def test_a_metric_line_gives_one_point_per_name_and_other_lines_are_ignored():
    r = reader()
    r.feed_line("epoch 1 loss 0.5\n")
    r.feed_line(line({"step": 10, "loss": 0.52, "accuracy": 0.81}))
    r.feed_line(line({"loss": 0.4}))  # no step: the previous one + 1
    points, problems = r.drain()
    assert [(p["name"], p["step"], p["value"]) for p in points] == [
        ("loss", 10, 0.52),
        ("accuracy", 10, 0.81),
        ("loss", 11, 0.4),
    ]
    assert problems == []
    assert r.drain() == ([], [])


def test_bad_lines_are_skipped_and_counted_with_one_warning_per_kind():
    r = reader()
    for _ in range(3):
        r.feed_line(line("{not json"))
    r.feed_line(line("[1, 2]"))
    r.feed_line(line('{"step": 1, "loss": NaN, "acc": Infinity, "ok": 1.5}'))
    r.feed_line(line({"step": -4, "loss": 1}))
    r.feed_line(line({"step": 10**30, "loss": 1}))
    r.feed_line(line({"step": 2, "x" * 10240: 1.0, "phase": "train", "flag": True}))
    points, problems = r.drain()
    assert [(p["name"], p["step"], p["value"]) for p in points] == [("ok", 1, 1.5)]
    text = "\n".join(problems)
    assert len(problems) == 5, text  # json, nan, step, name, value: the first of each kind
    assert "not a JSON object" in text and "NaN or infinite" in text and "not an integer" in text
    assert f"longer than {MAX_NAME_LENGTH} characters" in text and "not a number" in text
    assert all(len(p) < 400 for p in problems)  # a 10 KB name is not copied into the warning
    totals = "\n".join(r.totals())
    assert "4 times in all" in totals  # 3 bad JSON lines + one that is a list
    assert "2 times in all" in totals  # two NaN/Inf values; two bad steps; two non-numbers


def test_the_cap_bounds_points_and_names_and_is_said_once():
    r = reader(cap=100, name_cap=2)
    for step in range(10_000):
        r.feed_line(line({"step": step, "loss": 1.0 / (step + 1)}))
    r.feed_line(line({"step": 1, "other": 1}))
    points, problems = r.drain()
    assert len(points) == 100
    assert [p for p in problems if "cap of 100 points" in p]
    r2 = reader(cap=100, name_cap=2)
    r2.feed_line(line({"step": 0, "a": 1, "b": 2, "c": 3, "d": 4}))
    points, problems = r2.drain()
    assert {p["name"] for p in points} == {"a", "b"}
    assert any("more than 2 metric names" in p for p in problems)
    assert "2 times in all" in "\n".join(r2.totals())


def test_ten_million_steps_stay_bounded():
    r = reader(cap=1000)
    for step in range(0, 10_000_000, 1000):  # a script logging 10 million steps (sampled: 10,000 lines)
        r.feed_line(line({"step": step, "loss": 0.1}))
    r.feed_line(line({"step": 10_000_000, "loss": 0.1}))
    points, _ = r.drain()
    assert len(points) == 1000
    assert "times in all" in "\n".join(r.totals())


@needs_tensorboard
def test_event_files_are_read_incrementally(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(tmp_path / "run1"), flush_secs=1)
    r = reader(tmp_path)
    for step in range(3):
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
    writer.flush()
    r.poll_files()
    first, problems = r.drain()
    assert [(p["name"], p["step"]) for p in first] == [("train/loss", 0), ("train/loss", 1), ("train/loss", 2)]
    assert problems == []
    event_file = next(iter(r.files.values()))
    offset = event_file.offset
    assert offset == os.path.getsize(event_file.path)  # every byte read, as whole records
    writer.add_scalar("train/loss", 0.2, 3)
    writer.add_scalar("accuracy", 0.9, 3)
    writer.flush()
    r.poll_files()
    second, _ = r.drain()
    assert [(p["name"], p["step"], round(p["value"], 3)) for p in second] == [
        ("train/loss", 3, 0.2),
        ("accuracy", 3, 0.9),
    ]
    assert event_file.offset > offset  # the loader went on from where it was, not from the start
    r.poll_files(final=True)
    assert r.drain() == ([], [])
    writer.close()


@needs_tensorboard
def test_a_truncated_event_file_gives_its_whole_records_and_one_warning(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    source = tmp_path / "source"
    writer = SummaryWriter(log_dir=str(source))
    for step in range(5):
        writer.add_scalar("loss", float(step), step)
    writer.close()
    original = next(source.iterdir())
    watched = tmp_path / "watched"
    watched.mkdir()
    (watched / original.name).write_bytes(original.read_bytes()[:-7])  # the last record cut short
    r = reader(watched)
    r.poll_files()
    points, problems = r.drain()
    assert [p["step"] for p in points] == [0, 1, 2, 3]
    assert problems == []  # while it runs, a record may be half written
    r.poll_files(final=True)
    points, problems = r.drain()
    assert points == []
    assert len(problems) == 1 and "truncated or not a TensorBoard event file" in problems[0]


@needs_tensorboard
def test_a_file_that_is_not_an_event_file_is_given_up_when_it_stops_growing(tmp_path):
    (tmp_path / "events.out.tfevents.123.host").write_bytes(os.urandom(4096))
    (tmp_path / "notes.txt").write_text("not looked at")
    r = reader(tmp_path)
    for _ in range(STALLED_POLLS + 1):
        r.poll_files()
    points, problems = r.drain()
    assert points == []
    assert len(problems) == 1 and "events.out.tfevents.123.host" in problems[0]
    r.poll_files(final=True)
    assert r.drain() == ([], [])  # said once


def test_without_a_prefix_or_a_cap_nothing_is_read(tmp_path):
    r = ScalarReader(dirs=[tmp_path], who="w")
    r.feed_line(line({"loss": 1}))
    r.poll_files(final=True)
    assert r.drain() == ([], [])


def test_lttb_keeps_the_shape_the_ends_and_the_extremes():
    xs = list(range(100_000))
    ys = [((i * 7919) % 1000) / 1000 for i in xs]
    ys[54_321] = -5.0  # a spike down
    ys[77_777] = 9.0  # and up
    keep = lttb_indices(xs, ys, 2000)
    assert 2000 <= len(keep) <= 2002
    assert keep[0] == 0 and keep[-1] == 99_999 and 54_321 in keep and 77_777 in keep
    assert keep == sorted(set(keep))
    assert lttb_indices([1, 2], [3, 4], 2000) == [0, 1]


def test_metric_direction_reads_the_name():
    assert metric_direction("train/loss") == "min"
    assert metric_direction("val_accuracy") == "max"
    assert metric_direction("lr") is None


def test_names_the_database_would_refuse_and_numbers_past_float_are_skipped():
    r = reader()
    r.feed_line(PREFIX + '{"step": 1, "a\\u0000b": 1, "lone\\ud800": 2, "ok": 3}\n')
    r.feed_line(PREFIX + '{"step": 2, "big": ' + "9" * 400 + "}\n")
    r.feed_line(PREFIX + "\x00\x01 not json \ud800\n")
    points, problems = r.drain()
    assert [(p["name"], p["step"]) for p in points] == [("ok", 1)]
    text = "\n".join(problems)
    assert "control or invalid characters" in text and "NaN or infinite" in text and "not a JSON object" in text
    assert "\x00" not in text and "\ud800" not in text
    text.encode("utf-8")  # storable


def test_a_reader_that_meets_an_unexpected_error_does_not_stop_the_output_reader(monkeypatch):
    r = reader()

    def broken(line):
        raise RuntimeError("bug")

    monkeypatch.setattr(r, "_feed", broken)
    r.feed_line(line({"loss": 1}))  # does not raise
    assert r.drain() == ([], [])
