"""EventBridge push ingest: what a push may say, whose findings it may carry, and how GuardDuty confirms it.

A push is a hint, never the truth. Each event is checked on its own (shape, a finding ARN whose
partition, region, account, detector and id agree with the finding's fields and the event's envelope,
no timestamp ahead of our clock, a configured region, a monitored member or the administrator, inside
the key's scope); a request with any refused event stores nothing. What passes is stored as received
for findings GuardWatch does not have yet (a push never overwrites values GuardDuty gave, see
`upsert._newer_sql`), and every pushed ARN is then confirmed with GetFindings by a Celery task, whose
answer is stored as a pull and so wins. A pushed finding GuardDuty does not know is deleted once the
confirmation grace period has passed. docs/eventbridge.md describes the model for operators.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.cache import cache as shared_cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import MONITORED, Membership
from accounts.services import administrator_account_id
from findings import gateway
from findings.models import Finding, IngestApiKey, SyncState, WriteSource
from findings.parsing import (
    FindingParseError,
    ParsedFinding,
    finding_arn_parts,
    findings_parse_skipping,
    parse_eventbridge_event,
)
from findings.readers import _timestamp
from findings.sync import detector_id_known, error_describe
from findings.upsert import UpsertResult, findings_upsert
from guardwatch import aws
from guardwatch.core.data_version import data_version_bump_on_commit
from guardwatch.core.metrics import FINDINGS_REFUSED, push_marks_put
from guardwatch.core.queue import task_send
from guardwatch.core.rates import minute_rate_take
from guardwatch.core.services import audit_record

logger = logging.getLogger(__name__)

EVENT_SOURCE = "aws.guardduty"
EVENT_DETAIL_TYPE = "GuardDuty Finding"
CONFIRM_TASK = "findings.tasks.findings_push_confirm"
CONFIRM_SWEEP_LIMIT = 5000  # pushed findings one sweep confirms (100 GetFindings calls at most)
CONFIRM_DELAY_SECONDS = 5  # pushes within this many seconds share one confirmation sweep
CONFIRM_QUEUED_MARKER = "gw:ingest-confirm-queued"


class IngestRejected(Exception):
    """A push was refused whole; `errors` lists `{"index": i, "reason": …}` per refused event.

    `status` is 400 when an event is malformed or inconsistent, 403 when every refused event is well
    formed but not GuardWatch's to accept (a region not configured, an account that is not a monitored
    member, outside the key's scope).
    """

    def __init__(self, errors: list[dict], *, status: int = 400):
        super().__init__(f"{len(errors)} refused event(s)")
        self.errors = errors
        self.status = status


class _Invalid(Exception):
    """An event that is malformed or contradicts itself (400)."""


# --- Per-key rate limit ------------------------------------------------------------------------


def ingest_rate_take(*, key: IngestApiKey, now: datetime | None = None) -> int:
    """Count one request against the key's current minute; 0 to go on, else the seconds for `Retry-After`.

    GUARDWATCH_INGEST_RATE_PER_MINUTE = 0 turns the limit off.
    """
    return minute_rate_take(label="Ingest", name=f"ingest-rate:{key.prefix}", limit=settings.GUARDWATCH_INGEST_RATE_PER_MINUTE, now=now)


# --- Checking and storing a push ---------------------------------------------------------------


@cache
def _partition_of(region: str) -> str | None:
    try:
        return aws.partition_for(region)
    except BotoCoreError:  # UnknownRegionError: a region botocore has never heard of
        return None


@dataclass
class _Administrator:
    """The administrator's account id, read (STS) only when an event needs it, once per request."""

    region: str
    account_id: str | None = None
    read: bool = False

    def get(self) -> str | None:
        if not self.read:
            self.read = True
            try:
                self.account_id = administrator_account_id(self.region)
            except Exception as error:  # noqa: BLE001 - any failure only means "not confirmed as the administrator"
                logger.warning("Ingest could not read the administrator's account id: %s", error)
        return self.account_id


def _not_ahead(value: datetime, name: str, now: datetime) -> None:
    allowed = timedelta(seconds=settings.GUARDWATCH_INGEST_MAX_FUTURE_SECONDS)
    if value > now + allowed:
        ahead = value - now
        raise _Invalid(
            f"{name} {value.isoformat()} is {_duration(ahead)} ahead of GuardWatch's clock (at most "
            f"{settings.GUARDWATCH_INGEST_MAX_FUTURE_SECONDS} s allowed); GuardDuty never publishes a "
            "finding from the future."
        )


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} hours"
    return f"{seconds} s"


