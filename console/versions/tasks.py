"""Celery tasks of versions: thin, take the record id, the row is the truth."""

import logging

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings

from console.versions import services
from console.weightcheck import warm_up


@shared_task(name="console.versions.tasks.validate_weights", acks_late=True, reject_on_worker_lost=True)
def validate_weights(record_id: int) -> str:
    # Claims, heartbeats and finishes by compare-and-set: a redelivered message does nothing.
    return services.weight_validation_run(record_id=record_id)


@worker_process_init.connect
def _warm_up_weight_checks(**kwargs):
    # Each worker child pays the torch/transformers import once at start, not on the
    # first user's check. Only the worker imports torch (inside warm_up); the web process never does.
    if not settings.WEIGHTCHECK_WARM_UP:
        return
    try:
        warm_up()
    except Exception:  # a failed warm-up only costs the first check its speed
        logging.getLogger(__name__).exception("weight-check warm-up failed")
