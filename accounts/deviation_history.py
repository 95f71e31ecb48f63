"""Each deviation's history for auditors: `DeviationRecord` follows a `Deviation` from first seen to resolved.

Drift evaluation (`accounts.drift._store`) calls `records_follow` in its transaction once it has written the
deviations. The open records are compared with the deviations by id, whatever happened since the last evaluation:
open records whose deviation is gone are resolved (with a note when no evaluation saw it fixed: its policy or
account was deleted and the rows cascaded), and deviations without an open record get one, written by the database
from the deviation rows (new ones, and those found before the history existed, first seen as they were).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from django.db import connection

from accounts.models import CoveragePolicy, Deviation, DeviationRecord, MemberAccount

ORPHANED = "Its policy or account was deleted."


def records_follow(*, changed: Sequence[Deviation], gone: Sequence[int], now) -> None:
    """Resolve the records of gone deviations, keep earlier causes of changed ones, open records for new ones."""
    for chunk in itertools.batched(gone, 10000, strict=False):
        DeviationRecord.objects.filter(deviation_id__in=chunk, resolved_at=None).update(resolved_at=now)
    if changed:
        _records_change(changed, now=now)
    # Compared as id sets here, not with NOT EXISTS in the INSERT: a statement inserting into the table its own
    # subquery scans reads every row it has just added (quadratic at 100,000 new deviations).
    open_ids = set(DeviationRecord.objects.filter(resolved_at=None).values_list("deviation_id", flat=True))
    current = set(Deviation.objects.values_list("pk", flat=True))
    for chunk in itertools.batched(sorted(open_ids - current), 10000, strict=False):
        DeviationRecord.objects.filter(deviation_id__in=chunk, resolved_at=None).update(
            resolved_at=now, resolution_note=ORPHANED
        )
    record, deviation = DeviationRecord._meta.db_table, Deviation._meta.db_table  # noqa: SLF001
    policy, account = CoveragePolicy._meta.db_table, MemberAccount._meta.db_table  # noqa: SLF001
    with connection.cursor() as cursor:
        for chunk in itertools.batched(sorted(current - open_ids), 5000, strict=False):
            cursor.execute(
                f"""INSERT INTO {record} (deviation_id, policy_id, policy_name, account_id, account_number,
                        organizational_unit, region, kind, feature, status, cause, changes, first_seen_at,
                        resolution_note)
                    SELECT d.id, d.policy_id, p.name, d.account_id, COALESCE(a.account_id, ''),
                           COALESCE(a.organizational_unit, ''), d.region, d.kind, d.feature, d.status, d.cause, %s,
                           d.first_seen_at, ''
                    FROM {deviation} d JOIN {policy} p ON p.id = d.policy_id
                         LEFT JOIN {account} a ON a.id = d.account_id
                    WHERE d.id IN ({", ".join(["%s"] * len(chunk))})""",  # noqa: S608 - table names from the models
                ["[]", *chunk],
            )


def _records_change(changed: Sequence[Deviation], *, now) -> None:
    by_pk = {d.pk: d for d in changed}
    names = dict(CoveragePolicy.objects.filter(pk__in={d.policy_id for d in changed}).values_list("pk", "name"))
    records = []
    for chunk in itertools.batched(sorted(by_pk), 10000, strict=False):
        records += list(DeviationRecord.objects.filter(deviation_id__in=chunk, resolved_at=None))
    for record in records:
        deviation = by_pk[record.deviation_id]
        record.changes = [*record.changes, {"until": now.isoformat(), "status": record.status, "cause": record.cause,
                                            "policy": record.policy_name}]  # fmt: skip
        record.status, record.cause, record.policy_id = deviation.status, deviation.cause, deviation.policy_id
        record.policy_name = names.get(deviation.policy_id, record.policy_name)
    DeviationRecord.objects.bulk_update(records, ["changes", "status", "cause", "policy_id", "policy_name"],
                                        batch_size=2000)  # fmt: skip
