"""The reporter: the only part of a runner that writes to the database.

One thread owns the runner's database connection. Other parts hand it work through a
queue (``post`` for fire-and-forget, ``call`` to wait for an answer) and it also, on its
own clock, flushes the log buffer, takes resource samples, and heartbeats (which is how a
stop request reaches the runner). A failed write is logged and retried on the next turn:
the database being away for a moment must not kill a workload.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from django.db import InterfaceError, OperationalError, close_old_connections, connection
from django.utils import timezone

logger = logging.getLogger("console.nodepools.workloads.reporter")


class Reporter:
    def __init__(
        self,
        *,
        run,
        log,
        sample: Callable[[], dict | None],
        on_heartbeat: Callable,
        flush_seconds: float,
        heartbeat_seconds: float,
        sample_seconds: float,
    ):
        self.run = run
        self.log = log
        self.sample = sample
        self.on_heartbeat = on_heartbeat
        self.flush_seconds = flush_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.sample_seconds = sample_seconds
        self.heartbeating = False  # from mark_running/claim on: a runner heartbeats while it holds its row
        self.scalars = None  # a scalars.ScalarReader once the process starts: flushed with the log
        self._scalar_failures = 0
        self.seq = 0
        self._unsent: tuple | None = None
        self._samples: list[dict] = []
        self._work: queue.Queue = queue.Queue()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reporter", daemon=True)

    def start(self) -> None:
        self._thread.start()

    # --- what the other parts call -------------------------------------------------------

    def post(self, fn: Callable, *args, **kwargs) -> None:
        """Run ``fn`` on the reporter's thread, in order with the other writes; don't wait."""
        self._work.put((fn, args, kwargs, None))

    def call(self, fn: Callable, *args, **kwargs):
        """Run ``fn`` on the reporter's thread and return its result (or raise its error)."""
        future: Future = Future()
        self._work.put((fn, args, kwargs, future))
        return future.result()

    def add_sample(self, sample: dict) -> None:
        self._work.put((self._keep_sample, (sample,), {}, None))

    def _keep_sample(self, sample: dict) -> None:
        self._samples.append(sample)  # the list of the moment it runs: flushes swap it

    def stop(self, *, timeout: float = 30) -> None:
        """Write what is left (logs, samples, queued writes), then end the thread."""
        self._done.set()
        self._work.put(None)
        self._thread.join(timeout=timeout)

    # --- the thread ------------------------------------------------------------------------

    def _loop(self) -> None:
        next_beat = next_sample = next_flush = time.monotonic()
        try:
            while True:
                finishing = self._done.is_set()
                now = time.monotonic()
                try:
                    wake_at = min(next_beat, next_sample, next_flush) if self.heartbeating else next_flush
                    self._drain_work(block_until=None if finishing else wake_at)
                    now = time.monotonic()
                    if now >= next_flush or finishing:
                        next_flush = now + self.flush_seconds
                        self._flush_log()
                        self._flush_scalars()
                    if self.heartbeating and not finishing:
                        if now >= next_beat:
                            next_beat = now + self.heartbeat_seconds
                            self.on_heartbeat(self.run.heartbeat())
                        if now >= next_sample:
                            next_sample = now + self.sample_seconds
                            sample = self.sample()
                            if sample is not None:
                                self._samples.append(sample)
                    self._flush_samples()
                except Exception:
                    logger.exception("reporting failed; retrying")
                    close_old_connections()
                    time.sleep(min(1.0, self.flush_seconds))
                if finishing and self._work.empty():
                    self._flush_log()
                    self._flush_samples()
                    self._flush_scalars()
                    return
        finally:
            connection.close()

    def _drain_work(self, *, block_until: float | None) -> None:
        while True:
            if block_until is None:
                try:
                    item = self._work.get_nowait()
                except queue.Empty:
                    return
            else:
                timeout = max(0.0, block_until - time.monotonic())
                try:
                    item = self._work.get(timeout=timeout)
                except queue.Empty:
                    return
                block_until = time.monotonic()  # after the first item, take the rest without waiting
            if item is None:
                return
            fn, args, kwargs, future = item
            if future is None:
                fn(*args, **kwargs)
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as error:  # the caller gets it
                future.set_exception(error)

    def flush(self) -> None:
        """Store the pending log lines, samples and scalars now (on the reporter's thread: use ``call``)."""
        self._flush_log()
        self._flush_samples()
        self._flush_scalars()

    def _flush_log(self) -> None:
        # A chunk whose write failed is kept and written first next time: no gap, no loss.
        if self._unsent is None:
            drained = self.log.drain()
            if drained is None:
                return
            self.seq += 1
            self._unsent = (self.seq, *drained)
        seq, text, log_bytes, truncated = self._unsent
        self.run.store_log(seq=seq, text=text, log_bytes=log_bytes, truncated=truncated)
        self._unsent = None

    def _flush_samples(self) -> None:
        if not self._samples:
            return
        self.run.store_samples(self._samples)  # on failure they stay for the next turn
        self._samples = []

    def _flush_scalars(self) -> None:
        if self.scalars is None:
            return
        points, problems = self.scalars.drain()
        for message in problems:
            self.run.event("problem", message)
        if not points:
            return
        try:
            self.run.store_scalars(points)
            self._scalar_failures = 0
        except (OperationalError, InterfaceError):
            self.scalars.requeue(points)  # the database is away: written first once it is back
            raise
        except Exception:
            # A batch the database refuses (a value out of range…) is tried a few times, then
            # dropped rather than holding up the heartbeats that follow this write on the same thread.
            self._scalar_failures += 1
            logger.exception("storing %s logged scalars failed (%s)", len(points), self._scalar_failures)
            if self._scalar_failures < 5:
                self.scalars.requeue(points)
            else:
                self._scalar_failures = 0


def no_data_sample() -> dict:
    """The first sample of a workload: "no data yet", shown as -1 as the seed's metrics do."""
    return {"at": timezone.now()}
