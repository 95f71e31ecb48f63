"""Suppression governance over a rule's life: expiry, review, hit counts and GuardDuty filters GuardWatch
did not create (imported read-only, or adopted).

GuardDuty sends archived findings to no integration (EventBridge, Security Hub, Detective), so a rule
that lives on unreviewed silently hides attacks: every rule has an owner and a review date, may expire,
and counts what it hid.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F
from django.db.models.functions import TruncDate
from django.http import QueryDict
from django.utils import timezone

from findings import gateway
from findings.models import OPEN_STATUSES, Finding
from guardwatch.core.services import actor_user, alert_raise, audit_record
from triage.filters import FindingFilters
from triage.models import ImportedFilter, SuppressionHit, SuppressionRule
from triage.services import S, TriageError, findings_archive_set, findings_comment_add, findings_status_set
from triage.suppression import (
    FILTER_NAME,
    SuppressionPreview,
    filters_delete,
    governance_check,
    guardduty_failed,
    may_approve,
    suppression_rule_preview,
)
from triage.writeback import _detector

HIT_DAYS = 30  # the hit chart's span, recomputed on each run


def _rule_filters(rule: SuppressionRule) -> FindingFilters | None:
    """The list filter a rule was made from; None for an adopted rule (GuardDuty's criteria only)."""
    if not rule.query and rule.origin == SuppressionRule.Origin.ADOPTED:
        return None
    return FindingFilters.from_query(QueryDict(rule.query))


def suppression_rule_pending_preview(*, rule: SuppressionRule) -> SuppressionPreview | None:
    """What a rule would have hidden over the last 90 days, against today's store (for its approver)."""
    filters = _rule_filters(rule)
    return None if filters is None else suppression_rule_preview(filters=filters, regions=rule.regions)


# --- Expiry and review -------------------------------------------------------------------------------------


def suppression_rule_expire(*, rule: SuppressionRule, now: datetime | None = None) -> int:
    """DeleteFilter in each region (a filter already gone is fine), mark the rule Expired, and reopen its
    findings when GUARDWATCH_SUPPRESSION_REOPEN_ON_EXPIRY says so; returns how many were reopened.

    Reopened: the findings it marked Suppressed (back to New, unarchived, a timeline entry each) and the
    open findings GuardDuty archived on arrival that its criteria match (unarchived, a timeline entry).
    A region GuardDuty fails in leaves the rule Active, to be tried again on the next run.
    """
    now = now or timezone.now()
    filters_delete(name=rule.name, regions=rule.regions)
    reopen = settings.GUARDWATCH_SUPPRESSION_REOPEN_ON_EXPIRY
    reopened = 0
    with transaction.atomic():
        changed = SuppressionRule.objects.filter(pk=rule.pk, status=SuppressionRule.Status.ACTIVE).update(
            status=SuppressionRule.Status.EXPIRED, expired_at=now
        )
        if not changed:
            return 0
        note = f"Suppression rule {rule.name} expired."
        if reopen:
            suppressed = Finding.objects.filter(
                status=S.SUPPRESSED, status_reason__startswith=f"Suppression rule {rule.name}:", region__in=rule.regions
            )
            reopened = findings_status_set(findings=suppressed, status=S.NEW, actor="system", reason=note, now=now)
            filters = _rule_filters(rule)
            if filters is not None:
                archived = Finding.objects.filter(
                    filters.q_object(), region__in=rule.regions, archived=True, status__in=OPEN_STATUSES
                )
                unarchived = findings_archive_set(findings=archived, archived=False, actor="system", now=now, audit=False)
                if unarchived:
                    findings_comment_add(findings=archived, body=f"{note} Unarchived in GuardDuty.", actor="system", audit=False)
                reopened += unarchived
        audit_record(
            actor="system",
            verb="findings.suppression_expire",
            target=rule,
            details={"regions": rule.regions, "reopen": reopen, "reopened": reopened},
        )
    return reopened


def suppression_rules_expire(*, now: datetime | None = None) -> list[str]:
    """Beat: every Active rule past its expiry leaves GuardDuty; returns the names expired."""
    now = now or timezone.now()
    expired = []
    for rule in SuppressionRule.objects.filter(status=SuppressionRule.Status.ACTIVE, expires_at__lte=now):
        with contextlib.suppress(TriageError):  # GuardDuty failed in a region: the next run tries again
            suppression_rule_expire(rule=rule, now=now)
            expired.append(rule.name)
    return expired


def suppression_reviews_due(*, today: date | None = None) -> list[str]:
    """Beat: an alert for each Active or Pending rule whose review date has passed (once per review date),
    naming its owner; the rule stays in GuardDuty until someone reviews, edits or deletes it."""
    today = today or timezone.localdate()
    due = SuppressionRule.objects.filter(
        status__in=[SuppressionRule.Status.ACTIVE, SuppressionRule.Status.PENDING], review_at__lte=today
    ).exclude(review_alerted_on=F("review_at")).select_related("owner")
    names = []
    for rule in due:
        owner = rule.owner.get_username() if rule.owner else "no one"
        alert_raise(
            kind="suppression.review_due",
            title=f"Suppression rule {rule.name} is due for review (owner: {owner})",
            message=(
                f"Its review date, {rule.review_at.isoformat()}, has passed. GuardDuty sends the findings it "
                "archives to no integration: check it still holds, then set a new review date, or delete it."
            ),
            target=rule,
            dedupe_key=f"suppression-review:{rule.pk}:{rule.review_at.isoformat()}",
        )
        SuppressionRule.objects.filter(pk=rule.pk).update(review_alerted_on=rule.review_at)
        names.append(rule.name)
    return names


def suppression_rule_review(*, rule: SuppressionRule, review_at: date, actor) -> SuppressionRule:
    """Its owner or an Admin reviewed the rule: a new review date in the future."""
    if not (rule.owner_id == getattr(actor, "pk", None) or may_approve(actor)):
        raise TriageError("Only the rule's owner or an Admin can record its review.")
    if review_at <= timezone.localdate():
        raise TriageError("The next review date must be in the future.")
    with transaction.atomic():
        rule.review_at = review_at
        rule.save(update_fields=["review_at", "updated_at"])
        audit_record(actor=actor, verb="findings.suppression_review", target=rule,
                     details={"review_at": review_at.isoformat()})  # fmt: skip
    return rule


# --- Hit counts ----------------------------------------------------------------------------------------------


def suppression_hits_count(*, now: datetime | None = None) -> int:
    """Beat: per rule and day over the last HIT_DAYS days, the findings it suppressed.

    Counted from the store rather than on upsert: the upsert is the sync's hot path and lives in
    `findings`, which may not know triage's rules; a count from the store is idempotent (each run
    replaces the days it covers), survives re-syncs and deletions, and costs one grouped query per rule.
    A hit is a finding GuardDuty created while the rule was active, in its regions, that its criteria
    match and that is archived (GuardDuty archives matching findings on arrival). An adopted rule has no
    list filter to match with, so it has no hit count. Returns the number of rules counted.
    """
    now = now or timezone.now()
    since = now - timedelta(days=HIT_DAYS)
    counted = 0
    for rule in SuppressionRule.objects.filter(
        status__in=[SuppressionRule.Status.ACTIVE, SuppressionRule.Status.EXPIRED]
    ).exclude(expired_at__lt=since):
        filters = _rule_filters(rule)
        if filters is None:
            continue
        active_since = max(rule.decided_at or rule.created_at, since)
        rows = (
            Finding.objects.filter(
                filters.q_object(),
                region__in=rule.regions,
                archived=True,
                created_at__gte=active_since,
                created_at__lte=rule.expired_at or now,
            )
            .order_by()
            .annotate(day=TruncDate("created_at"))
            .values("day")
            .annotate(n=Count("id"))
        )
        by_day = {row["day"]: row["n"] for row in rows}
        with transaction.atomic():
            SuppressionHit.objects.filter(rule=rule, day__gte=since.date()).exclude(day__in=by_day).delete()
            for day, n in by_day.items():
                SuppressionHit.objects.update_or_create(rule=rule, day=day, defaults={"count": n})
        counted += 1
    return counted


@dataclass(frozen=True)
class HitBar:
    """One day's bar of a rule's hit chart (SVG geometry; the template draws it)."""

    x: float
    y: float
    width: float
    height: float
    title: str


HIT_CHART_WIDTH, HIT_CHART_HEIGHT = 120, 24


def suppression_hit_chart(*, hits: list[SuppressionHit], today: date | None = None) -> dict:
    """The last HIT_DAYS days of one rule's hits as bars (a day without hits has no bar), and the total."""
    today = today or timezone.localdate()
    first = today - timedelta(days=HIT_DAYS - 1)
    counts = {hit.day: hit.count for hit in hits if hit.day >= first}
    peak = max(counts.values(), default=0)
    step = HIT_CHART_WIDTH / HIT_DAYS
    bars = []
    for index in range(HIT_DAYS):
        day = first + timedelta(days=index)
        n = counts.get(day, 0)
        if n:
            height = max(1.0, HIT_CHART_HEIGHT * n / peak)
            bars.append(HitBar(x=round(index * step, 2), y=round(HIT_CHART_HEIGHT - height, 2),
                               width=round(step * 0.8, 2), height=round(height, 2),
                               title=f"{day.isoformat()}: {n:,} suppressed"))  # fmt: skip
    total = sum(counts.values())
    return {"bars": bars, "total": total, "peak": peak, "days": HIT_DAYS,
            "width": HIT_CHART_WIDTH, "height": HIT_CHART_HEIGHT,
            "label": f"{total:,} findings suppressed over the last {HIT_DAYS} days"}  # fmt: skip


# --- GuardDuty filters GuardWatch did not create ---------------------------------------------------------


def suppression_filters_import(*, now: datetime | None = None) -> int:
    """Every GuardDuty filter in each configured region (ListFilters, then GetFilter each) that no GuardWatch
    rule stands for, kept as ImportedFilter rows (gone ones forgotten); returns how many are held."""
    now = now or timezone.now()
    detectors: dict[str, str] = {}
    ours = {
        (region, rule.name)
        for rule in SuppressionRule.objects.filter(status=SuppressionRule.Status.ACTIVE)
        for region in rule.regions
    }
    held = 0
    for region in settings.GUARDWATCH_AWS_REGIONS:
        try:
            detector = _detector(region, detectors)
            saved = [
                gateway.filter_get(region=region, detector_id=detector, name=name)
                for name in gateway.filter_names(region=region, detector_id=detector)
                if (region, name) not in ours
            ]
        except (ClientError, BotoCoreError, gateway.DetectorNotFound) as error:
            raise guardduty_failed(error, region) from error
        with transaction.atomic():
            ImportedFilter.objects.filter(region=region).exclude(name__in=[f.name for f in saved]).delete()
            for found in saved:
                ImportedFilter.objects.update_or_create(
                    region=region,
                    name=found.name,
                    defaults={"rank": found.rank, "action": found.action, "description": found.description,
                              "criteria": found.criteria, "seen_at": now},
                )  # fmt: skip
        held += len(saved)
    return held


def suppression_filter_adopt(
    *, imported: ImportedFilter, actor, reason: str, owner=None, review_at: date | None = None,
    expires_at: datetime | None = None,
) -> SuppressionRule:  # fmt: skip
    """An Admin takes over a GuardDuty ARCHIVE filter GuardWatch did not create: it becomes a governed
    Active rule (owner, review date, optional expiry) keeping its GuardDuty name, criteria and rank, in
    every region where a filter of that name has the same criteria. Nothing changes in GuardDuty."""
    if not may_approve(actor):
        raise TriageError("Only an Admin can adopt a GuardDuty filter.")
    if imported.action != "ARCHIVE":
        raise TriageError(
            f"“{imported.name}” is a saved filter (action {imported.action}): it hides nothing, so there is nothing to govern."
        )
    if not FILTER_NAME.fullmatch(imported.name) or SuppressionRule.objects.filter(name=imported.name).exists():
        raise TriageError(f"A suppression rule named “{imported.name}” already exists: delete or rename one first.")
    reason = (reason or imported.description).strip()
    if not reason:
        raise TriageError("An adopted rule needs a reason.")
    owner, review_at, expires_at = governance_check(owner=owner, review_at=review_at, expires_at=expires_at, actor=actor)
    twins = ImportedFilter.objects.filter(name=imported.name, action="ARCHIVE")
    regions = sorted(f.region for f in twins if f.criteria == imported.criteria)
    with transaction.atomic():
        rule = SuppressionRule.objects.create(
            name=imported.name,
            reason=reason,
            query="",
            criteria=imported.criteria,
            regions=regions,
            status=SuppressionRule.Status.ACTIVE,
            origin=SuppressionRule.Origin.ADOPTED,
            rank=imported.rank,
            created_by=actor_user(actor),
            decided_by=actor_user(actor),
            decided_at=timezone.now(),
            owner=owner,
            review_at=review_at,
            expires_at=expires_at,
        )
        ImportedFilter.objects.filter(name=imported.name, region__in=regions).delete()
        audit_record(
            actor=actor,
            verb="findings.suppression_adopt",
            target=rule,
            details={"criteria": imported.criteria, "regions": regions, "rank": imported.rank},
        )
    return rule
