"""`rows_insert`: many rows in one statement; conflicting rows skipped, the inserted ones read back."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import MemberAccount, Membership
from guardwatch.core.db import bulk
from guardwatch.core.db.bulk import rows_insert
from guardwatch.core.models import AuditEntry
from guardwatch.core.services import audit_record_many

pytestmark = pytest.mark.django_db


def _accounts(count: int) -> list[MemberAccount]:
    return MemberAccount.objects.bulk_create(
        [MemberAccount(account_id=f"{210000000000 + i:012d}", email=f"a{i}@example.com") for i in range(count)]
    )


def test_skipping_conflicts_returns_only_the_rows_inserted_and_leaves_the_existing_row_alone():
    accounts = _accounts(3)
    kept = Membership.objects.create(account=accounts[1], region="us-east-1", relationship_status="Invited")
    now = timezone.now()

    inserted = rows_insert(
        model=Membership,
        varying={"account_id": [a.pk for a in accounts], "relationship_status": ["Enabled", "Enabled", "Removed"]},
        fixed={"region": "us-east-1", "last_synced_at": now},
        skip_conflicts=True,
        returning=("id", "account_id"),
    )

    assert sorted(account for _pk, account in inserted) == [accounts[0].pk, accounts[2].pk]
    stored = {m.account_id: (m.pk, m.relationship_status, m.last_synced_at) for m in Membership.objects.all()}
    assert stored[accounts[1].pk] == (kept.pk, "Invited", None)
    assert {pk for pk, _account in inserted} == {stored[accounts[0].pk][0], stored[accounts[2].pk][0]}
    assert stored[accounts[2].pk][1:] == ("Removed", now)


def test_without_skipping_a_conflict_fails_the_whole_statement():
    from django.db import IntegrityError, transaction

    accounts = _accounts(2)
    Membership.objects.create(account=accounts[1], region="us-east-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        rows_insert(model=Membership, varying={"account_id": [a.pk for a in accounts]}, fixed={"region": "us-east-1"})
    assert Membership.objects.count() == 1


def test_rows_come_back_from_every_batch_of_the_values_path(monkeypatch):
    """The non-Postgres path (the SQLite demo) writes `VALUES` lists under the parameter limit: taken here on
    Postgres (the SQL is the same) with a small limit, so the rows span several statements."""
    accounts = _accounts(5)
    Membership.objects.create(account=accounts[2], region="eu-west-1", relationship_status="Invited")
    monkeypatch.setattr(bulk, "_SQLITE_PARAMETERS", 19)  # 9 columns a row (defaults filled in): 2 rows a statement
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with CaptureQueriesContext(connection) as queries:
        inserted = rows_insert(
            model=Membership,
            varying={"account_id": [a.pk for a in accounts], "relationship_status": ["Enabled"] * 5},
            fixed={"region": "eu-west-1", "last_synced_at": None},
            skip_conflicts=True,
            returning=("account_id",),
        )
    monkeypatch.undo()
    assert sorted(row[0] for row in inserted) == sorted(a.pk for i, a in enumerate(accounts) if i != 2)
    assert len([q for q in queries if q["sql"].startswith("INSERT")]) == 3
    assert " VALUES " in queries[0]["sql"] and "unnest" not in queries[0]["sql"]
    stored = dict(Membership.objects.values_list("account_id", "relationship_status"))
    assert stored == {a.pk: "Invited" if i == 2 else "Enabled" for i, a in enumerate(accounts)}
    # Text fields named nowhere get "" (as bulk_create stores them), not NULL.
    assert set(Membership.objects.values_list("detector_id", "last_error")) == {("", "")}


def test_an_empty_insert_writes_nothing_and_returns_nothing():
    assert rows_insert(model=Membership, varying={"account_id": []}, fixed={}, returning=("id",)) == []
    assert rows_insert(model=Membership, varying={"account_id": []}, fixed={}) == 0


def test_audit_entries_written_in_batches_keep_targets_and_details_exactly():
    accounts = _accounts(2)
    hostile = {"note": "</script><b>\"quoted\" 'x' \\ ü", "nested": {"list": [1, None, True]}}
    count = audit_record_many(
        actor="member-sync", verb="member.discover",
        entries=[(accounts[0], hostile), (("region", "us-east-1", "Region us-east-1"), {}), (None, {"n": 3})],
    )  # fmt: skip
    assert count == 3
    rows = list(AuditEntry.objects.order_by("id").values_list(
        "actor_id", "actor_name", "verb", "target_type", "target_id", "target_label", "details"))  # fmt: skip
    assert rows == [
        (None, "member-sync", "member.discover", "accounts.memberaccount", str(accounts[0].pk), str(accounts[0]), hostile),
        (None, "member-sync", "member.discover", "region", "us-east-1", "Region us-east-1", {}),
        (None, "member-sync", "member.discover", "", "", "", {"n": 3}),
    ]
    assert AuditEntry.objects.filter(created_at__isnull=True).count() == 0
