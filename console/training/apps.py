from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "console.training"
    label = "training"
    _registered = False

    def ready(self):
        if TrainingConfig._registered:  # ready() may run again (test runners); register once
            return
        TrainingConfig._registered = True
        from console.core.setup_steps import setup_step
        from console.nodepools.workloads import register_kind, register_node_probe
        from console.training.lineage import version_panel
        from console.training.services.catalog import flavor_defaults_ensure
        from console.training.workload import TrainingKind, engine_probe
        from console.versions.panels import register_version_panel

        # Training tasks run on nodes through the node-workload layer; nodes report their engines.
        register_kind(TrainingKind())
        register_node_probe(engine_probe())
        # `manage.py setup_console`: the seed's flavors exist.
        setup_step(flavor_defaults_ensure)
        # A version's page says which job produced it and which jobs took it as input.
        register_version_panel(version_panel)
