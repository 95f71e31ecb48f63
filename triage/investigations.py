"""GuardDuty Investigation (AWS's AI analysis, preview) of a finding or an account: start it, poll it, save its report.

What AWS documents (botocore's guardduty model, CreateInvestigation; the user guide's "GuardDuty Investigation
(Preview)"; quoted in gdsim/operations/investigations.py and docs/investigation.md):
- "During the preview, you can initiate up to 10 investigations per account per day, with a total limit of
  100 investigations per account." GuardWatch counts what it started itself, never a refused one, over the last
  24 hours (AWS does not say whether a day is a calendar day; a rolling 24 hours never counts fewer) and in
  every Region (nor whether the limit is per Region): the stricter readings. Investigations started outside
  GuardWatch are not counted; GuardDuty then refuses, and the refusal is shown as it is.
- "Only the administrator account can create an investigation": GuardWatch calls it as the administrator, in
  the finding's home Region (where its detector lists it), with the documented prompt "Investigate finding
  <id> in account <account>" and the row's own ClientToken (the idempotency token).
- Available in 10 Regions only (REGIONS); elsewhere GuardWatch does not call.
- Asynchronous: RUNNING, then COMPLETED or FAILED; results and records only once COMPLETED.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from findings import gateway
from findings.models import Finding, FindingEvent, SyncState
from guardwatch import aws
from guardwatch.core.queue import task_send_on_commit
from triage.models import Investigation

DAILY_LIMIT = 10
TOTAL_LIMIT = 100
REGIONS = frozenset({"us-east-1", "us-east-2", "us-west-2", "ca-central-1", "eu-central-1", "eu-west-1",
                     "eu-west-2", "eu-west-3", "eu-north-1", "ap-northeast-1"})
FINDING_ID = re.compile(r"[0-9a-f]{32}")  # "the finding ID (32-character hexadecimal)" (user guide)
FIRST_POLL = 15  # seconds; then doubled at every poll up to POLL_CAP
POLL_CAP = 600
GIVE_UP_AFTER = timedelta(hours=6)  # AWS says "in minutes"; an investigation still RUNNING after 6 h is abandoned
START_ATTEMPTS = 5  # CreateInvestigation tried this often on a throttle, 5xx or a lost connection
REFUSALS = {"BadRequestException", "AccessDeniedException"}  # GuardDuty's own "no": retrying changes nothing
POLL_TASK = "triage.tasks.investigation_poll"
LISTED_KEY = "triage:investigations:listed"  # the cache entry of investigation_quota_refresh


class InvestigationError(Exception):
    """Why an investigation cannot start; the message is shown to the user as it is."""


@dataclass(frozen=True)
class Quota:
    """The preview's quota as GuardWatch can count it: investigations it started in the last 24 hours and in all."""

    used_today: int
    used_total: int
    listed_at: datetime | None = None  # when GuardDuty's own listing was last read (None: never)

    @property
    def left_today(self) -> int:
        return max(0, DAILY_LIMIT - self.used_today)

    @property
    def left_total(self) -> int:
        return max(0, TOTAL_LIMIT - self.used_total)

    @property
    def left(self) -> int:
        return min(self.left_today, self.left_total)

    @property
    def daily_limit(self) -> int:
        return DAILY_LIMIT

    @property
    def total_limit(self) -> int:
        return TOTAL_LIMIT


def investigation_quota(*, now: datetime | None = None) -> Quota:
    """Selector: the quota left, from GuardWatch's own rows (refused ones used none) or, when larger, what GuardDuty
    listed when last asked (`investigation_quota_refresh`: investigations started outside GuardWatch count too)."""
    now = now or timezone.now()
    counted = Investigation.objects.exclude(status=Investigation.Status.REFUSED)
    today, total = counted.filter(created_at__gt=now - timedelta(days=1)).count(), counted.count()
    listed = cache.get(LISTED_KEY) or {}
    if listed and parse_datetime(listed["at"]) > now - timedelta(days=1):
        today = max(today, listed["today"])
    return Quota(used_today=today, used_total=max(total, listed.get("total", 0)),
                 listed_at=parse_datetime(listed["at"]) if listed else None)


