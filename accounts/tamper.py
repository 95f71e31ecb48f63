"""Tamper alarms: CloudTrail's records of GuardDuty calls that weaken monitoring, received through EventBridge.

EventBridge delivers CloudTrail management events of GuardDuty's write calls with detail-type "AWS API
Call via CloudTrail" (EventBridge User Guide, "Events delivered via AWS CloudTrail"; read-only calls are
not delivered) on the same ingest endpoint as findings, with the same API key. docs/tamper-alarms.md
gives the rule pattern, and the forwarding every member account needs: a call lands on the event bus of
the account that made it.

Each watched call raises an alert within the request that delivers it (high; medium for a call that
failed, which CloudTrail records with an errorCode), naming who (the principal, its source identity and
address), where (account, region) and what, linked to the account. Calls GuardWatch made itself (its
administrator principal, or its member role with a source identity: guardwatch.aws assumes every role
with one) are recorded in the audit log instead: a member stopped or a filter created from GuardWatch
is no alarm, the same call by anyone else is.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.services import administrator_principal
from guardwatch.core.services import alert_raise, audit_record

logger = logging.getLogger(__name__)

DETAIL_TYPE = "AWS API Call via CloudTrail"
EVENT_SOURCE = "guardduty.amazonaws.com"
_ACCOUNT_ID = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")

# eventName -> what the call does, in words. Monitoring stopped or removed, detection weakened (trusted IPs
# are never alerted on; threat lists change what is detected), findings hidden (filters) or exported elsewhere.
WATCHED = {
    "DisassociateFromAdministratorAccount": "left the administrator (the member disassociated itself)",
    "DisassociateFromMasterAccount": "left the administrator (the member disassociated itself)",
    "DisassociateMembers": "disassociated member accounts",
    "StopMonitoringMembers": "stopped monitoring member accounts",
    "DeleteMembers": "deleted member accounts",
    "DeleteDetector": "deleted the GuardDuty detector",
    "UpdateDetector": "turned GuardDuty or a protection plan off",
    "UpdateMemberDetectors": "turned protection plans off for member accounts",
    "CreateIPSet": "added a trusted IP list (no findings for those addresses)",
    "UpdateIPSet": "changed a trusted IP list",
    "DeleteIPSet": "deleted a trusted IP list",
    "CreateTrustedEntitySet": "added a trusted entity list (no findings for those entities)",
    "UpdateTrustedEntitySet": "changed a trusted entity list",
    "DeleteTrustedEntitySet": "deleted a trusted entity list",
    "CreateThreatIntelSet": "added a threat list",
    "UpdateThreatIntelSet": "changed a threat list",
    "DeleteThreatIntelSet": "deleted a threat list",
    "CreateThreatEntitySet": "added a threat entity list",
    "UpdateThreatEntitySet": "changed a threat entity list",
    "DeleteThreatEntitySet": "deleted a threat entity list",
    "CreateFilter": "created a filter GuardWatch did not create (it may archive findings automatically)",
    "UpdateFilter": "changed a filter GuardWatch did not create",
    "DeleteFilter": "deleted a filter GuardWatch did not create",
    "CreatePublishingDestination": "added a findings export destination",
    "UpdatePublishingDestination": "changed the findings export destination",
    "DeletePublishingDestination": "deleted the findings export destination",
}
class TamperRejected(Exception):
    """Events that cannot be read; nothing was recorded. `errors` holds one reason per bad event index."""

    def __init__(self, errors: list[dict], *, status: int = 400):
        super().__init__(f"{len(errors)} event(s) rejected")
        self.errors, self.status = errors, status


@dataclass
class TamperEvent:
    """What the alarm needs of one CloudTrail record."""

    event_id: str
    event_name: str
    account_id: str  # where the call was made (recipientAccountId)
    region: str
    principal: str
    source_identity: str
    source_ip: str
    user_agent: str
    error_code: str
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def affected_accounts(self) -> list[str]:
        """The member accounts a call names (accountIds), else the account that made it."""
        named = self.parameters.get("accountIds")
        if isinstance(named, list):
            accounts = [a for a in named if isinstance(a, str) and _ACCOUNT_ID.fullmatch(a)]
            if accounts:
                return accounts
        return [self.account_id]


@dataclass
class TamperResult:
    received: int = 0
    alerts: int = 0
    recorded: int = 0  # GuardWatch's own calls
    ignored: int = 0  # calls that do not weaken monitoring (an UpdateDetector turning a plan on, say)


def is_cloudtrail_event(event: Any) -> bool:
    return isinstance(event, dict) and event.get("detail-type") == DETAIL_TYPE


def _text(value: Any, limit: int = 512) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _read(event: Any) -> TamperEvent:
    if not is_cloudtrail_event(event):
        raise ValueError(f'detail-type must be "{DETAIL_TYPE}".')
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise ValueError("detail must be the CloudTrail record (an object).")
    if detail.get("eventSource") != EVENT_SOURCE:
        raise ValueError(f'detail.eventSource must be "{EVENT_SOURCE}": only GuardDuty calls are watched.')
    account = detail.get("recipientAccountId") or event.get("account")
    if not isinstance(account, str) or not _ACCOUNT_ID.fullmatch(account):
        raise ValueError("detail.recipientAccountId must be a 12-digit account id.")
    region = detail.get("awsRegion") or event.get("region")
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        raise ValueError("detail.awsRegion must be an AWS region name.")
    name = detail.get("eventName")
    if not isinstance(name, str) or not name:
        raise ValueError("detail.eventName is missing.")
    identity = detail.get("userIdentity") if isinstance(detail.get("userIdentity"), dict) else {}
    session = identity.get("sessionContext") if isinstance(identity.get("sessionContext"), dict) else {}
    parameters = detail.get("requestParameters") if isinstance(detail.get("requestParameters"), dict) else {}
    return TamperEvent(
        event_id=_text(detail.get("eventID"), 64) or _text(event.get("id"), 64),
        event_name=name[:128], account_id=account, region=region,
        principal=_text(identity.get("arn")) or _text(identity.get("type"), 64) or "unknown principal",
        source_identity=_text(session.get("sourceIdentity"), 256), source_ip=_text(detail.get("sourceIPAddress"), 64),
        user_agent=_text(detail.get("userAgent"), 256), error_code=_text(detail.get("errorCode"), 128),
        parameters=parameters,
    )  # fmt: skip


def _weakens(event: TamperEvent) -> bool:
    """Whether a watched call weakens monitoring (updates that turn things on do not)."""
    if event.event_name not in WATCHED:
        return False
    if event.event_name in ("UpdateDetector", "UpdateMemberDetectors"):
        params = event.parameters
        if params.get("enable") is False:
            return True
        features = params.get("features") if isinstance(params.get("features"), list) else []
        if any(isinstance(f, dict) and f.get("status") == "DISABLED" for f in features):
            return True
        return '"enable": false' in _sources_text(params.get("dataSources"))
    return True


def _sources_text(value: Any) -> str:
    import json

    try:
        return json.dumps(value).lower() if value else ""
    except (TypeError, ValueError):
        return ""


def _principal(arn: str) -> str:
    """The principal behind a CloudTrail or STS ARN, without a role session's name (each session has its own)."""
    if ":assumed-role/" in arn:
        head, tail = arn.split(":assumed-role/", 1)
        return f"{head.rsplit(':', 1)[-1]}:role/{tail.split('/', 1)[0]}"  # account:role/RoleName
    return arn.split(":", 4)[-1] if arn.startswith("arn:") else arn


