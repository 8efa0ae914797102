"""The Celery app. Configured from Django settings (CELERY_* names)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

app = Celery("console")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _schedule_periodic_work(sender, **kwargs):
    # Imported late: settings are ready only once the app is finalised.
    from django.conf import settings

    sender.add_periodic_task(
        settings.SWEEP_INTERVAL_SECONDS,
        sender.signature("console.core.tasks.sweep_stale_work"),
        name="sweep stale work",
    )
    # --- training: reconcile every non-terminal job (console.training.services.reconcile) ---
    sender.add_periodic_task(
        settings.TRAINING_POLL_SECONDS,
        sender.signature("console.training.tasks.poll", queue="platform"),
        name="training poll",
    )
