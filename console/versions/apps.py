from django.apps import AppConfig


class VersionsConfig(AppConfig):
    name = "console.versions"
    label = "versions"
