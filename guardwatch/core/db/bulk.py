"""Many rows in one INSERT where only a column or two differ from row to row (timeline entries, write-backs).

`bulk_create` builds a model instance per row and binds every column of every row as its own
parameter: for 10,000 timeline rows that was more Python time than the INSERT itself. On Postgres
the varying columns travel as one array each and are unnested server side; the columns every row
shares are bound once. Other databases (the SQLite demo) get `bulk_create`.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, models


def rows_insert(
    *, model: type[models.Model], varying: dict[str, list], fixed: dict[str, Any], batch_size: int = 10_000
) -> int:
    """Insert `len(varying[...])` rows of `model`: column by column values in `varying`, the rest from `fixed`.

    Keys are field names (`finding_id` style for foreign keys); fields named in neither get their
    default, as with `bulk_create`. Values go through each field's `get_db_prep_save`, so JSON and
    datetimes are stored exactly as `bulk_create` would store them.
    """
    lengths = {len(values) for values in varying.values()}
    if len(lengths) != 1:
        raise ValueError("every varying column needs the same number of values")
    count = lengths.pop()
    if not count:
        return 0
    if connection.vendor != "postgresql":
        rows = [
            model(**{name: values[index] for name, values in varying.items()}, **fixed) for index in range(count)
        ]
        model.objects.bulk_create(rows, batch_size=batch_size)
        return count
    fixed = dict(fixed)
    named = {model._meta.get_field(name).name for name in (*varying, *fixed)}
    for field in model._meta.concrete_fields:  # what bulk_create would fill in: the fields' defaults
        if field.name not in named and not field.primary_key and field.has_default():
            fixed[field.attname] = field.get_default()
    fields = {name: model._meta.get_field(name) for name in (*varying, *fixed)}
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(fields[name].column) for name in (*varying, *fixed))
    arrays = ", ".join(f"%s::{fields[name].db_type(connection)}[]" for name in varying)
    aliases = ", ".join(f"v{index}" for index in range(len(varying)))
    shared = [fields[name].get_db_prep_save(value, connection) for name, value in fixed.items()]
    # Typed like the arrays: an untyped parameter in a SELECT list would be taken for text.
    casts = [f"%s::{fields[name].db_type(connection)}" for name in fixed]
    selected = ", ".join([*(f"v{index}" for index in range(len(varying))), *casts])
    sql = (
        f"INSERT INTO {table} ({columns}) SELECT {selected}"  # noqa: S608 - identifiers from model metadata
        f" FROM unnest({arrays}) AS v({aliases})"
    )
    with connection.cursor() as cursor:
        for start in range(0, count, batch_size):
            chunk = [
                [fields[name].get_db_prep_save(value, connection) for value in values[start : start + batch_size]]
                for name, values in varying.items()
            ]
            cursor.execute(sql, [*shared, *chunk])
    return count
