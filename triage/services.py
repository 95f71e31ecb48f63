"""Triage writes: workflow status, assignment, comments, archive, feedback, saved views.

Every change is set-based (one UPDATE for many findings), records a timeline event per finding and
one audit entry per action, and queues the GuardDuty write-backs it implies (see `writeback.py`):
Resolved/Suppressed → ArchiveFindings; reopened → UnarchiveFindings; False positive →
UpdateFindingsFeedback NOT_USEFUL.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone

from findings.models import OPEN_STATUSES, Finding, FindingEvent, TriageStatus
from findings.signals import findings_status_changed
from findings.sla import report_marks
from guardwatch.core.data_version import data_version_bump_on_commit
from guardwatch.core.db.bulk import rows_insert
from guardwatch.core.db.lookups import ids_in
from guardwatch.core.services import actor_name, actor_user, audit_record
from triage.filters import VIEW_PARAMS, filter_query
from triage.models import SavedView, WriteBack
from triage.writeback import writebacks_enqueue

S = TriageStatus
ARCHIVING = {S.RESOLVED, S.SUPPRESSED}


class TriageError(ValueError):
    """A request the analyst must correct; the message is shown to them as is."""


EVENT_BATCH = 2000  # timeline rows inserted per statement


# --- Status -----------------------------------------------------------------------------------------


def status_validate(
    *, status: str, reason: str = "", accepted_until: datetime | None = None, now=None
) -> None:
    """Accepted risk needs a reason and an expiry in the future; every status must be known."""
    if status not in S.values:
        raise TriageError(f"Unknown status “{status}”.")
    if status == S.ACCEPTED_RISK:
        if not reason.strip():
            raise TriageError("Accepted risk needs a reason.")
        if accepted_until is None:
            raise TriageError("Accepted risk needs an expiry date.")
        if accepted_until <= (now or timezone.now()):
            raise TriageError("The accepted-risk expiry must be in the future.")


def findings_status_set(
    *,
    findings: QuerySet[Finding],
    status: str,
    actor,
    reason: str = "",
    accepted_until: datetime | None = None,
    now: datetime | None = None,
    audit: bool = True,
) -> int:
    """Move every finding of `findings` not already in `status` to it; returns how many moved."""
    now = now or timezone.now()
    status_validate(status=status, reason=reason, accepted_until=accepted_until, now=now)
    name = actor_name(actor)
    user = actor_user(actor)
    with transaction.atomic():
        rows = list(
            findings.exclude(status=status).order_by().values_list("id", "status", "region", "archived")
        )
        if not rows:
            return 0
        ids = [row[0] for row in rows]
        for start in range(0, len(ids), 10_000):
            Finding.objects.filter(ids_in(ids[start : start + 10_000])).update(
                status=status,
                status_reason=reason.strip(),
                accepted_until=accepted_until if status == S.ACCEPTED_RISK else None,
                status_changed_at=now,
                **report_marks(status=status, now=now),  # reports: first acknowledged / resolved times
            )
        rows_insert(
            model=FindingEvent,
            varying={"finding_id": ids, "from_status": [old for _pk, old, _region, _archived in rows]},
            fixed={
                "kind": FindingEvent.Kind.STATUS,
                "actor_id": user.pk if user else None,
                "actor_name": name,
                "created_at": now,
                "to_status": status,
                "body": reason.strip(),
                "details": {"accepted_until": accepted_until.isoformat()} if accepted_until else {},
            },
        )
        archive, unarchive, not_useful = [], [], []
        for pk, old, region, archived in rows:
            if status in ARCHIVING:
                archive.append((pk, region))
            elif status in OPEN_STATUSES and old not in OPEN_STATUSES and (old in ARCHIVING or archived):
                unarchive.append((pk, region))
            if status == S.FALSE_POSITIVE:
                not_useful.append((pk, region))
        writebacks_enqueue(findings=archive, operation=WriteBack.Operation.ARCHIVE, actor_name=name, now=now)
        writebacks_enqueue(
            findings=unarchive, operation=WriteBack.Operation.UNARCHIVE, actor_name=name, now=now
        )
        writebacks_enqueue(
            findings=not_useful, operation=WriteBack.Operation.NOT_USEFUL, actor_name=name, now=now
        )
        # Tickets follow the finding (notifications): closed when it is resolved, reopened with it.
        findings_status_changed.send(sender=Finding, ids=ids, status=status, actor_name=name,
                                     previous={pk: old for pk, old, _region, _archived in rows})  # fmt: skip
        # Reports: the findings figures are stale once this commits. The snapshots' data mark (newest
        # event id) misses a move whose ids were taken before a refresh but committed after it.
        data_version_bump_on_commit(scope="findings")
        if audit:
            audit_record(
                actor=actor,
                verb="findings.status",
                target=_target(ids),
                details={"status": status, "count": len(ids), "reason": reason.strip()[:200]},
            )
    return len(ids)


def _target(ids: list[int]):
    if len(ids) == 1:
        return ("findings.finding", ids[0], f"finding {ids[0]}")
    return ("findings.finding", "", f"{len(ids)} findings")


def finding_status_change(
    *, finding: Finding, status: str, actor, reason: str = "", accepted_until=None, comment: str = ""
) -> Finding:
    """One finding's status (with an optional comment in the same step)."""
    with transaction.atomic():
        findings_status_set(
            findings=Finding.objects.filter(pk=finding.pk),
            status=status,
            actor=actor,
            reason=reason,
            accepted_until=accepted_until,
        )
        if comment.strip():
            finding_comment_add(finding=finding, body=comment, actor=actor)
    finding.refresh_from_db()
    return finding


