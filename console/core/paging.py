"""Pages of big lists that stay fast however deep (issue 15).

``OFFSET 99980 LIMIT 20`` over full rows makes the database read and throw away 99,980 rows of a
few KB each. A *deferred join* asks first for the page's ids only — the ordering's index answers
that without touching the table (an index-only scan) — then fetches just those rows, with their
``select_related`` and ``prefetch_related``. When the total is known and the page lies in the back
half, the ids are read from the other end (the reversed order, the same index scanned backward),
so the last page costs what the first does. Same rows, same order, same offset/limit semantics;
one query more, whatever the page or the page size.
"""

from __future__ import annotations

from django.core.paginator import Paginator


def deferred_slice(queryset, start: int, stop: int, *, total: int | None = None) -> list:
    """``list(queryset[start:stop])``, in two cheap queries instead of one expensive one.

    ``total``: the queryset's count when the caller has it already (enables the backward read).
    """
    if total is not None:
        stop = min(stop, total)
    if stop <= start:
        return []
    ids_only = queryset.prefetch_related(None).values_list("pk", flat=True)
    if total is not None and start > total - stop and queryset.ordered:
        # Rows start..stop from the front are rows total-stop..total-start from the back.
        ids = list(ids_only.reverse()[total - stop : total - start])[::-1]
    else:
        ids = list(ids_only[start:stop])
    if not ids:
        return []
    found = {row.pk: row for row in queryset.filter(pk__in=ids).order_by()}
    return [found[pk] for pk in ids if pk in found]


class DeferredJoinPaginator(Paginator):
    """Django's Paginator (counts, numbers, orphans, errors unchanged), with pages read by ``deferred_slice``."""

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        return self._get_page(deferred_slice(self.object_list, bottom, top, total=self.count), number, self)


def paginate_deferred(request, queryset, *, per_page: int = 20):
    """As ``core.htmx.paginate``: ``?page=`` (bad or out of range → the nearest valid page)."""
    return DeferredJoinPaginator(queryset, per_page).get_page(request.GET.get("page"))
