"""Suppression rules: a GuardDuty filter with Action ARCHIVE made from a list filter, pushed to every region.

GuardWatch keeps the rule (its reason, the list query it came from) and the findings it hides now are
moved to Suppressed; GuardDuty archives matching findings from then on.
"""

from __future__ import annotations

import contextlib
import re
import string

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db import transaction
from django.http import QueryDict

from findings import gateway
from findings.models import OPEN_STATUSES
from findings.sla import BAND_RANGES
from guardwatch.core.services import actor_user, audit_record
from triage.filters import FindingFilters, filter_query, findings_filtered
from triage.models import SuppressionRule
from triage.services import S, TriageError, findings_status_set
from triage.writeback import _describe, _detector

FILTER_LIMIT = 100  # GuardDuty saved filters per account and region
# CreateFilter's Name: "Valid characters include period (.), underscore (_), dash (-), and alphanumeric
# characters" (3..64; botocore's guardduty model).
_FILTER_NAME = re.compile(r"[A-Za-z0-9_.-]{3,64}")
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


def _guardduty_failed(error: Exception, region: str) -> TriageError:
    return TriageError(f"GuardDuty refused the rule in {region}: {_describe(error)}")


def suppression_rule_create(*, name: str, reason: str, query: str, actor) -> SuppressionRule:
    """Push the rule to GuardDuty in every region (all or nothing), then mark stored matches Suppressed."""
    name = name.strip()
    if not _FILTER_NAME.fullmatch(name):
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
                description=filter_description(reason),
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
            created_by=actor_user(actor),
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
                description=filter_description(reason), criteria=criteria,
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
