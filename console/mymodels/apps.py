from django.apps import AppConfig


class MymodelsConfig(AppConfig):
    name = "console.mymodels"
    label = "mymodels"

    def ready(self):
        from console.core.setup_steps import setup_step, setup_steps

        # Registered here, not at a module's import, so `setup_console` always finds it (once).
        if load_base_model_catalog not in setup_steps():
            setup_step(load_base_model_catalog)


def load_base_model_catalog(*, stdout=None):
    """setup_console step: load the base-model catalog (seed 表2) from catalog_data/series.json."""
    from console.mymodels.services import catalog_load

    counts = catalog_load()
    if stdout is not None:
        stdout.write(
            f"Base-model catalog: {counts['series']} series, {counts['versions']} versions"
            + (f", {counts['deactivated']} no longer listed" if counts["deactivated"] else "")
        )
