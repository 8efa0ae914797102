from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "console.training"
    label = "training"
    _registered = False

    def ready(self):
        if TrainingConfig._registered:  # ready() may run again (test runners); register once
            return
        TrainingConfig._registered = True
        from celery.signals import worker_ready, worker_shutdown

        from console.core.setup_steps import setup_step
        from console.nodepools.services import pool_default_ensure
        from console.training import agent
        from console.training.services.catalog import flavor_defaults_ensure

        # A worker started with CONSOLE_NODE_POOL becomes a node of that pool (see agent.py).
        worker_ready.connect(agent.on_worker_ready, weak=False)
        worker_shutdown.connect(agent.on_worker_shutdown, weak=False)
        # `manage.py setup_console`: the run command's worker joins the default pool; the seed's flavors exist.
        setup_step(pool_default_ensure)
        setup_step(flavor_defaults_ensure)
