"""The restore drill of docs/operations.md ("Backups and restore"), run for real: pg_dump, pg_restore into a
new database, and the restored copy holds what GuardDuty cannot give back, readable with the secrets key.

The story: an admin restores last night's dump after losing the database. Findings, their triage
timeline, the audit log and the notification destinations come back; the destinations' secrets decrypt
only with the GUARDWATCH_SECRETS_KEY kept beside the dump, and a restore without it cannot read them.
"""

from __future__ import annotations

import random
import subprocess
from datetime import UTC, datetime

import psycopg
import pytest

from findings.models import Finding, SyncState
from findings.parsing import parse_finding
from findings.upsert import findings_upsert
from gdsim.catalogue import build_finding
from notifications.crypto import SecretsUnreadable, secrets_decrypt
from notifications.services import destination_create
from tests.support.sessions import session_open, session_params
from triage.services import finding_comment_add

# The source of truth: what a restore must bring back (docs/operations.md lists the same tables).
KEPT = [
    "findings_finding", "findings_findingevent", "findings_findingoccurrence", "findings_findingsearch",
    "findings_syncstate", "core_auditentry", "notifications_destination", "auth_user",
]  # fmt: skip
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def pg_env() -> tuple[dict[str, str], str]:
    """The environment pg_dump and friends read the server and user from; the test database's name."""
    params = session_params()
    env = {"PGHOST": params.get("host", "127.0.0.1"), "PGPORT": params.get("port", "5432"),
           "PGUSER": params.get("user", "postgres"), "PGPASSWORD": params.get("password", ""),
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    return env, params["dbname"]


def counts(conn: psycopg.Connection) -> dict[str, int]:
    return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in KEPT}  # noqa: S608


@pytest.mark.django_db(transaction=True)
def test_admin_restores_a_dump_and_gets_findings_triage_audit_and_readable_destinations_back(
    analyst, admin, tmp_path, settings
):
    raw = build_finding(random.Random(3), finding_type="Recon:EC2/Portscan", account_id="111122223333",
                        region="us-east-1", detector_id="d" * 32, now=NOW, hostile=False)  # fmt: skip
    findings_upsert(findings=[parse_finding(raw)], source="pull")
    SyncState.objects.create(region="us-east-1", settled_through=NOW)  # the checkpoint matching the dump
    finding_comment_add(finding=Finding.objects.get(), body="Seen before: the scanner at the office", actor=analyst)
    destination = destination_create(name="SOC webhook", kind="webhook", enabled=True, config={},
                                     secrets={"url": "https://hooks.example.com/soc"}, actor=admin)  # fmt: skip
    env, source = pg_env()
    dump, restored = tmp_path / "guardwatch.dump", f"{source}_restored"
    with session_open(autocommit=True) as conn:
        expected = counts(conn)
    assert all(expected.values()), expected

    subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", source], env=env, check=True)
    subprocess.run(["dropdb", "--if-exists", "--force", restored], env=env, check=True)
    subprocess.run(["createdb", restored], env=env, check=True)
    try:
        subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={restored}", str(dump)],
                       env=env, check=True)  # fmt: skip
        with session_open(dbname=restored, autocommit=True) as conn:
            assert counts(conn) == expected
            (token,) = conn.execute("SELECT secrets_encrypted FROM notifications_destination WHERE id = %s",
                                    [destination.pk]).fetchone()  # fmt: skip
            (comment,) = conn.execute("SELECT body FROM findings_findingevent WHERE kind = 'comment'").fetchone()
        assert comment == "Seen before: the scanner at the office"
        assert secrets_decrypt(token) == {"url": "https://hooks.example.com/soc"}  # with the key kept

        settings.GUARDWATCH_SECRETS_KEY = "a-new-installation-key-because-the-old-one-was-lost"
        settings.GUARDWATCH_SECRETS_KEY_FALLBACKS = []
        settings.SECRET_KEY = "a-new-secret-key-too-" * 3
        with pytest.raises(SecretsUnreadable):
            secrets_decrypt(token)  # the dump alone does not bring the destinations back
    finally:
        subprocess.run(["dropdb", "--if-exists", "--force", restored], env=env, check=True)
