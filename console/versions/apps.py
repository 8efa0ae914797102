from django.apps import AppConfig


class VersionsConfig(AppConfig):
    name = "console.versions"
    label = "versions"

    def ready(self):
        from django.conf import settings

        from console.core.setup_steps import setup_step, setup_steps
        from console.core.work import on_work_gave_up
        from console.versions.models import TaskRecord
        from console.versions.services import weight_validation_gave_up
        from console.weightcheck import set_layout_cache_dir

        # A weight check the sweep gave up on must not leave its version in 创建中 forever.
        on_work_gave_up(TaskRecord, weight_validation_gave_up)

        # Weight checks read (and on first use write) each template's expected layout here.
        set_layout_cache_dir(settings.VAR_DIR / "layouts")
        if store_weight_check_layouts not in setup_steps():
            setup_step(store_weight_check_layouts)


def store_weight_check_layouts(*, stdout=None):
    """setup_console step: store each catalog template's expected layout ahead, so a worker's
    first weight check is as fast as its next (no model built on the meta device)."""
    from django.conf import settings

    from console.mymodels.models import TEMPLATES_DIR
    from console.weightcheck import store_catalog_layouts

    if not settings.WEIGHTCHECK_WARM_UP:  # the same switch as the worker's warm-up (off in tests)
        return
    results = store_catalog_layouts(TEMPLATES_DIR)
    if stdout is not None:
        errors = [f"{r['template']}: {r['error']}" for r in results if "error" in r]
        stdout.write(
            f"Weight-check layouts: {len(results) - len(errors)} templates stored"
            + "".join(f"\n    not stored: {e}" for e in errors)
        )
