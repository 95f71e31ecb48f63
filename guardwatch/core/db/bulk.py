"""Many rows in one INSERT where only a column or two differ from row to row (timeline entries, write-backs).

`bulk_create` builds a model instance per row and binds every column of every row as its own
parameter: for 10,000 timeline rows that was more Python time than the INSERT itself. On Postgres
the varying columns travel as one array each and are unnested server side; the columns every row
shares are bound once. Other databases (the SQLite demo) get `bulk_create`, or a `VALUES` list when the caller
skips conflicting rows and wants the inserted ones back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models
from django.utils import timezone


def rows_insert(
    *,
    model: type[models.Model],
    varying: dict[str, list],
    fixed: dict[str, Any],
    batch_size: int = 10_000,
    skip_conflicts: bool = False,
    returning: Sequence[str] = (),
) -> int | list[tuple]:
    """Insert `len(varying[...])` rows of `model`: column by column values in `varying`, the rest from `fixed`.

    Keys are field names (`finding_id` style for foreign keys); fields named in neither get their
    default, as with `bulk_create` (text "", `auto_now`/`auto_now_add` the time of the call). Values go
    through each field's `get_db_prep_save`, so JSON and datetimes are stored exactly as `bulk_create` would
    store them. `skip_conflicts` leaves out rows a unique constraint refuses (`ON CONFLICT DO NOTHING`);
    `returning` names columns (attnames) to read back from the rows actually inserted, in no particular order:
    then the result is those rows as tuples, else how many rows were given.
    """
    lengths = {len(values) for values in varying.values()}
    if len(lengths) != 1:
        raise ValueError("every varying column needs the same number of values")
    count = lengths.pop()
    if not count:
        return [] if returning else 0
    if connection.vendor != "postgresql" and not returning:
        rows = [
            model(**{name: values[index] for name, values in varying.items()}, **fixed) for index in range(count)
        ]
        model.objects.bulk_create(rows, batch_size=batch_size, ignore_conflicts=skip_conflicts)
        return count
    fixed = dict(fixed)
    named = {model._meta.get_field(name).name for name in (*varying, *fixed)}
    for field in model._meta.concrete_fields:  # what bulk_create would fill in: defaults, "" for text, now
        if field.name in named or field.primary_key or field.db_default is not models.NOT_PROVIDED:
            continue
        auto_now = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        fixed[field.attname] = timezone.now() if auto_now else field.get_default()
    fields = {name: model._meta.get_field(name) for name in (*varying, *fixed)}
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(fields[name].column) for name in (*varying, *fixed))
    tail = " ON CONFLICT DO NOTHING" if skip_conflicts else ""
    if returning:
        tail += " RETURNING " + ", ".join(quote(model._meta.get_field(name).column) for name in returning)
    shared = [fields[name].get_db_prep_save(value, connection) for name, value in fixed.items()]
    if connection.vendor != "postgresql":
        return _values_insert(table, columns, tail, fields, varying, shared, count)
    arrays = ", ".join(f"%s::{fields[name].db_type(connection)}[]" for name in varying)
    aliases = ", ".join(f"v{index}" for index in range(len(varying)))
    # Typed like the arrays: an untyped parameter in a SELECT list would be taken for text.
    casts = [f"%s::{fields[name].db_type(connection)}" for name in fixed]
    selected = ", ".join([*(f"v{index}" for index in range(len(varying))), *casts])
    sql = (
        f"INSERT INTO {table} ({columns}) SELECT {selected}"  # noqa: S608 - identifiers from model metadata
        f" FROM unnest({arrays}) AS v({aliases}){tail}"
    )
    inserted: list[tuple] = []
    with connection.cursor() as cursor:
        for start in range(0, count, batch_size):
            chunk = [
                [fields[name].get_db_prep_save(value, connection) for value in values[start : start + batch_size]]
                for name, values in varying.items()
            ]
            cursor.execute(sql, [*shared, *chunk])
            if returning:
                inserted.extend(cursor.fetchall())
    return inserted if returning else count


# SQLite's limit on a statement's parameters (32,766 since 3.32; Django's backend assumes 999 on older ones).
_SQLITE_PARAMETERS = 999


def _values_insert(table: str, columns: str, tail: str, fields: dict, varying: dict, shared: list, count: int) -> list:
    """The non-Postgres path when rows must come back: `INSERT … VALUES (…), (…) … RETURNING` in batches."""
    width = len(varying) + len(shared)
    per_statement = max(1, _SQLITE_PARAMETERS // width)
    inserted: list[tuple] = []
    with connection.cursor() as cursor:
        for start in range(0, count, per_statement):
            rows = [
                [fields[name].get_db_prep_save(values[index], connection) for name, values in varying.items()] + shared
                for index in range(start, min(start + per_statement, count))
            ]
            marks = ", ".join("(" + ", ".join(["%s"] * width) + ")" for _row in rows)
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {marks}{tail}",  # noqa: S608 - identifiers from model metadata
                [value for row in rows for value in row],
            )
            inserted.extend(cursor.fetchall())
    return inserted