def accepted_until_parse(raw: str) -> datetime | None:
    """An accepted risk's expiry as typed: YYYY-MM-DD means the end of that day (TriageError if not a date)."""
    if not raw:
        return None
    try:
        day = datetime.fromisoformat(raw)
    except ValueError:
        raise TriageError(f"“{raw}” is not a date.") from None
    if day.tzinfo is None:
        day = day.replace(tzinfo=timezone.get_current_timezone())
    if len(raw) == 10:
        day = day.replace(hour=23, minute=59, second=59)
    return day


def findings_accepted_risk_reopen(*, now: datetime | None = None) -> int:
    """Beat: accepted risks past their expiry go back to New."""
    now = now or timezone.now()
    expired = Finding.objects.filter(status=S.ACCEPTED_RISK, accepted_until__lte=now)
    return findings_status_set(
        findings=expired, status=S.NEW, actor="system", reason="Accepted risk expired.", now=now
    )


# --- Assignment, comments, archive, feedback -----------------------------------------------------------


def findings_assign(*, findings: QuerySet[Finding], assignee, actor, now=None, audit: bool = True) -> int:
    """Assign (or, with None, unassign) every finding not already assigned to `assignee`."""
    now = now or timezone.now()
    if assignee is not None and not assignee.has_perm("core.triage_findings"):
        raise TriageError(f"{assignee.get_username()} cannot triage findings, so cannot be assigned.")
    name = actor_name(actor)
    with transaction.atomic():
        pending = findings.exclude(assignee=assignee) if assignee else findings.exclude(assignee__isnull=True)
        ids = list(pending.order_by().values_list("id", flat=True))
        if not ids:
            return 0
        for start in range(0, len(ids), 10_000):
            Finding.objects.filter(ids_in(ids[start : start + 10_000])).update(assignee=assignee)
        label = assignee.get_username() if assignee else ""
        user = actor_user(actor)
        rows_insert(
            model=FindingEvent,
            varying={"finding_id": ids},
            fixed={
                "kind": FindingEvent.Kind.ASSIGNMENT,
                "actor_id": user.pk if user else None,
                "actor_name": name,
                "created_at": now,
                "body": f"Assigned to {label}" if label else "Unassigned",
                "details": {"assignee": label},
            },
        )
        if audit:
            audit_record(
                actor=actor,
                verb="findings.assign",
                target=_target(ids),
                details={"assignee": label, "count": len(ids)},
            )
    return len(ids)


def finding_assign(*, finding: Finding, assignee, actor) -> Finding:
    findings_assign(findings=Finding.objects.filter(pk=finding.pk), assignee=assignee, actor=actor)
    finding.refresh_from_db()
    return finding