def _own(event: TamperEvent) -> bool:
    """GuardWatch made this call itself: through its administrator credentials (the principal STS
    GetCallerIdentity names, cached per process), or through the member role it assumes (always with a
    source identity). When the administrator's identity cannot be read, nothing is taken as GuardWatch's:
    a false alarm is better than a missed one."""
    principal = _principal(event.principal)
    member_role = settings.GUARDWATCH_MEMBER_ROLE_NAME
    if member_role and event.source_identity and principal.endswith(f":role/{member_role}"):
        return True
    try:
        return principal == _principal(administrator_principal(event.region))
    except Exception as error:  # AWS unreachable: alarm rather than guess
        logger.warning("Tamper alarms: GuardWatch's own identity could not be read (%s); alarming.", error)
        return False


def cloudtrail_events_ingest(*, events: list, key=None) -> TamperResult:
    """Read every event first (TamperRejected if any cannot be read, nothing recorded), then alarm or record.

    `key` is the ingest key that delivered them: its region and account scope applies, as to findings.
    """
    read: list[TamperEvent] = []
    invalid, refused = [], []
    for index, event in enumerate(events):
        try:
            tamper = _read(event)
        except ValueError as problem:
            invalid.append({"index": index, "reason": str(problem)})
            continue
        if key is not None and key.regions and tamper.region not in key.regions:
            refused.append({"index": index, "reason": f"This key does not accept events of {tamper.region}."})
        elif key is not None and key.accounts and tamper.account_id not in key.accounts:
            refused.append({"index": index, "reason": f"This key does not accept events of account {tamper.account_id}."})
        else:
            read.append(tamper)
    if invalid or refused:
        raise TamperRejected(sorted(invalid + refused, key=lambda e: e["index"]), status=400 if invalid else 403)
    result = TamperResult(received=len(read))
    with transaction.atomic():
        for event in read:
            if not _weakens(event):
                result.ignored += 1
            elif _own(event):
                result.recorded += 1
                audit_record(actor=None, verb="tamper.own_call", target=("accounts.memberaccount", event.account_id,
                             f"{event.account_id} in {event.region}"),
                             details={"event": event.event_name, "region": event.region, "principal": event.principal,
                                      "accounts": event.affected_accounts, "event_id": event.event_id})  # fmt: skip
            else:
                result.alerts += 1
                _alarm(event)
    return result


def _alarm(event: TamperEvent) -> None:
    what = WATCHED[event.event_name]
    attempted = f" (attempted: {event.error_code})" if event.error_code else ""
    accounts = event.affected_accounts
    who = event.principal + (f" as {event.source_identity}" if event.source_identity else "")
    message = (
        f"{event.event_name} in account {event.account_id}, {event.region}{attempted}: {what}. "
        f"Who: {who}, from {event.source_ip or 'an unknown address'} ({event.user_agent or 'unknown client'}). "
        f"Accounts affected: {', '.join(accounts)}. CloudTrail event {event.event_id}. "
        "If nobody in the security team did this, treat it as an attempt to blind GuardDuty."
    )
    for account in accounts:
        alert_raise(
            kind="accounts.tamper",
            severity="medium" if event.error_code else "high",
            title=f"{event.event_name} by {who[:120]} in {event.region}{attempted}",
            message=message,
            target=("accounts.memberaccount", account, f"{account} in {event.region}"),
            dedupe_key=f"tamper:{event.event_id}:{account}",
        )
    logger.warning("Tamper alarm: %s by %s in %s/%s.", event.event_name, event.principal, event.account_id, event.region)
