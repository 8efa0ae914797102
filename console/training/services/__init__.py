"""Training services: every rule lives here, called by the pages and by the REST API alike.

Catalog:    flavors_with_max_num, flavor_max_num, flavor_create/update/delete, flavor_defaults_ensure,
            engine_for, engine_create, engine_set_enabled, engine_set_tags, engine_delete, engines_sync_for_node
Algorithms: algorithm_create, algorithm_update, algorithm_delete
Jobs:       training_job_create, training_job_stop, training_job_delete, training_jobs_stop_on_node
Background: pool_schedule / dispatch_launches (scheduling), reconcile_jobs / poll_cycle (the poller)

Services raise django ValidationError (field → messages, with a stable ``code``) for bad input.
"""

from console.training.services.algorithms import algorithm_create, algorithm_delete, algorithm_update
from console.training.services.catalog import (
    engine_create,
    engine_delete,
    engine_for,
    engine_set_enabled,
    engine_set_tags,
    engines_sync_for_node,
    flavor_create,
    flavor_defaults_ensure,
    flavor_delete,
    flavor_max_num,
    flavor_update,
    flavors_with_max_num,
    node_fits,
)
from console.training.services.jobs import (
    training_job_create,
    training_job_delete,
    training_job_stop,
    training_jobs_stop_on_node,
)
from console.training.services.reconcile import poll_cycle, reconcile_jobs
from console.training.services.scheduling import dispatch_launches, pool_schedule

__all__ = [
    "algorithm_create",
    "algorithm_delete",
    "algorithm_update",
    "dispatch_launches",
    "engine_create",
    "engine_delete",
    "engine_for",
    "engine_set_enabled",
    "engine_set_tags",
    "engines_sync_for_node",
    "flavor_create",
    "flavor_defaults_ensure",
    "flavor_delete",
    "flavor_max_num",
    "flavor_update",
    "flavors_with_max_num",
    "node_fits",
    "poll_cycle",
    "pool_schedule",
    "reconcile_jobs",
    "training_job_create",
    "training_job_delete",
    "training_job_stop",
    "training_jobs_stop_on_node",
]
