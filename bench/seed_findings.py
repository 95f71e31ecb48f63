"""Seed a benchmark database with realistic findings (1,000,000 by default) in a few minutes.

A few thousand findings are built with the simulator's catalogue and parsed by GuardWatch's own
parser; each row of the table is one of them varied (its own id/ARN, account, region, times,
count, triage status, assignee), loaded with COPY while the table's indexes are dropped, then the
indexes are rebuilt and the table analysed.

    BENCH_KEEP_DB=1 .venv/bin/python bench/seed_findings.py [count]   # into gw_bench_triage
"""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from common import setup_django

DB_NAME = "gw_bench_triage"
TEMPLATES = 3000
ACCOUNTS = [f"{100000000000 + i * 7919:012d}" for i in range(60)]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
# 70% open, like the anchor's 700k open of 1M.
STATUSES = [("new", 45), ("acknowledged", 15), ("in_progress", 10), ("resolved", 18), ("false_positive", 6),
            ("accepted_risk", 3), ("suppressed", 3)]  # fmt: skip
ANALYSTS = ["analyst", "ana", "bram", "chen", "dita"]
ANALYST_PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - a benchmark database's throwaway users


def _templates(rng: random.Random) -> list:
    from findings.parsing import parse_finding
    from gdsim.catalogue import FINDING_TYPES, build_finding

    types = sorted(FINDING_TYPES)
    out = []
    for index in range(TEMPLATES):
        raw = build_finding(
            rng,
            finding_type=types[index % len(types)],
            account_id=ACCOUNTS[index % len(ACCOUNTS)],
            region=REGIONS[index % len(REGIONS)],
            detector_id="12abc34d567e8fa901bc2d34e56789f0",
            now=NOW,
            hostile=index % 97 == 0,
        )
        out.append(parse_finding(raw))
    return out


def _clean(text) -> str:
    return ("" if text is None else str(text)).replace("\x00", "\ufffd")


