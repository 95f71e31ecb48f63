"""A sync rides through faults within its run: throttling, 5xx bursts and a lost database connection
cost a pause, not a failed run (issue 25); what waiting cannot fix still fails at once."""

from __future__ import annotations

import psycopg
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from django.db import connection

from findings.models import SyncRun
from findings.sync import findings_sync_region, transient
from guardwatch.aws import reset_clients

from .simulated import estate
from .test_sync import simulated_versions, stored_versions

REGION = "us-east-1"
pytestmark = pytest.mark.django_db


@pytest.fixture
def two_attempts(settings):
    """botocore gives up after two retries (three attempts), so the run's own backoff is what rides through
    (with production's budget: test mode's is 0)."""
    settings.GUARDWATCH_AWS_MAX_ATTEMPTS = 2
    settings.GUARDWATCH_FINDINGS_SYNC_FAULT_BUDGET_SECONDS = 300
    reset_clients()
    yield
    reset_clients()


@pytest.mark.parametrize("kind", ["server_error", "throttle"])
def test_a_burst_longer_than_botocores_retries_costs_a_pause_not_the_run(simulator, two_attempts, kind):
    estate(simulator, [REGION], per_region=300)
    simulator.faults.add(kind, operation="GetFindings", times=7)  # 7 errors in a row, then answers again

    run = findings_sync_region(region=REGION)

    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    # botocore's 3 attempts fail, the run waits 1 s; 3 more fail, it waits 2 s; the 7th error is retried
    # by botocore itself and the call gets through.
    assert run.waited_seconds == 3.0
    assert stored_versions() == simulated_versions(simulator, [REGION])


def test_past_its_budget_the_run_fails_and_says_why(simulator, two_attempts, settings):
    settings.GUARDWATCH_FINDINGS_SYNC_FAULT_BUDGET_SECONDS = 2
    estate(simulator, [REGION], per_region=120)
    simulator.faults.add("server_error", operation="GetFindings")  # down for good

    run = findings_sync_region(region=REGION)

    assert run.status == SyncRun.Status.FAILED
    assert run.waited_seconds == 1.0  # the next pause (2 s) would have passed the budget
    assert "InternalServerErrorException" in run.errors


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "ListFindings")  # fmt: skip


def test_only_errors_that_waiting_can_fix_are_waited_out():
    assert transient(_client_error("TooManyRequestsException", 429))
    assert transient(_client_error("InternalServerErrorException", 500))
    assert transient(_client_error("ServiceUnavailableException", 503))
    assert transient(EndpointConnectionError(endpoint_url="https://guardduty.us-east-1.amazonaws.com"))
    assert not transient(_client_error("AccessDeniedException", 403))
    assert not transient(_client_error("BadRequestException", 400))


def _terminate_after(simulator, *, calls: int, times: int = 1):
    """Terminate the sync's database session (as a PostgreSQL restart would) after `calls` GetFindings."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
    seen = {"calls": 0, "killed": 0}
    url = f"host={connection.settings_dict['HOST'] or '127.0.0.1'} port={connection.settings_dict['PORT'] or 5432} " \
          f"user={connection.settings_dict['USER']} dbname={connection.settings_dict['NAME']}"  # fmt: skip

    def hook(operation, _params, _result):
        if operation != "GetFindings":
            return
        seen["calls"] += 1
        if seen["calls"] % calls == 0 and seen["killed"] < times:
            seen["killed"] += 1
            with psycopg.connect(url, autocommit=True) as admin:  # every other session of this database
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                              "AND application_name NOT LIKE 'pg_%%'")  # fmt: skip

    simulator.after_call = hook
    return seen


@pytest.mark.django_db(transaction=True)
def test_a_lost_database_connection_is_retried_once_on_a_fresh_one(simulator, monkeypatch):
    monkeypatch.setattr("findings.sync.SYNC_COMMIT_FINDINGS", 100)
    estate(simulator, [REGION], per_region=600)
    seen = _terminate_after(simulator, calls=4)

    run = findings_sync_region(region=REGION)

    assert seen["killed"] == 1
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert stored_versions() == simulated_versions(simulator, [REGION])


@pytest.mark.django_db(transaction=True)
def test_a_connection_lost_again_is_waited_for_within_the_budget(simulator, monkeypatch, settings):
    """A PostgreSQL restart refuses connections for seconds: the second loss costs a pause, not the run."""
    settings.GUARDWATCH_FINDINGS_SYNC_FAULT_BUDGET_SECONDS = 300
    monkeypatch.setattr("findings.sync.SYNC_COMMIT_FINDINGS", 100)
    estate(simulator, [REGION], per_region=600)
    seen = _terminate_after(simulator, calls=3, times=3)  # three: one may land on the claim's lock connection

    run = findings_sync_region(region=REGION)

    assert seen["killed"] == 3
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert run.waited_seconds >= 1.0  # the first loss was retried at once, a later one was waited for
    assert stored_versions() == simulated_versions(simulator, [REGION])


@pytest.mark.django_db(transaction=True)
def test_a_second_lost_connection_past_the_budget_fails_the_run(simulator, monkeypatch):
    """Test mode's fault budget is 0: the run may not wait for the database, so losing it again fails the run.

    Three terminations: one of them can land on a session the sync is not using at that moment (the claim's
    lock connection), so two are not always two losses the run sees; three make sure it sees at least two."""
    monkeypatch.setattr("findings.sync.SYNC_COMMIT_FINDINGS", 100)
    estate(simulator, [REGION], per_region=600)
    seen = _terminate_after(simulator, calls=3, times=3)

    run = findings_sync_region(region=REGION)

    assert seen["killed"] >= 2
    connection.close()
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert "OperationalError" in run.errors
