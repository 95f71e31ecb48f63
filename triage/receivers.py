"""Signal receivers: what the findings store (and the apps beside triage) ask of the workflow.

- `findings.signals.finding_status_requested`: another app (notifications: a ticket closed in Jira) moves
  findings through `findings_status_set`, so the move is audited, timed and written back like any other;
- `findings.signals.findings_upsert_starting`: a new occurrence of a resolved finding reopens it
  (GUARDWATCH_REOPEN_RESOLVED_ON_RECURRENCE).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)
_CHUNK = 500


def finding_status_requested_received(sender, finding_ids, status, actor, reason="", **_kwargs) -> int:
    """Move `finding_ids` to `status` as `actor` (a name); returns how many moved."""
    from findings.models import Finding
    from triage.services import findings_status_set

    return findings_status_set(findings=Finding.objects.filter(pk__in=list(finding_ids)), status=status,
                               actor=actor, reason=reason)  # fmt: skip


class ResolvedRecurrence:
    """Remembers which findings of an upsert were resolved, and reopens those the upsert gave a new occurrence."""

    def __init__(self, *, arns: list[str], now: datetime):
        from findings.models import Finding, TriageStatus

        self.now, self.before = now, {}
        for start in range(0, len(arns), _CHUNK):
            rows = Finding.objects.filter(arn__in=arns[start : start + _CHUNK], status=TriageStatus.RESOLVED)
            self.before.update(dict(rows.values_list("id", "count")))

    def publish(self) -> int:
        """Inside a savepoint: a reopening problem is logged, never fails the sync's batch."""
        from findings.models import Finding, TriageStatus
        from triage.services import findings_status_set

        if not self.before:
            return 0
        try:
            with transaction.atomic():
                moved = Finding.objects.filter(pk__in=list(self.before), last_synced_at=self.now,
                                               status=TriageStatus.RESOLVED).values_list("id", "count")  # fmt: skip
                again = [pk for pk, count in moved if count > self.before[pk]]
                if not again:
                    return 0
                return findings_status_set(findings=Finding.objects.filter(pk__in=again), status=TriageStatus.NEW,
                                           actor="system", reason="New occurrence after it was resolved", now=self.now)  # fmt: skip
        except Exception:
            logger.exception("Could not reopen %d resolved findings that occurred again", len(self.before))
            return 0


def findings_upsert_reopen_watch(sender, findings, now, **_kwargs) -> ResolvedRecurrence | None:
    """`findings_upsert_starting`: watch the batch for resolved findings that occur again."""
    if not findings or not settings.GUARDWATCH_REOPEN_RESOLVED_ON_RECURRENCE:
        return None
    return ResolvedRecurrence(arns=sorted({f.arn for f in findings}), now=now)
