from django.apps import AppConfig


class AuthorizationsConfig(AppConfig):
    name = "console.authorizations"
    label = "authorizations"
