"""Building known report data directly in the database (the reports only read it)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from django.utils import timezone

from accounts.models import MemberAccount, MemberProtection, Membership, RegionState
from accounts.services import account_regions_refresh
from findings.models import Finding, FindingEvent, SyncState
from findings.sla import report_marks

REGIONS = ["us-east-1", "eu-west-1"]
SEVERITY = {"low": 2.0, "medium": 5.0, "high": 8.0, "critical": 9.5}
_ids = itertools.count(1)


def member(account_id: str, name: str = "", **statuses: str) -> MemberAccount:
    """An account with a membership per region given as `us_east_1="Enabled"`."""
    account = MemberAccount.objects.create(account_id=account_id, email=f"root+{account_id}@example.com",
                                           display_name=name)  # fmt: skip
    for key, status in statuses.items():
        Membership.objects.create(account=account, region=key.replace("_", "-"), relationship_status=status,
                                  updated_at=timezone.now() - timedelta(days=1))  # fmt: skip
    account_regions_refresh([account.pk])  # what every writer of statuses does
    account.refresh_from_db()
    return account


def membership(account: MemberAccount, region: str) -> Membership:
    return Membership.objects.get(account=account, region=region)


def detectors(*regions: str, missing: tuple[str, ...] = ()) -> None:
    """The administrator's detector known in `regions`; a member sync found none in `missing`."""
    now = timezone.now()
    for region in regions:
        RegionState.objects.create(region=region, detector_id=f"det-{region}", last_synced_at=now)
    for region in missing:
        RegionState.objects.create(
            region=region, detector_id="", last_error="GuardDuty is not enabled", last_error_at=now
        )


def protection(m: Membership, **off: bool) -> MemberProtection:
    """Protection plans of a membership: every plan ENABLED except those passed as `s3_data_events=False`."""
    plans = {name: "DISABLED" if off.get(name) is False else "ENABLED" for name in (
        "s3_data_events", "eks_audit_logs", "runtime_monitoring", "ebs_malware_protection", "rds_login_events",
        "lambda_network_logs")}  # fmt: skip
    return MemberProtection.objects.create(
        membership=m,
        checked_at=timezone.now(),
        plans_off=sum(v == "DISABLED" for v in plans.values()),
        **plans,
    )


def finding(
    *,
    created: datetime,
    band: str = "medium",
    status: str = "new",
    account_id: str = "222222222222",
    region: str = "us-east-1",
    type: str = "Recon:EC2/PortProbeUnprotectedPort",  # noqa: A002 - GuardDuty's word
    resource_id: str = "i-0123456789abcdef0",
) -> Finding:
    n = next(_ids)
    return Finding.objects.create(
        arn=f"arn:aws:guardduty:{region}:{account_id}:detector/d/finding/f{n}",
        finding_id=f"f{n}", detector_id="d", account_id=account_id, region=region, type=type,
        threat_purpose=type.split(":")[0], severity=SEVERITY[band], severity_band=band, title=f"Finding {n}",
        resource_type="Instance", resource_id=resource_id, created_at=created, updated_at=created,
        first_seen=created, last_seen=created, raw={}, first_synced_at=created, last_synced_at=created,
        source="pull", status=status,
    )  # fmt: skip


def moved(f: Finding, *, to: str, at: datetime, from_status: str | None = None) -> FindingEvent:
    """A status change on the finding's timeline (and the finding's status with it)."""
    event = FindingEvent.objects.create(finding=f, kind="status", created_at=at, from_status=from_status or f.status,
                                        to_status=to, actor_name="analyst")  # fmt: skip
    # The finding as triage.findings_status_set leaves it, first acknowledged / resolved stamps included.
    Finding.objects.filter(pk=f.pk).update(status=to, status_changed_at=at, **report_marks(status=to, now=at))
    f.status = to
    return event


def synced(region: str, *, at: datetime, failed_at: datetime | None = None, error: str = "") -> SyncState:
    return SyncState.objects.create(
        region=region, last_success_at=at, last_failure_at=failed_at, last_error=error
    )