def _event_finding(event, *, now: datetime, administrator: _Administrator) -> ParsedFinding:
    """The finding an event carries, once it is shaped, consistent and not from the future (else _Invalid)."""
    if not isinstance(event, dict):
        raise _Invalid("Event is not a JSON object.")
    if event.get("source") != EVENT_SOURCE:
        raise _Invalid(f"source must be {EVENT_SOURCE!r}.")
    if event.get("detail-type") != EVENT_DETAIL_TYPE:
        raise _Invalid(f"detail-type must be {EVENT_DETAIL_TYPE!r}.")
    try:
        finding = parse_eventbridge_event(event)
    except FindingParseError as error:
        raise _Invalid(str(error)) from None
    arn = finding_arn_parts(finding.arn)  # parse_finding has matched it already
    # The finding's own fields against its ARN (the key every write goes by).
    if finding.account_id != arn.account_id:
        raise _Invalid(f"accountId {finding.account_id} does not match the account {arn.account_id} in the ARN.")
    if finding.finding_id != arn.finding_id:
        raise _Invalid(f"id {finding.finding_id} does not match the finding id {arn.finding_id} in the ARN.")
    if finding.detector_id != arn.detector_id:
        raise _Invalid(
            f"service.detectorId {finding.detector_id} does not match the detector {arn.detector_id} in the ARN."
        )
    if finding.partition != arn.partition:
        raise _Invalid(f"partition {finding.partition} does not match the partition {arn.partition} in the ARN.")
    if _partition_of(arn.region) != arn.partition:
        raise _Invalid(f"The ARN's region {arn.region} is not in its partition {arn.partition}.")
    # The envelope: EventBridge publishes a finding in its detector's region (the ARN's), which may differ
    # from the finding's `region` for global-service events (API_Finding: "the Region value in the finding
    # might differ"), so `detail.region` is not compared.
    envelope_region = event.get("region")
    if envelope_region != arn.region:
        raise _Invalid(
            f"The event's region {envelope_region!r} does not match the region {arn.region} in the ARN "
            "(GuardDuty publishes a finding in its detector's region)."
        )
    envelope_account = event.get("account")
    if envelope_account != arn.account_id and envelope_account != administrator.get():
        raise _Invalid(
            f"The event's account {envelope_account!r} is neither the finding's account {arn.account_id} "
            "nor the administrator account."
        )
    # Time: nothing ahead of our clock (a far-future updatedAt would outrank every later version).
    _not_ahead(finding.updated_at, "updatedAt", now)
    _not_ahead(finding.created_at, "createdAt", now)
    _not_ahead(finding.first_seen, "service.eventFirstSeen", now)
    _not_ahead(finding.last_seen, "service.eventLastSeen", now)
    if event.get("time") is not None:
        try:
            _not_ahead(_timestamp(event["time"], "time"), "The event's time", now)
        except FindingParseError as error:
            raise _Invalid(str(error)) from None
    return finding


