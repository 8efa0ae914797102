"""Load (or refresh) the base-model catalog from console/catalog_data/series.json."""

from django.core.management import BaseCommand, CommandError

from console.mymodels.services import CatalogError, catalog_load


class Command(BaseCommand):
    help = "Load the base-model catalog (seed table 2) from catalog_data/series.json. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--file", help="Another series.json (default: the one shipped with the console).")

    def handle(self, *args, file=None, **options):
        try:
            counts = catalog_load(path=file)
        except CatalogError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {counts['series']} series and {counts['versions']} base-model versions"
                f" ({counts['deactivated']} deactivated)."
            )
        )
