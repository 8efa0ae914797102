from django.apps import AppConfig


class NodepoolsConfig(AppConfig):
    name = "console.nodepools"
    label = "nodepools"
    _registered = False

    def ready(self):
        if NodepoolsConfig._registered:  # ready() may run again (test runners); register once
            return
        NodepoolsConfig._registered = True
        from celery.signals import worker_ready, worker_shutdown

        from console.core.setup_steps import setup_step
        from console.nodepools.services import pool_default_ensure
        from console.nodepools.workloads import agent

        # A worker started with CONSOLE_NODE_POOL becomes a node of that pool (see workloads/agent.py).
        worker_ready.connect(agent.on_worker_ready, weak=False)
        worker_shutdown.connect(agent.on_worker_shutdown, weak=False)
        # `manage.py setup_console`: the run command's worker joins the default pool.
        setup_step(pool_default_ensure)
