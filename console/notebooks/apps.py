from django.apps import AppConfig


class NotebooksConfig(AppConfig):
    name = "console.notebooks"
    label = "notebooks"
    _registered = False

    def ready(self):
        if NotebooksConfig._registered:  # ready() may run again (test runners); register once
            return
        NotebooksConfig._registered = True
        from console.nodepools.workloads import register_kind, register_node_probe
        from console.notebooks.workload import NotebookKind, image_probe

        # Notebooks run on nodes through the node-workload layer; nodes report the images they offer.
        register_kind(NotebookKind())
        register_node_probe(image_probe())
