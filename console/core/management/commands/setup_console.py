"""Idempotent set-up: database schema, static files, catalog data, first administrator."""

from django.conf import settings
from django.core.management import BaseCommand, call_command

from console.accounts.services import ensure_first_admin
from console.core.setup_steps import setup_steps


class Command(BaseCommand):
    help = "Migrate, collect static files, load catalog data and create the first administrator if none exists."

    def add_arguments(self, parser):
        parser.add_argument("--no-static", action="store_true", help="Skip collectstatic (tests).")

    def handle(self, *args, no_static=False, **options):
        call_command("migrate", interactive=False, verbosity=0)
        if not no_static:
            call_command("collectstatic", interactive=False, verbosity=0)
        for step in setup_steps():
            step(stdout=self.stdout)

        created = ensure_first_admin()
        if created:
            user, password = created
            self.stdout.write(self.style.SUCCESS("First administrator created (shown once, keep it safe):"))
            self.stdout.write(f"    username: {user.username}\n    password: {password}")
        self.stdout.write(
            f"Database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}; broker: {settings.CELERY_BROKER_URL.split('://')[0]}"
        )
