from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The project dashboard and the operations view: pages that read every domain app (a top layer)."""

    name = "console.dashboard"
    label = "dashboard"
