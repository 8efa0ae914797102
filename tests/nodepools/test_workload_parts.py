"""Each part of the node-workload runner alone (no Celery, no training, no database).

process.ProcessGroup with real short Python children; reporter.Reporter with a fake run and a
real LogBuffer; sync.OutputSync with a fake backend; workspace.Workspace; and runner.Runner end
to end with a fake workload kind registered for the test.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from console.nodepools.workloads import registry
from console.nodepools.workloads.kinds import (
    HeartbeatAnswer,
    LaunchSpec,
    Outcome,
    PrepareError,
    SyncTarget,
    WorkloadKind,
    WorkloadRun,
)
from console.nodepools.workloads.logbuffer import CONSOLE_PREFIX, LogBuffer
from console.nodepools.workloads.process import ProcessGroup, cores_for, exit_code
from console.nodepools.workloads.registry import register_kind
from console.nodepools.workloads.reporter import Reporter
from console.nodepools.workloads.runner import Runner
from console.nodepools.workloads.sync import OutputSync
from console.nodepools.workloads.workspace import Workspace
from console.storage.gate import WRITE
from console.storage.paths import ObsPath

PROCESS_PY = Path(__file__).resolve().parents[2] / "console" / "nodepools" / "workloads" / "process.py"
CHILD_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONUNBUFFERED": "1"}


# --- helpers -------------------------------------------------------------------------------------


def wait_for(predicate, *, timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passed; returns its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return bool(predicate())
        time.sleep(interval)


def gone(pid: int) -> bool:
    """The process ended (a zombie waiting for its new parent to reap it counts as ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def read_lines(group: ProcessGroup, count: int, *, timeout: float = 10.0) -> list[str]:
    """``count`` lines of the group's output, without blocking the test forever."""
    lines: list[str] = []

    def read():
        for _ in range(count):
            raw = group.stdout.readline()
            if not raw:
                return
            lines.append(raw.decode().rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    assert len(lines) == count, f"expected {count} line(s) of output, got {lines!r}"
    return lines


def wait_exit(group: ProcessGroup, *, timeout: float = 10.0) -> int:
    try:
        return group.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        group.signal(signal.SIGKILL)
        pytest.fail(f"the process group did not end within {timeout} s")


@pytest.fixture
def groups():
    """Every ProcessGroup a test starts is SIGKILLed at the end, whatever happened."""
    started: list[ProcessGroup] = []

    def make(**kwargs) -> ProcessGroup:
        group = ProcessGroup(**kwargs)
        started.append(group)
        return group

    yield make
    for group in started:
        group.signal(signal.SIGKILL)
        if group.proc is not None:
            try:
                group.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            if group.proc.stdout is not None:
                group.proc.stdout.close()


@pytest.fixture
def stray_pids():
    """Pids of grandchildren a test learns about: killed at the end in case the code under test did not."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


# --- process.ProcessGroup ------------------------------------------------------------------------


def test_process_group_runs_an_argument_list_in_its_own_group_and_reports_the_exit(groups, tmp_path):
    group = groups(cores=[])
    code = "import os, sys; print(os.getpid(), os.getpgid(0), os.getcwd()); print(repr(sys.argv[1:])); sys.exit(5)"
    # Shell syntax must reach the program as it is: no shell ever sees the arguments.
    group.start([sys.executable, "-c", code, "a b; echo x", "$HOME", "*"], env=CHILD_ENV, cwd=tmp_path)
    assert group.pid is not None
    ids, argv = read_lines(group, 2)
    pid, pgid, cwd = ids.split(" ", 2)
    assert int(pid) == group.pid  # the wrapper exec'd the program: same pid
    assert int(pgid) == group.pid  # a process group of its own...
    assert group.pid != os.getpgid(0)  # ...not the test's
    assert Path(cwd) == tmp_path
    assert argv == repr(["a b; echo x", "$HOME", "*"])
    returncode = wait_exit(group)
    assert returncode == 5 and exit_code(returncode) == 5
    assert not group.running()


def test_a_live_group_leads_its_own_process_group(groups, tmp_path):
    group = groups(cores=[])
    group.start(
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(30)"], env=CHILD_ENV, cwd=tmp_path
    )
    assert read_lines(group, 1) == ["up"]
    assert group.running()
    assert os.getpgid(group.pid) == group.pid
    assert os.getsid(group.pid) == group.pid  # a new session: a terminal's signals don't reach it either


IGNORING_CHILD = """\
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
print("grandchild", grandchild.pid, flush=True)
time.sleep(60)
"""
IGNORING_GRANDCHILD = """\
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("grandchild ready", flush=True)
time.sleep(60)
"""


def test_stop_kills_a_group_that_ignores_sigterm_after_the_grace_period(groups, stray_pids, tmp_path):
    group = groups(cores=[])
    group.start([sys.executable, "-c", IGNORING_CHILD, IGNORING_GRANDCHILD], env=CHILD_ENV, cwd=tmp_path)
    lines = read_lines(group, 2)
    grandchild = int(next(line for line in lines if line.startswith("grandchild ")).split()[1])
    stray_pids.append(grandchild)
    assert "grandchild ready" in lines  # both ignore SIGTERM now
    started = time.monotonic()
    group.stop(grace_seconds=0.5)
    returncode = wait_exit(group)
    elapsed = time.monotonic() - started
    assert exit_code(returncode) == 137  # SIGKILL, SIGTERM was ignored
    assert elapsed >= 0.4  # not before the grace period
    assert wait_for(lambda: gone(grandchild), timeout=5), "the grandchild survived: the stop missed the group"


LEADER_OBEYS_GRANDCHILD_IGNORES = """\
import subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
print("grandchild", grandchild.pid, flush=True)
time.sleep(60)
"""


def test_stop_kills_a_grandchild_that_ignores_sigterm_after_the_leader_obeyed(groups, stray_pids, tmp_path):
    """The group leader ends on SIGTERM, one of its children ignores it: SIGKILL must still reach the group."""
    group = groups(cores=[])
    group.start(
        [sys.executable, "-c", LEADER_OBEYS_GRANDCHILD_IGNORES, IGNORING_GRANDCHILD], env=CHILD_ENV, cwd=tmp_path
    )
    lines = read_lines(group, 2)
    grandchild = int(next(line for line in lines if line.startswith("grandchild ")).split()[1])
    stray_pids.append(grandchild)
    group.stop(grace_seconds=0.5)
    assert exit_code(wait_exit(group)) == 128 + signal.SIGTERM
    assert wait_for(lambda: gone(grandchild), timeout=5), (
        "SIGKILL after the grace period went only to a live leader: its SIGTERM-ignoring child lives on"
    )


def test_sample_measures_a_live_group_and_is_none_once_it_ended(groups, tmp_path):
    group = groups(cores=cores_for(1))
    busy = "import time\nprint('busy', flush=True)\nend = time.monotonic() + 20\nwhile time.monotonic() < end: pass\n"
    group.start([sys.executable, "-c", busy], env=CHILD_ENV, cwd=tmp_path)
    assert read_lines(group, 1) == ["busy"]
    first = group.sample()
    assert first is not None
    assert first.mem_bytes > 1024 * 1024  # a Python interpreter's resident memory
    assert 0.0 <= first.cpu_usage <= 100.0
    # The first CPU reading of a process is 0.0 by construction: a later one sees the busy loop.
    samples = []
    assert wait_for(lambda: samples.append(group.sample()) or samples[-1].cpu_usage > 0, timeout=5, interval=0.2)
    group.signal(signal.SIGKILL)
    wait_exit(group)
    assert group.sample() is None


def test_the_group_is_pinned_to_the_cores_it_was_given(groups, tmp_path):
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        pytest.skip("pinning to one core cannot be told apart from no pinning on a one-core machine")
    cores = cores_for(1)
    assert len(cores) == 1 and cores[0] in available
    code = (
        "import os\n"
        "print(sorted(os.sched_getaffinity(0)))\n"
        "print(next(l for l in open('/proc/self/status') if l.startswith('Cpus_allowed_list')).split()[1])\n"
    )
    group = groups(cores=cores)
    group.start([sys.executable, "-c", code], env=CHILD_ENV, cwd=tmp_path)
    affinity, allowed = read_lines(group, 2)
    assert affinity == repr(cores)
    assert allowed == str(cores[0])
    assert wait_exit(group) == 0

    # Another core than the first one: the list given is the list applied.
    last = groups(cores=[available[-1]])
    last.start([sys.executable, "-c", code], env=CHILD_ENV, cwd=tmp_path)
    assert read_lines(last, 2)[0] == repr([available[-1]])
    wait_exit(last)


INTERMEDIATE_RUNNER = """\
import importlib.util, os, sys
spec = importlib.util.spec_from_file_location("workload_process", sys.argv[1])
process = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = process
spec.loader.exec_module(process)
group = process.ProcessGroup(cores=[])
group.start(
    [sys.executable, "-c", "import os, time; print(os.getpid(), flush=True); time.sleep(60)"],
    env={"PATH": os.environ.get("PATH", "")},
    cwd=sys.argv[2],
)
print(group.stdout.readline().decode().strip(), flush=True)  # the workload runs (past the wrapper)
os._exit(0)  # the runner dies without stopping its workload
"""


def test_a_workload_dies_with_its_runner(stray_pids, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", INTERMEDIATE_RUNNER, str(PROCESS_PY), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    workload = int(result.stdout.strip())
    stray_pids.append(workload)
    assert wait_for(lambda: gone(workload), timeout=10), "the workload outlived its runner (PR_SET_PDEATHSIG)"


# --- reporter.Reporter ---------------------------------------------------------------------------


class RecordingRun(WorkloadRun):
    """A workload run that records every call (name, keyword arguments, thread) instead of writing rows."""

    name = "worker-0"
    node_name = "node-a"

    def __init__(self):
        self.lock = threading.Lock()
        self.calls: list[tuple[str, dict, int]] = []
        self.heartbeat_answer = HeartbeatAnswer(alive=True)
        self.store_log_failures = 0  # how many store_log calls raise before they work

    def record(self, name: str, **values) -> None:
        with self.lock:
            self.calls.append((name, values, threading.get_ident()))

    def named(self, name: str) -> list[dict]:
        with self.lock:
            return [values for call, values, _ in self.calls if call == name]

    def names(self) -> list[str]:
        with self.lock:
            return [call for call, _, _ in self.calls]

    def threads_of(self, names) -> set[int]:
        with self.lock:
            return {thread for call, _, thread in self.calls if call in names}

    def heartbeat(self) -> HeartbeatAnswer:
        self.record("heartbeat")
        return self.heartbeat_answer

    def store_log(self, *, seq: int, text: str, log_bytes: int, truncated: bool) -> None:
        with self.lock:
            failing = self.store_log_failures > 0
            self.store_log_failures -= failing
        self.record("store_log_attempt", seq=seq, text=text)
        if failing:
            raise RuntimeError("database went away")
        self.record("store_log", seq=seq, text=text, log_bytes=log_bytes, truncated=truncated)

    def store_samples(self, samples: list[dict]) -> None:
        self.record("store_samples", samples=list(samples))

    def event(self, kind: str, message: str) -> None:
        self.record("event", kind=kind, message=message)

    def stored_text(self) -> str:
        return "".join(values["text"] for values in self.named("store_log"))


def make_reporter(run, *, log=None, flush=0.05, beat=0.05, sample=0.05, sampler=None, on_heartbeat=None):
    log = log or LogBuffer(log_file=io.StringIO(), cap_bytes=1024 * 1024)
    return Reporter(
        run=run,
        log=log,
        sample=sampler or (lambda: None),
        on_heartbeat=on_heartbeat or (lambda answer: None),
        flush_seconds=flush,
        heartbeat_seconds=beat,
        sample_seconds=sample,
    )


@pytest.fixture
def reporters():
    """Reporters a test starts are stopped at the end (bounded), so no thread outlives its test."""
    started: list[Reporter] = []

    def make(run, **kwargs) -> Reporter:
        reporter = make_reporter(run, **kwargs)
        started.append(reporter)
        return reporter

    yield make
    for reporter in started:
        reporter.stop(timeout=5)


def call_within(reporter: Reporter, fn, *args, timeout: float = 10.0, **kwargs):
    """``reporter.call`` that fails the test instead of hanging when the reporter's thread is gone."""
    box: dict = {}

    def caller():
        try:
            box["value"] = reporter.call(fn, *args, **kwargs)
        except BaseException as error:  # handed back to the test
            box["error"] = error

    thread = threading.Thread(target=caller, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "reporter.call did not return: is the reporter's thread alive?"
    if "error" in box:
        raise box["error"]
    return box["value"]


def stop_within(reporter: Reporter, *, timeout: float = 10.0) -> None:
    reporter.stop(timeout=timeout)
    assert not reporter._thread.is_alive(), "the reporter's thread did not end"


def test_posted_writes_run_in_order_on_one_reporter_thread(reporters):
    run = RecordingRun()
    reporter = reporters(run)
    reporter.start()
    for i in range(50):
        reporter.post(run.event, "step", str(i))
    stop_within(reporter)
    events = run.named("event")
    assert [values["message"] for values in events] == [str(i) for i in range(50)]
    threads = run.threads_of({"event"})
    assert len(threads) == 1 and threading.get_ident() not in threads


def test_call_returns_the_value_and_raises_the_error_of_the_function(reporters):
    run = RecordingRun()
    reporter = reporters(run)
    reporter.start()
    ident, value = call_within(reporter, lambda: (threading.get_ident(), 42))
    assert value == 42 and ident != threading.get_ident()

    def fails():
        raise ValueError("row is gone")

    with pytest.raises(ValueError, match="row is gone"):
        call_within(reporter, fails)
    # The thread is still there, and still the same one.
    assert call_within(reporter, threading.get_ident) == ident
    stop_within(reporter)


def test_heartbeats_only_while_heartbeating_and_their_answer_is_handed_on(reporters):
    run = RecordingRun()
    run.heartbeat_answer = HeartbeatAnswer(alive=True, stop_reason="Stopped by alice.")
    answers: list = []
    reporter = reporters(run, on_heartbeat=answers.append)
    reporter.start()
    # A window of many heartbeat periods (0.05 s): none may happen while not heartbeating.
    call_within(reporter, lambda: None)
    time.sleep(0.4)
    assert run.named("heartbeat") == [] and answers == []

    reporter.heartbeating = True
    assert wait_for(lambda: len(answers) >= 3, timeout=5)
    assert all(answer is run.heartbeat_answer for answer in answers)
    beats = run.threads_of({"heartbeat"})
    assert len(beats) == 1 and threading.get_ident() not in beats

    reporter.heartbeating = False
    call_within(reporter, lambda: None)  # a heartbeat already under way has ended
    count = len(run.named("heartbeat"))
    time.sleep(0.4)
    assert len(run.named("heartbeat")) == count
    stop_within(reporter)


def test_log_lines_arrive_through_store_log_with_increasing_seq(reporters):
    run = RecordingRun()
    log = LogBuffer(log_file=io.StringIO(), cap_bytes=1024 * 1024)
    reporter = reporters(run, log=log)
    reporter.start()
    sent = []
    for batch in range(4):
        for i in range(3):
            line = f"batch {batch} line {i}\n"
            sent.append(line)
            log.add_line(line)
        assert wait_for(lambda: run.stored_text() == "".join(sent), timeout=5)
    log.console_line("Task worker-0 ended.")
    stop_within(reporter)
    stored = run.named("store_log")
    seqs = [values["seq"] for values in stored]
    assert len(seqs) >= 4 and seqs == sorted(set(seqs)) and seqs[0] == 1
    assert run.stored_text() == "".join(sent) + CONSOLE_PREFIX + "Task worker-0 ended.\n"
    assert stored[-1]["log_bytes"] == len(run.stored_text().encode()) and stored[-1]["truncated"] is False
    assert run.threads_of({"store_log"}) != {threading.get_ident()} and len(run.threads_of({"store_log"})) == 1


def test_stop_flushes_the_remaining_log_and_samples_before_it_returns(reporters):
    run = RecordingRun()
    log = LogBuffer(log_file=io.StringIO(), cap_bytes=1024 * 1024)
    # Nothing would be flushed on the reporter's own clock within this test: only stop() can store these.
    reporter = reporters(run, log=log, flush=60, beat=60, sample=60)
    reporter.add_sample({"at": 0})  # before start: as the runner adds its "no data yet" sample
    reporter.start()
    call_within(reporter, lambda: None)  # the first (immediate) flush has happened
    assert run.named("store_samples") == [{"samples": [{"at": 0}]}]
    log.add_line("last words\n")
    reporter.post(run.event, "upload", "done")
    stop_within(reporter)
    assert run.stored_text() == "last words\n"
    assert run.named("event") == [{"kind": "upload", "message": "done"}]


def test_a_sample_added_while_the_reporter_runs_is_stored_by_stop(reporters):
    run = RecordingRun()
    reporter = reporters(run, flush=60, beat=60, sample=60)
    reporter.start()
    call_within(reporter, lambda: None)
    reporter.add_sample({"at": 1, "cpu_usage": 5.0, "mem_usage": -1, "mem_bytes": 10})
    stop_within(reporter)
    assert run.named("store_samples") == [
        {"samples": [{"at": 1, "cpu_usage": 5.0, "mem_usage": -1, "mem_bytes": 10}]}
    ], "add_sample appended to a list the reporter had already swapped out"


def test_samples_are_taken_while_heartbeating_and_stored_on_the_reporter_thread(reporters):
    run = RecordingRun()
    taken: list[int] = []

    def sampler():
        taken.append(threading.get_ident())
        return {"at": len(taken), "cpu_usage": 1.0, "mem_usage": -1, "mem_bytes": 1}

    reporter = reporters(run, sampler=sampler)
    reporter.start()
    call_within(reporter, lambda: None)
    assert taken == []
    reporter.heartbeating = True
    assert wait_for(lambda: len(run.named("store_samples")) >= 2, timeout=5)
    stop_within(reporter)
    assert len(set(taken)) == 1 and threading.get_ident() not in taken
    stored = [sample["at"] for values in run.named("store_samples") for sample in values["samples"]]
    assert stored == sorted(stored) and stored[0] == 1


def test_a_failing_store_log_does_not_end_the_reporter(reporters):
    run = RecordingRun()
    run.store_log_failures = 1
    log = LogBuffer(log_file=io.StringIO(), cap_bytes=1024 * 1024)
    reporter = reporters(run, log=log)
    reporter.start()
    log.add_line("first\n")
    assert wait_for(lambda: len(run.named("store_log_attempt")) == 1, timeout=5)
    log.add_line("second\n")
    assert wait_for(lambda: "second\n" in run.stored_text(), timeout=5), "the reporter stopped flushing"
    assert reporter._thread.is_alive()
    assert call_within(reporter, lambda: "still here") == "still here"
    stop_within(reporter)


def test_a_log_chunk_whose_store_failed_is_stored_on_a_later_turn(reporters):
    """reporter.py: "A failed write is logged and retried on the next turn" — the lines must not be lost."""
    run = RecordingRun()
    run.store_log_failures = 1
    log = LogBuffer(log_file=io.StringIO(), cap_bytes=1024 * 1024)
    reporter = reporters(run, log=log)
    reporter.start()
    log.add_line("first\n")
    assert wait_for(lambda: len(run.named("store_log_attempt")) == 1, timeout=5)
    log.add_line("second\n")
    stop_within(reporter)
    assert run.stored_text() == "first\nsecond\n", "a log chunk whose store failed was dropped"
    seqs = [values["seq"] for values in run.named("store_log")]
    assert seqs == list(range(1, len(seqs) + 1)), "stored chunks must be numbered without gaps"


def _thread_cpu_seconds(native_id: int) -> float:
    for thread in psutil.Process().threads():
        if thread.id == native_id:
            return thread.user_time + thread.system_time
    raise AssertionError(f"thread {native_id} not found")


def test_an_idle_reporter_does_not_spin(reporters):
    """Not heartbeating and nothing to write: the thread must wait, not poll in a busy loop."""
    run = RecordingRun()
    reporter = reporters(run, flush=60, beat=60, sample=60)
    reporter.start()
    native_id = call_within(reporter, threading.get_native_id)
    before = _thread_cpu_seconds(native_id)
    time.sleep(1.0)  # the window measured, not an assertion on timing
    used = _thread_cpu_seconds(native_id) - before
    stop_within(reporter)
    assert used < 0.2, f"the idle reporter thread used {used:.2f} s of CPU in 1 s"


# --- sync.OutputSync -----------------------------------------------------------------------------


class RecordingBackend:
    def __init__(self):
        self.writes: list[tuple[str, bytes, int]] = []

    def write_stream(self, key, stream, *, size):
        self.writes.append((key, stream.read(), size))

    def keys(self) -> list[str]:
        return sorted(key for key, _, _ in self.writes)


@pytest.fixture
def output_tree(tmp_path):
    local = tmp_path / "outputs" / "model_0"
    (local / "sub").mkdir(parents=True)
    (local / "a.txt").write_text("alpha")
    (local / "sub" / "b.bin").write_bytes(b"\x00\x01\x02")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.txt").write_text("not yours")
    (local / "link.txt").symlink_to(outside / "secret.txt")
    (local / "linkdir").symlink_to(outside, target_is_directory=True)
    return local


def make_sync(local: Path, backend: RecordingBackend, asked: list):
    def storage_for(obs_url, access):
        asked.append((obs_url, access))
        return backend, ObsPath("bucket-out", "jobs/run-1")  # no trailing slash: folder_key adds it

    return OutputSync(targets=[SyncTarget("model", local, "obs://bucket-out/jobs/run-1/")], storage_for=storage_for)


def test_output_sync_uploads_new_files_once_and_changed_files_again(output_tree):
    backend, asked = RecordingBackend(), []
    sync = make_sync(output_tree, backend, asked)

    assert sync.upload_changed() == 2
    assert backend.keys() == ["jobs/run-1/a.txt", "jobs/run-1/sub/b.bin"]
    assert {key: (data, size) for key, data, size in backend.writes} == {
        "jobs/run-1/a.txt": (b"alpha", 5),
        "jobs/run-1/sub/b.bin": (b"\x00\x01\x02", 3),
    }
    assert asked == [("obs://bucket-out/jobs/run-1/", WRITE)]

    backend.writes.clear()
    assert sync.upload_changed() == 0
    assert backend.writes == []

    (output_tree / "a.txt").write_text("alpha, longer")  # a new size
    info = (output_tree / "sub" / "b.bin").stat()
    os.utime(output_tree / "sub" / "b.bin", ns=(info.st_atime_ns, info.st_mtime_ns + 5_000_000_000))  # same size
    (output_tree / "sub" / "c.txt").write_text("new")
    assert sync.upload_changed() == 3
    assert {key: data for key, data, _ in backend.writes} == {
        "jobs/run-1/a.txt": b"alpha, longer",
        "jobs/run-1/sub/b.bin": b"\x00\x01\x02",
        "jobs/run-1/sub/c.txt": b"new",
    }


def test_output_sync_never_follows_links_out_of_the_folder(output_tree):
    backend = RecordingBackend()
    sync = make_sync(output_tree, backend, [])
    sync.upload_changed()
    assert not any("link" in key or "secret" in key for key in backend.keys())
    assert all(data != b"not yours" for _, data, _ in backend.writes)


def test_output_sync_skips_a_folder_that_does_not_exist(tmp_path):
    backend, asked = RecordingBackend(), []
    sync = make_sync(tmp_path / "never-made", backend, asked)
    assert sync.upload_changed() == 0 and backend.writes == [] and asked == []


# --- workspace.Workspace -------------------------------------------------------------------------


def test_workspace_is_made_empty_and_removed(tmp_path):
    root = tmp_path / "job" / "worker-0"
    (root / "code").mkdir(parents=True)
    (root / "code" / "old.py").write_text("left by a killed runner")
    (root / "logs").mkdir()
    (root / "logs" / "old.log").write_text("old")
    workspace = Workspace(root)
    workspace.create()
    assert sorted(p.name for p in root.iterdir()) == ["logs", "tmp"]
    assert list((root / "logs").iterdir()) == [] and (root / "tmp").is_dir()
    assert workspace.folder("inputs", "data_0") == root / "inputs" / "data_0" and (root / "inputs" / "data_0").is_dir()
    workspace.remove()
    assert not root.exists()
    assert (tmp_path / "job").is_dir()  # only the workload's own folder goes


# --- runner.Runner end to end with a fake kind -----------------------------------------------------

KIND_NAME = "testkind"
WRITES = {
    "claim",
    "set_local_dir",
    "mark_running",
    "heartbeat",
    "store_log",
    "store_samples",
    "event",
    "outputs_synced",
    "finish",
    "after_finish",
}


class FakeRun(RecordingRun):
    """A workload run that is claimed once and runs ``argv`` (given by the test) in its workspace."""

    workload_id = 7

    def __init__(self, argv=None, *, prepare_error: str | None = None, cpu_cores: int = 1):
        super().__init__()
        self.argv = argv
        self.prepare_error = prepare_error
        self.cpu_cores = cpu_cores
        self.claimed = False
        self.stop_reason: str | None = None  # answered by the heartbeat once ``stop_when`` holds
        self.stop_when = lambda: True
        self.workspace_root: Path | None = None

    def claim(self, *, token: str, runner_pid: int) -> bool:
        self.record("claim", token=token, runner_pid=runner_pid)
        first, self.claimed = not self.claimed, True
        return first

    def set_local_dir(self, path: str) -> None:
        self.record("set_local_dir", path=path)

    def mark_running(self, *, process_pid: int) -> None:
        self.record("mark_running", process_pid=process_pid)

    def heartbeat(self) -> HeartbeatAnswer:
        self.record("heartbeat")
        if self.stop_reason and self.named("mark_running") and self.stop_when():
            return HeartbeatAnswer(alive=True, stop_reason=self.stop_reason)
        return HeartbeatAnswer(alive=True)

    def outputs_synced(self) -> None:
        self.record("outputs_synced")

    def finish(self, outcome: Outcome) -> bool:
        self.record("finish", outcome=outcome)
        return True

    def after_finish(self) -> None:
        self.record("after_finish")

    def prepare(self, workspace, console) -> LaunchSpec:
        self.record("prepare")
        self.workspace_root = workspace.root
        console.console_line(f"Preparing {self.name}.")
        if self.prepare_error:
            raise PrepareError(self.prepare_error)
        return LaunchSpec(argv=self.argv, env=dict(CHILD_ENV), cwd=workspace.folder("code"), cpu_cores=self.cpu_cores)

    def describe_exit(self, returncode: int) -> tuple[str, str]:
        if returncode == 0:
            return "succeeded", "The process exited with code 0."
        return "failed", f"The process exited with code {returncode}."

    def log_cap_bytes(self) -> int:
        return 1024 * 1024

    def workspace_name(self) -> str:
        return f"job-1/{self.name}"

    def log_file_name(self) -> str:
        return f"job-1-{self.name}.log"

    def memory_exceeded_message(self, rss_bytes: int) -> str:
        return f"used {rss_bytes} bytes"

    def storage_for(self, obs_url: str, access: str):
        raise AssertionError("no outputs: storage is never asked for")

    def outcome(self) -> Outcome:
        finishes = self.named("finish")
        assert len(finishes) == 1, f"finish was called {len(finishes)} time(s): {self.names()}"
        return finishes[0]["outcome"]


class FakeKind(WorkloadKind):
    name = KIND_NAME

    def __init__(self):
        self.runs: dict[int, FakeRun] = {}

    def run_for(self, workload_id: int):
        return self.runs.get(workload_id)


@pytest.fixture
def fake_kind(settings, tmp_path):
    settings.TRAINING_WORK_DIR = tmp_path / "work"
    settings.TRAINING_RUNNER_HEARTBEAT_SECONDS = 0.1
    settings.TRAINING_LOG_FLUSH_SECONDS = 0.05
    settings.TRAINING_METRIC_INTERVAL_SECONDS = 0.1
    settings.TRAINING_STOP_GRACE_SECONDS = 1
    settings.TRAINING_OUTPUT_UPLOAD_PERIOD = 30
    previous_sigterm = signal.getsignal(signal.SIGTERM)  # the runner installs its own handler
    kind = FakeKind()
    register_kind(kind)
    yield kind
    registry._kinds.pop(KIND_NAME, None)
    signal.signal(signal.SIGTERM, previous_sigterm)


def run_measured(run: RecordingRun) -> list[dict]:
    samples = [sample for values in run.named("store_samples") for sample in values["samples"]]
    return [sample for sample in samples if "mem_bytes" in sample]


def run_runner(kind: FakeKind, run: FakeRun, *, timeout: float) -> tuple[Runner, float]:
    kind.runs[run.workload_id] = run
    runner = Runner(KIND_NAME, run.workload_id)
    started = time.monotonic()
    assert runner.run() == 0
    elapsed = time.monotonic() - started
    assert elapsed < timeout, f"the runner took {elapsed:.1f} s"
    return runner, elapsed


HELLO = "import os, sys; print('hello', os.getpid(), os.environ['MA_CONSOLE_WORKLOAD']); sys.exit(3)"


def test_runner_runs_a_workload_and_reports_everything_in_order(fake_kind, tmp_path):
    run = FakeRun([sys.executable, "-c", HELLO])
    runner, _ = run_runner(fake_kind, run, timeout=20)

    names = run.names()
    assert names[0] == "claim"
    (claim,) = run.named("claim")
    assert claim["runner_pid"] == os.getpid() and claim["token"] == runner.token
    assert run.named("set_local_dir") == [{"path": str(tmp_path / "work" / "job-1" / "worker-0")}]
    assert run.workspace_root == tmp_path / "work" / "job-1" / "worker-0"
    (running,) = run.named("mark_running")
    assert names.index("prepare") < names.index("mark_running")

    text = run.stored_text()
    # The process ran with the pid reported, and carried the workload's marker.
    assert f"hello {running['process_pid']} {KIND_NAME}:7:{runner.token}\n" in text
    assert CONSOLE_PREFIX + "Preparing worker-0.\n" in text
    assert CONSOLE_PREFIX + "Starting worker-0 on 1 core(s).\n" in text
    assert CONSOLE_PREFIX + "worker-0 ended: The process exited with code 3.\n" in text
    assert text.index("Starting worker-0") < text.index("hello") < text.index("worker-0 ended")

    outcome = run.outcome()
    assert outcome.status == "failed" and outcome.exit_code == 3 and outcome.create_failed is False
    assert outcome.message.startswith("The process exited with code 3.\nLast log lines:\n")
    assert "hello" in outcome.message

    # Every log line and sample is stored before the exit is, and after_finish comes last.
    last_store = max(i for i, name in enumerate(names) if name in ("store_log", "store_samples"))
    assert last_store < names.index("finish") < names.index("after_finish") == len(names) - 1
    samples = [sample for values in run.named("store_samples") for sample in values["samples"]]
    assert samples and "at" in samples[0]  # at least the "no data yet" sample

    # The workspace is gone; the runner's writes happened on one thread, not the runner's main one.
    assert not run.workspace_root.exists()
    writes_but_claim = run.threads_of(WRITES - {"claim"})
    assert len(writes_but_claim) == 1 and threading.get_ident() not in writes_but_claim
    assert run.threads_of({"prepare"}) == {threading.get_ident()}

    # A second runner for the same workload loses the claim and does nothing.
    before = len(run.names())
    second = Runner(KIND_NAME, run.workload_id)
    assert second.run() == 0
    assert run.names()[before:] == ["claim"]
    assert not run.workspace_root.exists()


def test_runner_claims_first_on_its_main_thread_and_writes_the_rest_from_the_reporter(fake_kind):
    """kinds.WorkloadRun: ``claim`` is the first act, before any thread; every later write is the reporter's."""
    run = FakeRun([sys.executable, "-c", "pass"])
    run_runner(fake_kind, run, timeout=20)
    assert run.names()[0] == "claim"
    later = [name for name in WRITES if name != "claim"]
    threads = run.threads_of(later)
    assert len(threads) == 1 and threading.get_ident() not in threads
    assert run.threads_of(["claim"]) != threads


def test_a_runner_for_a_workload_that_is_gone_does_nothing(fake_kind, tmp_path):
    runner = Runner(KIND_NAME, 12345)  # run_for answers None
    assert runner.run() == 0
    assert not (tmp_path / "work").exists()  # no workspace was made


def test_a_stop_request_in_the_heartbeat_terminates_the_process(fake_kind):
    run = FakeRun([sys.executable, "-c", "import time; print('sleeping', flush=True); time.sleep(30)"])
    run.stop_reason = "Stopped by alice."
    # Heartbeat, log and samples all run on the reporter's thread: stop once the process is seen and measured.
    run.stop_when = lambda: "sleeping\n" in run.stored_text() and run_measured(run)
    runner, elapsed = run_runner(fake_kind, run, timeout=10)
    outcome = run.outcome()
    assert outcome.status == "terminated" and outcome.message == "Stopped by alice."
    assert outcome.exit_code == 128 + signal.SIGTERM  # it obeyed SIGTERM: no SIGKILL needed
    text = run.stored_text()
    assert "sleeping\n" in text and CONSOLE_PREFIX + "Stopping: Stopped by alice.\n" in text
    measured = run_measured(run)
    assert measured and measured[0]["mem_bytes"] > 0 and measured[0]["mem_usage"] == -1  # no memory limit
    assert run.names()[-2:] == ["finish", "after_finish"]


def test_a_stop_request_kills_a_process_that_ignores_sigterm_after_the_grace_period(fake_kind):
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('stubborn', flush=True); "
        "time.sleep(30)"
    )
    run = FakeRun([sys.executable, "-c", code])
    run.stop_reason = "Stopped by bob."
    run.stop_when = lambda: "stubborn\n" in run.stored_text()  # it ignores SIGTERM from now on
    _, elapsed = run_runner(fake_kind, run, timeout=10)
    outcome = run.outcome()
    assert outcome.status == "terminated" and outcome.exit_code == 137
    assert elapsed >= 1.0  # TRAINING_STOP_GRACE_SECONDS passed before the SIGKILL


def test_a_failed_prepare_is_reported_as_a_failed_start_without_a_process(fake_kind):
    run = FakeRun(prepare_error="Could not download the code from obs://b/code/: no such folder.")
    runner, _ = run_runner(fake_kind, run, timeout=10)
    outcome = run.outcome()
    assert outcome == Outcome(
        "failed", "Could not download the code from obs://b/code/: no such folder.", create_failed=True
    )
    assert run.named("mark_running") == [] and runner.group is None
    assert CONSOLE_PREFIX + "Could not download the code from obs://b/code/: no such folder.\n" in run.stored_text()
    assert run.names()[-2:] == ["finish", "after_finish"]
    assert not run.workspace_root.exists()


LINGERING = """\
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # inherits stdout, never ends itself
print("leader done", flush=True)
"""


def test_the_runner_ends_soon_after_the_process_even_if_a_child_lingers(fake_kind):
    """The workload is its main process: a background child left behind must not hold the runner 30 s."""
    run = FakeRun([sys.executable, "-c", LINGERING])
    _, elapsed = run_runner(fake_kind, run, timeout=60)
    assert run.outcome().status == "succeeded"
    assert "leader done\n" in run.stored_text()
    assert elapsed < 10, f"the runner reported the exit {elapsed:.0f} s after the process ended"
