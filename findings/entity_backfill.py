"""Fill `FindingEntity` for findings stored before it existed (migration 0017, `findings_entities_backfill`).

Raw SQL over the tables as they are, so the migration can run it against its historical state: one id
range per transaction, each finding's entities read from its stored JSON by the upsert's own extractor.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from findings.entities import finding_entities

BATCH = 5_000  # findings per transaction: ~12 MB of JSON read, a second or so of work
INSERT_ROWS = 1_000  # entities per INSERT: 4,000 parameters, under SQLite's 32,766


def entities_backfill(*, connection, progress: Callable[[int], None] | None = None) -> int:
    """Insert the entities of every stored finding that has none yet; the rows written."""
    from django.db import transaction

    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(max(id), 0) FROM findings_finding")
        (last,) = cursor.fetchone()
    written = 0
    for start in range(0, last + 1, BATCH):
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(
                "SELECT f.id, f.updated_at, f.raw FROM findings_finding f WHERE f.id >= %s AND f.id < %s"
                " AND NOT EXISTS (SELECT 1 FROM findings_findingentity e WHERE e.finding_id = f.id)",
                [start, start + BATCH],
            )
            rows = []
            for finding_id, updated_at, raw in cursor.fetchall():
                try:
                    document = json.loads(raw) if isinstance(raw, str) else raw
                except ValueError:
                    continue
                rows.extend((finding_id, updated_at, kind, value) for kind, value in finding_entities(document))
            if not rows:
                continue
            for chunk in range(0, len(rows), INSERT_ROWS):
                part = rows[chunk : chunk + INSERT_ROWS]
                placeholders = ", ".join(["(%s, %s, %s, %s)"] * len(part))
                # Only if the version read is still the stored one: a newer version's upsert wrote its own.
                cursor.execute(
                    "WITH e (finding_id, updated_at, kind, value) AS"  # noqa: S608 - placeholders only
                    f" (VALUES {placeholders})"
                    " INSERT INTO findings_findingentity"
                    " (finding_id, kind, value, account_id, region, first_seen, last_seen)"
                    " SELECT f.id, e.kind, e.value, f.account_id, f.region, f.first_seen, f.last_seen"
                    " FROM e JOIN findings_finding f ON f.id = e.finding_id AND f.updated_at = e.updated_at"
                    " WHERE true ON CONFLICT DO NOTHING",
                    [value for row in part for value in row],
                )
                written += max(cursor.rowcount, 0)
        if progress:
            progress(written)
    return written