def findings_comment_add(
    *, findings: QuerySet[Finding], body: str, actor, now=None, audit: bool = True
) -> int:
    """The same plain-text comment on every finding (rendered escaped, never as HTML)."""
    body = body.strip()
    if not body:
        raise TriageError("A comment cannot be empty.")
    if len(body) > 10_000:
        raise TriageError("A comment is limited to 10,000 characters.")
    now = now or timezone.now()
    user, name = actor_user(actor), actor_name(actor)
    with transaction.atomic():
        ids = list(findings.order_by().values_list("id", flat=True))
        FindingEvent.objects.bulk_create(
            [
                FindingEvent(
                    finding_id=pk,
                    kind=FindingEvent.Kind.COMMENT,
                    actor=user,
                    actor_name=name,
                    created_at=now,
                    body=body,
                )
                for pk in ids
            ],
            batch_size=EVENT_BATCH,
        )
        if audit and ids:
            audit_record(
                actor=actor, verb="findings.comment", target=_target(ids), details={"count": len(ids)}
            )
    return len(ids)


def finding_comment_add(*, finding: Finding, body: str, actor) -> None:
    findings_comment_add(findings=Finding.objects.filter(pk=finding.pk), body=body, actor=actor)


def findings_archive_set(
    *, findings: QuerySet[Finding], archived: bool, actor, now=None, audit: bool = True
) -> int:
    """Archive or unarchive in GuardDuty only (triage status unchanged)."""
    now = now or timezone.now()
    with transaction.atomic():
        rows = list(findings.order_by().values_list("id", "region"))
        operation = WriteBack.Operation.ARCHIVE if archived else WriteBack.Operation.UNARCHIVE
        writebacks_enqueue(findings=rows, operation=operation, actor_name=actor_name(actor), now=now)
        if audit and rows:
            audit_record(
                actor=actor,
                verb="findings.archive" if archived else "findings.unarchive",
                target=_target([pk for pk, _ in rows]),
                details={"count": len(rows)},
            )
    return len(rows)


def finding_feedback_set(*, finding: Finding, useful: bool, actor) -> None:
    """Tell GuardDuty the finding was useful (or not)."""
    operation = WriteBack.Operation.USEFUL if useful else WriteBack.Operation.NOT_USEFUL
    with transaction.atomic():
        writebacks_enqueue(
            findings=[(finding.pk, finding.region)],
            operation=operation,
            actor_name=actor_name(actor),
            now=timezone.now(),
        )
        audit_record(actor=actor, verb="findings.feedback", target=finding, details={"feedback": operation})


# --- Saved views ----------------------------------------------------------------------------------------------


def saved_view_save(*, owner, name: str, query: str, shared: bool, default: bool = False) -> SavedView:
    """Save (or overwrite, by name) the current filter and sort as a personal or shared view.

    With `default`, the list opens on it from now on (see `saved_view_default_set`).
    """
    name = name.strip()
    if not name:
        raise TriageError("Give the view a name.")
    if len(name) > 100:
        raise TriageError("A view name is limited to 100 characters.")
    with transaction.atomic():
        view, _ = SavedView.objects.update_or_create(
            owner=owner,
            name=name,
            defaults={"query": filter_query(QueryDict(query), VIEW_PARAMS), "shared": shared},
        )
        audit_record(
            actor=owner, verb="findings.view_save", target=view, details={"shared": shared, "query": view.query}
        )
        if default:
            saved_view_default_set(view=view, actor=owner)
    return view


def saved_view_default_set(*, view: SavedView | None, actor) -> None:
    """Make one of the actor's own views the one a bare findings list opens on; None: back to the built-in."""
    if view is not None and view.owner_id != actor.pk:
        raise TriageError("Only your own views can be your default: save this one under a name of yours first.")
    with transaction.atomic():
        SavedView.objects.filter(owner=actor, is_default=True).exclude(pk=getattr(view, "pk", None)).update(
            is_default=False
        )
        if view is not None and not view.is_default:
            view.is_default = True
            view.save(update_fields=["is_default"])
        audit_record(
            actor=actor, verb="findings.view_default", target=view,
            details={"view": view.name if view is not None else "built-in"},
        )  # fmt: skip


def saved_view_delete(*, view: SavedView, actor) -> None:
    """Only its owner (or an admin) deletes a view."""
    if view.owner_id != actor.pk and not actor.has_perm("core.manage_settings"):
        raise TriageError("Only the owner can delete this view.")
    audit_record(actor=actor, verb="findings.view_delete", target=view)
    view.delete()