def seed(count: int, *, seed: int = 42) -> float:
    """Load `count` findings; returns the seconds it took."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import PBKDF2PasswordHasher
    from django.db import connection

    from findings.models import Finding, FindingEntity, FindingSearch
    from findings.upsert import SEARCH_TEXT_SQL
    from guardwatch.core.roles import Role, roles_install
    from guardwatch.core.services import user_create

    started = time.perf_counter()
    roles_install()
    User = get_user_model()
    user_ids = []
    for name in ANALYSTS:
        user = User.objects.filter(username=name).first() or user_create(
            username=name, role=Role.ANALYST, password=ANALYST_PASSWORD, validate=False
        )
        # Production's hasher, whatever mode seeds: the load bench signs in under production settings,
        # which do not accept the test mode's MD5 hashes.
        user.password = PBKDF2PasswordHasher().encode(ANALYST_PASSWORD, PBKDF2PasswordHasher().salt())
        user.save(update_fields=["password"])
        user_ids.append(user.pk)
    rng = random.Random(seed)
    templates = _templates(rng)
    raws = [
        json.dumps(t.raw, default=str, ensure_ascii=False).replace("\\u0000", "\\ufffd") for t in templates
    ]
    table = Finding._meta.db_table
    columns = [
        "arn", "finding_id", "detector_id", "account_id", "region", "partition", "type", "threat_purpose",
        "resource_type_affected", "threat_family", "detection_mechanism", "artifact", "severity", "severity_band",
        "title", "description", "resource_type", "resource_id", "resource_name", "action_type", "remote_ip",
        "remote_country", "remote_country_code", "remote_asn", "remote_org", "created_at", "updated_at",
        "first_seen", "last_seen", "count", "archived", "feedback", "sample", "raw", "first_synced_at",
        "last_synced_at", "source", "status", "assignee_id", "status_reason", "accepted_until", "status_changed_at",
    ]  # fmt: skip
    status_pool = [s for s, weight in STATUSES for _ in range(weight)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT LIKE %s",
            [table, "%pkey"],
        )
        indexes = [(name, definition) for name, definition in cursor.fetchall() if "arn" not in name]
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        cursor.execute("SELECT COALESCE(max(id), 0) FROM " + table)  # noqa: S608 - constant identifier
        (first_id,) = cursor.fetchone()
        first_id += 1  # a fresh table: COPY numbers the rows first_id, first_id + 1, ... in order
        print(f"dropped {len(indexes)} indexes; loading {count:,} rows", flush=True)
        copy_sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"  # noqa: S608 - constant identifiers
        with cursor.cursor.copy(copy_sql) as copy:
            for index in range(count):
                t = templates[index % TEMPLATES]
                finding_id = f"{rng.getrandbits(128):032x}"
                account = ACCOUNTS[rng.randrange(len(ACCOUNTS))]
                region = REGIONS[rng.randrange(len(REGIONS))]
                created = NOW - timedelta(seconds=rng.randrange(90 * 86400))
                last_seen = min(NOW, created + timedelta(seconds=rng.randrange(5 * 86400)))
                status = status_pool[rng.randrange(len(status_pool))]
                closed = status not in ("new", "acknowledged", "in_progress")
                severity = round(min(max(t.severity + rng.choice((-0.5, 0, 0, 0.5)), 1.0), 10.0), 1)
                band = (
                    "low"
                    if severity < 4
                    else "medium"
                    if severity < 7
                    else "high"
                    if severity < 9
                    else "critical"
                )
                arn = f"arn:aws:guardduty:{region}:{account}:detector/12abc34d567e8fa901bc2d34e56789f0/finding/{finding_id}"
                raw = raws[index % TEMPLATES].replace(t.finding_id, finding_id)
                copy.write_row(
                    (
                        arn, finding_id, t.detector_id, account, region, "aws", t.type, t.threat_purpose,
                        t.resource_type_affected, t.threat_family, _clean(t.detection_mechanism), _clean(t.artifact),
                        severity, band, _clean(t.title), _clean(t.description), _clean(t.resource_type),
                        _clean(t.resource_id) + f"-{index % 5000}", _clean(t.resource_name), _clean(t.action_type),
                        _clean(t.remote_ip), _clean(t.remote_country), _clean(t.remote_country_code),
                        _clean(t.remote_asn), _clean(t.remote_org), created, last_seen, created, last_seen,
                        1 + int(rng.paretovariate(1.2)), status in ("resolved", "suppressed"), "", t.sample, raw,
                        NOW, NOW, "pull", status,
                        user_ids[rng.randrange(len(user_ids))] if rng.random() < 0.3 else None,
                        "seeded" if closed else "",
                        NOW + timedelta(days=30) if status == "accepted_risk" else None,
                        created if status != "new" else None,
                    )
                )  # fmt: skip
                if index and index % 100_000 == 0:
                    print(f"  {index:,} rows, {time.perf_counter() - started:.0f} s", flush=True)
        print(f"loaded in {time.perf_counter() - started:.0f} s; filling the search table", flush=True)
        # What the sync's upsert writes alongside each finding (models.FindingSearch).
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT LIKE %s",
            [FindingSearch._meta.db_table, "%pkey"],
        )
        search_indexes = cursor.fetchall()
        for name, _definition in search_indexes:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        cursor.execute(
            f"INSERT INTO {FindingSearch._meta.db_table} (finding_id, severity, text)"  # noqa: S608 - constant identifiers
            f" SELECT id, severity, {SEARCH_TEXT_SQL} FROM {table}"
        )
        indexes += search_indexes
        # What the upsert writes alongside each finding (models.FindingEntity), from the template's raw.
        entity_table = FindingEntity._meta.db_table
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT LIKE %s",
            [entity_table, "%pkey"],
        )
        entity_indexes = cursor.fetchall()
        for name, _definition in entity_indexes:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        cursor.execute(f"SELECT max(id) - min(id) + 1, min(id) FROM {table}")  # noqa: S608 - constant identifiers
        assert cursor.fetchone() == (count, first_id), "finding ids are not the COPY's order"
        cursor.execute(f"ALTER TABLE {entity_table} DROP CONSTRAINT IF EXISTS {entity_table}_pkey")
        # Row i of the COPY is template i % TEMPLATES: its entities, with the row's account, region, times.
        cursor.execute("CREATE TEMPORARY TABLE seed_entities (template int, kind text, value text)")
        with cursor.cursor.copy("COPY seed_entities (template, kind, value) FROM STDIN") as copy:
            for number, template in enumerate(templates):
                for kind, value in template.entities:
                    copy.write_row((number, kind, value))
        cursor.execute(
            f"INSERT INTO {entity_table} (finding_id, kind, value, account_id, region, first_seen, last_seen)"  # noqa: S608
            f" SELECT f.id, e.kind, e.value, f.account_id, f.region, f.first_seen, f.last_seen"
            f" FROM {table} f JOIN seed_entities e ON e.template = (f.id - %s) %% {TEMPLATES}",
            [first_id],
        )
        entity_count = cursor.rowcount
        entity_indexes.append(
            (f"{entity_table}_pkey", f"ALTER TABLE {entity_table} ADD PRIMARY KEY (finding_id, kind, value)")
        )
        indexes += entity_indexes
        print(f"entity table filled ({entity_count:,} rows) at {time.perf_counter() - started:.0f} s", flush=True)
        print(f"search table filled at {time.perf_counter() - started:.0f} s; rebuilding indexes", flush=True)
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for name, definition in indexes:
            cursor.execute(definition)
            print(f"  {name} at {time.perf_counter() - started:.0f} s", flush=True)
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute(f"VACUUM ANALYZE {FindingSearch._meta.db_table}")
        cursor.execute(f"VACUUM ANALYZE {FindingEntity._meta.db_table}")
    return time.perf_counter() - started


def ensure_seeded(target: int, *, accounts: list[str] | None = None) -> float | None:
    """Seed the benchmark database unless it holds ~`target` findings already; the seconds seeding took, or None.

    `accounts`: the member account ids the findings spread over (default: ACCOUNTS, 60 of them)."""
    global ACCOUNTS
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'findings_finding'")
            row = cursor.fetchone()
        have = int(row[0]) if row else 0
    except Exception:  # noqa: BLE001 - no database yet
        have = 0
    if have >= target * 0.95:
        return None
    if accounts is not None:
        ACCOUNTS = accounts
    database_prepare()
    return seed(target)


def database_prepare() -> None:
    """Create and migrate the benchmark database (kept afterwards: seeding is the slow part)."""
    from django.core.management import call_command
    from django.db import connection

    name = connection.settings_dict["NAME"]
    with connection._nodb_cursor() as cursor:  # noqa: SLF001
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    call_command("migrate", verbosity=0)


if __name__ == "__main__":
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    setup_django(DB_NAME)
    database_prepare()
    seconds = seed(total)
    print(f"seeded {total:,} findings in {seconds:.0f} s")
