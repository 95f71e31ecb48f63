"""Suppression rules: a GuardDuty filter with Action ARCHIVE made from a list filter, pushed to every region.

GuardWatch keeps the rule (its reason, the list query it came from) and the findings it hides now are
moved to Suppressed; GuardDuty archives matching findings from then on.
"""

from __future__ import annotations

import contextlib
import re
import string
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.http import QueryDict
from django.utils import timezone

from findings import gateway
from findings.models import OPEN_STATUSES, Finding
from findings.parsing import ATTACK_SEQUENCE
from findings.sla import BAND_RANGES, BANDS
from guardwatch.core.access import can
from guardwatch.core.services import actor_user, audit_record
from triage.filters import FindingFilters, filter_query, findings_filtered
from triage.models import SuppressionRule
from triage.services import S, TriageError, findings_status_set
from triage.writeback import _describe, _detector

FILTER_LIMIT = 100  # GuardDuty saved filters per account and region
# CreateFilter's Name: "Valid characters include period (.), underscore (_), dash (-), and alphanumeric
# characters" (3..64; botocore's guardduty model).
FILTER_NAME = re.compile(r"[A-Za-z0-9_.-]{3,64}")
# CreateFilter's Description: "Valid characters include alphanumeric characters, and special characters such
# as hyphen, period, colon, underscore, parentheses ({ }, [ ], and ( )), forward slash, horizontal tab,
# vertical tab, newline, form feed, return, and whitespace" (0..512). Anything else, a comma say, and GuardDuty
# answers "the JSON could not be processed" (terraform-provider-aws #28367). GuardWatch keeps the analyst's
# reason as written and sends GuardDuty a reduced copy.
_DESCRIPTION_CHARACTERS = frozenset(string.ascii_letters + string.digits + " .:_{}[]()/\t\v\n\f\r-")
DESCRIPTION_MAX = 512
# Condition Eq / Neq / Equals / NotEquals: "Max values: 50" (model text; botocore does not check it).
CONDITION_MAX_VALUES = 50


def filter_description(reason: str) -> str:
    """The reason as GuardDuty's filter description accepts it: other characters become spaces, then cut."""
    kept = "".join(ch if ch in _DESCRIPTION_CHARACTERS else " " for ch in reason.strip())
    return re.sub(" {2,}", " ", kept).strip()[:DESCRIPTION_MAX]