def investigation_quota_refresh(*, now: datetime | None = None) -> Quota:
    """Ask GuardDuty (ListInvestigations in each configured Region where the feature exists) how many investigations
    the administrator's organization started in the last 24 hours and in all; kept for the quota shown. A Region
    GuardDuty does not answer is skipped (GuardWatch's own count still holds)."""
    now = now or timezone.now()
    today = total = 0
    for region in sorted(set(settings.GUARDWATCH_AWS_REGIONS) & REGIONS):
        try:
            recent, every = gateway.investigations_started(region=region, detector_id=_detector(region),
                                                           since=now - timedelta(days=1))
        except (ClientError, BotoCoreError, gateway.DetectorNotFound):
            continue
        today, total = today + recent, total + every
    cache.set(LISTED_KEY, {"at": now.isoformat(), "today": today, "total": total}, 24 * 3600)
    return investigation_quota(now=now)


def finding_investigations(*, finding: Finding) -> list[Investigation]:
    """Selector: a finding's investigations, newest first (the caller has already scoped the finding)."""
    return list(finding.investigations.order_by("-created_at", "-id")[:10])


def investigation_unavailable(*, finding: Finding) -> str:
    """Why this finding cannot be investigated at all (empty when it can)."""
    if finding.region not in REGIONS:
        return (f"GuardDuty Investigation is available in {len(REGIONS)} Regions only "
                f"({', '.join(sorted(REGIONS))}); this finding is in {finding.region}.")
    if not FINDING_ID.fullmatch(finding.finding_id):
        return "GuardDuty Investigation needs a finding id of 32 hexadecimal characters; this finding's id is not one."
    return ""


def investigation_start(*, finding: Finding, actor) -> Investigation:
    """Start an investigation of `finding` as the administrator; InvestigationError says why not.

    One per click: the finding's row is locked while an active investigation is looked for, and the database
    allows one active per finding. GuardDuty's answer to CreateInvestigation is awaited here so a refusal is
    shown at once; the polling runs in Celery.
    """
    reason = investigation_unavailable(finding=finding)
    if reason:
        raise InvestigationError(reason)
    investigation_quota_refresh()
    with transaction.atomic():
        Finding.objects.select_for_update().filter(pk=finding.pk).first()
        active = finding.investigations.filter(status__in=Investigation.ACTIVE).first()
        investigation = _create(
            active=active, what="this finding", actor=actor, kind=Investigation.Kind.FINDING, finding=finding,
            account_id=finding.account_id, region=finding.region,
            prompt=f"Investigate finding {finding.finding_id} in account {finding.account_id}")
    return _send(investigation, actor)


def account_investigation_regions(*, regions: list[str]) -> list[str]:
    """The Regions among `regions` where GuardDuty Investigation exists."""
    return sorted(region for region in set(regions) if region in REGIONS)


def account_investigation_start(*, account_id: str, region: str, regions: list[str], actor) -> Investigation:
    """Start an ACCOUNT investigation ("Analyze findings in account with id <id>", AWS's documented prompt) of a
    member account in one of its Regions (`regions`: the account's own), as the administrator."""
    if region not in account_investigation_regions(regions=regions):
        raise InvestigationError(f"Choose one of this account's Regions where GuardDuty Investigation is available "
                                 f"({', '.join(account_investigation_regions(regions=regions)) or 'none'}).")
    investigation_quota_refresh()
    with transaction.atomic():
        active = (Investigation.objects.select_for_update()
                  .filter(kind=Investigation.Kind.ACCOUNT, account_id=account_id, region=region,
                          status__in=Investigation.ACTIVE).first())
        investigation = _create(
            active=active, what=f"this account in {region}", actor=actor, kind=Investigation.Kind.ACCOUNT,
            finding=None, account_id=account_id, region=region,
            prompt=f"Analyze findings in account with id {account_id}")
    return _send(investigation, actor)


