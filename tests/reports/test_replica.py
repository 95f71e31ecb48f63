"""With a read replica configured, the reports' heavy computations read it and leave the primary alone.

The replica here is a second alias on the test database (what a streaming replica is to the primary: the
same rows, another server); every statement is recorded with the alias and thread that ran it.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta

import pytest
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.signals import connection_created
from django.utils import timezone

from findings.models import Finding
from guardwatch.core.replica import REPLICA, ReplicaRouter, reads_alias, replica_reads
from reports import coverage, periods
from reports import findings_report as reports
from reports import services as report_services
from tests.reports.support import REGIONS, detectors, finding, member, moved


@pytest.fixture(scope="module", autouse=True)
def replica():
    """A `replica` database alias on the test database, as GUARDWATCH_REPLICA_DATABASE_URL adds one.

    Module-scoped so it exists before each test's database set-up, which must allow it (`databases`).
    """
    primary = connections[DEFAULT_DB_ALIAS].settings_dict
    connections.settings[REPLICA] = {**primary, "TEST": {**primary["TEST"], "MIRROR": DEFAULT_DB_ALIAS}}
    try:
        yield REPLICA
    finally:
        with contextlib.suppress(AttributeError):
            connections[REPLICA].close()
            del connections[REPLICA]
        del connections.settings[REPLICA]


@pytest.fixture
def no_replica():
    """No replica configured, for one test."""
    kept = connections.settings.pop(REPLICA)
    try:
        yield
    finally:
        connections.settings[REPLICA] = kept


BOTH = pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])


@pytest.fixture
def statements():
    """Every SQL statement run from here on, as (alias, thread id, sql), on any thread's connection."""
    seen: list[tuple[str, int, str]] = []

    def recorder(alias: str):
        def record(execute, sql, params, many, context):
            seen.append((alias, threading.get_ident(), sql))
            return execute(sql, params, many, context)

        return record

    def on_created(sender, connection, **kwargs):
        connection.execute_wrappers.append(recorder(connection.alias))

    default = connections[DEFAULT_DB_ALIAS]
    default.execute_wrappers.append(recorder(DEFAULT_DB_ALIAS))  # this thread's, open already
    connection_created.connect(on_created)
    try:
        yield seen
    finally:
        connection_created.disconnect(on_created)
        default.execute_wrappers.pop()


def _reading(seen, table: str) -> set[str]:
    """The aliases that ran a SELECT naming `table`."""
    return {alias for alias, _, sql in seen if sql.lstrip().upper().startswith(("SELECT", "WITH")) and table in sql}


def test_the_router_sends_only_reads_inside_replica_reads_to_the_replica():
    router = ReplicaRouter()
    assert router.db_for_read(Finding) is None  # the default: the primary
    with replica_reads():
        assert router.db_for_read(Finding) == REPLICA
        assert reads_alias() == REPLICA
        assert router.db_for_write(Finding) == DEFAULT_DB_ALIAS
    assert reads_alias() == DEFAULT_DB_ALIAS
    assert router.allow_migrate(REPLICA, "findings") is False
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "findings") is None


def test_without_a_replica_replica_reads_reads_the_primary(no_replica):
    with replica_reads():
        assert ReplicaRouter().db_for_read(Finding) is None
        assert reads_alias() == DEFAULT_DB_ALIAS


@BOTH
def test_the_findings_report_is_computed_from_the_replica_on_both_connections(statements):
    now = timezone.now()
    for days in (1, 2, 3):
        f = finding(created=now - timedelta(days=days), band="high")
    moved(f, to="resolved", at=now - timedelta(hours=5))
    period = periods.report_period(params={"period": "7"}, now=now)
    mark = report_services.findings_data_mark()  # what the caller reads on the primary to judge staleness
    statements.clear()

    report = report_services._report_snapshot(period, now=now, mark=mark)

    assert (report.new_total, report.closed_total, report.open_now) == (3, 1, 2)
    assert _reading(statements, "findings_finding") == {REPLICA}
    assert _reading(statements, "findings_findingevent") == {REPLICA}
    assert _reading(statements, "findings_findingoccurrence") == {REPLICA}  # the snapshot's data mark
    # The report's two halves run on two threads (two connections), both reading the replica.
    assert len({thread for alias, thread, sql in statements if alias == REPLICA and "findings_finding" in sql}) == 2
    # The primary was not asked for anything.
    assert not [sql for alias, _, sql in statements if alias == DEFAULT_DB_ALIAS]


@BOTH
def test_the_coverage_summary_is_read_from_the_replica(statements):
    detectors(*REGIONS)
    member("111111111111", us_east_1="Enabled", eu_west_1="Enabled")
    member("222222222222", us_east_1="Enabled")
    statements.clear()

    summary = coverage.coverage_summary_compute()

    assert (summary.accounts, summary.fully_monitored) == (3, 2)  # with the administrator account
    assert _reading(statements, "accounts_membership") == {REPLICA}
    assert not [sql for alias, _, sql in statements if alias == DEFAULT_DB_ALIAS]


@BOTH
def test_the_report_reads_the_primary_when_no_replica_is_configured(no_replica, statements):
    finding(created=timezone.now() - timedelta(days=1))
    statements.clear()
    report = reports.findings_report_compute(period=periods.report_period(params={"period": "7"}))
    assert report.new_total == 1
    assert _reading(statements, "findings_finding") == {DEFAULT_DB_ALIAS}
