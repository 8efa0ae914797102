"""Thin Celery tasks: each takes ids and calls a service. An instance's engine is never a Celery task."""

import logging

from celery import shared_task

from console.nodepools.workloads.launch import launch_runner
from console.services.reconcile import reconcile as reconcile_cycle
from console.services.states import WORKLOAD_KIND

logger = logging.getLogger(__name__)


@shared_task(name="console.services.tasks.launch", acks_late=True, reject_on_worker_lost=True)
def launch(instance_id):
    """On a node's queue: start the instance's runner here (it claims the row; a duplicate exits)."""
    launch_runner(WORKLOAD_KIND, instance_id)


@shared_task(name="console.services.tasks.reconcile", acks_late=True, reject_on_worker_lost=True, expires=30)
def reconcile(service_ids=None):
    """Beat and on-commit kicks, on the platform queue: converge instances, derive statuses."""
    changed = {k: v for k, v in reconcile_cycle(service_ids=service_ids).items() if v}
    if changed:
        logger.info("services reconcile: %s", changed)
    return changed
