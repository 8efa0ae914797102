from django.apps import AppConfig


class ServicesConfig(AppConfig):
    name = "console.services"
    label = "services"
    _registered = False

    def ready(self):
        if ServicesConfig._registered:  # ready() may run again (test runners); register once
            return
        ServicesConfig._registered = True
        from console.nodepools.workloads import register_kind
        from console.services.views import version_panel
        from console.services.workload import ServiceInstanceKind
        from console.versions.panels import register_version_panel

        # Instances run on nodes through the node-workload layer; a version's page offers Deploy.
        register_kind(ServiceInstanceKind())
        register_version_panel(version_panel)
