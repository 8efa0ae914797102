"""Thin Celery tasks: each takes ids and calls a service. A notebook's process is never a Celery task."""

import logging

from celery import shared_task

from console.nodepools.workloads.launch import launch_runner
from console.notebooks.states import WORKLOAD_KIND
from console.notebooks.sweep import sweep as sweep_cycle

logger = logging.getLogger(__name__)


@shared_task(name="console.notebooks.tasks.launch", acks_late=True, reject_on_worker_lost=True)
def launch(notebook_id):
    """On a node's queue: start the notebook's runner here (it claims the row; a duplicate exits)."""
    launch_runner(WORKLOAD_KIND, notebook_id)


@shared_task(name="console.notebooks.tasks.sweep", acks_late=True, reject_on_worker_lost=True, expires=30)
def sweep():
    """Beat, on the platform queue: lost runners, start timeouts, waiting notebooks, leases."""
    changed = {k: v for k, v in sweep_cycle().items() if v}
    if changed:
        logger.info("notebooks sweep: %s", changed)
    return changed