def _create(*, active: Investigation | None, what: str, actor, **fields) -> Investigation:
    """The pending row, once no investigation of the same subject runs and the quota allows (inside a transaction)."""
    if active is not None:
        raise InvestigationError(f"An investigation of {what} is already running (started by "
                                 f"{active.requested_by_name or 'someone'}); its report will appear when it ends.")
    now = timezone.now()
    quota = investigation_quota(now=now)
    if quota.left_total == 0:
        raise InvestigationError(f"The GuardDuty Investigation preview allows {TOTAL_LIMIT} investigations per "
                                 "account in all, and GuardWatch has started them all.")
    if quota.left_today == 0:
        raise InvestigationError(f"The GuardDuty Investigation preview allows {DAILY_LIMIT} investigations per "
                                 "account a day, and that many were started in the last 24 hours. Try again later.")
    try:
        with transaction.atomic():
            return Investigation.objects.create(
                client_token=uuid.uuid4().hex, requested_by=actor, requested_by_name=actor.get_username() if actor else "",
                created_at=now, next_poll_at=now, **fields)
    except IntegrityError:  # a concurrent click won the race for the one active investigation
        raise InvestigationError(f"An investigation of {what} is already running.") from None


def _send(investigation: Investigation, actor) -> Investigation:
    """CreateInvestigation for a committed pending row; a refusal raises InvestigationError with GuardDuty's words."""
    with aws.acting_as(actor):
        investigation_advance(investigation_id=investigation.pk)
    investigation.refresh_from_db()
    if investigation.status == Investigation.Status.REFUSED:
        raise InvestigationError(f"GuardDuty refused to start the investigation: {investigation.error}")
    return investigation


def account_investigations(*, account_id: str) -> list[Investigation]:
    """Selector: an account's own investigations (ACCOUNT kind), newest first (the caller has scoped the account)."""
    return list(Investigation.objects.filter(kind=Investigation.Kind.ACCOUNT, account_id=account_id)
                .order_by("-created_at", "-id")[:10])


def _detector(region: str) -> str:
    known = SyncState.objects.filter(region=region).values_list("detector_id", flat=True).first()
    return known or gateway.detector_id_get(region=region)


def _delay(polls: int) -> int:
    return min(POLL_CAP, FIRST_POLL * 2 ** min(polls, 10))


def _error_text(error: Exception) -> str:
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        return f"{detail.get('Code', 'Error')}: {detail.get('Message', '')}".strip()
    return str(error) or type(error).__name__


def investigation_advance(*, investigation_id: int) -> datetime | None:
    """One step: start a pending investigation, or poll a running one and save its report when it ends.

    Returns when to poll next, or None once it has ended. Safe to run twice and concurrently: the row is locked
    (a second caller skips it), and the report and its timeline entry are written with the final status, once.
    """
    now = timezone.now()
    with transaction.atomic():
        investigation = (Investigation.objects.select_for_update(skip_locked=True)
                         .filter(pk=investigation_id, status__in=Investigation.ACTIVE).first())
        if investigation is None:
            return None
        if investigation.status == Investigation.Status.PENDING:
            _start(investigation, now)
        else:
            _poll(investigation, now)
        investigation.save()
        if investigation.active:
            task_send_on_commit(POLL_TASK, investigation.pk, countdown=_delay(investigation.polls))
        return investigation.next_poll_at if investigation.active else None


def _start(investigation: Investigation, now: datetime) -> None:
    try:
        investigation.aws_id = gateway.investigation_create(
            region=investigation.region, detector_id=_detector(investigation.region),
            prompt=investigation.prompt, client_token=investigation.client_token)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in REFUSALS:
            investigation.status, investigation.error, investigation.finished_at = (
                Investigation.Status.REFUSED, _error_text(error), now)
            investigation.next_poll_at = None
            return
        _retry_later(investigation, now, error, attempts=START_ATTEMPTS)
        return
    except (BotoCoreError, gateway.DetectorNotFound) as error:
        _retry_later(investigation, now, error, attempts=START_ATTEMPTS)
        return
    investigation.status, investigation.started_at, investigation.error = Investigation.Status.RUNNING, now, ""
    investigation.polls = 0
    investigation.next_poll_at = now + timedelta(seconds=_delay(0))


def _retry_later(investigation: Investigation, now: datetime, error: Exception, *, attempts: int | None = None) -> None:
    investigation.polls += 1
    investigation.error = _error_text(error)
    if attempts is not None and investigation.polls >= attempts:
        _end_failed(investigation, now, f"GuardWatch could not reach GuardDuty: {investigation.error}")
        return
    investigation.next_poll_at = now + timedelta(seconds=_delay(investigation.polls))


