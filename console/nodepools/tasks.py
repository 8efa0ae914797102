"""Thin tasks on the platform queue: take a node id, call the service."""

from celery import shared_task

from console.nodepools import actions
from console.nodepools.raycluster import services as ray_services

# Tasks on a leaving node end within the stop grace (SIGTERM → SIGKILL) or are marked
# Lost by the poller within the runner timeout; this waits for either, then gives up.
RETRY_SECONDS = 2
MAX_RETRIES = 90


@shared_task(
    name="console.nodepools.tasks.node_removal_finish",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
)
def node_removal_finish(self, node_id: int) -> None:
    if actions.node_removal_finish(node_id=node_id):
        return
    if self.request.retries >= MAX_RETRIES:
        actions.node_removal_give_up(node_id=node_id)
        return
    raise self.retry(countdown=RETRY_SECONDS)


@shared_task(name="console.nodepools.tasks.ray_clusters_refresh", expires=60)
def ray_clusters_refresh() -> int:
    """Beat, on the platform queue: each Ray pool's health and nodes."""
    return ray_services.ray_clusters_refresh_all()


@shared_task(name="console.nodepools.tasks.ray_interpreter_probe", acks_late=True)
def ray_interpreter_probe(cluster_id: int) -> dict:
    """On the platform queue: run a short Ray job with the pool's interpreter, keep what it found."""
    return ray_services.ray_interpreter_probe(cluster_id=cluster_id)
