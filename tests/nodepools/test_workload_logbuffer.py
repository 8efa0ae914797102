"""The runner's log handling, without processes: the cap, masking, last lines, exit codes."""

from __future__ import annotations

import io
import signal

from console.training.runner_core import CONSOLE_PREFIX, Runner, _exit_code, signal_name


def runner(secrets=()):
    r = Runner(task_id=0)
    r.log_file = io.StringIO()
    r.secrets = list(secrets)
    return r


def test_log_is_capped_with_a_notice_and_keeps_draining(settings):
    settings.TRAINING_LOG_CAP_BYTES = 100
    r = runner()
    for i in range(50):
        r._add_line(f"line {i:03d} ........\n")
    text = r.log_file.getvalue()
    assert r.truncated
    assert text.count("line ") < 50
    assert "Log truncated: this task's log reached its cap of 100 bytes" in text
    assert text.count("Log truncated") == 1
    assert "".join(r.pending) == text  # what goes to the database is what is written locally


def test_sensitive_values_are_masked_in_the_script_output_but_not_console_lines():
    r = runner(secrets=["s3cr3t-token"])
    r._add_line("using token s3cr3t-token to log in\n")
    r.console_line("Task worker-0 started.")
    text = r.log_file.getvalue()
    assert "s3cr3t-token" not in text and "using token ****** to log in" in text
    assert CONSOLE_PREFIX + "Task worker-0 started." in text


def test_last_lines_go_into_the_failure_message():
    r = runner()
    for i in range(30):
        r._add_line(f"step {i}\n")
    message = r._last_lines()
    assert message.startswith("\nLast log lines:\n") and "step 29" in message and "step 19" not in message


def test_exit_codes_of_signals_are_128_plus_the_signal():
    assert _exit_code(-signal.SIGKILL) == 137 and _exit_code(3) == 3 and _exit_code(0) == 0
    assert signal_name(9) == "SIGKILL"
