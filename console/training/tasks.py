"""Thin Celery tasks: each takes ids and calls a service. Training processes are never Celery tasks."""

import logging

from celery import shared_task

from console.nodepools.models import Pool, PoolKind
from console.nodepools.workloads.launch import launch_runner, local_node_name
from console.training.phases import WORKLOAD_KIND
from console.training.services import ray_jobs
from console.training.services.reconcile import poll_cycle
from console.training.services.scheduling import dispatch_launches, pool_schedule

logger = logging.getLogger(__name__)


@shared_task(name="console.training.tasks.schedule_pool", acks_late=True, reject_on_worker_lost=True)
def schedule_pool(pool_id, job_id=None):
    """On a pool's queue: give free nodes to waiting jobs; launch the runners (returns in seconds).

    A Ray pool's scheduling comes on the platform queue: its jobs are submitted over HTTP."""
    if Pool.objects.filter(pk=pool_id, kind=PoolKind.RAY).exists():
        submit = ray_jobs.ray_pool_schedule(pool_id=pool_id)
        ray_jobs.dispatch_submissions(submit)
        return len(submit)
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


# --- Ray pools (console.training.services.ray_jobs): HTTP calls to a Ray head, on the platform queue ---


@shared_task(name="console.training.tasks.ray_submit", acks_late=True, reject_on_worker_lost=True)
def ray_submit(task_id):
    """Submit one task to its Ray pool; idempotent (the same submission id finds the same Ray job)."""
    return ray_jobs.ray_submit(task_id=task_id)


@shared_task(name="console.training.tasks.ray_stop", acks_late=True)
def ray_stop(task_id):
    return ray_jobs.ray_stop(task_id=task_id)


@shared_task(name="console.training.tasks.ray_poll", expires=30)
def ray_poll():
    """Beat: every Ray pool's jobs in one call per pool; statuses, logs, stops, queue."""
    counts = ray_jobs.ray_poll_cycle()
    changed = {k: v for k, v in counts.items() if v}
    if changed:
        logger.info("ray poll: %s", changed)
    return changed
