"""The one write path for findings: a bulk `INSERT … ON CONFLICT (arn) DO UPDATE … WHERE newer`.

On Postgres each batch is COPYed (binary) into a temporary staging table, then upserted from it by
one statement; SQLite (the demo) gets the same statement as a VALUES list.

Pull sync and EventBridge push both land here, so they can race freely: a version only replaces the
stored one when its `updatedAt` is strictly newer (and GuardDuty's answer always replaces values a push
stored; see `_newer_sql`), and each replaced or inserted version appends a
`FindingOccurrence` and writes its `FindingSearch` row (search text and severity, when changed) in
the same statement (Postgres, which also records the text's new words in `FindingSearchTerm`) or
transaction (SQLite). The SET list names only GuardDuty's columns,
so local triage state is never overwritten by a sync.

Raw SQL on purpose: Django's `bulk_create(update_conflicts=True)` cannot express the WHERE clause
nor tell inserted rows from updated ones.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

import psycopg
from django.db import connection, transaction
from django.utils import timezone

from findings.fields import json_text
from findings.models import (
    LONG_TERM,
    TERM_MAX,
    TERM_PATTERN,
    Finding,
    FindingEntity,
    FindingOccurrence,
    FindingSearch,
    FindingSearchTerm,
)
from findings.signals import findings_upsert_starting
from guardwatch.core.metrics import FINDINGS_INGESTED, FINDINGS_UPDATED

# Findings per statement. Postgres: one COPY + one upsert per 1,000 (statement overhead is then noise).
# SQLite (the demo): a VALUES list of 38 parameters per finding must stay under its 32,766 limit.
BATCH_SIZE = 1000
PORTABLE_BATCH_SIZE = 50

# Every column GuardDuty owns, in the order rows are built. The names are ParsedFinding's fields.
GUARDDUTY_COLUMNS: tuple[str, ...] = (
    "arn", "finding_id", "detector_id", "account_id", "region", "partition", "type", "threat_purpose",
    "resource_type_affected", "threat_family", "detection_mechanism", "artifact", "severity",
    "severity_band", "title", "description", "resource_type", "resource_id", "resource_name",
    "action_type", "attack_sequence_arn", "remote_ip", "remote_country", "remote_country_code", "remote_asn", "remote_org",
    "created_at", "updated_at", "first_seen", "last_seen", "count", "archived", "feedback", "sample", "raw",
)  # fmt: skip
# Written by GuardWatch alongside them: when, and by which path.
BOOKKEEPING_COLUMNS = ("first_synced_at", "last_synced_at", "source")
UPDATED_AT_INDEX = GUARDDUTY_COLUMNS.index("updated_at")
ARN_INDEX = GUARDDUTY_COLUMNS.index("arn")
_COUNT = GUARDDUTY_COLUMNS.index("count")
_LAST_SEEN = GUARDDUTY_COLUMNS.index("last_seen")


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What one upsert did: findings received, inserted, replaced by a newer version, left alone."""

    received: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    max_updated_at: datetime | None = None

    def __add__(self, other: UpsertResult) -> UpsertResult:
        stamps = [s for s in (self.max_updated_at, other.max_updated_at) if s is not None]
        return UpsertResult(
            received=self.received + other.received,
            new=self.new + other.new,
            updated=self.updated + other.updated,
            unchanged=self.unchanged + other.unchanged,
            max_updated_at=max(stamps) if stamps else None,
        )


