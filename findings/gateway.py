"""GuardDuty findings through boto3: the administrator detector's findings, listed and fetched in pages.

Every call goes through `guardwatch.aws` (adaptive retries, bounded timeouts). Listing is one call at a
time rather than boto3's paginator: the pull sync decides each page's bounds from the findings of the
page before (see `findings.sync`), and memory stays one page deep whatever the number of findings.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from botocore.exceptions import ClientError

from guardwatch import aws

PAGE_SIZE = 50  # ListFindings MaxResults and GetFindings FindingIds are both capped at 50


@dataclass(frozen=True, slots=True)
class FindingPage:
    """One ListFindings page and the findings GetFindings returned for its ids (boto3 spelling).

    `checkpoint_ms`, when set: every finding updated before it (epoch ms, GuardDuty's clock) has been
    listed by this page or an earlier one, so a sync may resume from there once they are stored.
    """

    number: int
    finding_ids: tuple[str, ...]
    findings: tuple[dict, ...]
    api_calls: int
    checkpoint_ms: int | None = None


class DetectorNotFound(Exception):
    """The region has no detector for the administrator account (GuardDuty is off there)."""


def detector_id_get(*, region: str) -> str:
    """The administrator's detector id in `region` (ListDetectors; one detector per account per region)."""
    client = aws.guardduty(region)
    token = None
    while True:
        response = client.list_detectors(**({"NextToken": token} if token else {}))
        ids = response.get("DetectorIds") or []
        if ids:
            return ids[0]
        token = response.get("NextToken")
        if not token:
            raise DetectorNotFound(f"GuardDuty has no detector in {region} for the administrator account.")


def is_missing_detector(error: ClientError) -> bool:
    """A cached detector id that no longer exists (GuardDuty was disabled and re-enabled)."""
    response = error.response or {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = str(response.get("Error", {}).get("Message", "")).lower()
    return status in {400, 404} and "detector" in message and ("not" in message or "invalid" in message)


@dataclass(frozen=True, slots=True)
class IdsPage:
    """One ListFindings answer: ids in `updatedAt` order, the next token, and when GuardDuty answered."""

    finding_ids: tuple[str, ...]
    next_token: str | None
    server_time: datetime  # GuardDuty's clock: the answer's HTTP Date header (whole seconds)
    round_trip: float  # seconds from sending the request to the answer, on the worker's monotonic clock


class MissingServerTime(Exception):
    """A GuardDuty answer without a usable Date header (AWS always sends one)."""


def response_time(response: dict) -> datetime:
    """GuardDuty's "now" for an answer: its HTTP `Date` header, never the worker's clock."""
    value = (response.get("ResponseMetadata") or {}).get("HTTPHeaders", {}).get("date")
    try:
        moment = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        moment = None
    if moment is None or moment.tzinfo is None:
        raise MissingServerTime(f"GuardDuty's answer carried no usable Date header ({value!r}).")
    return moment.astimezone(UTC)


UPDATED_ASC = {"AttributeName": "updatedAt", "OrderBy": "ASC"}


def finding_ids_page(
    *,
    region: str,
    detector_id: str,
    updated_from_ms: int | None = None,
    updated_before_ms: int | None = None,
    excluded_ids: frozenset[str] | set[str] = frozenset(),
    next_token: str | None = None,
    page_size: int = PAGE_SIZE,
) -> IdsPage:
    """One ListFindings call: ids with `updated_from_ms <= updatedAt < updated_before_ms` (epoch ms,
    either bound optional), none of `excluded_ids` (at most 50), oldest update first.

    The bounds go in the long-typed `GreaterThanOrEqual` / `LessThan` conditions: botocore's model types
    `Gte` / `Lt` as 32-bit integers, too small for epoch milliseconds. `id` with `Neq` is a documented
    criterion (API reference, ListFindings `findingCriteria`; "Max values: 50" on `Condition.Neq`).
    """
    if len(excluded_ids) > PAGE_SIZE:
        raise ValueError("ListFindings takes at most 50 ids in a Neq condition")
    criterion: dict = {}
    updated: dict = {}
    if updated_from_ms is not None:
        updated["GreaterThanOrEqual"] = int(updated_from_ms)
    if updated_before_ms is not None:
        updated["LessThan"] = int(updated_before_ms)
    if updated:
        criterion["updatedAt"] = updated
    if excluded_ids:
        criterion["id"] = {"Neq": sorted(excluded_ids)}
    request: dict = {"DetectorId": detector_id, "SortCriteria": UPDATED_ASC, "MaxResults": page_size}
    if criterion:
        request["FindingCriteria"] = {"Criterion": criterion}
    if next_token:
        request["NextToken"] = next_token
    started = time.monotonic()
    listed = aws.guardduty(region).list_findings(**request)
    round_trip = time.monotonic() - started
    return IdsPage(
        finding_ids=tuple(listed.get("FindingIds") or ()),
        next_token=listed.get("NextToken") or None,
        server_time=response_time(listed),
        round_trip=round_trip,
    )


def updated_ms(raw: dict) -> int | None:
    """A fetched finding's `UpdatedAt` (boto3 spelling, ISO-8601) in epoch ms; None if unreadable."""
    try:
        return to_epoch_ms(datetime.fromisoformat(str(raw["UpdatedAt"]).replace("Z", "+00:00")))
    except (KeyError, TypeError, ValueError):
        return None


def finding_ids_list(*, region: str, detector_id: str, criteria: dict) -> tuple[list[str], int]:
    """Every finding id matching `criteria` (a FindingCriteria `Criterion` dict; empty: all, archived
    included), and the calls spent. Paged by NextToken: over a result changing meanwhile, an id may be
    missed or listed twice (callers compare, they do not conclude from one absence alone)."""
    client = aws.guardduty(region)
    ids: list[str] = []
    token, calls = None, 0
    while True:
        request = {"DetectorId": detector_id, "MaxResults": PAGE_SIZE}
        if criteria:  # no criteria: every finding, archived ones included
            request["FindingCriteria"] = {"Criterion": criteria}
        if token:
            request["NextToken"] = token
        listed = client.list_findings(**request)
        calls += 1
        ids.extend(listed.get("FindingIds") or ())
        token = listed.get("NextToken") or None
        if not token:
            return ids, calls


def findings_count_by_account(*, region: str, detector_id: str, criteria: dict, limit: int) -> tuple[dict[str, int], int]:
    """GetFindingsStatistics grouped by account: {account id: findings matching `criteria`}, and the calls (1).

    At most `limit` (≤ 100, the model's MaxResults) accounts, the ones with the most findings first
    (OrderBy DESC, the default); the request has no NextToken (botocore model).
    """
    answer = aws.guardduty(region).get_findings_statistics(
        DetectorId=detector_id, GroupBy="ACCOUNT", MaxResults=limit, OrderBy="DESC",
        FindingCriteria={"Criterion": criteria},
    )  # fmt: skip
    rows = answer.get("FindingStatistics", {}).get("GroupedByAccount") or ()
    return {row["AccountId"]: int(row.get("TotalFindings") or 0) for row in rows}, 1


def findings_count_by_severity(*, region: str, detector_id: str, criteria: dict) -> tuple[dict[float, int], int]:
    """GetFindingsStatistics grouped by severity: {severity: findings matching `criteria`}, and the calls (1)."""
    answer = aws.guardduty(region).get_findings_statistics(
        DetectorId=detector_id, GroupBy="SEVERITY", MaxResults=100, FindingCriteria={"Criterion": criteria},
    )  # fmt: skip
    rows = answer.get("FindingStatistics", {}).get("GroupedBySeverity") or ()
    return {float(row["Severity"]): int(row.get("TotalFindings") or 0) for row in rows}, 1


def findings_get(*, region: str, detector_id: str, finding_ids: list[str]) -> Iterator[tuple[dict, ...]]:
    """GetFindings for `finding_ids`, 50 per call, one tuple of findings (boto3 spelling) per call.

    Ids GuardDuty no longer has (past its 90-day retention) are silently absent from the answers.
    """
    client = aws.guardduty(region)
    for start in range(0, len(finding_ids), PAGE_SIZE):
        fetched = client.get_findings(
            DetectorId=detector_id, FindingIds=list(finding_ids[start : start + PAGE_SIZE])
        )
        yield tuple(fetched.get("Findings") or ())


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_epoch_ms(moment: datetime) -> int:
    """GuardDuty's finding criteria compare `updatedAt` in epoch milliseconds (exact, no float)."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


# --- Triage: write-back and suppression filters (appended by the triage work) --------------------

WRITE_BATCH = 50  # ArchiveFindings, UnarchiveFindings, UpdateFindingsFeedback take at most 50 ids


def _batches(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), WRITE_BATCH):
        yield ids[start : start + WRITE_BATCH]


def findings_archive(*, region: str, detector_id: str, finding_ids: list[str]) -> int:
    """ArchiveFindings in batches of 50; returns the number of calls made."""
    client = aws.guardduty(region)
    calls = 0
    for batch in _batches(finding_ids):
        client.archive_findings(DetectorId=detector_id, FindingIds=batch)
        calls += 1
    return calls


def findings_unarchive(*, region: str, detector_id: str, finding_ids: list[str]) -> int:
    """UnarchiveFindings in batches of 50; returns the number of calls made."""
    client = aws.guardduty(region)
    calls = 0
    for batch in _batches(finding_ids):
        client.unarchive_findings(DetectorId=detector_id, FindingIds=batch)
        calls += 1
    return calls


def findings_feedback(*, region: str, detector_id: str, finding_ids: list[str], feedback: str) -> int:
    """UpdateFindingsFeedback (USEFUL or NOT_USEFUL) in batches of 50; returns the number of calls."""
    client = aws.guardduty(region)
    calls = 0
    for batch in _batches(finding_ids):
        client.update_findings_feedback(DetectorId=detector_id, FindingIds=batch, Feedback=feedback)
        calls += 1
    return calls


def filter_names(*, region: str, detector_id: str) -> list[str]:
    """Every saved filter (suppression rules included) of the administrator in `region`."""
    client = aws.guardduty(region)
    names: list[str] = []
    token = None
    while True:
        response = client.list_filters(DetectorId=detector_id, MaxResults=50, **({"NextToken": token} if token else {}))
        names.extend(response.get("FilterNames") or [])
        token = response.get("NextToken")
        if not token:
            return names


@dataclass(frozen=True, slots=True)
class SavedFilter:
    """One GuardDuty filter as GetFilter returns it."""

    name: str
    rank: int | None
    action: str
    description: str
    criteria: dict


def filter_get(*, region: str, detector_id: str, name: str) -> SavedFilter:
    """GetFilter: a filter's rank, action (NOOP or ARCHIVE), description and criteria."""
    response = aws.guardduty(region).get_filter(DetectorId=detector_id, FilterName=name)
    return SavedFilter(
        name=response["Name"],
        rank=response.get("Rank"),
        action=response.get("Action", "NOOP"),
        description=response.get("Description") or "",
        criteria=response.get("FindingCriteria") or {},
    )


def filter_create(*, region: str, detector_id: str, name: str, description: str, criteria: dict) -> None:
    """CreateFilter with Action ARCHIVE: GuardDuty archives new matching findings on arrival."""
    aws.guardduty(region).create_filter(
        DetectorId=detector_id, Name=name, Description=description, Action="ARCHIVE", FindingCriteria=criteria
    )


def filter_update(*, region: str, detector_id: str, name: str, description: str, criteria: dict) -> None:
    """UpdateFilter: new description and criteria for an existing suppression rule."""
    aws.guardduty(region).update_filter(
        DetectorId=detector_id, FilterName=name, Description=description, Action="ARCHIVE", FindingCriteria=criteria
    )


def filter_delete(*, region: str, detector_id: str, name: str) -> None:
    """DeleteFilter; findings it archived stay archived."""
    aws.guardduty(region).delete_filter(DetectorId=detector_id, FilterName=name)


# --- GuardDuty Investigation (preview): the administrator's AI investigations (triage.investigations) --------

RECORDS_PAGE = 50  # ListInvestigationRecords MaxResults: "Valid values are 1 to 50"


@dataclass(frozen=True, slots=True)
class InvestigationState:
    """GetInvestigation: an investigation's status (RUNNING, COMPLETED, FAILED) and, once COMPLETED, its results."""

    investigation_id: str
    status: str
    risk_level: str = ""
    risk: str = ""
    confidence: str = ""
    summary: str = ""
    error: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class InvestigationRecord:
    """One step of an investigation's reasoning (ListInvestigationRecords)."""

    record_id: str
    type: str  # UPDATE | FETCH | OBSERVATION | ANALYSIS | METADATA
    title: str
    narrative: str
    created_at: datetime | None
    supporting_data: dict


def investigation_create(*, region: str, detector_id: str, prompt: str, client_token: str) -> str:
    """CreateInvestigation; the same `client_token` answers the same investigation (its idempotency token)."""
    response = aws.guardduty(region).create_investigation(
        DetectorId=detector_id, TriggerPrompt=prompt, ClientToken=client_token
    )
    return response["InvestigationId"]


def investigation_get(*, region: str, detector_id: str, investigation_id: str) -> InvestigationState:
    """GetInvestigation with the text summary (SummaryFormat's default, STRING)."""
    found = aws.guardduty(region).get_investigation(DetectorId=detector_id, InvestigationId=investigation_id)
    item = found["Investigation"]
    return InvestigationState(
        investigation_id=item["InvestigationId"],
        status=item["Status"],
        risk_level=item.get("RiskLevel") or "",
        risk=item.get("Risk") or "",
        confidence=item.get("Confidence") or "",
        summary=item.get("Summary") or "",
        error=item.get("Error") or "",
        started_at=item.get("StartTime"),
        ended_at=item.get("EndTime"),
    )


def investigation_records(*, region: str, detector_id: str, investigation_id: str) -> tuple[list[InvestigationRecord], int]:
    """Every record of an investigation, oldest first, 50 a call; returns them and the number of calls.

    A page may hold fewer records than asked, or none, and still carry a NextToken: only its absence ends.
    """
    client = aws.guardduty(region)
    records: list[InvestigationRecord] = []
    token, calls = None, 0
    while True:
        page = client.list_investigation_records(
            DetectorId=detector_id, InvestigationId=investigation_id, MaxResults=RECORDS_PAGE,
            **({"NextToken": token} if token else {}),
        )
        calls += 1
        records.extend(
            InvestigationRecord(
                record_id=raw["RecordId"], type=raw["Type"], title=raw.get("Title") or "",
                narrative=raw.get("Narrative") or "", created_at=raw.get("CreatedAt"),
                supporting_data=raw.get("SupportingData") or {},
            )
            for raw in page.get("Records") or ()
        )
        token = page.get("NextToken")
        if not token:
            return records, calls


def investigations_started(*, region: str, detector_id: str, since: datetime) -> tuple[int, int]:
    """(started since `since`, started in all) by the administrator's organization in `region` (ListInvestigations,
    newest first, 50 a page; "An administrator account sees all investigations across the organization")."""
    client = aws.guardduty(region)
    recent = total = 0
    token = None
    while True:
        page = client.list_investigations(
            DetectorId=detector_id, MaxResults=50, SortCriteria={"AttributeName": "START_TIME", "OrderBy": "DESC"},
            **({"NextToken": token} if token else {}),
        )
        for item in page.get("Investigations") or ():
            total += 1
            started = item.get("StartTime")
            if started is not None and started > since:
                recent += 1
        token = page.get("NextToken")
        if not token:
            return recent, total
