"""Claim, heartbeat and finish LeasedWork rows; sweep the ones whose worker died.

Every transition is one conditional UPDATE, so two workers (or a redelivered
message) can never both own a row, and a row is never finished twice.
"""

import logging
import threading
import uuid
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from console.core.models import WorkState

logger = logging.getLogger(__name__)

_registry: list[type] = []


def register_work(model: type) -> type:
    """Class decorator: the beat sweep looks after rows of this model."""
    if model not in _registry:
        _registry.append(model)
    return model


_gave_up_hooks: dict[type, object] = {}


def on_work_gave_up(model: type, hook) -> None:
    """``hook(record_id=pk)`` runs once when the sweep fails a row of ``model`` after too many
    attempts. Registered by the app that owns the consequences (in its AppConfig.ready()), so a
    model never has to call a service of its own app."""
    _gave_up_hooks[model] = hook


def _gave_up(model: type, pk: int) -> None:
    hook = _gave_up_hooks.get(model)
    if hook is not None:
        hook(record_id=pk)
    else:
        model.objects.get(pk=pk).work_gave_up()


def registered_work() -> list[type]:
    return list(_registry)


def work_task_id(model: type, pk: int, attempts: int) -> str:
    """The id a row's message carries: the sweep finds it in the broker's queue by this id.

    Derived from the row (one id per attempt), so the row needs no column for it and a
    resend of a message that never arrived carries the same id as the lost one.
    """
    return f"{model._meta.label_lower}-{pk}-{attempts}"


def send_work(model: type, pk: int, attempts: int) -> None:
    from celery import current_app

    current_app.send_task(model.WORK_TASK, args=[pk], task_id=work_task_id(model, pk, attempts))


def work_enqueue(row) -> None:
    """Send the row's task once the surrounding transaction commits.

    enqueued_at is stamped inside the transaction, so a process that dies between
    commit and send leaves a row the sweep will find and send again.
    """
    model = type(row)
    pk = row.pk
    model.objects.filter(pk=pk, state=WorkState.PENDING).update(enqueued_at=timezone.now())

    attempts = row.attempts

    def send():
        try:
            send_work(model, pk, attempts)
        except Exception:
            # The row is committed and stamped: the sweep sends it again once the
            # broker is back. The user's request must not fail for this.
            logger.exception("could not send %s for %s %s; the sweep will retry", model.WORK_TASK, model.__name__, pk)

    transaction.on_commit(send)


def work_claim(model: type, pk: int) -> str | None:
    """Take a pending row. Returns the claim token, or None if it is not ours to run."""
    token = uuid.uuid4().hex
    now = timezone.now()
    claimed = model.objects.filter(pk=pk, state=WorkState.PENDING).update(
        state=WorkState.RUNNING,
        claimed_by=token,
        heartbeat_at=now,
        started_at=now,
        attempts=F("attempts") + 1,
    )
    return token if claimed == 1 else None


def work_heartbeat(model: type, pk: int, token: str) -> bool:
    return (
        model.objects.filter(pk=pk, state=WorkState.RUNNING, claimed_by=token).update(heartbeat_at=timezone.now()) == 1
    )


def work_finish(model: type, pk: int, token: str, *, state: str, **fields) -> bool:
    """Finish a claimed row once. False if someone else finished or re-owned it."""
    assert state in (WorkState.SUCCEEDED, WorkState.FAILED)
    return (
        model.objects.filter(pk=pk, state=WorkState.RUNNING, claimed_by=token).update(
            state=state, finished_at=timezone.now(), **fields
        )
        == 1
    )


@contextmanager
def heartbeating(model: type, pk: int, token: str):
    """Keep the claim alive from a side thread while the block works."""
    stop = threading.Event()

    def beat():
        from django.db import connections

        try:
            while not stop.wait(settings.WORK_HEARTBEAT_SECONDS):
                try:
                    work_heartbeat(model, pk, token)
                except Exception:  # a missed beat is survivable; the sweep judges staleness
                    logger.exception("heartbeat for %s %s failed", model.__name__, pk)
        finally:
            # This thread opened its own database connection; a long-lived worker would
            # otherwise leave one behind per task until garbage collection.
            connections.close_all()

    thread = threading.Thread(target=beat, name=f"heartbeat-{model.__name__}-{pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def sweep_stale_work() -> dict[str, int]:
    """Re-enqueue rows whose worker went silent (or whose message got lost); fail them after too many tries."""
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.WORK_STALE_SECONDS)
    # A pending row may just be waiting behind a backlog: only after this long do we
    # assume its message was lost, so a busy queue is not flooded with duplicates.
    lost_before = now - timedelta(seconds=settings.WORK_LOST_MESSAGE_SECONDS)
    counts = {"requeued": 0, "failed": 0}
    for model in _registry:
        stale = model.objects.filter(
            Q(state=WorkState.RUNNING, heartbeat_at__lt=stale_before)
            | Q(state=WorkState.PENDING, enqueued_at__lt=lost_before)
        )
        for pk, attempts, state in stale.values_list("pk", "attempts", "state"):
            expected = {"pk": pk, "state": state, "attempts": attempts}
            if state == WorkState.RUNNING:
                expected["heartbeat_at__lt"] = stale_before
            else:
                expected["enqueued_at__lt"] = lost_before
            if attempts >= settings.WORK_MAX_ATTEMPTS:
                reason = f"Gave up after {attempts} attempts: the worker stopped responding each time."
                if model.objects.filter(**expected).update(
                    state=WorkState.FAILED, finished_at=now, failure_reason=reason
                ):
                    counts["failed"] += 1
                    _gave_up(model, pk)
                continue
            if model.objects.filter(**expected).update(
                state=WorkState.PENDING, claimed_by="", enqueued_at=now, heartbeat_at=None
            ):
                counts["requeued"] += 1
                send_work(model, pk, attempts)
    # The broker restarted or lost its data: pending rows whose message is gone are resent
    # now, not after WORK_LOST_MESSAGE_SECONDS.
    counts["requeued"] += check_broker()
    if counts["requeued"] or counts["failed"]:
        logger.info("sweep: %s", counts)
    return counts


