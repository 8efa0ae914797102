from celery import shared_task

from console.dashboard import services


@shared_task(name="console.dashboard.tasks.refresh_storage_use")
def refresh_storage_use():
    """Beat: every project's storage use, cached for the dashboard (DASHBOARD_STORAGE_USE_SECONDS)."""
    return services.storage_use_refresh_all()