def clean_text(value: Any) -> str:
    """Text Postgres accepts: no NUL bytes, no lone surrogates (both occur in hostile findings)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
    return value


clean_json = json_text  # the finding as JSON text every backend stores (see fields.py)


def _column_plan() -> tuple[list[int], list[tuple[int, int]], list[int], int]:
    """Indexes of text columns, (index, max_length) of char columns, datetime columns, and raw."""
    text, char, stamps = [], [], []
    for index, name in enumerate(GUARDDUTY_COLUMNS):
        field = Finding._meta.get_field(name)
        kind = field.get_internal_type()
        if name == "raw":
            continue
        if kind == "TextField":
            text.append(index)
        elif kind == "CharField":
            char.append((index, field.max_length))
        elif kind == "DateTimeField":
            stamps.append(index)
    return text, char, stamps, GUARDDUTY_COLUMNS.index("raw")


_TEXT, _CHAR, _STAMPS, _RAW = _column_plan()
_getter = attrgetter(*GUARDDUTY_COLUMNS)
# After GuardDuty's columns each row carries its entities (`ParsedFinding.entities`) as two arrays,
# kinds and values (the staging table's `entity_kinds`, `entity_values`), which the upsert writes to
# `FindingEntity`.
_ENTITY_KINDS = len(GUARDDUTY_COLUMNS)
_TITLE, _DESCRIPTION = GUARDDUTY_COLUMNS.index("title"), GUARDDUTY_COLUMNS.index("description")
_RESOURCE_ID = GUARDDUTY_COLUMNS.index("resource_id")
_SEVERITY = GUARDDUTY_COLUMNS.index("severity")
_TERM_RUN = re.compile(TERM_PATTERN)


def _entity_arrays(finding: Any) -> tuple[list[str], list[str]]:
    pairs = getattr(finding, "entities", ())
    return [kind for kind, _value in pairs], [value for _kind, value in pairs]


def search_terms(title: str, description: str, resource_id: str) -> list[str] | None:
    """The words `FindingSearchTerm` keeps for this search text (`SEARCH_TEXT_SQL`), or None to let Postgres find them.

    The same runs of `TERM_PATTERN` in the same lowercased text as migration 0023's trigger finds, ~40x
    cheaper here than in Postgres's regex engine. Only for ASCII text: lowercasing ASCII is the same in
    Python and in Postgres's `lower()` (the upsert checks that for the database's collation too; a Turkish
    one lowercases "I" otherwise), beyond ASCII the two may differ, and Postgres must find the words itself.
    """
    text = f"{title} {description} {resource_id}"
    if not text.isascii():
        return None
    return list({term if len(term) <= TERM_MAX else LONG_TERM for term in _TERM_RUN.findall(text.lower())})


def _search_words(columns: list[list]) -> tuple[list[bool], list[str], list[float]]:
    """Which rows' words Python found (`search_terms`), and the batch's distinct (word, severity) pairs.

    The pairs are those of every finding in the batch, written or not: one whose version the upsert
    refuses (an older one) may add a pair no stored text holds, which only widens a search's walk, as a
    pair left by a text since changed does (`FindingSearchTerm`).
    """
    found: list[bool] = []
    pairs: set[tuple[str, float]] = set()
    for title, description, resource_id, severity in zip(
        columns[_TITLE], columns[_DESCRIPTION], columns[_RESOURCE_ID], columns[_SEVERITY], strict=True
    ):
        terms = search_terms(title, description, resource_id)
        found.append(terms is not None)
        if terms:
            pairs.update((term, severity) for term in terms)
    return found, [term for term, _severity in pairs], [severity for _term, severity in pairs]


def _columns(findings: Iterable, vendor: str) -> list[list]:
    """The batch column by column: one row per ARN (the newest version wins), rows sorted by ARN.

    Sorting gives every concurrent upsert the same lock order, so racing batches cannot deadlock;
    de-duplicating avoids "ON CONFLICT DO UPDATE command cannot affect row a second time". The
    parser already bounds strings and strips what Postgres cannot store; here absent text becomes
    "", char columns are cut to their width, and `raw` becomes JSON text (`fields.json_text`).
    """
    newest: dict[str, tuple] = {}
    for finding in findings:
        values = (*_getter(finding), *_entity_arrays(finding))
        arn = values[ARN_INDEX]
        kept = newest.get(arn)
        if kept is None or values[UPDATED_AT_INDEX] > kept[UPDATED_AT_INDEX]:
            newest[arn] = values
    columns = [list(column) for column in zip(*(newest[arn] for arn in sorted(newest)), strict=True)]
    for index in _TEXT:
        columns[index] = ["" if value is None else value for value in columns[index]]
    for index, width in _CHAR:
        columns[index] = ["" if value is None else value[:width] for value in columns[index]]
    columns[_RAW] = [clean_json(value) for value in columns[_RAW]]
    if vendor == "sqlite":
        adapt = connection.ops.adapt_datetimefield_value
        for index in _STAMPS:
            columns[index] = [None if value is None else adapt(value) for value in columns[index]]
    return columns


def findings_upsert(*, findings: Sequence, source: str, now: datetime | None = None) -> UpsertResult:
    """Insert new findings and replace stored ones with strictly newer versions.

    `findings` are `ParsedFinding`s; `source` is `pull` or `push`. Runs in one transaction.

    A pull's transaction commits without waiting for the WAL flush (`synchronous_commit = off`):
    the pull sync writes its watermark in the same transaction, so a Postgres crash can only lose
    the last fraction of a second of pages *together with* the watermark that covered them, and the
    next sync lists them again. Pushes (EventBridge is answered 202) stay fully durable.
    """
    if not findings:
        return UpsertResult()
    now = now or timezone.now()
    total = UpsertResult()
    size = BATCH_SIZE if connection.vendor == "postgresql" else PORTABLE_BATCH_SIZE
    with transaction.atomic():
        watchers = [watcher for _receiver, watcher in
                    findings_upsert_starting.send(sender=Finding, findings=findings, now=now) if watcher]  # fmt: skip
        for start in range(0, len(findings), size):
            batch = findings[start : start + size]
            total = total + _upsert_batch(batch, source=source, now=now)
        for watcher in watchers:  # notifications: new, raised and repeated findings
            watcher.publish()
    # /metrics. Counted as the upsert's own transaction ends: a sync batch whose enclosing transaction
    # then fails (a database error saving the checkpoint) is counted again when the next run stores it.
    FINDINGS_INGESTED.labels(source=source).inc(total.new)
    FINDINGS_UPDATED.labels(source=source).inc(total.updated)
    return total


def _upsert_batch(batch: Sequence, *, source: str, now: datetime) -> UpsertResult:
    vendor = connection.vendor
    columns = _columns(batch, vendor)
    max_updated = max(f.updated_at for f in batch)
    if vendor == "postgresql":
        new, updated = _upsert_postgres(columns, source=source, now=now)
    else:
        new, updated = _upsert_portable(columns, source=source, now=now)
    return UpsertResult(
        received=len(batch),
        new=new,
        updated=updated,
        unchanged=len(batch) - new - updated,
        max_updated_at=max_updated,
    )


def _quoted(names: Iterable[str]) -> list[str]:
    return [connection.ops.quote_name(name) for name in names]


def _insert_head() -> tuple[str, str, str]:
    table = connection.ops.quote_name(Finding._meta.db_table)
    columns = ", ".join(_quoted(GUARDDUTY_COLUMNS + BOOKKEEPING_COLUMNS))
    updates = ", ".join(
        f"{col} = EXCLUDED.{col}"
        for col in _quoted((*(c for c in GUARDDUTY_COLUMNS if c != "arn"), "last_synced_at", "source"))
    )
    return table, columns, updates


def _newer_sql(table: str, source: str) -> str:
    """When an incoming version replaces the stored one.

    The stored row's `source` says whose values it holds. GuardDuty's answer (a pull, or the
    GetFindings confirmation of a push) replaces a strictly older version, and it always replaces
    values a push stored, whatever their `updatedAt`: a pushed version is only a hint until GuardDuty
    confirms it, so a forged one (a far-future `updatedAt`, a lowered severity) never outranks
    GuardDuty. GuardDuty does not move `updatedAt` when a finding is archived or given feedback, so a
    pull may also change those two columns at an equal `updatedAt`.

    A push only inserts a finding GuardWatch does not have, or replaces an older unconfirmed push of
    it; values GuardDuty gave are never overwritten by a push (the confirmation brings the pushed
    version in from GuardDuty itself; see docs/eventbridge.md).
    """
    newer = f"EXCLUDED.updated_at > {table}.updated_at"
    pushed = f"{table}.source = 'push'"
    if source != "pull":
        return f"({newer} AND {pushed})"
    return (
        f"({newer} OR {pushed} OR (EXCLUDED.updated_at = {table}.updated_at"
        f" AND (EXCLUDED.archived <> {table}.archived OR EXCLUDED.feedback <> {table}.feedback)))"
    )


# What free-text search matches (`FindingSearch.text`), from the finding row being written.
SEARCH_TEXT_SQL = "lower(title || ' ' || description || ' ' || resource_id)"


def _search_insert_sql(source: str, where: str = "true") -> str:
    """Write the severity and search text of `source`'s (id, severity, search_text) rows into `FindingSearch`.

    Only a change is written: a newer version of a finding rarely changes its title, description,
    resource id or severity, and an unchanged row then gets no new version and no index entries.
    (`WHERE true`: SQLite needs a WHERE in an INSERT … SELECT … ON CONFLICT to parse it.)
    """
    search = connection.ops.quote_name(FindingSearch._meta.db_table)
    return (
        f"INSERT INTO {search} (finding_id, severity, text)"  # noqa: S608
        f" SELECT id, severity, search_text FROM {source} WHERE {where}"
        f" ON CONFLICT (finding_id) DO UPDATE SET severity = EXCLUDED.severity, text = EXCLUDED.text"
        f" WHERE {search}.text <> EXCLUDED.text OR {search}.severity <> EXCLUDED.severity"
    )


# Postgres type each column travels as in the binary COPY, by Django field kind.
_PG_COPY_TYPES = {
    "CharField": "text",
    "TextField": "text",
    "DateTimeField": "timestamptz",
    "FloatField": "float8",
    "BigIntegerField": "int8",
    "BooleanField": "bool",
}
INCOMING_TABLE = "findings_incoming"  # per-connection temporary table the batch is copied into


_COPY_TYPES = [
    _PG_COPY_TYPES[Finding._meta.get_field(name).get_internal_type()] for name in GUARDDUTY_COLUMNS
]


def _postgres_sql(source: str) -> tuple[str, str, str]:
    """The three statements of a batch: make sure the staging table exists, COPY into it, upsert.

    The staging table is a temporary table emptied at commit (`ON COMMIT DELETE ROWS`; Postgres
    skips that work in transactions that did not touch it). The upsert empties it itself with
    `DELETE … RETURNING`, so several batches in one transaction never see each other's rows.
    `SET LOCAL synchronous_commit = off` for pulls: see `findings_upsert`.

    The staging table has two more columns, the arrays of each finding's entity kinds and values: the
    same statement replaces the entities of every inserted or replaced finding (`FindingEntity`), with
    the finding's account, region and first/last seen copied. Only pairs that are new are inserted and
    only pairs the new version no longer names are deleted; the two touch disjoint rows, so they can run
    in either order within the statement.

    The staging table keeps `raw` as it came, uncompressed and in the row (rows up to ~8 kB, the
    page). Left to the defaults, Postgres compressed each `raw` (~2.5 kB) there with pglz, and the
    INSERT … SELECT carried that compressed value into `findings_finding` unchanged: the lz4 asked
    for on `raw` (migration 0004) never applied to synced findings, and every batch paid pglz.
    Now `raw` is compressed once, with the findings column's own method.
    """
    table, columns, updates = _insert_head()
    occurrences = connection.ops.quote_name(FindingOccurrence._meta.db_table)
    owned = ", ".join(_quoted(GUARDDUTY_COLUMNS))
    raw = connection.ops.quote_name("raw")
    prepare = (
        f"DO $$BEGIN IF to_regclass('pg_temp.{INCOMING_TABLE}') IS NULL THEN"  # noqa: S608 (model metadata)
        f" CREATE TEMPORARY TABLE {INCOMING_TABLE} ON COMMIT DELETE ROWS AS"
        f" SELECT {owned}, NULL::text[] AS entity_kinds, NULL::text[] AS entity_values,"
        f" NULL::boolean AS words_found FROM {table} WITH NO DATA;"
        f" ALTER TABLE {INCOMING_TABLE} ALTER COLUMN {raw} SET STORAGE EXTERNAL,"
        f" SET (toast_tuple_target = 8160);"
        f" END IF; END$$"
    )
    # The statement holds the batch's staging rows (~2.6 kB each, `raw` uncompressed) in its CTEs: with
    # the default 4 MB of work_mem, 1,000 of them went to a temporary file and were read back each batch.
    prepare += "; SET LOCAL work_mem = '32MB'"
    if source == "pull":
        prepare += "; SET LOCAL synchronous_commit = off"
    copy = f"COPY {INCOMING_TABLE} ({owned}, entity_kinds, entity_values, words_found) FROM STDIN (FORMAT BINARY)"
    upsert = (
        f"WITH incoming AS (DELETE FROM {INCOMING_TABLE} RETURNING *),"  # noqa: S608 (identifiers from model metadata)
        f" upserted AS ("
        f" INSERT INTO {table} ({columns})"
        f" SELECT {owned}, %(now)s::timestamptz, %(now)s::timestamptz, %(source)s::text FROM incoming"
        f" ORDER BY arn"  # every concurrent upsert locks rows in the same order: no deadlocks
        f" ON CONFLICT (arn) DO UPDATE SET {updates}"
        f" WHERE {_newer_sql(table, source)}"
        f" RETURNING id, arn, (xmax = 0) AS inserted, count, updated_at, last_seen, severity,"
        f" account_id, region, first_seen, {SEARCH_TEXT_SQL} AS search_text"
        f"), joined AS (SELECT u.*, i.entity_kinds, i.entity_values, i.words_found"
        f" FROM upserted u JOIN incoming i ON i.arn = u.arn)"
        f", {_entities_sql()}, appended_new AS ("
        f" INSERT INTO {occurrences} (finding_id, count, updated_at, last_seen, recorded_at, source)"
        f" SELECT id, count, updated_at, last_seen, %(now)s, %(source)s FROM upserted WHERE inserted"
        f"), appended AS ("
        f" INSERT INTO {occurrences} (finding_id, count, updated_at, last_seen, recorded_at, source)"
        f" SELECT id, count, updated_at, last_seen, %(now)s, %(source)s FROM upserted WHERE NOT inserted"
        f" ON CONFLICT DO NOTHING"
        f"), {_search_terms_sql()}"
        f" SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted),"
        f" set_config('{SEARCH_TERMS_MARK}', statement_timestamp()::text, true) FROM upserted"
    )
    return prepare, copy, upsert


# Set by the upsert statement to its own `statement_timestamp()`: the search-terms trigger (migration 0025)
# then knows this statement recorded its words itself.
SEARCH_TERMS_MARK = "guardwatch.search_terms_recorded"
# Lowercasing ASCII is the same in Python and in this database (false only under a Turkish collation).
_ASCII_LOWERS_ALIKE = "lower('ABCDEFGHIJKLMNOPQRSTUVWXYZ') = 'abcdefghijklmnopqrstuvwxyz'"


def _search_terms_sql() -> str:
    """The CTEs of the upsert that write `FindingSearch` and record its new words in `FindingSearchTerm`.

    A finding this statement inserted has no search row yet: a plain INSERT (no ON CONFLICT check to
    make). A replaced one's row is rewritten only when its text or severity changed (`_search_insert_sql`).
    The words: the batch's distinct (word, severity) pairs Python found (`_search_words`, the statement's
    `terms` and `severities`) when the statement wrote any search row (a sync that only sees findings
    again, their texts unchanged, checks none), and for each row written whose text is beyond ASCII (`words_found` false),
    or all of them in a database that lowercases ASCII its own way, those Postgres finds with the trigger's
    own regex. Only pairs not stored yet are inserted, as the trigger does (no unique constraint: a pair
    two writers add at once is kept twice, harmless to the DISTINCT that reads them).
    """
    search = connection.ops.quote_name(FindingSearch._meta.db_table)
    terms = connection.ops.quote_name(FindingSearchTerm._meta.db_table)
    return (
        f"searched_new AS (INSERT INTO {search} (finding_id, severity, text)"  # noqa: S608 (model metadata)
        f" SELECT id, severity, search_text FROM upserted WHERE inserted RETURNING finding_id),"
        f" searched AS ({_search_insert_sql('upserted', where='NOT inserted')} RETURNING finding_id),"
        f" written AS (SELECT finding_id FROM searched_new UNION ALL SELECT finding_id FROM searched),"
        f" termed AS (INSERT INTO {terms} (term, severity) SELECT p.term, p.severity FROM ("
        f" SELECT t.term, t.severity FROM unnest(%(terms)s::text[], %(severities)s::float8[]) AS t (term, severity)"
        f" WHERE {_ASCII_LOWERS_ALIKE} AND EXISTS (SELECT FROM written)"
        f" UNION"
        f" SELECT CASE WHEN length(m[1]) > {TERM_MAX} THEN '{LONG_TERM}' ELSE m[1] END, j.severity"
        f" FROM written w JOIN joined j ON j.id = w.finding_id, regexp_matches(j.search_text, '{TERM_PATTERN}', 'g') AS m"
        f" WHERE NOT j.words_found OR NOT {_ASCII_LOWERS_ALIKE}) p"
        f" WHERE NOT EXISTS (SELECT 1 FROM {terms} x WHERE x.term = p.term AND x.severity = p.severity))"
    )


def _entities_sql() -> str:
    """The CTEs of the upsert that keep `FindingEntity` in step with the `upserted` findings.

    A finding this statement inserted has no entity rows yet: a plain INSERT, without the ON CONFLICT
    check (an index search and a speculative insertion per row) a replaced finding's rows need.
    """
    entity = connection.ops.quote_name(FindingEntity._meta.db_table)
    return (
        f"named AS (SELECT j.id AS finding_id, j.inserted, e.kind, e.value, j.account_id, j.region, j.first_seen,"  # noqa: S608
        f" j.last_seen FROM joined j, unnest(j.entity_kinds, j.entity_values) AS e (kind, value)),"
        f" entities_gone AS (DELETE FROM {entity} d USING upserted u WHERE d.finding_id = u.id AND NOT u.inserted"
        f" AND NOT EXISTS (SELECT 1 FROM named n WHERE n.finding_id = d.finding_id AND n.kind = d.kind"
        f" AND n.value = d.value)),"
        f" entities_new AS (INSERT INTO {entity} (finding_id, kind, value, account_id, region, first_seen, last_seen)"
        f" SELECT finding_id, kind, value, account_id, region, first_seen, last_seen FROM named WHERE inserted),"
        f" entities_put AS (INSERT INTO {entity} (finding_id, kind, value, account_id, region, first_seen, last_seen)"
        f" SELECT finding_id, kind, value, account_id, region, first_seen, last_seen FROM named WHERE NOT inserted"
        f" ON CONFLICT (finding_id, kind, value) DO UPDATE SET first_seen = EXCLUDED.first_seen,"
        f" last_seen = EXCLUDED.last_seen"
        f" WHERE {entity}.first_seen IS DISTINCT FROM EXCLUDED.first_seen"
        f" OR {entity}.last_seen IS DISTINCT FROM EXCLUDED.last_seen)"
    )


def _upsert_postgres(columns: list[list], *, source: str, now: datetime) -> tuple[int, int]:
    """COPY the batch (binary) into the staging table, then one statement upserts it, appends an
    occurrence for each inserted or replaced version and counts inserts vs updates.

    `xmax = 0` on a RETURNING row means the row was inserted rather than updated. Run on a psycopg
    cursor of Django's connection (same transaction): COPY rows are encoded by psycopg's C code,
    where a VALUES list or per-column arrays were quoted in Python, and the upsert statement's text
    never changes, so it is prepared once per connection.
    """
    prepare, copy_sql, upsert_sql = _postgres_sql(source)
    found, terms, severities = _search_words(columns)
    connection.ensure_connection()
    started = time.monotonic()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(prepare)
        with cursor.copy(copy_sql) as copy:
            copy.set_types(_COPY_TYPES + ["text[]", "text[]", "bool"])
            for row in zip(*columns, found, strict=True):
                copy.write_row(row)
        params = {"now": now, "source": source, "terms": terms, "severities": severities}
        cursor.execute(upsert_sql, params, prepare=True)
        new, updated, _marked = cursor.fetchone()
    if connection.queries_logged:
        took = f"{time.monotonic() - started:.3f}"
        connection.queries_log.extend({"sql": sql, "time": took} for sql in (prepare, copy_sql, upsert_sql))
    return new, updated


def _upsert_portable(columns: list[list], *, source: str, now: datetime) -> tuple[int, int]:
    """SQLite (the demo): the same upsert and WHERE clause; inserts told apart by a prior lookup."""
    table, insert_columns, updates = _insert_head()
    entity_kinds, entity_values = columns[_ENTITY_KINDS], columns[_ENTITY_KINDS + 1]
    columns = columns[:_ENTITY_KINDS]
    rows = list(zip(*columns, strict=True))
    stamp = connection.ops.adapt_datetimefield_value(now)
    arns = columns[ARN_INDEX]
    row_sql = "(" + ", ".join(["%s"] * (len(GUARDDUTY_COLUMNS) + len(BOOKKEEPING_COLUMNS))) + ")"
    occurrence_table = connection.ops.quote_name(FindingOccurrence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT arn FROM {table} WHERE arn IN ({', '.join(['%s'] * len(arns))})",  # noqa: S608
            arns,
        )
        existing = {arn for (arn,) in cursor.fetchall()}
        params: list[Any] = []
        for row in rows:
            params.extend(row)
            params.extend((stamp, stamp, source))
        cursor.execute(
            f"INSERT INTO {table} ({insert_columns}) VALUES {', '.join([row_sql] * len(rows))}"  # noqa: S608
            f" ON CONFLICT (arn) DO UPDATE SET {updates}"
            f" WHERE {_newer_sql(table, source)}"
            f" RETURNING id, arn",
            params,
        )
        changed = cursor.fetchall()
        if changed:
            ids = [pk for pk, _arn in changed]
            cursor.execute(
                f"WITH written AS (SELECT id, severity, {SEARCH_TEXT_SQL} AS search_text FROM {table}"  # noqa: S608
                f" WHERE id IN ({', '.join(['%s'] * len(ids))})) {_search_insert_sql('written')}",
                ids,
            )
            by_arn = {row[ARN_INDEX]: row for row in rows}
            cursor.executemany(
                f"INSERT INTO {occurrence_table} (finding_id, count, updated_at, last_seen, recorded_at, source)"  # noqa: S608
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [
                    (pk, by_arn[arn][_COUNT], by_arn[arn][UPDATED_AT_INDEX], by_arn[arn][_LAST_SEEN], stamp, source)
                    for pk, arn in changed
                ],
            )
            _entities_portable(cursor, changed, rows, arns, entity_kinds, entity_values)
    new = sum(1 for _pk, arn in changed if arn not in existing)
    return new, len(changed) - new


def _entities_portable(cursor, changed, rows, arns, entity_kinds, entity_values) -> None:
    """SQLite (the demo): replace the entities of the inserted or replaced findings."""
    entity = connection.ops.quote_name(FindingEntity._meta.db_table)
    ids = [pk for pk, _arn in changed]
    cursor.execute(f"DELETE FROM {entity} WHERE finding_id IN ({', '.join(['%s'] * len(ids))})", ids)  # noqa: S608
    position = {arn: index for index, arn in enumerate(arns)}
    account, region = GUARDDUTY_COLUMNS.index("account_id"), GUARDDUTY_COLUMNS.index("region")
    first_seen = GUARDDUTY_COLUMNS.index("first_seen")
    params = []
    for pk, arn in changed:
        index = position[arn]
        row = rows[index]
        for kind, value in zip(entity_kinds[index], entity_values[index], strict=True):
            params.append((pk, kind, value, row[account], row[region], row[first_seen], row[_LAST_SEEN]))
    if params:
        cursor.executemany(
            f"INSERT INTO {entity} (finding_id, kind, value, account_id, region, first_seen, last_seen)"  # noqa: S608
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            params,
        )