def _whole_severity(value: float, which: str) -> int:
    """GuardDuty's severity conditions take whole numbers (GreaterThanOrEqual, LessThanOrEqual: longs)."""
    if not float(value).is_integer():
        raise TriageError(
            f"GuardDuty suppression rules take whole severities: the {which} severity {value:g} cannot be sent. "
            f"Use {int(value)} or {int(value) + 1}."
        )
    return int(value)


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
    overdue, sample, first/last seen, ATT&CK tactic/technique, attack sequence (GuardWatch's own or not a GuardDuty criterion).
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
            ("ATT&CK tactic or technique", filters.tactic or filters.technique),
            ("attack sequence", filters.sequence),
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
    if len(filters.accounts) > CONDITION_MAX_VALUES:
        raise TriageError(
            f"A GuardDuty suppression rule can name at most {CONDITION_MAX_VALUES} accounts; this filter names "
            f"{len(filters.accounts)}. Split it into rules of {CONDITION_MAX_VALUES} accounts or fewer."
        )
    criterion: dict[str, dict] = {}
    # The long-typed conditions: Gte/Lt/Lte are integers and deprecated (botocore's guardduty model).
    severity: dict[str, int] = {}
    if ranges:
        low, high = ranges[0]
        if low > 0:
            severity["GreaterThanOrEqual"] = _whole_severity(low, "lowest")
        if high < BAND_RANGES["critical"][1]:
            severity["LessThan"] = _whole_severity(high, "highest")
    if filters.sev_min is not None:
        severity["GreaterThanOrEqual"] = max(severity.get("GreaterThanOrEqual", 0),
                                             _whole_severity(filters.sev_min, "lowest"))  # fmt: skip
    if filters.sev_max is not None:
        severity["LessThanOrEqual"] = _whole_severity(filters.sev_max, "highest")
    if severity:
        criterion["severity"] = severity
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


def guardduty_failed(error: Exception, region: str) -> TriageError:
    return TriageError(f"GuardDuty refused the rule in {region}: {_describe(error)}")


# GuardDuty's severities run from 1.0 to 10.0 ("Low 1.0–3.9 … Critical 9.0–10.0",
# https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_findings-severity.html): a severity
# condition reaching both ends excludes nothing.
SEVERITY_LOWEST, SEVERITY_HIGHEST = 1, 10
# Every finding type reads ThreatPurpose:ResourceTypeAffected/ThreatFamilyName… (GuardDuty's finding
# format), so a type pattern that asks only for its ':' or '/' matches every finding.
_EVERY_TYPE = frozenset({"*", "**", "*:*", "*/*", "*:*/*"})
# The store check (every stored finding in the rule's regions matches) applies from this many findings:
# below it, one legitimate narrow rule can match a young store's few findings.
CATCH_ALL_STORE_MIN = 10


def _severity_excludes_nothing(condition: dict) -> bool:
    low = condition.get("GreaterThanOrEqual", condition.get("Gte"))
    above = condition.get("GreaterThan", condition.get("Gt"))
    high = condition.get("LessThanOrEqual", condition.get("Lte"))
    below = condition.get("LessThan", condition.get("Lt"))
    return (
        (low is None or low <= SEVERITY_LOWEST)
        and (above is None or above < SEVERITY_LOWEST)
        and (high is None or high >= SEVERITY_HIGHEST)
        and (below is None or below > SEVERITY_HIGHEST)
    )


def criteria_match_everything(criteria: dict) -> bool:
    """Whether GuardDuty criteria are met by every possible finding (none, or only universal conditions)."""
    for path, condition in criteria.get("Criterion", {}).items():
        if path == "severity" and _severity_excludes_nothing(condition):
            continue
        if path == "type" and set(condition) == {"Matches"} and _EVERY_TYPE & set(condition["Matches"]):
            continue
        return False
    return True


PREVIEW_DAYS = 90
PREVIEW_TYPES = 10  # the types named in the preview; the rest are summed
# Attack-sequence signals: GuardDuty's attack-sequence findings (types "AttackSequence:…", stored with
# the action type ATTACK_SEQUENCE) and findings that name the sequence they belong to
# (AssociatedAttackSequenceArn, stored as `attack_sequence_arn`).
ATTACK_SEQUENCE_TYPE_PREFIX = "AttackSequence:"
_ATTACK_SEQUENCE_SIGNAL = (
    Q(type__startswith=ATTACK_SEQUENCE_TYPE_PREFIX)
    | Q(action_type=ATTACK_SEQUENCE)
    | ~Q(attack_sequence_arn="")
)


@dataclass(frozen=True)
class SuppressionPreview:
    """What a rule would have hidden over the last `PREVIEW_DAYS` days of stored findings."""

    days: int
    total: int
    by_band: list[tuple[str, int]]  # every band, highest first
    by_type: list[tuple[str, int]]  # the most frequent types, at most PREVIEW_TYPES
    other_types: int  # findings of the types not named
    attack_sequences: int  # attack-sequence signals among them


def suppression_rule_preview(*, filters: FindingFilters, regions: list[str], now: datetime | None = None) -> SuppressionPreview:
    """Stored findings updated in the last 90 days (a filter acts on each new occurrence) in `regions` that
    the rule's filter matches: counts by severity band and by type, and the attack-sequence signals."""
    since = (now or timezone.now()) - timedelta(days=PREVIEW_DAYS)
    matching = Finding.objects.filter(filters.q_object(), region__in=regions, updated_at__gte=since).order_by()
    counts = matching.aggregate(
        total=Count("id"),
        attack_sequences=Count("id", filter=_ATTACK_SEQUENCE_SIGNAL),
        **{band: Count("id", filter=Q(severity_band=band)) for band in BANDS},
    )
    by_type = list(matching.values("type").annotate(n=Count("id")).order_by("-n", "type")[:PREVIEW_TYPES])
    named = sum(row["n"] for row in by_type)
    return SuppressionPreview(
        days=PREVIEW_DAYS,
        total=counts["total"],
        by_band=[(band, counts[band]) for band in reversed(BANDS)],
        by_type=[(row["type"], row["n"]) for row in by_type],
        other_types=counts["total"] - named,
        attack_sequences=counts["attack_sequences"],
    )


def hides_whole_type(criteria: dict) -> bool:
    """Whether a rule hides finding types in every account and resource (only type and severity conditions)."""
    criterion = criteria.get("Criterion", {})
    return "type" in criterion and set(criterion) <= {"type", "severity"}


def approval_reasons(*, criteria: dict, preview: SuppressionPreview) -> list[str]:
    """Why a rule must wait for a second Admin's approval (none: it may be pushed at once)."""
    if settings.GUARDWATCH_SUPPRESSION_APPROVAL == "always":
        return ["every suppression rule needs a second Admin's approval here"]
    reasons = []
    threshold = settings.GUARDWATCH_SUPPRESSION_APPROVAL_THRESHOLD
    if preview.total > threshold:
        reasons.append(
            f"it would have hidden {preview.total:,} findings over the last {preview.days} days, more than {threshold:,}"
        )
    if hides_whole_type(criteria):
        reasons.append("it hides a whole finding type in every account")
    return reasons


@dataclass(frozen=True)
class SuppressionPlan:
    """A checked rule before anything reaches GuardDuty, with what it would do now and would have done."""

    name: str
    reason: str
    query: str
    filters: FindingFilters
    criteria: dict
    regions: list[str]
    in_scope: int  # stored findings in its regions
    matching: int  # of those, the ones its criteria match
    hiding: int  # of those, the open ones it would mark Suppressed now
    preview: SuppressionPreview
    approval_reasons: list[str]
    owner: object = None
    review_at: date | None = None
    expires_at: datetime | None = None

    @property
    def needs_approval(self) -> bool:
        return bool(self.approval_reasons)


def may_approve(actor) -> bool:
    return getattr(actor, "is_authenticated", False) and can(actor, "approve_suppression")


def governance_check(*, owner, review_at: date | None, expires_at: datetime | None, actor) -> tuple:
    """The rule's owner (the author unless named; someone who may triage), review date (default
    GUARDWATCH_SUPPRESSION_REVIEW_DAYS ahead) and optional expiry, both in the future."""
    today = timezone.localdate()
    owner = owner or actor_user(actor)
    if owner is None or not owner.is_active or not can(owner, "triage_findings"):
        raise TriageError("A suppression rule's owner must be an active user who may triage findings.")
    review_at = review_at or today + timedelta(days=settings.GUARDWATCH_SUPPRESSION_REVIEW_DAYS)
    if review_at <= today:
        raise TriageError("The review date must be in the future.")
    if expires_at is not None and expires_at <= timezone.now():
        raise TriageError("The expiry must be in the future (leave it empty for a rule that does not expire).")
    return owner, review_at, expires_at


def _checked(
    *, query: str, regions: list[str] | None = None
) -> tuple[str, FindingFilters, dict, list[str], dict]:
    """The rule's query, filters, criteria and regions (the query's, or those it already lives in),
    refused if GuardDuty cannot express it or it would match every finding; with its counts now."""
    query = filter_query(QueryDict(query))
    filters = FindingFilters.from_query(QueryDict(query))
    if filters.errors:
        raise TriageError(" ".join(filters.errors))
    criteria = suppression_criteria(filters=filters)
    regions = list(regions) if regions else _rule_regions(filters)
    if criteria_match_everything(criteria):
        raise TriageError(
            "This rule would match every finding GuardDuty can produce (its criteria exclude nothing: GuardDuty "
            f"severities run from {SEVERITY_LOWEST} to {SEVERITY_HIGHEST}, and every type has that shape), so it would archive all "
            "findings, now and from now on. Narrow it to the type, account or resource it is about."
        )
    matches = filters.q_object()
    counts = Finding.objects.filter(region__in=regions).aggregate(
        in_scope=Count("id"),
        matching=Count("id", filter=matches),
        hiding=Count("id", filter=matches & Q(status__in=OPEN_STATUSES)),
    )
    if counts["in_scope"] >= CATCH_ALL_STORE_MIN and counts["matching"] == counts["in_scope"]:
        raise TriageError(
            f"This rule matches every one of the {counts['in_scope']:,} findings GuardWatch holds in "
            f"{', '.join(regions)}: it would archive everything there, now and from now on. Narrow it to the "
            "type, account or resource it is about."
        )
    return query, filters, criteria, regions, counts


def suppression_preview(*, query: str) -> dict:
    """The GuardDuty criteria a list filter would become, refused (TriageError) as a new rule would be."""
    return _checked(query=query)[2]


def suppression_rule_plan(
    *,
    name: str,
    reason: str,
    query: str,
    actor,
    owner=None,
    review_at: date | None = None,
    expires_at: datetime | None = None,
) -> SuppressionPlan:
    """Check a new rule, count what it would hide now and preview its last 90 days, touching nothing."""
    name = name.strip()
    if not FILTER_NAME.fullmatch(name):
        raise TriageError(
            "The rule name must be 3–64 letters, digits, dots, dashes or underscores (GuardDuty's rule)."
        )
    if not reason.strip():
        raise TriageError("A suppression rule needs a reason.")
    if SuppressionRule.objects.filter(name=name).exists():
        raise TriageError(f"A suppression rule named “{name}” already exists.")
    owner, review_at, expires_at = governance_check(owner=owner, review_at=review_at, expires_at=expires_at, actor=actor)
    query, filters, criteria, regions, counts = _checked(query=query)
    preview = suppression_rule_preview(filters=filters, regions=regions)
    return SuppressionPlan(
        name=name,
        reason=reason.strip(),
        query=query,
        filters=filters,
        criteria=criteria,
        regions=regions,
        preview=preview,
        approval_reasons=approval_reasons(criteria=criteria, preview=preview),
        owner=owner,
        review_at=review_at,
        expires_at=expires_at,
        **counts,
    )


def _filter_push(*, name: str, reason: str, criteria: dict, regions: list[str]) -> list[str]:
    """CreateFilter in every region, all or nothing (limits checked first); returns the regions."""
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
        raise guardduty_failed(error, region) from error
    created: list[str] = []
    for region in regions:
        try:
            gateway.filter_create(
                region=region,
                detector_id=detectors[region],
                name=name,
                description=filter_description(reason),
                criteria=criteria,
            )
        except (ClientError, BotoCoreError) as error:
            for done in created:  # all or nothing: GuardDuty should not keep a rule GuardWatch does not list
                with contextlib.suppress(ClientError, BotoCoreError):
                    gateway.filter_delete(region=done, detector_id=detectors[done], name=name)
            raise guardduty_failed(error, region) from error
        created.append(region)
    return created


def suppression_rule_create(
    *,
    name: str,
    reason: str,
    query: str,
    actor,
    owner=None,
    review_at: date | None = None,
    expires_at: datetime | None = None,
) -> SuppressionRule:
    """Push the rule to GuardDuty in every region (all or nothing), then mark stored matches Suppressed.

    A rule that needs approval (`SuppressionPlan.approval_reasons`) is kept Pending instead, whoever
    asks, Admins included, and nothing reaches GuardDuty or the findings until another Admin approves it.
    """
    plan = suppression_rule_plan(
        name=name, reason=reason, query=query, actor=actor, owner=owner, review_at=review_at, expires_at=expires_at
    )
    governed = {"owner": plan.owner, "review_at": plan.review_at, "expires_at": plan.expires_at}
    if plan.needs_approval:
        with transaction.atomic():
            rule = SuppressionRule.objects.create(
                name=plan.name,
                reason=plan.reason,
                query=plan.query,
                criteria=plan.criteria,
                regions=plan.regions,
                status=SuppressionRule.Status.PENDING,
                hidden_at_request=plan.hiding,
                created_by=actor_user(actor),
                **governed,
            )
            audit_record(
                actor=actor,
                verb="findings.suppression_request",
                target=rule,
                details={"criteria": plan.criteria, "regions": plan.regions, "would_hide": plan.hiding,
                         "hidden_90_days": plan.preview.total, "why": plan.approval_reasons},
            )  # fmt: skip
        return rule
    created = _filter_push(name=plan.name, reason=plan.reason, criteria=plan.criteria, regions=plan.regions)
    with transaction.atomic():
        rule = SuppressionRule.objects.create(
            name=plan.name,
            reason=plan.reason,
            query=plan.query,
            criteria=plan.criteria,
            regions=created,
            hidden_at_request=plan.hiding,
            created_by=actor_user(actor),
            **governed,
        )
        matched = _suppress_stored(rule=rule, filters=plan.filters, actor=actor)
        audit_record(
            actor=actor,
            verb="findings.suppression_create",
            target=rule,
            details={"criteria": plan.criteria, "regions": created, "suppressed": matched},
        )
    return rule


def suppression_rule_approve(*, rule: SuppressionRule, actor) -> SuppressionRule:
    """An Admin (not its author) approves a Pending rule: checked again against today's store, pushed to
    GuardDuty in its regions, and the findings it matches now marked Suppressed."""
    if not may_approve(actor):
        raise TriageError("Only an Admin can approve a suppression rule.")
    if rule.created_by_id is not None and rule.created_by_id == getattr(actor, "pk", None):
        raise TriageError("You asked for this rule: another Admin must approve it.")
    with transaction.atomic():
        # Locked while GuardDuty is told, so two Admins approving at once push it once.
        rule = SuppressionRule.objects.select_for_update().filter(pk=rule.pk).first()
        if rule is None or rule.status != SuppressionRule.Status.PENDING:
            raise TriageError("This rule is no longer awaiting approval.")
        _query, filters, criteria, _regions, counts = _checked(query=rule.query)
        created = _filter_push(name=rule.name, reason=rule.reason, criteria=criteria, regions=rule.regions)
        rule.status = SuppressionRule.Status.ACTIVE
        rule.criteria, rule.regions = criteria, created
        rule.decided_by, rule.decided_at = actor_user(actor), timezone.now()
        rule.save()
        matched = _suppress_stored(rule=rule, filters=filters, actor=actor)
        audit_record(
            actor=actor,
            verb="findings.suppression_approve",
            target=rule,
            details={"criteria": criteria, "regions": created, "suppressed": matched,
                     "requested_by": rule.created_by.username if rule.created_by else ""},
        )  # fmt: skip
    return rule


def suppression_rule_reject(*, rule: SuppressionRule, actor, note: str) -> SuppressionRule:
    """An Admin rejects a Pending rule, saying why; it stays listed as Rejected and never reaches GuardDuty."""
    if not may_approve(actor):
        raise TriageError("Only an Admin can reject a suppression rule.")
    if not note.strip():
        raise TriageError("Say why the rule is rejected, so its author knows what to change.")
    with transaction.atomic():
        changed = SuppressionRule.objects.filter(pk=rule.pk, status=SuppressionRule.Status.PENDING).update(
            status=SuppressionRule.Status.REJECTED,
            decided_by=actor_user(actor),
            decided_at=timezone.now(),
            decision_note=note.strip(),
        )
        if not changed:
            raise TriageError("This rule is no longer awaiting approval.")
        rule.refresh_from_db()
        audit_record(
            actor=actor, verb="findings.suppression_reject", target=rule, details={"note": note.strip()}
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


def suppression_rule_update_plan(*, rule: SuppressionRule, reason: str, query: str, actor) -> SuppressionPlan:
    """Check a change to an active rule, count what it would hide now and preview it, touching nothing.

    Held to the same checks as a new rule; new criteria that would need approval are refused to
    everyone (widening an approved rule must not skip the second Admin): ask for a new rule instead.
    """
    if rule.status != SuppressionRule.Status.ACTIVE:
        raise TriageError(
            "Only a rule active in GuardDuty can be edited; delete this one and ask for a new rule."
        )
    if rule.origin == SuppressionRule.Origin.ADOPTED:
        raise TriageError(
            "An adopted rule keeps the criteria it had in GuardDuty; to change them, ask for a new rule and delete this one."
        )
    if not reason.strip():
        raise TriageError("A suppression rule needs a reason.")
    query, filters, criteria, regions, counts = _checked(query=query, regions=rule.regions)
    preview = suppression_rule_preview(filters=filters, regions=regions)
    reasons = approval_reasons(criteria=criteria, preview=preview)
    if reasons and criteria != rule.criteria:
        raise TriageError(
            f"This change cannot be made without an Admin's approval ({'; '.join(reasons)}). Ask for a new rule "
            "(it waits for a second Admin's approval) and delete this one."
        )
    return SuppressionPlan(
        name=rule.name,
        reason=reason.strip(),
        query=query,
        filters=filters,
        criteria=criteria,
        regions=regions,
        preview=preview,
        approval_reasons=[],
        owner=rule.owner,
        review_at=rule.review_at,
        expires_at=rule.expires_at,
        **counts,
    )


def suppression_rule_update(*, rule: SuppressionRule, reason: str, query: str, actor) -> SuppressionRule:
    """New reason and criteria (checked as `suppression_rule_update_plan` does): UpdateFilter in each
    region the rule lives in, then mark the stored findings it now matches Suppressed."""
    plan = suppression_rule_update_plan(rule=rule, reason=reason, query=query, actor=actor)
    reason, query, filters, criteria = plan.reason, plan.query, plan.filters, plan.criteria
    detectors: dict[str, str] = {}
    for region in rule.regions:
        try:
            gateway.filter_update(
                region=region, detector_id=_detector(region, detectors), name=rule.name,
                description=filter_description(reason), criteria=criteria,
            )  # fmt: skip
        except (ClientError, BotoCoreError, gateway.DetectorNotFound) as error:
            raise guardduty_failed(error, region) from error
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


def filters_delete(*, name: str, regions: list[str]) -> None:
    """DeleteFilter in each region; a filter already gone is fine, any other failure a TriageError."""
    detectors: dict[str, str] = {}
    for region in regions:
        try:
            gateway.filter_delete(region=region, detector_id=_detector(region, detectors), name=name)
        except ClientError as error:
            if "does not exist" not in _describe(error):
                raise guardduty_failed(error, region) from error
        except (BotoCoreError, gateway.DetectorNotFound) as error:
            raise guardduty_failed(error, region) from error


def suppression_rule_delete(*, rule: SuppressionRule, actor) -> None:
    """DeleteFilter in each region (a filter already gone is fine), then forget the rule.

    A Pending, Rejected or Expired rule is not in GuardDuty: it is only forgotten."""
    if rule.status == SuppressionRule.Status.ACTIVE:
        filters_delete(name=rule.name, regions=rule.regions)
    with transaction.atomic():
        audit_record(
            actor=actor,
            verb="findings.suppression_delete",
            target=rule,
            details={"criteria": rule.criteria, "status": rule.status},  # fmt: skip
        )
        rule.delete()