def _poll(investigation: Investigation, now: datetime) -> None:
    detector = _detector(investigation.region)
    try:
        state = gateway.investigation_get(region=investigation.region, detector_id=detector,
                                          investigation_id=investigation.aws_id)
        records, _calls = (gateway.investigation_records(region=investigation.region, detector_id=detector,
                                                         investigation_id=investigation.aws_id)
                           if state.status == "COMPLETED" else ([], 0))
    except (ClientError, BotoCoreError) as error:
        _retry_later(investigation, now, error)
        return
    if state.status == "RUNNING":
        investigation.polls += 1
        if investigation.started_at and now - investigation.started_at > GIVE_UP_AFTER:
            _end_failed(investigation, now, "GuardDuty had not finished the investigation after 6 hours; "
                                             "GuardWatch stopped waiting for it.")
            return
        investigation.next_poll_at = now + timedelta(seconds=_delay(investigation.polls))
        return
    if state.status == "FAILED":
        _end_failed(investigation, now, state.error or "GuardDuty reported the investigation as failed.")
        return
    investigation.status, investigation.finished_at, investigation.next_poll_at = (
        Investigation.Status.COMPLETED, now, None)
    investigation.error = ""
    investigation.risk_level, investigation.confidence = state.risk_level, state.confidence
    investigation.summary = state.summary
    investigation.report = {
        "investigation_id": state.investigation_id, "risk_level": state.risk_level, "risk": state.risk,
        "confidence": state.confidence, "summary": state.summary,
        "records": [{"id": r.record_id, "type": r.type, "title": r.title, "narrative": r.narrative,
                     "created_at": r.created_at.isoformat() if r.created_at else None,
                     "supporting_data": r.supporting_data} for r in records],
        "recommendations": _recommendations(records),
    }
    if investigation.finding_id is None:
        return  # an account investigation: its report is shown on the account's page
    FindingEvent.objects.create(
        finding_id=investigation.finding_id, kind=FindingEvent.Kind.INVESTIGATION, actor=investigation.requested_by,
        actor_name=investigation.requested_by_name, created_at=now, body=state.summary,
        details={"investigation": investigation.pk, "aws_id": state.investigation_id, "status": "completed",
                 "risk_level": state.risk_level, "risk": state.risk, "confidence": state.confidence,
                 "steps": [{"type": r.type, "title": r.title, "narrative": r.narrative} for r in records
                           if r.type in {"OBSERVATION", "ANALYSIS"}],
                 "recommendations": _recommendations(records)},
    )


def _recommendations(records: list[gateway.InvestigationRecord]) -> list[dict]:
    found = []
    for record in records:
        observation = record.supporting_data.get("Observation") or {}
        for item in observation.get("Recommendations") or ():
            found.append({"title": str(item.get("Title", "")), "rationale": str(item.get("Rationale", "")),
                          "priority": str(item.get("Priority", "")),
                          "commands": [str(command) for command in item.get("CliCommands") or ()]})
    return found[:25]


def _end_failed(investigation: Investigation, now: datetime, error: str) -> None:
    investigation.status, investigation.error, investigation.finished_at = Investigation.Status.FAILED, error, now
    investigation.next_poll_at = None
    if investigation.finding_id is None:
        return
    FindingEvent.objects.create(
        finding_id=investigation.finding_id, kind=FindingEvent.Kind.INVESTIGATION, actor=investigation.requested_by,
        actor_name=investigation.requested_by_name, created_at=now, body=error,
        details={"investigation": investigation.pk, "aws_id": investigation.aws_id, "status": "failed"},
    )


def investigations_poll_due(*, now: datetime | None = None, late: timedelta = timedelta(minutes=1)) -> list[int]:
    """Beat (watchdog): advance active investigations whose poll is overdue (a lost or never-sent message)."""
    now = now or timezone.now()
    due = list(Investigation.objects.filter(status__in=Investigation.ACTIVE, next_poll_at__lte=now - late)
               .order_by("next_poll_at").values_list("pk", flat=True)[:50])
    for pk in due:
        investigation_advance(investigation_id=pk)
    return due
