"""Leased background work: claim / heartbeat / finish by compare-and-set, and the stale-work sweep.

No app in the foundation has a LeasedWork model yet, so these tests make a small concrete one
(`Chore`) in an isolated app registry and create its table for the test only. Everything else is
real: the database's conditional UPDATEs and the broker the sweep sends to.
"""

import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, models, transaction
from django.test.utils import isolate_apps
from django.utils import timezone

from console.core import work
from console.core.models import LeasedWork, WorkState

TASK = "tests.foundation.chore"


def make_chore_model():
    with isolate_apps("console.core"):

        class Chore(LeasedWork):
            WORK_TASK = TASK
            gave_up_calls = models.PositiveIntegerField(default=0)

            class Meta:
                app_label = "core"

            def work_gave_up(self):
                type(self).objects.filter(pk=self.pk).update(gave_up_calls=models.F("gave_up_calls") + 1)

    return Chore


@pytest.fixture
def broker_queue():
    """The default queue on the test broker, emptied; call it to take the messages sent since."""
    from console.celery import app

    conn = app.connection_for_read()
    queue = app.amqp.queues[settings.CELERY_TASK_DEFAULT_QUEUE](conn.default_channel)
    queue.declare()
    queue.purge()

    def take():
        messages = []
        while (message := queue.get(no_ack=True)) is not None:
            args, _kwargs, _embed = message.decode()
            messages.append((message.headers["task"], args))
        return messages

    yield take
    queue.purge()
    conn.release()


@pytest.fixture
def Chore(db, broker_queue):
    model = make_chore_model()
    with connection.schema_editor() as editor:
        editor.create_model(model)  # rolled back with the test's transaction
    work.register_work(model)
    # The broker as the last check saw it: sweeps only look in its queues if it changes.
    if identity := work.broker_identity():
        work.remember_broker(identity)
    yield model
    work._registry.remove(model)


def test_it_registers_a_model_once():
    model = make_chore_model()
    try:
        work.register_work(model)
        work.register_work(model)
        assert work.registered_work().count(model) == 1
    finally:
        work._registry.remove(model)


def test_it_claims_a_pending_row_once(Chore):
    row = Chore.objects.create()
    token = work.work_claim(Chore, row.pk)
    assert token
    assert work.work_claim(Chore, row.pk) is None  # a second worker, or a redelivered message
    row.refresh_from_db()
    assert row.state == WorkState.RUNNING and row.claimed_by == token and row.attempts == 1
    assert row.started_at and row.heartbeat_at


def test_it_does_not_claim_a_finished_or_missing_row(Chore):
    row = Chore.objects.create(state=WorkState.SUCCEEDED)
    assert work.work_claim(Chore, row.pk) is None
    assert work.work_claim(Chore, 999999) is None


