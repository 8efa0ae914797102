"""Thin Celery tasks: each takes ids and calls a service. Training processes are never Celery tasks."""

import logging

from celery import shared_task

from console.nodepools.workloads.launch import launch_runner, local_node_name
from console.training.phases import WORKLOAD_KIND
from console.training.services.reconcile import poll_cycle
from console.training.services.scheduling import dispatch_launches, pool_schedule

logger = logging.getLogger(__name__)


@shared_task(name="console.training.tasks.schedule_pool", acks_late=True, reject_on_worker_lost=True)
def schedule_pool(pool_id, job_id=None):
    """On a pool's queue: give free nodes to waiting jobs; launch the runners (returns in seconds)."""
    local = local_node_name()
    launches = pool_schedule(pool_id=pool_id, local_node_name=local)
    dispatch_launches(launches, local_node_name=local)
    return len(launches)


@shared_task(name="console.training.tasks.launch_task", acks_late=True, reject_on_worker_lost=True)
def launch_task(task_id):
    """On a node's queue: start the task's runner here (the runner claims the task; a duplicate exits)."""
    launch_runner(WORKLOAD_KIND, task_id)


@shared_task(name="console.training.tasks.poll", acks_late=True, reject_on_worker_lost=True, expires=30)
def poll():
    """Beat, on the platform queue: reconcile every non-terminal job."""
    counts = poll_cycle()
    changed = {k: v for k, v in counts.items() if v}
    if changed:
        logger.info("training poll: %s", changed)
    return changed
