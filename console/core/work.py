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


def registered_work() -> list[type]:
    return list(_registry)


def work_enqueue(row) -> None:
    """Send the row's task once the surrounding transaction commits.

    enqueued_at is stamped inside the transaction, so a process that dies between
    commit and send leaves a row the sweep will find and send again.
    """
    from celery import current_app

    model = type(row)
    pk = row.pk
    model.objects.filter(pk=pk, state=WorkState.PENDING).update(enqueued_at=timezone.now())

    def send():
        try:
            current_app.send_task(model.WORK_TASK, args=[pk])
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
        model.objects.filter(pk=pk, state=WorkState.RUNNING, claimed_by=token).update(heartbeat_at=timezone.now())
        == 1
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
    from celery import current_app

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
                    model.objects.get(pk=pk).work_gave_up()
                continue
            if model.objects.filter(**expected).update(
                state=WorkState.PENDING, claimed_by="", enqueued_at=now, heartbeat_at=None
            ):
                counts["requeued"] += 1
                current_app.send_task(model.WORK_TASK, args=[pk])
    if counts["requeued"] or counts["failed"]:
        logger.info("sweep: %s", counts)
    return counts