def test_it_heartbeats_only_for_the_claim_holder(Chore):
    row = Chore.objects.create()
    token = work.work_claim(Chore, row.pk)
    Chore.objects.filter(pk=row.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert not work.work_heartbeat(Chore, row.pk, "someone-else")
    assert work.work_heartbeat(Chore, row.pk, token)
    row.refresh_from_db()
    assert timezone.now() - row.heartbeat_at < timedelta(seconds=5)


def test_it_finishes_a_row_exactly_once(Chore):
    row = Chore.objects.create()
    token = work.work_claim(Chore, row.pk)
    assert work.work_finish(Chore, row.pk, token, state=WorkState.SUCCEEDED)
    assert not work.work_finish(Chore, row.pk, token, state=WorkState.FAILED, failure_reason="late")
    assert not work.work_heartbeat(Chore, row.pk, token)
    row.refresh_from_db()
    assert row.state == WorkState.SUCCEEDED and row.failure_reason == "" and row.is_finished


def test_it_stores_extra_fields_when_finishing(Chore):
    row = Chore.objects.create()
    token = work.work_claim(Chore, row.pk)
    assert work.work_finish(Chore, row.pk, token, state=WorkState.FAILED, failure_reason="bad input")
    row.refresh_from_db()
    assert row.state == WorkState.FAILED and row.failure_reason == "bad input" and row.finished_at


def test_it_enqueues_after_commit_only(Chore, broker_queue, django_capture_on_commit_callbacks):
    row = Chore.objects.create()
    with django_capture_on_commit_callbacks(execute=True):
        work.work_enqueue(row)
        assert broker_queue() == []  # nothing before the commit
    assert broker_queue() == [(TASK, [row.pk])]
    row.refresh_from_db()
    assert row.enqueued_at is not None


def test_it_does_not_enqueue_when_the_transaction_rolls_back(Chore, broker_queue, django_capture_on_commit_callbacks):
    row = Chore.objects.create()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            work.work_enqueue(row)
            raise RuntimeError("the view failed after enqueueing")
    assert callbacks == []
    assert broker_queue() == []


def stale(seconds_extra=5):
    return timezone.now() - timedelta(seconds=settings.WORK_STALE_SECONDS + seconds_extra)


def test_it_requeues_running_work_whose_worker_went_silent(Chore, broker_queue):
    row = Chore.objects.create()
    dead_token = work.work_claim(Chore, row.pk)
    Chore.objects.filter(pk=row.pk).update(heartbeat_at=stale())

    assert work.sweep_stale_work() == {"requeued": 1, "failed": 0}
    row.refresh_from_db()
    assert row.state == WorkState.PENDING and row.claimed_by == "" and row.heartbeat_at is None
    assert row.enqueued_at and row.attempts == 1
    assert broker_queue() == [(TASK, [row.pk])]
    # The silent worker wakes up: it can no longer beat or finish the row.
    assert not work.work_heartbeat(Chore, row.pk, dead_token)
    assert not work.work_finish(Chore, row.pk, dead_token, state=WorkState.SUCCEEDED)
    # The next claim counts a second attempt.
    assert work.work_claim(Chore, row.pk)
    row.refresh_from_db()
    assert row.attempts == 2


def lost(seconds_extra=5):
    return timezone.now() - timedelta(seconds=settings.WORK_LOST_MESSAGE_SECONDS + seconds_extra)


def test_it_stamps_enqueued_at_inside_the_transaction(Chore, broker_queue, django_capture_on_commit_callbacks):
    # If the process dies after commit but before sending, the stamp lets the sweep find the row.
    row = Chore.objects.create()
    with django_capture_on_commit_callbacks(execute=False):
        work.work_enqueue(row)
    row.refresh_from_db()
    assert row.enqueued_at is not None
    assert broker_queue() == []


def test_it_does_not_resend_pending_work_that_is_only_waiting_behind_a_backlog(Chore, broker_queue):
    between = (settings.WORK_STALE_SECONDS + settings.WORK_LOST_MESSAGE_SECONDS) / 2
    assert settings.WORK_STALE_SECONDS < between < settings.WORK_LOST_MESSAGE_SECONDS
    # Older than the heartbeat window, younger than "lost": just a queue behind others.
    Chore.objects.create(enqueued_at=timezone.now() - timedelta(seconds=between))
    assert work.sweep_stale_work() == {"requeued": 0, "failed": 0}
    assert broker_queue() == []


def test_it_resends_pending_work_whose_message_got_lost(Chore, broker_queue):
    row = Chore.objects.create(enqueued_at=lost())
    assert work.sweep_stale_work() == {"requeued": 1, "failed": 0}
    row.refresh_from_db()
    assert timezone.now() - row.enqueued_at < timedelta(seconds=5)
    assert broker_queue() == [(TASK, [row.pk])]
    # Just re-sent: the next sweep leaves it alone.
    assert work.sweep_stale_work() == {"requeued": 0, "failed": 0}


def test_it_leaves_live_and_finished_work_alone(Chore, broker_queue):
    running = Chore.objects.create()
    work.work_claim(Chore, running.pk)
    Chore.objects.create(enqueued_at=timezone.now())  # waiting for a worker, not yet stale
    Chore.objects.create(state=WorkState.SUCCEEDED, heartbeat_at=stale(), enqueued_at=stale())
    Chore.objects.create(state=WorkState.FAILED, heartbeat_at=stale(), enqueued_at=stale())
    assert work.sweep_stale_work() == {"requeued": 0, "failed": 0}
    assert broker_queue() == []


def test_it_gives_up_after_the_maximum_attempts(Chore, broker_queue):
    row = Chore.objects.create()
    work.work_claim(Chore, row.pk)
    Chore.objects.filter(pk=row.pk).update(attempts=settings.WORK_MAX_ATTEMPTS, heartbeat_at=stale())

    assert work.sweep_stale_work() == {"requeued": 0, "failed": 1}
    row.refresh_from_db()
    assert row.state == WorkState.FAILED and row.finished_at
    assert row.failure_reason == (
        f"Gave up after {settings.WORK_MAX_ATTEMPTS} attempts: the worker stopped responding each time."
    )
    assert row.gave_up_calls == 1
    assert broker_queue() == []
    # Failed for good: later sweeps do not touch it again.
    assert work.sweep_stale_work() == {"requeued": 0, "failed": 0}
    row.refresh_from_db()
    assert row.gave_up_calls == 1


@pytest.fixture
def CommittedChore(transactional_db, broker_queue):
    """A Chore table outside any test transaction, so another thread sees the rows."""
    model = make_chore_model()
    with connection.schema_editor() as editor:
        editor.create_model(model)
    yield model
    with connection.schema_editor() as editor:
        editor.delete_model(model)


# The side thread must close its own database connection, not leave it to the garbage collector.
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_it_keeps_the_claim_alive_while_working(CommittedChore):
    Chore = CommittedChore
    row = Chore.objects.create()
    token = work.work_claim(Chore, row.pk)
    old = timezone.now() - timedelta(minutes=5)
    Chore.objects.filter(pk=row.pk).update(heartbeat_at=old)
    with work.heartbeating(Chore, row.pk, token):
        deadline = time.monotonic() + 10 * settings.WORK_HEARTBEAT_SECONDS + 5
        while Chore.objects.get(pk=row.pk).heartbeat_at == old:
            assert time.monotonic() < deadline, "no heartbeat arrived"
            time.sleep(0.1)
    # The side thread has stopped: the heartbeat no longer moves.
    last = Chore.objects.get(pk=row.pk).heartbeat_at
    time.sleep(settings.WORK_HEARTBEAT_SECONDS * 2)
    assert Chore.objects.get(pk=row.pk).heartbeat_at == last
    assert not any(t.name.startswith("heartbeat-Chore") for t in threading.enumerate())


def test_it_keeps_the_request_alive_when_the_broker_is_down(Chore, monkeypatch, django_capture_on_commit_callbacks):
    from celery import current_app

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(current_app, "send_task", broker_down)
    row = Chore.objects.create()
    with django_capture_on_commit_callbacks(execute=True):
        work.work_enqueue(row)
    row.refresh_from_db()
    # Committed, stamped and pending: the sweep will send it once the broker is back.
    assert row.state == WorkState.PENDING and row.enqueued_at is not None


# --- messages the broker lost ---------------------------------------------------------------

needs_redis = pytest.mark.skipif(
    not settings.CELERY_BROKER_URL.startswith("redis"), reason="reads a Redis broker's queues"
)


def test_each_attempt_is_sent_with_an_id_derived_from_the_row(Chore, django_capture_on_commit_callbacks):
    from console.celery import app

    row = Chore.objects.create()
    with django_capture_on_commit_callbacks(execute=True):
        work.work_enqueue(row)
    conn = app.connection_for_read()
    try:
        queue = app.amqp.queues[settings.CELERY_TASK_DEFAULT_QUEUE](conn.default_channel)
        message = queue.get(no_ack=True)
    finally:
        conn.release()
    assert message.headers["id"] == work.work_task_id(Chore, row.pk, 0) == f"core.chore-{row.pk}-0"
    assert work.work_task_id(Chore, row.pk, 1) != work.work_task_id(Chore, row.pk, 0)


def a_while_ago():
    # Older than a message in flight, far younger than WORK_LOST_MESSAGE_SECONDS.
    return timezone.now() - timedelta(seconds=work.SEND_SETTLE_SECONDS + 10)


@pytest.fixture
def slow_lost_message_resend(settings):
    # As in production: the time-based resend alone would wait minutes.
    settings.WORK_LOST_MESSAGE_SECONDS = 300


@needs_redis
def test_it_resends_at_once_only_what_a_restarted_broker_lost(Chore, broker_queue, slow_lost_message_resend):
    still_queued = Chore.objects.create(enqueued_at=a_while_ago())
    work.send_work(Chore, still_queued.pk, 0)
    lost_row = Chore.objects.create(enqueued_at=a_while_ago())
    in_flight = Chore.objects.create(enqueued_at=timezone.now())  # its message may not have arrived yet
    # Nothing has changed on the broker: a sweep does not look in the queues.
    assert work.sweep_stale_work() == {"requeued": 0, "failed": 0}

    work.remember_broker("a-redis-that-is-gone")  # as after a restart that kept its data
    assert work.sweep_stale_work() == {"requeued": 1, "failed": 0}
    assert sorted(broker_queue()) == [(TASK, [still_queued.pk]), (TASK, [lost_row.pk])]
    lost_row.refresh_from_db()
    assert timezone.now() - lost_row.enqueued_at < timedelta(seconds=5)
    in_flight.refresh_from_db()
    assert in_flight.state == WorkState.PENDING
    # Checked once: the next sweep does not look again, and sends nothing twice.
    assert work.sweep_stale_work() == {"requeued": 0, "failed": 0}
    assert broker_queue() == []


@needs_redis
def test_it_notices_a_broker_that_lost_its_data(Chore, broker_queue, slow_lost_message_resend):
    import redis

    row = Chore.objects.create(enqueued_at=a_while_ago())
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(work.BROKER_EPOCH_KEY)  # as FLUSHDB does
    assert work.sweep_stale_work() == {"requeued": 1, "failed": 0}
    assert broker_queue() == [(TASK, [row.pk])]
    assert work.broker_changed() is None


@needs_redis
def test_a_reconnecting_worker_has_the_queues_checked(Chore, broker_queue, slow_lost_message_resend):
    # Rows whose send failed while the broker was unreachable (it kept its data).
    rows = [Chore.objects.create(enqueued_at=a_while_ago()) for _ in range(3)]
    work.send_work(Chore, rows[0].pk, 0)
    from console.core.tasks import resend_lost_work

    assert resend_lost_work() == 2
    assert resend_lost_work() == 0  # each one queued once now
    assert sorted(broker_queue()) == sorted((TASK, [row.pk]) for row in rows)


@needs_redis
def test_a_message_a_worker_holds_counts_until_it_goes_stale(Chore, broker_queue):
    from console.celery import app

    row = Chore.objects.create(enqueued_at=a_while_ago())
    work.send_work(Chore, row.pk, 0)
    conn = app.connection_for_read()
    try:
        queue = app.amqp.queues[settings.CELERY_TASK_DEFAULT_QUEUE](conn.default_channel)
        message = queue.get(no_ack=False)  # delivered, not acknowledged: as a worker about to claim
        assert message is not None
        task_id = work.work_task_id(Chore, row.pk, 0)
        assert task_id in work.broker_task_ids()
        # A worker that lost its connection before running it: kombu gives it back after an hour.
        import redis

        client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        tag = message.delivery_tag
        client.zadd("unacked_index", {tag: time.time() - settings.WORK_STALE_SECONDS - 5})
        assert task_id not in work.broker_task_ids()
        message.ack()
    finally:
        conn.release()
