"""Trigram (pg_trgm) indexes for substring search, as a migration operation (issue 15).

Django's ``icontains`` is ``UPPER(col::text) LIKE UPPER('%…%')`` on PostgreSQL: a B-tree cannot
serve it, so every search read all rows. A GIN index on ``UPPER(col::text) gin_trgm_ops`` serves
exactly that expression for queries of 3+ characters (shorter ones still scan: correct, slower).

``TrigramIndexes`` does nothing on another database (SQLite scans, as before). Where PostgreSQL
refuses ``CREATE EXTENSION pg_trgm`` (no privilege, extension not installed), the migration goes on
with a warning: search stays correct, just slower; run the migration again (or create the
extension as a superuser and re-run ``manage.py setup_console``) to add the indexes later.
"""

from __future__ import annotations

import logging
import warnings

from django.db import DatabaseError, migrations, transaction

logger = logging.getLogger(__name__)


def trigram_available(connection) -> bool:
    """Create pg_trgm when we may; True when it is there (PostgreSQL only)."""
    if connection.vendor != "postgresql":
        return False
    try:
        # A savepoint: a refused CREATE EXTENSION must not abort the migration's transaction.
        with transaction.atomic(using=connection.alias):
            with connection.cursor() as cursor:
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as error:
        message = f"pg_trgm could not be created ({error}); text search works without its indexes, only slower."
        logger.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        return cursor.fetchone() is not None


def index_name(table: str, column: str) -> str:
    return f"{table}_{column}_trgm"[:63]


class TrigramIndexes(migrations.RunPython):
    """``TrigramIndexes("training_trainingjob", ["name", "description"])`` in a migration's operations."""

    def __init__(self, table: str, columns: list[str]):
        self.table, self.columns = table, list(columns)
        super().__init__(self._create, self._drop, elidable=False)

    def _create(self, apps, schema_editor):
        connection = schema_editor.connection
        if not trigram_available(connection):
            return
        quote = schema_editor.quote_name
        with connection.cursor() as cursor:
            for column in self.columns:
                cursor.execute(
                    f"CREATE INDEX IF NOT EXISTS {quote(index_name(self.table, column))} ON {quote(self.table)} "
                    f"USING gin ((UPPER({quote(column)}::text)) gin_trgm_ops)"
                )

    def _drop(self, apps, schema_editor):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return
        quote = schema_editor.quote_name
        with connection.cursor() as cursor:
            for column in self.columns:
                cursor.execute(f"DROP INDEX IF EXISTS {quote(index_name(self.table, column))}")

    def describe(self):
        return f"Trigram indexes on {self.table} ({', '.join(self.columns)}) where PostgreSQL has pg_trgm"

    def deconstruct(self):
        return (self.__class__.__qualname__, [self.table, self.columns], {})
