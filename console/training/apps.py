from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "console.training"
    label = "training"
