"""UPDATE … RETURNING: a conditional state change that says which rows it moved (safe twice at once)."""

from django.db.models import QuerySet
from django.db.models.sql import UpdateQuery


def update_returning(queryset: QuerySet, values: dict) -> list[int]:
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    query.annotations = {}
    rows = query.get_compiler(queryset.db).execute_returning_sql([queryset.model._meta.pk])
    return [row[0] for row in rows]
