from django.apps import AppConfig


class MymodelsConfig(AppConfig):
    name = "console.mymodels"
    label = "mymodels"
