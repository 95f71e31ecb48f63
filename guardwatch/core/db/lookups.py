"""`id = ANY(array)`: a long list of ids as one parameter, for the set-based writes of bulk actions.

`filter(pk__in=ids)` binds every id as its own parameter: for a bulk action's 10,000 findings Django
compiled and psycopg rewrote a 10,000-placeholder statement for each of its queries, about as much time
as the UPDATE itself (`bench/bench_triage.py --bulk-only`). On Postgres this sends the ids as one array;
other databases (the SQLite demo) get the IN list.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import F, Lookup


class IdsIn(Lookup):
    """`lhs` is one of `ids` (integers), e.g. `Finding.objects.filter(IdsIn(F("pk"), ids))`."""

    lookup_name = "ids_in"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        ids = [int(value) for value in self.rhs]
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::{self.lhs.output_field.db_type(connection)}[])", [*lhs_params, ids]
        if not ids:
            return "1 = 0", []
        return f"{lhs} IN ({', '.join(['%s'] * len(ids))})", [*lhs_params, *ids]


def ids_in(ids: Iterable[int], field: str = "pk") -> IdsIn:
    """The filter "`field` is one of `ids`"."""
    return IdsIn(F(field), list(ids))
