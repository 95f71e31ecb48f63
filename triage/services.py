"""Triage writes: workflow status, assignment, comments, bulk actions, suppression rules, saved views.

Every change is set-based (one UPDATE for many findings), records a timeline event per finding and
one audit entry per action, and queues the GuardDuty write-backs it implies (see `writeback.py`):
Resolved/Suppressed → ArchiveFindings; reopened → UnarchiveFindings; False positive →
UpdateFindingsFeedback NOT_USEFUL.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone

from findings import gateway
from findings.models import OPEN_STATUSES, Finding, FindingEvent, TriageStatus
from findings.sla import BAND_RANGES, report_marks
from guardwatch.core.data_version import data_version_bump_on_commit
from guardwatch.core.db.bulk import rows_insert
from guardwatch.core.queue import task_send_on_commit
from guardwatch.core.services import audit_record
from triage.filters import VIEW_PARAMS, FindingFilters, filter_query, findings_filtered
from triage.models import BulkAction, SavedView, SuppressionRule, WriteBack
from triage.writeback import _describe, _detector, writebacks_enqueue

S = TriageStatus
ARCHIVING = {S.RESOLVED, S.SUPPRESSED}
BULK_ASYNC_THRESHOLD = 500  # above this many findings a bulk action runs in a Celery task
BULK_CHUNK = 2000
FILTER_LIMIT = 100  # GuardDuty saved filters per account and region
_FILTER_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")


class TriageError(ValueError):
    """A request the analyst must correct; the message is shown to them as is."""


def _actor_name(actor) -> str:
    if getattr(actor, "is_authenticated", False):
        return actor.get_username()
    return actor if isinstance(actor, str) and actor else "system"


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


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
    name = _actor_name(actor)
    user = _user(actor)
    with transaction.atomic():
        rows = list(
            findings.exclude(status=status).order_by().values_list("id", "status", "region", "archived")
        )
        if not rows:
            return 0
        ids = [row[0] for row in rows]
        for start in range(0, len(ids), 10_000):
            Finding.objects.filter(pk__in=ids[start : start + 10_000]).update(
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
    name = _actor_name(actor)
    with transaction.atomic():
        pending = findings.exclude(assignee=assignee) if assignee else findings.exclude(assignee__isnull=True)
        ids = list(pending.order_by().values_list("id", flat=True))
        if not ids:
            return 0
        for start in range(0, len(ids), 10_000):
            Finding.objects.filter(pk__in=ids[start : start + 10_000]).update(assignee=assignee)
        label = assignee.get_username() if assignee else ""
        user = _user(actor)
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
    with transaction.atomic():
        ids = list(findings.order_by().values_list("id", flat=True))
        FindingEvent.objects.bulk_create(
            [
                FindingEvent(
                    finding_id=pk,
                    kind=FindingEvent.Kind.COMMENT,
                    actor=_user(actor),
                    actor_name=_actor_name(actor),
                    created_at=now,
                    body=body,
                )
                for pk in ids
            ],
            batch_size=BULK_CHUNK,
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
        writebacks_enqueue(findings=rows, operation=operation, actor_name=_actor_name(actor), now=now)
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
            actor_name=_actor_name(actor),
            now=timezone.now(),
        )
        audit_record(actor=actor, verb="findings.feedback", target=finding, details={"feedback": operation})


# --- Bulk actions ----------------------------------------------------------------------------------------

BULK_ACTIONS = {
    "assign": "Assign",
    "status": "Change status",
    "comment": "Comment",
    "archive": "Archive in GuardDuty",
    "unarchive": "Unarchive in GuardDuty",
}


@dataclass
class BulkRequest:
    """A validated bulk action: what to do, and to which findings (ids, or a filter's query string)."""

    action: str
    params: dict
    ids: list[int] | None
    query: str


def bulk_request_clean(
    *, action: str, params: dict, ids: list[str], query: str, select_all: bool
) -> BulkRequest:
    """Check a bulk form; raises TriageError with what is wrong."""
    if action not in BULK_ACTIONS:
        raise TriageError("Choose a bulk action.")
    clean: dict = {}
    if action == "assign":
        username = (params.get("assignee") or "").strip()
        if username and not get_user_model().objects.filter(username=username).exists():
            raise TriageError(f"No user named “{username}”.")
        clean["assignee"] = username
    elif action == "status":
        status = params.get("status") or ""
        until = _date_end(params.get("accepted_until") or "")
        status_validate(status=status, reason=params.get("reason") or "", accepted_until=until)
        clean.update(
            status=status,
            reason=(params.get("reason") or "").strip(),
            accepted_until=until.isoformat() if until else "",
        )
    elif action == "comment":
        if not (params.get("comment") or "").strip():
            raise TriageError("A comment cannot be empty.")
        clean["comment"] = params["comment"].strip()
    if select_all:
        return BulkRequest(action, clean, None, filter_query(QueryDict(query)))
    try:
        selected = sorted({int(i) for i in ids})
    except ValueError:
        raise TriageError("The selection is not valid.") from None
    if not selected:
        raise TriageError("Select findings first, or choose “all matching this filter”.")
    return BulkRequest(action, clean, selected, "")


def _date_end(raw: str) -> datetime | None:
    """A YYYY-MM-DD expiry means the end of that day (UTC)."""
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


def bulk_findings(*, request: BulkRequest, actor) -> QuerySet[Finding]:
    """The findings a bulk request covers, the filter re-evaluated server side."""
    if request.ids is not None:
        return Finding.objects.filter(pk__in=request.ids)
    return findings_filtered(filters=FindingFilters.from_query(QueryDict(request.query)), user=actor)


def findings_bulk_apply(*, request: BulkRequest, actor) -> tuple[int, BulkAction | None]:
    """Run a bulk action now (small) or queue it for a Celery task (above BULK_ASYNC_THRESHOLD).

    Returns (findings covered, the queued BulkAction or None when it already ran).
    """
    findings = bulk_findings(request=request, actor=actor)
    total = findings.count()
    if total > BULK_ASYNC_THRESHOLD:
        with transaction.atomic():
            bulk = BulkAction.objects.create(
                actor=_user(actor),
                action=request.action,
                params=request.params,
                query=request.query,
                finding_ids=request.ids or [],
                total=total,
            )
            audit_record(
                actor=actor,
                verb="findings.bulk_queued",
                target=bulk,
                details={"action": request.action, "count": total},
            )
            task_send_on_commit("findings.tasks.bulk_action_run", bulk.pk)
        return total, bulk
    changed = _bulk_execute(request=request, findings=findings, actor=actor)
    audit_record(
        actor=actor,
        verb=f"findings.bulk_{request.action}",
        target=("findings.finding", "", f"{total} findings"),
        details={"count": total, "changed": changed, **{k: str(v)[:200] for k, v in request.params.items()}},
    )
    return total, None


def _bulk_execute(*, request: BulkRequest, findings: QuerySet[Finding], actor) -> int:
    p = request.params
    if request.action == "assign":
        assignee = (
            get_user_model().objects.filter(username=p["assignee"]).first() if p.get("assignee") else None
        )
        return findings_assign(findings=findings, assignee=assignee, actor=actor, audit=False)
    if request.action == "status":
        until = datetime.fromisoformat(p["accepted_until"]) if p.get("accepted_until") else None
        return findings_status_set(
            findings=findings,
            status=p["status"],
            actor=actor,
            reason=p.get("reason", ""),
            accepted_until=until,
            audit=False,
        )
    if request.action == "comment":
        return findings_comment_add(findings=findings, body=p["comment"], actor=actor, audit=False)
    return findings_archive_set(
        findings=findings, archived=request.action == "archive", actor=actor, audit=False
    )


def bulk_action_run(*, bulk_id: int) -> BulkAction | None:
    """The Celery task's body: claim the queued action, apply it in chunks, record progress."""
    claimed = BulkAction.objects.filter(pk=bulk_id, status=BulkAction.Status.QUEUED).update(
        status=BulkAction.Status.RUNNING
    )
    if not claimed:
        return None  # already run (or running) elsewhere: a redelivered task is a no-op
    bulk = BulkAction.objects.select_related("actor").get(pk=bulk_id)
    actor = bulk.actor or "system"
    request = BulkRequest(bulk.action, bulk.params, bulk.finding_ids or None, bulk.query)
    try:
        ids = list(
            bulk_findings(request=request, actor=bulk.actor).order_by("id").values_list("id", flat=True)
        )
        BulkAction.objects.filter(pk=bulk_id).update(total=len(ids))
        for start in range(0, len(ids), BULK_CHUNK):
            chunk = Finding.objects.filter(pk__in=ids[start : start + BULK_CHUNK])
            _bulk_execute(request=request, findings=chunk, actor=actor)
            BulkAction.objects.filter(pk=bulk_id).update(done=min(start + BULK_CHUNK, len(ids)))
    except Exception as error:
        BulkAction.objects.filter(pk=bulk_id).update(
            status=BulkAction.Status.FAILED, error=str(error)[:1000], finished_at=timezone.now()
        )
        raise
    BulkAction.objects.filter(pk=bulk_id).update(status=BulkAction.Status.DONE, finished_at=timezone.now())
    audit_record(actor=actor, verb=f"findings.bulk_{bulk.action}", target=bulk, details={"count": len(ids)})
    bulk.refresh_from_db()
    return bulk


# --- Suppression rules ------------------------------------------------------------------------------------


def _glob_safe(text: str, what: str) -> str:
    if any(ch in text for ch in "*?[]"):
        raise TriageError(f"The {what} contains a wildcard character GuardDuty would misread.")
    return text


def suppression_criteria(*, filters: FindingFilters) -> dict:
    """GuardWatch's list filter as GuardDuty FindingCriteria; refuses what GuardDuty cannot express.

    Translated: severity bands (adjacent) and range, type prefix/contains and threat purpose (as
    `Matches` wildcards), accounts, resource type, action type. Regions choose where the rule is
    pushed. Not translatable: free text, resource id, remote IP/country, status, assignee,
    overdue, sample, first/last seen (GuardWatch's own or not a GuardDuty criterion).
    """
    refused = [
        label
        for label, value in (
            ("free-text search", filters.q),
            ("resource id", filters.resource_id),
            ("remote IP", filters.remote_ip),
            ("remote country", filters.remote_country),
            ("status", filters.statuses),
            ("assignee", filters.assignee),
            ("overdue", filters.overdue),
            ("sample", filters.sample is not None),
            (
                "first/last seen dates",
                filters.first_seen_from
                or filters.first_seen_to
                or filters.last_seen_from
                or filters.last_seen_to,
            ),
        )  # fmt: skip
        if value
    ]
    if filters.type_prefix and (filters.type_contains or filters.purpose):
        refused.append("type prefix combined with type contains or threat purpose")
    elif filters.type_contains and filters.purpose:
        refused.append("type contains combined with threat purpose")
    ranges = filters.severity_ranges() if filters.bands else []
    if len(ranges) > 1:
        refused.append("non-adjacent severity bands")
    if refused:
        raise TriageError(
            "GuardDuty suppression rules cannot express: "
            + ", ".join(refused)
            + ". Remove them from the filter."
        )
    criterion: dict[str, dict] = {}
    severity: dict[str, float] = {}
    if ranges:
        low, high = ranges[0]
        if low > 0:
            severity["Gte"] = low
        if high < BAND_RANGES["critical"][1]:
            severity["Lt"] = high
    if filters.sev_min is not None:
        severity["Gte"] = max(severity.get("Gte", 0), filters.sev_min)
    if filters.sev_max is not None:
        severity["Lte"] = filters.sev_max
    if severity:
        criterion["severity"] = {k: int(v) if float(v).is_integer() else v for k, v in severity.items()}
    if filters.type_prefix:
        criterion["type"] = {"Matches": [_glob_safe(filters.type_prefix, "type prefix") + "*"]}
    elif filters.type_contains:
        criterion["type"] = {"Matches": ["*" + _glob_safe(filters.type_contains, "type") + "*"]}
    elif filters.purpose:
        criterion["type"] = {"Matches": [_glob_safe(filters.purpose, "threat purpose") + ":*"]}
    if filters.accounts:
        criterion["accountId"] = {"Eq": list(filters.accounts)}
    if filters.resource_type:
        criterion["resource.resourceType"] = {"Eq": [filters.resource_type]}
    if filters.action_type:
        criterion["service.action.actionType"] = {"Eq": [filters.action_type]}
    if not criterion:
        raise TriageError(
            "A suppression rule needs at least one criterion GuardDuty understands (severity, type, account, resource type, action type)."
        )
    return {"Criterion": criterion}


def _rule_regions(filters: FindingFilters) -> list[str]:
    configured = list(settings.GUARDWATCH_AWS_REGIONS)
    if not filters.regions:
        return configured
    unknown = [r for r in filters.regions if r not in configured]
    if unknown:
        raise TriageError(f"Region(s) {', '.join(unknown)} are not configured in GuardWatch.")
    return list(filters.regions)


def _guardduty_failed(error: Exception, region: str) -> TriageError:
    return TriageError(f"GuardDuty refused the rule in {region}: {_describe(error)}")


def suppression_rule_create(*, name: str, reason: str, query: str, actor) -> SuppressionRule:
    """Push the rule to GuardDuty in every region (all or nothing), then mark stored matches Suppressed."""
    name = name.strip()
    if not _FILTER_NAME.match(name):
        raise TriageError(
            "The rule name must be 3–64 letters, digits, dots, dashes or underscores (GuardDuty's rule)."
        )
    if not reason.strip():
        raise TriageError("A suppression rule needs a reason.")
    if SuppressionRule.objects.filter(name=name).exists():
        raise TriageError(f"A suppression rule named “{name}” already exists.")
    query = filter_query(QueryDict(query))
    filters = FindingFilters.from_query(QueryDict(query))
    if filters.errors:
        raise TriageError(" ".join(filters.errors))
    criteria = suppression_criteria(filters=filters)
    regions = _rule_regions(filters)
    detectors: dict[str, str] = {}
    try:
        for region in regions:  # check every region's limit before creating anything
            count = len(gateway.filter_names(region=region, detector_id=_detector(region, detectors)))
            if count >= FILTER_LIMIT:
                raise TriageError(
                    f"{region} already has {count} GuardDuty filters, the most GuardDuty allows per region "
                    f"({FILTER_LIMIT}). Delete one (here or in the console) first."
                )
    except (ClientError, BotoCoreError, gateway.DetectorNotFound) as error:
        raise _guardduty_failed(error, region) from error
    created: list[str] = []
    for region in regions:
        try:
            gateway.filter_create(
                region=region,
                detector_id=detectors[region],
                name=name,
                description=reason.strip()[:512],
                criteria=criteria,
            )
        except (ClientError, BotoCoreError) as error:
            for done in created:  # all or nothing: GuardDuty should not keep a rule GuardWatch does not list
                with contextlib.suppress(ClientError, BotoCoreError):
                    gateway.filter_delete(region=done, detector_id=detectors[done], name=name)
            raise _guardduty_failed(error, region) from error
        created.append(region)
    with transaction.atomic():
        rule = SuppressionRule.objects.create(
            name=name,
            reason=reason.strip(),
            query=query,
            criteria=criteria,
            regions=created,
            created_by=_user(actor),
        )
        matched = _suppress_stored(rule=rule, filters=filters, actor=actor)
        audit_record(
            actor=actor,
            verb="findings.suppression_create",
            target=rule,
            details={"criteria": criteria, "regions": created, "suppressed": matched},
        )
    return rule


def _suppress_stored(*, rule: SuppressionRule, filters: FindingFilters, actor) -> int:
    matching = findings_filtered(filters=filters).filter(status__in=OPEN_STATUSES)
    if rule.regions:
        matching = matching.filter(region__in=rule.regions)
    return findings_status_set(
        findings=matching,
        status=S.SUPPRESSED,
        actor=actor,
        reason=f"Suppression rule {rule.name}: {rule.reason}",
        audit=False,
    )


def suppression_rule_update(*, rule: SuppressionRule, reason: str, query: str, actor) -> SuppressionRule:
    """New reason and criteria: UpdateFilter in each region the rule lives in."""
    if not reason.strip():
        raise TriageError("A suppression rule needs a reason.")
    query = filter_query(QueryDict(query))
    filters = FindingFilters.from_query(QueryDict(query))
    if filters.errors:
        raise TriageError(" ".join(filters.errors))
    criteria = suppression_criteria(filters=filters)
    detectors: dict[str, str] = {}
    for region in rule.regions:
        try:
            gateway.filter_update(
                region=region, detector_id=_detector(region, detectors), name=rule.name,
                description=reason.strip()[:512], criteria=criteria,
            )  # fmt: skip
        except (ClientError, BotoCoreError, gateway.DetectorNotFound) as error:
            raise _guardduty_failed(error, region) from error
    with transaction.atomic():
        rule.reason, rule.query, rule.criteria = reason.strip(), query, criteria
        rule.save()
        matched = _suppress_stored(rule=rule, filters=filters, actor=actor)
        audit_record(
            actor=actor,
            verb="findings.suppression_update",
            target=rule,
            details={"criteria": criteria, "suppressed": matched},
        )
    return rule


def suppression_rule_delete(*, rule: SuppressionRule, actor) -> None:
    """DeleteFilter in each region (a filter already gone is fine), then forget the rule."""
    detectors: dict[str, str] = {}
    for region in rule.regions:
        try:
            gateway.filter_delete(region=region, detector_id=_detector(region, detectors), name=rule.name)
        except ClientError as error:
            if "does not exist" not in _describe(error):
                raise _guardduty_failed(error, region) from error
        except (BotoCoreError, gateway.DetectorNotFound) as error:
            raise _guardduty_failed(error, region) from error
    with transaction.atomic():
        audit_record(
            actor=actor, verb="findings.suppression_delete", target=rule, details={"criteria": rule.criteria}
        )
        rule.delete()


# --- Saved views ----------------------------------------------------------------------------------------------


def saved_view_save(*, owner, name: str, query: str, shared: bool) -> SavedView:
    """Save (or overwrite, by name) the current filter and sort as a personal or shared view."""
    name = name.strip()
    if not name:
        raise TriageError("Give the view a name.")
    if len(name) > 100:
        raise TriageError("A view name is limited to 100 characters.")
    view, _ = SavedView.objects.update_or_create(
        owner=owner,
        name=name,
        defaults={"query": filter_query(QueryDict(query), VIEW_PARAMS), "shared": shared},
    )
    audit_record(
        actor=owner, verb="findings.view_save", target=view, details={"shared": shared, "query": view.query}
    )
    return view


def saved_view_delete(*, view: SavedView, actor) -> None:
    """Only its owner (or an admin) deletes a view."""
    if view.owner_id != actor.pk and not actor.has_perm("core.manage_settings"):
        raise TriageError("Only the owner can delete this view.")
    audit_record(actor=actor, verb="findings.view_delete", target=view)
    view.delete()
