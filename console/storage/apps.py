from django.apps import AppConfig


class StorageConfig(AppConfig):
    name = "console.storage"
    label = "storage"
    _registered = False

    def ready(self):
        if StorageConfig._registered:  # ready() may run again (e.g. test runners); register once
            return
        StorageConfig._registered = True
        from console.accounts.services import on_project_created
        from console.core.setup_steps import setup_step
        from console.storage import services

        # Every new project gets a local bucket and the all-users "modelarts_agency"
        # authorization, so a fresh install can store and read weights at once.
        on_project_created(services.project_created_hook)
        setup_step(services.setup_storage_defaults)
