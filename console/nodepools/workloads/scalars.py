"""Scalars a workload's script logs (loss, accuracy…), read while it runs, bounded, handed to the reporter.

Two sources, both kind-neutral (the kind names them in its ``LaunchSpec``):

- stdout lines starting with ``metric_prefix``, then one JSON object:
  ``MA_METRIC {"step": 10, "loss": 0.52, "accuracy": 0.81}`` — "step" is optional (default: the
  previous step + 1), every other key is a metric name with a number;
- TensorBoard event files (``*tfevents*``) under ``scalar_dirs``, written by
  ``torch.utils.tensorboard.SummaryWriter`` or tensorboardX, read with tensorboard's own loader,
  which keeps its place in each file: every poll reads only the records added since.

Bad input never stops the workload: a line that is not a JSON object, a NaN/Inf value, a name
over ``MAX_NAME_LENGTH``, a step outside 64 bits, an event file that is truncated or not one, or
points past the caps are skipped and *counted*; the first of each kind becomes a warning at
once, the totals one more at the end (``problems``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.utils.translation import gettext_noop

logger = logging.getLogger("console.nodepools.workloads.scalars")

MAX_NAME_LENGTH = 200
MAX_STEP = 2**63 - 1
MAX_EVENT_FILES = 32  # files followed per workload
MAX_FILES_SCANNED = 5000  # entries looked at per poll while searching the folders
MAX_RECORDS_PER_POLL = 50_000  # a huge file is read over several polls
STALLED_POLLS = 10  # unread bytes at the end of a file that stopped growing for this many polls: bad

# The warnings, stored as English text and shown in the reader's language (listed in
# nodepools/stored_messages.py, translated in the catalog): a template and its parameters.
SKIPPED = gettext_noop("%(task)s: %(problem)s (skipped; further ones are counted).")
TOTAL = gettext_noop("%(task)s: %(count)s times in all: %(problem)s")
NOT_JSON = gettext_noop("a %(prefix)s line is not a JSON object: %(text)s")
BAD_STEP = gettext_noop("a %(prefix)s line has a step that is not an integer ≥ 0: %(text)s")
BAD_EVENT_STEP = gettext_noop("an event has a step outside 0…2^63: %(step)s")
BAD_NAME = gettext_noop("a metric name is empty or longer than %(max)s characters: %(name)s")
UNPRINTABLE_NAME = gettext_noop("a metric name has control or invalid characters: %(name)s")
NOT_A_NUMBER = gettext_noop("metric %(name)s has a value that is not a number: %(value)s")
NOT_FINITE = gettext_noop("metric %(name)s has a value that is NaN or infinite at step %(step)s")
POINTS_CAPPED = gettext_noop("logged metrics reached the cap of %(cap)s points; later points are not stored")
NAMES_CAPPED = gettext_noop("more than %(cap)s metric names; %(name)s and later new names are not stored")
NO_TENSORBOARD = gettext_noop("TensorBoard is not installed on this node; event files are not read")
FILE_UNOPENED = gettext_noop("event file %(file)s could not be opened: %(error)s")
FILE_NOT_EVENTS = gettext_noop("event file %(file)s is not a TensorBoard event file: %(error)s")
FILE_TRUNCATED = gettext_noop(
    "event file %(file)s is truncated or not a TensorBoard event file"
    " (%(unread)s byte(s) after offset %(offset)s could not be read)"
)


@dataclass
class _EventFile:
    path: Path
    loader: object
    offset: int = 0  # bytes of whole records read (header 12 + data + crc 4 each)
    unchanged_polls: int = 0
    last_size: int = -1
    given_up: bool = False


@dataclass
class ScalarReader:
    """Collects points; thread-safe (the output reader, the file poller and the reporter use it)."""

    prefix: str = ""
    dirs: list[Path] = field(default_factory=list)
    cap: int = 0  # points; 0 = no scalars at all
    name_cap: int = 0
    who: str = ""  # prefix of warnings, e.g. "worker-0"

    def __post_init__(self):
        self.lock = threading.Lock()
        self.pending: list[dict] = []
        self.accepted = 0
        self.names: set[str] = set()
        self.counts: dict[str, int] = {}
        self.first: dict[str, str] = {}
        self.new_problems: list[str] = []
        self.files: dict[Path, _EventFile] = {}
        self.last_step = -1
        self._tensorboard = None  # (RawEventFileLoader, Event) once imported; False: not installed

    # --- what the other parts call ---------------------------------------------------------

    def feed_line(self, line: str) -> None:
        """A line of the process's output; only lines with the prefix are looked at. Never raises:
        the output reader that calls it must go on reading whatever a script prints."""
        if not self.prefix or not line.startswith(self.prefix):
            return
        try:
            self._feed(line)
        except Exception:
            logger.exception("a metric line could not be read")

    def _feed(self, line: str) -> None:
        if self.accepted >= self.cap:
            self._problem("cap", POINTS_CAPPED % {"cap": self.cap})
            return
        text = line[len(self.prefix) :].strip()
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            self._problem("json", NOT_JSON % {"prefix": self.prefix.strip(), "text": _clip(text)})
            return
        step = data.pop("step", None)
        if step is None:
            step = self.last_step + 1
        if not _is_step(step):
            self._problem("step", BAD_STEP % {"prefix": self.prefix.strip(), "text": _clip(text)})
            return
        now = datetime.now(UTC)
        for name, value in data.items():
            self._add(str(name), step, now, value)

    def poll_files(self, *, final: bool = False) -> None:
        """Read what was added to the event files since the last poll (``final``: the process ended)."""
        if not self.dirs or self.cap <= 0:
            return
        for path in self._find_files():
            if path not in self.files and len(self.files) < MAX_EVENT_FILES:
                loader = self._loader_for(path)
                if self._tensorboard is False:
                    return
                self.files[path] = _EventFile(path=path, loader=loader, given_up=loader is None)
        for event_file in list(self.files.values()):
            if not event_file.given_up:
                self._read_file(event_file, final=final)

    def drain(self) -> tuple[list[dict], list[str]]:
        """(points not yet reported, warnings not yet reported)."""
        with self.lock:
            points, self.pending = self.pending, []
            problems, self.new_problems = self.new_problems, []
        return points, problems

    def requeue(self, points: list[dict]) -> None:
        """Points whose write failed go first next time."""
        with self.lock:
            self.pending = points + self.pending

    def totals(self) -> list[str]:
        """One line per kind of problem seen more than once (for the end of the workload)."""
        with self.lock:
            return [
                TOTAL % {"task": self.who, "count": count, "problem": self.first[key]}
                for key, count in sorted(self.counts.items())
                if count > 1
            ]

    def run_periodically(self, *, period: float, done: threading.Event) -> None:
        while not done.wait(period):
            try:
                self.poll_files()
            except Exception:  # a reader bug must not end the workload
                logger.exception("reading event files failed")

    # --- inside ----------------------------------------------------------------------------

    def _add(self, name: str, step: int, wall_time: datetime, value) -> None:
        if not name or len(name) > MAX_NAME_LENGTH:
            self._problem("name", BAD_NAME % {"max": MAX_NAME_LENGTH, "name": _clip(name)})
            return
        if not name.isprintable():  # NUL, newlines, lone surrogates: the database refuses some of them
            self._problem("name", UNPRINTABLE_NAME % {"name": _clip(name)})
            return
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._problem("value", NOT_A_NUMBER % {"name": _clip(name), "value": _clip(repr(value))})
            return
        try:
            value = float(value)
        except OverflowError:  # an integer of 400 digits
            value = math.inf
        if not math.isfinite(value):
            self._problem("nan", NOT_FINITE % {"name": _clip(name), "step": step})
            return
        with self.lock:
            if self.accepted >= self.cap:
                capped = True
            elif name not in self.names and len(self.names) >= self.name_cap:
                capped = None
            else:
                capped = False
                self.names.add(name)
                self.accepted += 1
                self.last_step = max(self.last_step, step)
                self.pending.append({"name": name, "step": step, "wall_time": wall_time, "value": value})
        if capped:
            self._problem("cap", POINTS_CAPPED % {"cap": self.cap})
        elif capped is None:
            self._problem("names", NAMES_CAPPED % {"cap": self.name_cap, "name": _clip(name)})

    def _problem(self, key: str, message: str) -> None:
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            if key not in self.first:
                self.first[key] = message
                self.new_problems.append(SKIPPED % {"task": self.who, "problem": message})

    def _find_files(self) -> list[Path]:
        found, scanned = [], 0
        for root in self.dirs:
            if not root.is_dir():
                continue
            for folder, subdirs, names in os.walk(root):  # links are not followed
                scanned += len(names) + len(subdirs)
                found += [Path(folder) / n for n in names if "tfevents" in n]
                if scanned > MAX_FILES_SCANNED:
                    return sorted(found)
        return sorted(found)

    def _loader_for(self, path: Path):
        if self._tensorboard is None:
            try:
                # Imported here: tensorboard (and numpy under it) stays out of the web process.
                from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
                from tensorboard.compat.proto.event_pb2 import Event

                self._tensorboard = (RawEventFileLoader, Event)
            except ImportError:
                self._tensorboard = False
                self._problem("tensorboard", NO_TENSORBOARD)
        if not self._tensorboard:
            return None
        try:
            return self._tensorboard[0](str(path))
        except Exception as error:
            self._problem("file", FILE_UNOPENED % {"file": _clip(path.name), "error": _clip(str(error))})
            return None

    def _read_file(self, event_file: _EventFile, *, final: bool) -> None:
        Event = self._tensorboard[1]
        records = 0
        try:
            for raw in event_file.loader.Load():
                event_file.offset += len(raw) + 16
                self._take_event(Event.FromString(raw))
                records += 1
                if records >= MAX_RECORDS_PER_POLL or self.accepted >= self.cap:
                    break
        except Exception as error:  # a record whose checksum held but whose content is not an Event
            name = _clip(event_file.path.name)
            self._give_up(event_file, FILE_NOT_EVENTS % {"file": name, "error": _clip(str(error))})
            return
        try:
            size = event_file.path.stat().st_size
        except OSError:
            return
        if size == event_file.last_size and records == 0:
            event_file.unchanged_polls += 1
        else:
            event_file.unchanged_polls = 0
        event_file.last_size = size
        unread = size - event_file.offset
        # A record being written is unread for a moment; one that stays so is damaged or not a record.
        if unread > 0 and records == 0 and (final or event_file.unchanged_polls >= STALLED_POLLS):
            self._give_up(
                event_file,
                FILE_TRUNCATED % {"file": _clip(event_file.path.name), "unread": unread, "offset": event_file.offset},
            )

    def _give_up(self, event_file: _EventFile, message: str) -> None:
        event_file.given_up = True
        self._problem("file", message)

    def _take_event(self, event) -> None:
        if not event.HasField("summary"):
            return
        step = int(event.step)
        if not _is_step(step):
            self._problem("step", BAD_EVENT_STEP % {"step": step})
            return
        try:
            wall_time = datetime.fromtimestamp(event.wall_time, UTC)
        except (OverflowError, ValueError, OSError):  # a wall time no clock shows: the time it was read
            wall_time = datetime.now(UTC)
        for value in event.summary.value:
            kind = value.WhichOneof("value")
            if kind == "simple_value":
                number = value.simple_value
            elif kind == "tensor" and value.metadata.plugin_data.plugin_name == "scalars":
                number = _tensor_scalar(value.tensor)
                if number is None:
                    continue
            else:
                continue  # histograms, images, text: not scalars
            self._add(value.tag, step, wall_time, number)


def _tensor_scalar(tensor) -> float | None:
    """A scalar written as a rank-0 tensor (TF2 style): float_val / double_val or 4-byte content."""
    if tensor.float_val:
        return float(tensor.float_val[0])
    if tensor.double_val:
        return float(tensor.double_val[0])
    return None


def _is_step(step) -> bool:
    return isinstance(step, int) and not isinstance(step, bool) and 0 <= step <= MAX_STEP


def _clip(text: str, limit: int = 80) -> str:
    """A short, printable, storable excerpt of what a script wrote (quoted in a warning)."""
    text = text[: limit + 1].encode("utf-8", "replace").decode("utf-8")
    text = "".join(c if c.isprintable() else " " for c in text)
    return text if len(text) <= limit else text[:limit] + "…"
