"""The runner's log buffer, without processes: the cap, masking, last lines; exit codes."""

from __future__ import annotations

import io
import signal

from console.nodepools.workloads.logbuffer import CONSOLE_PREFIX, LogBuffer
from console.nodepools.workloads.process import exit_code as _exit_code
from console.nodepools.workloads.process import signal_name


def runner(secrets=(), cap=10 * 1024 * 1024):
    return LogBuffer(log_file=io.StringIO(), cap_bytes=cap, secrets=secrets)


def test_log_is_capped_with_a_notice_and_keeps_draining():
    r = runner(cap=100)
    for i in range(50):
        r.add_line(f"line {i:03d} ........\n")
    text = r.log_file.getvalue()
    assert r.truncated
    assert text.count("line ") < 50
    assert "Log truncated: this task's log reached its cap of 100 bytes" in text
    assert text.count("Log truncated") == 1
    assert "".join(r.pending) == text  # what goes to the database is what is written locally


def test_sensitive_values_are_masked_in_the_script_output_but_not_console_lines():
    r = runner(secrets=["s3cr3t-token"])
    r.add_line("using token s3cr3t-token to log in\n")
    r.console_line("Task worker-0 started.")
    text = r.log_file.getvalue()
    assert "s3cr3t-token" not in text and "using token ****** to log in" in text
    assert CONSOLE_PREFIX + "Task worker-0 started." in text


def test_last_lines_go_into_the_failure_message():
    r = runner()
    for i in range(30):
        r.add_line(f"step {i}\n")
    message = r.last_lines()
    assert message.startswith("\nLast log lines:\n") and "step 29" in message and "step 19" not in message


def test_exit_codes_of_signals_are_128_plus_the_signal():
    assert _exit_code(-signal.SIGKILL) == 137 and _exit_code(3) == 3 and _exit_code(0) == 0
    assert signal_name(9) == "SIGKILL"
