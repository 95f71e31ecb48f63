"""Finding operations: sample findings, list/get, archive, feedback and statistics.

An account sees its own findings and, as an administrator, those of its Enabled members in the
same region; nothing else (unknown or invisible ids are silently skipped, as GuardDuty does).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from .. import catalogue
from ..criteria import Criteria, sort_key
from ..errors import BadRequest, invalid_parameter
from ..findings import StoredFinding
from ..protocol import Wired
from .registry import Context, handles


def _sort(params: dict[str, Any]) -> tuple[str, str] | None:
    sort = params.get("SortCriteria")
    if not sort:
        return None
    return sort.get("AttributeName", "updatedAt"), sort.get("OrderBy", "ASC")


def visible(context: Context, finding_ids: list[str]) -> list[StoredFinding]:
    """The caller's visible findings among the ids, in the order asked."""
    accounts = context.state.visible_accounts(context.account_id, context.region)
    store = context.state.region_findings(context.region)
    found = []
    for finding_id in dict.fromkeys(finding_ids):
        stored = store.get(finding_id)
        if stored is not None and stored.account_id in accounts:
            found.append(stored)
    return found


@handles("CreateSampleFindings")
def create_sample_findings(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """One sample finding per type (every catalogue type when none are named); repeats update them."""
    detector = context.detector(params["DetectorId"])
    types = params.get("FindingTypes") or sorted(catalogue.FINDING_TYPES)
    for finding_type in types:
        if finding_type not in catalogue.FINDING_TYPES:
            raise invalid_parameter("findingTypes", f"Unknown finding type {finding_type!r}.")
    state = context.state
    store = state.region_findings(context.region)
    existing = {stored.type: stored for stored in store.account_findings(context.account_id)
                if '"sample":true' in stored.data.get("Service", {}).get("AdditionalInfo", {}).get("Value", "")}
    for finding_type in types:
        if finding_type in existing:
            state.repeat_finding(context.region, existing[finding_type].id)
        else:
            state.add_new_finding(catalogue.build_finding(
                state.rng, finding_type=finding_type, account_id=context.account_id, region=context.region,
                detector_id=detector.detector_id, now=state.now(), sample=True))
    return {}


@handles("ListFindings")
def list_findings(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Ids of matching findings, one page at a time: over a cached snapshot of the query, or with offset
    tokens over the current result when the state asks for them (see gdsim/findings.py)."""
    context.detector(params["DetectorId"])
    accounts = context.state.visible_accounts(context.account_id, context.region)
    criteria = Criteria(params.get("FindingCriteria"))
    store = context.state.region_findings(context.region)
    ids, token = store.page(accounts, criteria, _sort(params), params.get("MaxResults") or 50,
                            params.get("NextToken"), offset_tokens=context.state.listing_tokens == "offset")
    result: dict[str, Any] = {"FindingIds": ids}
    if token:
        result["NextToken"] = token
    return result


@handles("GetFindings")
def get_findings(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The findings themselves (each encoded once and reused until it changes)."""
    context.detector(params["DetectorId"])
    found = visible(context, params["FindingIds"])
    sort = _sort(params)
    if sort:
        key = sort_key(sort[0])
        found.sort(key=key, reverse=sort[1] == "DESC")
    return {"Findings": [Wired(stored.data, stored.wire) for stored in found]}


def _set_archived(context: Context, params: dict[str, Any], archived: bool) -> dict[str, Any]:
    context.detector(params["DetectorId"])
    context.require_administrator_role()
    store = context.state.region_findings(context.region)
    for stored in visible(context, params["FindingIds"]):
        if stored.archived != archived:
            store.settle_results()
            stored.data["Service"]["Archived"] = archived
            store.touch(stored)
    return {}


@handles("ArchiveFindings")
def archive_findings(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Archive findings (administrators and stand-alone accounts only)."""
    return _set_archived(context, params, True)


@handles("UnarchiveFindings")
def unarchive_findings(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Bring archived findings back."""
    return _set_archived(context, params, False)


@handles("UpdateFindingsFeedback")
def update_feedback(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Mark findings USEFUL or NOT_USEFUL."""
    context.detector(params["DetectorId"])
    store = context.state.region_findings(context.region)
    for stored in visible(context, params["FindingIds"]):
        store.settle_results()
        stored.data["Service"]["UserFeedback"] = params["Feedback"]
        store.touch(stored)
    return {}


def _resource_id(stored: StoredFinding) -> str:
    resource = stored.data.get("Resource", {})
    for path in (("InstanceDetails", "InstanceId"), ("AccessKeyDetails", "AccessKeyId"),
                 ("EksClusterDetails", "Name"), ("EcsClusterDetails", "Name"), ("LambdaDetails", "FunctionName"),
                 ("RdsDbInstanceDetails", "DbInstanceIdentifier")):
        value = resource.get(path[0], {}).get(path[1])
        if value:
            return value
    buckets = resource.get("S3BucketDetails") or []
    if buckets and buckets[0].get("Name"):
        return buckets[0]["Name"]
    return stored.resource_type or "Unknown"


def _moment(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


_GROUPS = {
    "ACCOUNT": ("GroupedByAccount", lambda stored: stored.account_id, lambda key: {"AccountId": key}),
    "FINDING_TYPE": ("GroupedByFindingType", lambda stored: stored.type, lambda key: {"FindingType": key}),
    "SEVERITY": ("GroupedBySeverity", lambda stored: stored.severity, lambda key: {"Severity": key}),
    "DATE": ("GroupedByDate", lambda stored: stored.data["UpdatedAt"][:10],
             lambda key: {"Date": datetime.fromisoformat(key).replace(tzinfo=UTC)}),
    "RESOURCE": ("GroupedByResource", lambda stored: (stored.account_id, _resource_id(stored), stored.resource_type),
                 lambda key: {"AccountId": key[0], "ResourceId": key[1], "ResourceType": key[2] or "Unknown"}),
}


@handles("GetFindingsStatistics")
def get_findings_statistics(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Counts of matching findings by severity, or grouped by account/date/type/resource/severity.

    AWS API reference, GetFindingsStatistics: "You must provide either findingStatisticTypes or groupBy
    parameter, and not both. You can use the maxResults and orderBy parameters only when using groupBy."
    MaxResults: "The default value is 25" (1–100, botocore model); orderBy "The default value of orderBy
    is DESC". The request has no NextToken (botocore model), so a grouping answers at most 100 groups.
    """
    context.detector(params["DetectorId"])
    if bool(params.get("FindingStatisticTypes")) == bool(params.get("GroupBy")):
        raise BadRequest("The request is rejected because either findingStatisticTypes or groupBy must be "
                         "specified, and not both.")
    if not params.get("GroupBy") and ("MaxResults" in params or "OrderBy" in params):
        raise BadRequest("The request is rejected because maxResults and orderBy can be used only with groupBy.")
    accounts = context.state.visible_accounts(context.account_id, context.region)
    store = context.state.region_findings(context.region)
    matched = store.select(accounts, Criteria(params.get("FindingCriteria")))
    statistics: dict[str, Any] = {}
    if params.get("FindingStatisticTypes"):
        by_severity: dict[str, int] = defaultdict(int)
        for stored in matched:
            by_severity[str(stored.severity)] += 1
        statistics["CountBySeverity"] = dict(by_severity)
    group_by = params.get("GroupBy")
    if group_by:
        label, key_of, view_of = _GROUPS[group_by]
        totals: dict[Any, list[Any]] = {}
        for stored in matched:
            entry = totals.setdefault(key_of(stored), [0, 0, 0.0])
            entry[0] += 1
            entry[1] = max(entry[1], stored.updated_ms)
            entry[2] = max(entry[2], stored.severity)
        rows = []
        for key, (count, last_ms, severity) in totals.items():
            row = {**view_of(key), "LastGeneratedAt": _moment(last_ms), "TotalFindings": count}
            if group_by == "DATE":
                row["Severity"] = severity
            rows.append(row)
        rows.sort(key=lambda row: row["TotalFindings"], reverse=params.get("OrderBy", "DESC") == "DESC")
        statistics[label] = rows[:params.get("MaxResults") or 25]
    return {"FindingStatistics": statistics}
