from django.apps import AppConfig


class NodepoolsConfig(AppConfig):
    name = "console.nodepools"
    label = "nodepools"