# --- messages lost by the broker ------------------------------------------------------------
#
# A Redis without persistence that restarts (or is flushed) loses every queued message. The rows
# are the truth, so nothing is lost for good, but the time-based resend above waits
# WORK_LOST_MESSAGE_SECONDS because it cannot tell a lost message from one waiting behind a
# backlog. When the broker is known to have come back (a new Redis, flushed data, or a worker
# reconnecting), we look in the broker itself and resend at once only what is not there.

# The key under which the broker remembers which Redis server the last check saw.
BROKER_EPOCH_KEY = "console:work:broker-epoch"
# A message is sent just after its row commits; a row younger than this may have its message
# in flight, so it is left to the next check rather than sent twice.
SEND_SETTLE_SECONDS = 5


def _broker_redis():
    """A client on the Redis broker, or None for brokers whose messages survive a restart (files)."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    import redis

    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)


def broker_identity() -> str | None:
    """The running Redis server's run id (new at each start); None if not Redis or unreachable."""
    import redis

    client = _broker_redis()
    if client is None:
        return None
    try:
        with client:
            return client.info("server")["run_id"]
    except redis.RedisError:
        return None


def broker_changed() -> str | None:
    """The broker's identity if it restarted or lost its data since remember_broker(), else None."""
    import redis

    client = _broker_redis()
    if client is None:
        return None
    try:
        with client:
            seen = client.get(BROKER_EPOCH_KEY)
            run_id = client.info("server")["run_id"]
    except redis.RedisError:
        return None  # still away: the check happens once it answers
    # A missing key means the data went (restart without persistence, FLUSHDB); another run
    # id means a restart that kept its data, possibly without the last writes.
    return run_id if seen is None or seen.decode() != run_id else None


def remember_broker(run_id: str) -> None:
    import redis

    client = _broker_redis()
    if client is None:
        return
    try:
        with client:
            client.set(BROKER_EPOCH_KEY, run_id)
    except redis.RedisError:
        logger.warning("could not record the broker's identity; the next sweep checks its queues again")


def _message_task_id(raw: bytes) -> str | None:
    import json

    try:
        payload = json.loads(raw)
        if isinstance(payload, list):  # the unacked hash holds [message, exchange, routing key]
            payload = payload[0]
        return payload.get("headers", {}).get("id") or payload.get("properties", {}).get("correlation_id")
    except (ValueError, TypeError, AttributeError, IndexError):
        return None  # not a Celery message


def broker_task_ids() -> set[str] | None:
    """Ids of the task messages the Redis broker holds: queued, or just delivered and not yet
    acknowledged. None when the broker cannot be read this way.

    A message delivered longer ago than WORK_STALE_SECONDS whose row is still pending belongs
    to a worker that lost its connection before running it; kombu only restores it after the
    visibility timeout (an hour), so it does not count as held.
    """
    import time

    import redis

    client = _broker_redis()
    if client is None:
        return None
    ids: set[str] = set()
    try:
        with client:
            # Each queue (and each of its priority levels) is a list; nothing else of ours is.
            for key in client.scan_iter(count=1000, _type="LIST"):
                start = 0
                while chunk := client.lrange(key, start, start + 999):
                    ids.update(_message_task_id(raw) for raw in chunk)
                    start += len(chunk)
            fresh = client.zrangebyscore("unacked_index", time.time() - settings.WORK_STALE_SECONDS, "+inf")
            if fresh:
                ids.update(_message_task_id(raw) for raw in client.hmget("unacked", fresh) if raw)
    except redis.RedisError:
        logger.warning("could not read the broker's queues; lost messages wait for the time-based resend")
        return None
    ids.discard(None)
    return ids


def resend_lost_messages() -> int:
    """Resend each pending row whose message the broker no longer holds. Returns how many."""
    now = timezone.now()
    settled_before = now - timedelta(seconds=SEND_SETTLE_SECONDS)
    # Rows first, broker second: a row claimed in between is no longer pending and the
    # conditional update below skips it.
    candidates = [
        (model, pk, attempts, enqueued_at)
        for model in _registry
        for pk, attempts, enqueued_at in model.objects.filter(
            state=WorkState.PENDING, enqueued_at__lt=settled_before
        ).values_list("pk", "attempts", "enqueued_at")
    ]
    if not candidates:
        return 0
    held = broker_task_ids()
    if held is None:
        return 0
    resent = 0
    for model, pk, attempts, enqueued_at in candidates:
        if work_task_id(model, pk, attempts) in held:
            continue  # still queued: a second copy would only wait behind it
        # Compare-and-set on the stamp: two sweeps checking at once send one copy.
        if model.objects.filter(pk=pk, state=WorkState.PENDING, attempts=attempts, enqueued_at=enqueued_at).update(
            enqueued_at=now
        ):
            send_work(model, pk, attempts)
            resent += 1
    if resent:
        logger.info("resent %s pending work messages the broker no longer held", resent)
    return resent


def check_broker(*, force: bool = False) -> int:
    """If the broker came back without its data (or `force`, e.g. a worker reconnected), resend
    what it lost. Returns how many rows were resent."""
    run_id = broker_changed()
    if run_id is None and not force:
        return 0
    resent = resend_lost_messages()
    # Remembered only after the check: a sweep that dies midway leaves the next one to check.
    if identity := run_id or broker_identity():
        remember_broker(identity)
    return resent
