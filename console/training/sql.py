"""UPDATE … RETURNING: which rows a conditional update really changed.

The poller updates many jobs at once with ``WHERE id IN (…) AND phase = <expected>``;
only the rows it really moved get a timeline event, so a second poller running
at the same time (or a runner finishing its job) never produces duplicates.
Django uses the same compiler path itself to refresh db_returning fields after
save(); PostgreSQL and SQLite ≥ 3.35 both support RETURNING.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.db.models.sql import UpdateQuery


def update_returning(queryset: QuerySet, values: dict, returning: str = "pk") -> list:
    """``queryset.update(**values)`` returning the ``returning`` field of every updated row."""
    model = queryset.model
    field = model._meta.pk if returning == "pk" else model._meta.get_field(returning)
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    query.annotations = {}
    compiler = query.get_compiler(queryset.db)
    if not compiler.connection.features.can_return_rows_from_update:
        raise NotImplementedError("The database must support UPDATE … RETURNING (PostgreSQL, SQLite ≥ 3.35).")
    rows = compiler.execute_returning_sql([field])
    return [row[0] for row in rows]
