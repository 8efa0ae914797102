"""Recovery after a broker restart: a real worker, a real Redis killed with kill -9 and started empty.

Issue 15 §3: queued work waited WORK_LOST_MESSAGE_SECONDS (5 minutes) for the time-based resend
after Redis came back empty, and the worker could exit while reconnecting. Here the worker runs
with that production delay, so only the broker check can finish the rows in time.
"""

import shutil
import signal
import socket
import subprocess
import time

import pytest
from django.db import connection

from console.core import work
from console.core.models import WorkState

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]

ROWS_QUEUED = 6
ROWS_SENT_WHILE_DOWN = 2
RECOVERY_BOUND_SECONDS = 45  # well below the worker's WORK_LOST_MESSAGE_SECONDS (300)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    """A redis-server of this test alone, without persistence: a restart loses every message."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def own_redis():
    server = OwnRedis()
    server.start()
    yield server
    if server.process.poll() is None:
        server.kill()


@pytest.fixture
def WorkerChore(transactional_db):
    from tests.foundation import chore_worker

    with connection.schema_editor() as editor:
        editor.create_model(chore_worker.WorkerChore)
    yield chore_worker.WorkerChore
    # The worker's sweep looks after this kind; the test process's sweeps must not.
    if chore_worker.WorkerChore in work._registry:
        work._registry.remove(chore_worker.WorkerChore)
    with connection.schema_editor() as editor:
        editor.delete_model(chore_worker.WorkerChore)


def test_closing_a_lost_connection_with_unacknowledged_messages_is_a_connection_error(own_redis):
    """The kombu bug that made the worker exit with AttributeError 'hostname' (see console/celery.py).

    The state Celery's consumer reached in the reproduction, when Redis went away with a task in
    progress (acks_late): the channel's pools dropped on the disconnect, the transport's link to
    the connection dropped by collect(), the channel still open with an unacknowledged message;
    then close(), ignoring connection errors only.
    """
    from kombu import Connection, Queue
    from kombu.common import ignore_errors

    import console.celery  # noqa: F401  (installs the workaround, as the worker does)

    with Connection(own_redis.url) as producer_conn:
        producer_conn.SimpleQueue("chores").put({"row": 1})
    conn = Connection(own_redis.url)
    channel = conn.default_channel
    message = Queue("chores", channel=channel).get(no_ack=False)
    assert message is not None  # delivered, not acknowledged: a task in progress
    channel._disconnect_pools()
    conn.transport.client = None  # what collect() does
    ignore_errors(conn, conn.close)  # raised AttributeError: 'NoneType' object has no attribute 'hostname'


def send_to(url, model, pk):
    from console.celery import app

    with app.connection_for_write(url) as conn:
        app.send_task(model.WORK_TASK, args=[pk], task_id=work.work_task_id(model, pk, 0), connection=conn)


def test_queued_work_finishes_within_seconds_of_an_empty_broker_coming_back(
    own_redis, WorkerChore, celery_worker_process
):
    from django.utils import timezone

    worker = celery_worker_process(
        name="brokerrestart",
        beat=True,
        extra_env={"REDIS_URL": own_redis.url, "DJANGO_SETTINGS_MODULE": "tests.foundation.broker_restart_settings"},
    )
    rows = [WorkerChore.objects.create(enqueued_at=timezone.now()) for _ in range(ROWS_QUEUED)]
    for row in rows:
        send_to(own_redis.url, WorkerChore, row.pk)
    # The first one is being worked on; the rest wait in the queue (one worker process, 0.5 s each).
    deadline = time.monotonic() + 30
    while not WorkerChore.objects.exclude(state=WorkState.PENDING).exists():
        assert time.monotonic() < deadline, "the worker never started the first row"
        time.sleep(0.05)

    own_redis.kill()
    killed_at = time.monotonic()
    # Work created while the broker is away: the web's send failed, the row is stamped and pending.
    rows += [WorkerChore.objects.create(enqueued_at=timezone.now()) for _ in range(ROWS_SENT_WHILE_DOWN)]
    waiting = WorkerChore.objects.filter(state=WorkState.PENDING).count()
    assert waiting >= ROWS_QUEUED - 2 + ROWS_SENT_WHILE_DOWN  # their messages are lost with the broker
    time.sleep(work.SEND_SETTLE_SECONDS + 1)  # the outage; longer than a message in flight

    own_redis.start()  # empty: everything that was queued is gone
    back_at = time.monotonic()
    deadline = back_at + RECOVERY_BOUND_SECONDS
    while WorkerChore.objects.exclude(state=WorkState.SUCCEEDED).exists():
        assert worker.process.poll() is None, f"the worker exited:\n{worker.log_path.read_text()[-3000:]}"
        assert time.monotonic() < deadline, (
            f"not finished {RECOVERY_BOUND_SECONDS} s after the broker came back: "
            f"{list(WorkerChore.objects.exclude(state=WorkState.SUCCEEDED).values_list('pk', 'state'))}\n"
            f"{worker.log_path.read_text()[-3000:]}"
        )
        time.sleep(0.2)
    recovered_in = time.monotonic() - back_at
    print(f"all {len(rows)} rows finished {recovered_in:.1f} s after Redis came back "
          f"(down {back_at - killed_at:.1f} s)")  # fmt: skip
    assert WorkerChore.objects.filter(state=WorkState.SUCCEEDED).count() == len(rows)
    # Each row ran once (the claim is a compare-and-set) and no row needed a second attempt.
    assert set(WorkerChore.objects.values_list("attempts", flat=True)) == {1}
    assert worker.process.poll() is None, "the worker exited after the broker came back"