def _monitored(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (account, region) pairs are members the administrator monitors (GuardDuty status Enabled)."""
    if not pairs:
        return set()
    rows = Membership.objects.filter(
        relationship_status=MONITORED,
        account__account_id__in={account for account, _region in pairs},
        region__in={region for _account, region in pairs},
    ).values_list("account__account_id", "region")
    return set(rows) & pairs


def _refusal(finding: ParsedFinding, key: IngestApiKey | None, monitored, administrator: _Administrator) -> str:
    """Why GuardWatch will not take this finding from this key, or "" when it will."""
    region, account = finding.region, finding.account_id
    if region not in settings.GUARDWATCH_AWS_REGIONS:
        return f"Region {region} is not one GuardWatch syncs ({', '.join(settings.GUARDWATCH_AWS_REGIONS)})."
    if key is not None and not key.allows(region=region, account_id=account):
        return (
            f"This key may not push findings of account {account} in {region} "
            f"(its scope: regions {', '.join(key.regions) or 'all'}; accounts {', '.join(key.accounts) or 'all'})."
        )
    if (account, region) not in monitored and account != administrator.get():
        return (
            f"Account {account} is not a monitored member in {region}, nor the administrator. If it joined "
            "recently, the member sync will add it and the pull sync will bring its findings."
        )
    return ""


def findings_ingest_events(*, events: list, key: IngestApiKey | None = None, now: datetime | None = None) -> UpsertResult:
    """Check every EventBridge event, then store all of them (as hints to confirm), or none if any is refused.

    `key` is the ingest key that presented them (its scope applies); None only for internal callers.
    """
    now = now or timezone.now()
    administrator = _Administrator(region=settings.GUARDWATCH_AWS_REGIONS[0])
    checked: list[tuple[int, ParsedFinding]] = []
    invalid: list[dict] = []
    for index, event in enumerate(events):
        try:
            checked.append((index, _event_finding(event, now=now, administrator=administrator)))
        except _Invalid as problem:
            invalid.append({"index": index, "reason": str(problem)})
    monitored = _monitored({(f.account_id, f.region) for _index, f in checked})
    refused = []
    for index, finding in checked:
        if reason := _refusal(finding, key, monitored, administrator):
            refused.append({"index": index, "reason": reason})
    if invalid or refused:
        FINDINGS_REFUSED.labels(source=WriteSource.PUSH, reason="invalid").inc(len(invalid))
        FINDINGS_REFUSED.labels(source=WriteSource.PUSH, reason="out_of_scope").inc(len(refused))
        errors = sorted(invalid + refused, key=lambda error: error["index"])
        raise IngestRejected(errors, status=400 if invalid else 403)
    findings = [finding for _index, finding in checked]
    result = findings_upsert(findings=findings, source=WriteSource.PUSH, now=now)
    _pushes_note(findings, now=now)
    if result.new or result.updated:  # reports: as a pull sync does, once the findings are committed
        data_version_bump_on_commit(scope="findings")
    transaction.on_commit(_confirm_soon)
    transaction.on_commit(lambda: _push_marks(findings, now))
    return result


def _pushes_note(findings: list[ParsedFinding], *, now: datetime) -> None:
    """The Sync page's "last push" per region: when, and how many findings pushes brought."""
    per_region: dict[str, int] = {}
    for finding in findings:
        per_region[finding.region] = per_region.get(finding.region, 0) + 1
    for region, count in per_region.items():
        if not SyncState.objects.filter(region=region).update(
            last_push_at=now, pushed_findings=F("pushed_findings") + count
        ):
            SyncState.objects.get_or_create(region=region, defaults={"last_push_at": now, "pushed_findings": count})


def _push_marks(findings: list[ParsedFinding], now: datetime) -> None:
    """/metrics: when each region's pushed findings were last stored, and how long after GuardDuty updated them."""
    newest: dict[str, datetime] = {}
    for finding in findings:
        newest[finding.region] = max(newest.get(finding.region, finding.updated_at), finding.updated_at)
    push_marks_put(lag_by_region={region: max(0.0, (now - updated).total_seconds()) for region, updated in newest.items()},
                   at=now)  # fmt: skip


def _confirm_soon() -> None:
    """Queue one confirmation sweep CONFIRM_DELAY_SECONDS from now, unless a push already queued one.

    EventBridge API destinations send one event per request: a GetFindings call per push would spend
    one call per finding. The pushes of a few seconds share one sweep, which asks 50 ids a call. The
    marker expires when the sweep is due, so a push committed while (or after) it reads queues the next.
    """
    try:
        if not shared_cache.add(CONFIRM_QUEUED_MARKER, 1, timeout=CONFIRM_DELAY_SECONDS):
            return
        task_send(CONFIRM_TASK, countdown=CONFIRM_DELAY_SECONDS)
    except Exception:  # noqa: BLE001 - a cache or broker outage must not fail the stored push; beat confirms
        logger.warning("Could not queue the confirmation of pushed findings; the beat sweep will.", exc_info=True)
        with contextlib.suppress(Exception):  # an unreachable cache: the marker expires by itself
            shared_cache.delete(CONFIRM_QUEUED_MARKER)


# --- Confirmation by GuardDuty -----------------------------------------------------------------


@dataclass
class ConfirmResult:
    """One confirmation run: pushed findings asked about, confirmed by GuardDuty, discarded, calls, errors."""

    asked: int = 0
    confirmed: int = 0
    discarded: int = 0
    waiting: int = 0
    calls: int = 0
    errors: list[str] = field(default_factory=list)
    more: bool = False


def findings_push_confirm(*, arns: list[str] | None = None, now: datetime | None = None) -> ConfirmResult:
    """Let GuardDuty answer for pushed findings: GetFindings (50 ids a call) in the administrator's detector
    of each finding's home region, stored as a pull, so GuardDuty's version replaces the pushed values.

    `arns`: only these findings; None sweeps the findings still holding pushed values, longest-waiting first
    (CONFIRM_SWEEP_LIMIT of them; `more` says whether to run again). GuardDuty's
    answer is matched to our rows by ARN, never by id alone (a decoy may copy a real finding's id). A pushed
    finding GuardDuty does not return is deleted once GUARDWATCH_INGEST_CONFIRM_GRACE_MINUTES have passed
    since it was pushed (before that it may simply not be visible yet). Failures are logged and returned;
    the rows stay pushed and the next sweep retries. Safe to run twice.
    """
    now = now or timezone.now()
    result = ConfirmResult()
    pending = Finding.objects.filter(source=WriteSource.PUSH).order_by("last_synced_at", "id")
    rows: list[tuple[int, str, str, str, datetime]] = []
    if arns is None:
        rows = list(pending.values_list("id", "arn", "finding_id", "region", "last_synced_at")[:CONFIRM_SWEEP_LIMIT])
    else:
        for start in range(0, len(arns), CONFIRM_SWEEP_LIMIT):
            chunk = arns[start : start + CONFIRM_SWEEP_LIMIT]
            rows.extend(pending.filter(arn__in=chunk).values_list("id", "arn", "finding_id", "region", "last_synced_at"))
    result.asked = len(rows)
    limited = arns is None and len(rows) == CONFIRM_SWEEP_LIMIT
    by_region: dict[str, list[tuple[int, str, str, datetime]]] = defaultdict(list)
    for pk, arn, finding_id, region, pushed_at in rows:
        by_region[region].append((pk, arn, finding_id, pushed_at))
    cutoff = now - timedelta(minutes=settings.GUARDWATCH_INGEST_CONFIRM_GRACE_MINUTES)
    for region, region_rows in sorted(by_region.items()):
        try:
            answered = _guardduty_answer(region, sorted({row[2] for row in region_rows}), result)
        except (ClientError, BotoCoreError, gateway.DetectorNotFound) as error:
            message = error_describe(error)
            result.errors.append(f"{region}: {message}")
            logger.warning("Confirming pushed findings in %s failed: %s", region, message)
            continue
        stored = findings_upsert(findings=list(answered.values()), source=WriteSource.PULL, now=now)
        if stored.new or stored.updated:
            data_version_bump_on_commit(scope="findings")
        unknown = [(pk, arn) for pk, arn, _id, pushed_at in region_rows if arn not in answered and pushed_at <= cutoff]
        result.confirmed += sum(1 for row in region_rows if row[1] in answered)
        result.waiting += sum(1 for pk, arn, _id, pushed_at in region_rows if arn not in answered and pushed_at > cutoff)
        if unknown:
            result.discarded += _discard(unknown, region=region, cutoff=cutoff)
    result.more = limited and (result.confirmed + result.discarded) > 0  # progress made, and more may wait
    return result


def _guardduty_answer(region: str, finding_ids: list[str], result: ConfirmResult) -> dict[str, ParsedFinding]:
    """GuardDuty's findings for these ids in `region`, by ARN."""
    state, _ = SyncState.objects.get_or_create(region=region)
    detector_id_known(state)
    answered: dict[str, ParsedFinding] = {}
    for findings in gateway.findings_get(region=region, detector_id=state.detector_id, finding_ids=finding_ids):
        result.calls += 1
        answered.update((parsed.arn, parsed) for parsed in findings_parse_skipping(findings, what="Confirmation"))
    return answered


@transaction.atomic
def _discard(unknown: list[tuple[int, str]], *, region: str, cutoff: datetime) -> int:
    """Delete pushed findings GuardDuty does not have (only if no newer push or a pull touched them since)."""
    gone = Finding.objects.filter(
        pk__in=[pk for pk, _arn in unknown], source=WriteSource.PUSH, last_synced_at__lte=cutoff
    )
    arns = sorted(gone.values_list("arn", flat=True))
    if not arns:
        return 0
    gone.delete()
    audit_record(
        actor=None,
        verb="findings.push_discarded",
        target=("findings", region, f"Pushed findings in {region}"),
        details={"count": len(arns), "arns": arns[:100], "reason": "GuardDuty's GetFindings does not know them"},
    )
    data_version_bump_on_commit(scope="findings")
    return len(arns)
