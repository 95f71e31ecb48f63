"""Each deviation's history for auditors: `DeviationRecord` follows a `Deviation` from first seen to resolved.

Drift evaluation (`accounts.drift._store`) calls `records_follow` in its transaction with what it created, changed
and deleted. A deviation that disappears without an evaluation (its policy or account deleted: the rows cascade)
is closed by the next evaluation, which notices the open records no longer match the deviations; deviations from
before the history existed get a record the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from accounts.models import CoveragePolicy, Deviation, DeviationRecord, MemberAccount

ORPHANED = "Its policy or account was deleted."


def records_follow(
    *, created: Sequence[Deviation], changed: Sequence[Deviation], gone: Sequence[int], now, ous: dict[int, str],
    expected_open: int,
) -> None:
    """Open records for new deviations, keep earlier causes of changed ones, resolve the gone ones."""
    _records_open(created, ous=ous)
    if changed:
        _records_change(changed, now=now)
    for chunk in itertools.batched(gone, 10000, strict=False):
        DeviationRecord.objects.filter(deviation_id__in=chunk, resolved_at=None).update(resolved_at=now)
    if DeviationRecord.objects.filter(resolved_at=None).count() != expected_open:
        _records_reconcile(now=now)


def _records_open(deviations: Sequence[Deviation], *, ous: dict[int, str]) -> None:
    if not deviations:
        return
    names = dict(CoveragePolicy.objects.filter(pk__in={d.policy_id for d in deviations}).values_list("pk", "name"))
    account_pks = {d.account_id for d in deviations if d.account_id}
    numbers: dict[int, tuple[str, str]] = {}
    for chunk in itertools.batched(sorted(account_pks), 10000, strict=False):
        numbers.update((pk, (number, ou)) for pk, number, ou in MemberAccount.objects.filter(pk__in=chunk).values_list(
            "pk", "account_id", "organizational_unit"))  # fmt: skip
    DeviationRecord.objects.bulk_create(
        [DeviationRecord(
            deviation_id=d.pk, policy_id=d.policy_id, policy_name=names.get(d.policy_id, ""), account_id=d.account_id,
            account_number=numbers.get(d.account_id, ("", ""))[0],
            organizational_unit=ous.get(d.account_id) or numbers.get(d.account_id, ("", ""))[1], region=d.region,
            kind=d.kind, feature=d.feature, status=d.status, cause=d.cause, first_seen_at=d.first_seen_at,
        ) for d in deviations],
        batch_size=5000,
    )  # fmt: skip


def _records_change(changed: Sequence[Deviation], *, now) -> None:
    by_pk = {d.pk: d for d in changed}
    names = dict(CoveragePolicy.objects.filter(pk__in={d.policy_id for d in changed}).values_list("pk", "name"))
    records = list(DeviationRecord.objects.filter(deviation_id__in=list(by_pk), resolved_at=None))
    for record in records:
        deviation = by_pk[record.deviation_id]
        record.changes = [*record.changes, {"until": now.isoformat(), "status": record.status, "cause": record.cause,
                                            "policy": record.policy_name}]  # fmt: skip
        record.status, record.cause, record.policy_id = deviation.status, deviation.cause, deviation.policy_id
        record.policy_name = names.get(deviation.policy_id, record.policy_name)
    DeviationRecord.objects.bulk_update(records, ["changes", "status", "cause", "policy_id", "policy_name"],
                                        batch_size=2000)  # fmt: skip


def _records_reconcile(*, now) -> None:
    """Close open records whose deviation is gone without an evaluation; open records for deviations without one."""
    open_ids = set(DeviationRecord.objects.filter(resolved_at=None).values_list("deviation_id", flat=True))
    current = set(Deviation.objects.values_list("pk", flat=True))
    orphans = sorted(open_ids - current)
    for chunk in itertools.batched(orphans, 10000, strict=False):
        DeviationRecord.objects.filter(deviation_id__in=chunk, resolved_at=None).update(
            resolved_at=now, resolution_note=ORPHANED
        )
    missing = sorted(current - open_ids)
    for chunk in itertools.batched(missing, 5000, strict=False):
        _records_open(list(Deviation.objects.filter(pk__in=chunk)), ous={})
