"""GuardDuty findings through boto3: the administrator detector's findings, listed and fetched in pages.

Every call goes through `guardwatch.aws` (adaptive retries, bounded timeouts). Listing is done by
hand rather than with boto3's paginator so each page's ids are fetched and handed over before the
next page is listed: memory stays one page deep whatever the number of findings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError

from guardwatch import aws

PAGE_SIZE = 50  # ListFindings MaxResults and GetFindings FindingIds are both capped at 50


@dataclass(frozen=True, slots=True)
class FindingPage:
    """One ListFindings page and the findings GetFindings returned for its ids (boto3 spelling)."""

    number: int
    finding_ids: tuple[str, ...]
    findings: tuple[dict, ...]
    api_calls: int


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


def finding_pages(
    *, region: str, detector_id: str, updated_from_ms: int | None, page_size: int = PAGE_SIZE
) -> Iterator[FindingPage]:
    """Findings updated at or after `updated_from_ms` (epoch ms; None = all), oldest update first.

    One ListFindings call per page of ids, then one GetFindings call for those ids. Sorted on
    `updatedAt` ascending so a caller that stops part-way has consumed a prefix of the updates.
    """
    client = aws.guardduty(region)
    criteria = {}
    if updated_from_ms is not None:
        criteria = {"Criterion": {"updatedAt": {"GreaterThanOrEqual": int(updated_from_ms)}}}
    sort = {"AttributeName": "updatedAt", "OrderBy": "ASC"}
    token = None
    number = 0
    while True:
        request = {"DetectorId": detector_id, "SortCriteria": sort, "MaxResults": page_size}
        if criteria:
            request["FindingCriteria"] = criteria
        if token:
            request["NextToken"] = token
        listed = client.list_findings(**request)
        ids = tuple(listed.get("FindingIds") or ())
        token = listed.get("NextToken") or None
        calls = 1
        findings: tuple[dict, ...] = ()
        if ids:
            fetched = client.get_findings(DetectorId=detector_id, FindingIds=list(ids), SortCriteria=sort)
            findings = tuple(fetched.get("Findings") or ())
            calls += 1
        number += 1
        yield FindingPage(number=number, finding_ids=ids, findings=findings, api_calls=calls)
        if not token:
            return


def finding_ids_list(*, region: str, detector_id: str, criteria: dict) -> tuple[list[str], int]:
    """Every finding id matching `criteria` (a FindingCriteria `Criterion` dict), and the calls spent."""
    client = aws.guardduty(region)
    ids: list[str] = []
    token, calls = None, 0
    while True:
        request = {
            "DetectorId": detector_id,
            "FindingCriteria": {"Criterion": criteria},
            "MaxResults": PAGE_SIZE,
        }
        if token:
            request["NextToken"] = token
        listed = client.list_findings(**request)
        calls += 1
        ids.extend(listed.get("FindingIds") or ())
        token = listed.get("NextToken") or None
        if not token:
            return ids, calls


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
