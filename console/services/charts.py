"""A service's live charts: request rate, mean latency and tokens per second, from its counter samples.

The engine's counters are cumulative since that engine started, so a rate is the difference of two
consecutive samples of one instance over the time between them. An instance that restarted begins
again at zero: a pair whose counters went down spans a restart and is left out (it would be a
negative rate). Pairs are put in time buckets by when they end and summed over instances, so the
chart shows the whole service; a bucket no pair ends in is a gap (null), not a zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from console.services.models import Service, ServiceSample

# Defaults when console/settings.py does not set them.
SAMPLE_SECONDS_DEFAULT = 5.0
SAMPLE_KEEP_DEFAULT = 2 * 3600
# "Per-minute-ish": a 2-hour window is 120 points; the newest bucket is partial and grows.
BUCKET_SECONDS = 60


def sample_seconds() -> float:
    return float(getattr(settings, "SERVICE_SAMPLE_SECONDS", SAMPLE_SECONDS_DEFAULT))


def sample_keep_seconds() -> float:
    return float(getattr(settings, "SERVICE_SAMPLE_KEEP", SAMPLE_KEEP_DEFAULT))


@dataclass(frozen=True)
class Reading:
    instance_id: int | None
    at: datetime
    served: int
    tokens_generated: int
    latency_seconds_total: float


@dataclass
class _Bucket:
    served: float = 0.0
    tokens: float = 0.0
    latency: float = 0.0
    request_rate: float = 0.0
    token_rate: float = 0.0


def compute_series(readings: list[Reading], *, bucket_seconds: int = BUCKET_SECONDS) -> dict:
    """Readings (any order) → {"t": [ms], "requests_per_second", "latency_ms", "tokens_per_second"}.

    In a bucket, each instance's rates are its counts over the time its pairs cover there (a partial
    bucket is not diluted), and the service's rate is the sum over instances. Mean latency is the
    latency added over the requests served in the bucket, None when none was served.
    """
    by_instance: dict[int, list[Reading]] = {}
    for reading in readings:
        if reading.instance_id is not None:
            by_instance.setdefault(reading.instance_id, []).append(reading)
    # bucket start (s) → instance → [Δserved, Δtokens, Δlatency, Δt]
    sums: dict[int, dict[int, list[float]]] = {}
    for instance_id, rows in by_instance.items():
        rows.sort(key=lambda r: r.at)
        for before, after in zip(rows, rows[1:], strict=False):
            seconds = (after.at - before.at).total_seconds()
            served = after.served - before.served
            tokens = after.tokens_generated - before.tokens_generated
            latency = after.latency_seconds_total - before.latency_seconds_total
            if seconds <= 0 or served < 0 or tokens < 0 or latency < 0:
                continue  # a restart reset the counters between these two (or a duplicate time)
            start = int(after.at.timestamp()) // bucket_seconds * bucket_seconds
            acc = sums.setdefault(start, {}).setdefault(instance_id, [0.0, 0.0, 0.0, 0.0])
            acc[0] += served
            acc[1] += tokens
            acc[2] += latency
            acc[3] += seconds
    series: dict[str, list] = {"t": [], "requests_per_second": [], "latency_ms": [], "tokens_per_second": []}
    if not sums:
        return series
    first, last = min(sums), max(sums)
    for start in range(first, last + bucket_seconds, bucket_seconds):
        series["t"].append(start * 1000)
        instances = sums.get(start)
        if not instances:
            series["requests_per_second"].append(None)
            series["latency_ms"].append(None)
            series["tokens_per_second"].append(None)
            continue
        bucket = _Bucket()
        for served, tokens, latency, seconds in instances.values():
            bucket.served += served
            bucket.tokens += tokens
            bucket.latency += latency
            bucket.request_rate += served / seconds
            bucket.token_rate += tokens / seconds
        series["requests_per_second"].append(round(bucket.request_rate, 4))
        series["latency_ms"].append(round(bucket.latency / bucket.served * 1000, 2) if bucket.served else None)
        series["tokens_per_second"].append(round(bucket.token_rate, 3))
    return series


def service_series(service: Service, *, now: datetime | None = None) -> dict:
    """The service's series over the kept window: one query, whatever the number of instances."""
    now = now or timezone.now()
    rows = ServiceSample.objects.filter(
        service=service, at__gte=now - timedelta(seconds=sample_keep_seconds())
    ).values_list("instance_id", "at", "served", "tokens_generated", "latency_seconds_total")
    series = compute_series([Reading(*row) for row in rows])
    series["bucket_seconds"] = BUCKET_SECONDS
    return series


def samples_prune(*, now: datetime | None = None) -> int:
    """Drops the samples older than SERVICE_SAMPLE_KEEP, all services at once: one DELETE."""
    now = now or timezone.now()
    rows = ServiceSample.objects.filter(at__lt=now - timedelta(seconds=sample_keep_seconds()))
    # _raw_delete: a single DELETE … WHERE, no collector (samples have no dependants and no signals).
    return rows._raw_delete(rows.db)
