"""AWS Organizations: the organisation's accounts as GuardDuty sees them, adding them as members, auto-enable.

The Organization page never calls AWS on a GET: it shows the snapshot `organization_snapshot_refresh` (a Celery
task, queued by beat and by the page's Refresh button) keeps in the cache, with the time it was read.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import gateway
from accounts.gateway import GatewayError
from accounts.models import (
    MemberAccount,
    MemberOperation,
    RegionState,
)
from accounts.operations import member_operation_start
from accounts.services import NoDetector, administrator_account_id, administrator_detector, configured_regions
from guardwatch.core.queue import task_send_on_commit
from guardwatch.core.services import actor_user, audit_record

Action = MemberOperation.Action
logger = logging.getLogger(__name__)

SNAPSHOT_KEY = "accounts:organization:snapshot:v1"
REQUESTED_KEY = "accounts:organization:requested:v1"
SNAPSHOT_SECONDS = 7 * 24 * 3600  # beat refreshes it far sooner; a stale one is shown with its age
REFRESH_TASK = "accounts.tasks.organization_refresh"
AUTO_ENABLE_VALUES = ("NEW", "ALL", "NONE")


@dataclass
class OrganizationSnapshot:
    """What Organizations mode showed when it was last read from AWS: the organization's accounts and each
    region's configuration (or, per region, why it could not be read)."""

    read_at: datetime
    error: str = ""
    administrator_id: str = ""
    management_account_id: str = ""
    accounts: list[gateway.OrganizationAccount] = field(default_factory=list)
    # Each account's parent in the organization (OU or root id), for coverage policies scoped to an OU; empty when
    # the tree could not be read (the accounts' last known OU is kept).
    parents: dict[str, str] = field(default_factory=dict)
    configurations: dict[str, gateway.OrganizationConfiguration | str] = field(default_factory=dict)


def not_delegated_message(region: str, administrator_id: str) -> str:
    """What to do when GuardDuty says the administrator is not the organization's delegated administrator."""
    who = f"account {administrator_id}" if administrator_id else "GuardWatch's administrator account"
    return (
        f"GuardDuty does not treat {who} as the organization's delegated administrator in {region}. The "
        f"organization's management account designates it there: GuardDuty console → Settings → Delegated "
        f"administrator, or `aws guardduty enable-organization-admin-account --admin-account-id "
        f"{administrator_id or '<account id>'} --region {region}` as the management account. Until then, add "
        "members by invitation."
    )


def _explain(error: GatewayError, region: str, administrator_id: str) -> str:
    if isinstance(error, NoDetector):
        return (
            f"GuardDuty is not enabled for the administrator in {region} (no detector), so it is not the delegated "
            f"administrator there. Designating it as the management account enables GuardDuty for it: "
            f"`aws guardduty enable-organization-admin-account --admin-account-id {administrator_id or '<account id>'} "
            f"--region {region}`."
        )
    text = error.message.lower()
    if "delegated administrator" in text or "organization master permission" in text:
        return not_delegated_message(region, administrator_id)
    if "not a member of an organization" in text or error.code == "AWSOrganizationsNotInUseException":
        return (
            "The administrator account is not a member of an organization in AWS Organizations, so Organizations "
            "mode does not apply: add members by invitation from the accounts page."
        )
    return error.message


def organization_snapshot_refresh(*, actor=None) -> OrganizationSnapshot:
    """Read the organization (ListAccounts, DescribeOrganization) and each region's configuration, keep them in
    the cache, and record what the member rules depend on (auto-enable per region, organization accounts)."""
    regions = configured_regions()
    home = regions[0]
    snapshot = OrganizationSnapshot(read_at=timezone.now())
    try:
        snapshot.administrator_id = administrator_account_id(home)
    except GatewayError as error:
        snapshot.error = error.message
    if not snapshot.error:
        try:
            snapshot.accounts = gateway.organization_accounts_list(region=home)
            snapshot.management_account_id = gateway.organization_management_account_id(region=home)
        except GatewayError as error:
            snapshot.error = _explain(error, home, snapshot.administrator_id)
    if not snapshot.error:
        try:
            snapshot.parents, _calls = gateway.organization_parents(region=home)
        except GatewayError as error:
            logger.warning("Could not read the organization's OUs: %s", error.message)
    if not snapshot.error:
        for region in regions:
            try:
                detector_id = administrator_detector(region, create=False)
                snapshot.configurations[region] = gateway.organization_configuration_get(
                    region=region, detector_id=detector_id
                )
            except GatewayError as error:
                snapshot.configurations[region] = _explain(error, region, snapshot.administrator_id)
    _record(snapshot, regions)
    cache.set(SNAPSHOT_KEY, snapshot, SNAPSHOT_SECONDS)
    return snapshot


def _record(snapshot: OrganizationSnapshot, regions: Sequence[str]) -> None:
    """Keep in the database what Organizations-mode rules need when the cache is gone."""
    with transaction.atomic():
        for region in regions:
            config = snapshot.configurations.get(region)
            if isinstance(config, gateway.OrganizationConfiguration):
                value = config.auto_enable_members
            elif isinstance(config, str) and config.startswith("GuardDuty does not treat"):
                value = ""  # not the delegated administrator there: no organization rule applies
            else:
                continue  # unread (a passing failure): keep what was known, so ALL is not forgotten
            RegionState.objects.update_or_create(region=region, defaults={"org_auto_enable_members": value})
        if snapshot.error:
            return
        ids = [a.account_id for a in snapshot.accounts]
        MemberAccount.objects.filter(account_id__in=ids, in_organization=False).update(in_organization=True)
        MemberAccount.objects.exclude(account_id__in=ids).filter(in_organization=True).update(in_organization=False)
        if snapshot.parents:
            moved = [
                account
                for account in MemberAccount.objects.filter(account_id__in=list(snapshot.parents)).only(
                    "pk", "account_id", "organizational_unit")
                if account.organizational_unit != snapshot.parents[account.account_id]
            ]  # fmt: skip
            for account in moved:
                account.organizational_unit = snapshot.parents[account.account_id]
            MemberAccount.objects.bulk_update(moved, ["organizational_unit"], batch_size=1000)


def organization_snapshot_get() -> OrganizationSnapshot | None:
    """The last snapshot read, or None (also when another GuardWatch version pickled it: read it again)."""
    try:
        snapshot = cache.get(SNAPSHOT_KEY)
    except (ImportError, AttributeError, TypeError, ValueError, EOFError, pickle.UnpicklingError):
        logger.warning("Dropping an Organization snapshot written by another version of GuardWatch", exc_info=True)
        cache.delete(SNAPSHOT_KEY)
        return None
    return snapshot if isinstance(snapshot, OrganizationSnapshot) else None


def organization_refresh_requested_at() -> datetime | None:
    return cache.get(REQUESTED_KEY)


def organization_refresh_request(*, actor=None) -> None:
    """Queue a read of the organization from AWS (after commit); the page polls until it lands."""
    cache.set(REQUESTED_KEY, timezone.now(), SNAPSHOT_SECONDS)
    task_send_on_commit(REFRESH_TASK, actor_user(actor).pk if actor_user(actor) else None)


def organization_members_add(
    *, accounts: Sequence[gateway.OrganizationAccount], regions: Sequence[str], actor
) -> MemberOperation:
    """Add organization accounts as members (no invitation), as the delegated administrator."""
    inactive = [a.account_id for a in accounts if not a.active]
    if inactive:
        raise ValidationError(f"Only ACTIVE organization accounts can become members; not {', '.join(inactive[:5])}.")
    snapshot = organization_snapshot_get()
    parents = snapshot.parents if snapshot else {}
    with transaction.atomic():
        rows = []
        for org_account in accounts:
            account = MemberAccount.objects.filter(account_id=org_account.account_id).first()
            if account is None:
                account = MemberAccount.objects.create(
                    account_id=org_account.account_id, email=org_account.email[:64], display_name=org_account.name[:128],
                    source=MemberAccount.Source.ORGANIZATIONS, in_organization=True, created_by=actor_user(actor),
                    organizational_unit=parents.get(org_account.account_id, ""),
                )  # fmt: skip
                audit_record(actor=actor, verb="member.create", target=account, details={"source": "organizations"})
            elif not account.in_organization:
                account.in_organization = True
                account.save(update_fields=["in_organization"])
            rows.append(account)
        return member_operation_start(action=Action.ORG_ADD, accounts=rows, regions=regions, actor=actor)


def organization_auto_enable_set(*, region: str, value: str, actor) -> None:
    """Change AutoEnableOrganizationMembers (NEW, ALL or NONE) in one region."""
    if value not in AUTO_ENABLE_VALUES:
        raise ValidationError("Auto-enable must be NEW, ALL or NONE.")
    detector_id = administrator_detector(region, create=False)
    try:
        gateway.organization_configuration_update(region=region, detector_id=detector_id, auto_enable_members=value)
    except GatewayError as error:
        raise GatewayError(region, error.operation, _explain(error, region, _administrator_or_blank(region)),
                           code=error.code) from error  # fmt: skip
    RegionState.objects.filter(region=region).update(org_auto_enable_members=value)
    snapshot = organization_snapshot_get()
    if snapshot and isinstance(snapshot.configurations.get(region), gateway.OrganizationConfiguration):
        old = snapshot.configurations[region]
        snapshot.configurations[region] = gateway.OrganizationConfiguration(
            auto_enable_members=value, member_account_limit_reached=old.member_account_limit_reached,
            features=old.features,
        )  # fmt: skip
        cache.set(SNAPSHOT_KEY, snapshot, SNAPSHOT_SECONDS)
    audit_record(actor=actor, verb="organization.auto_enable", target=("region", region, f"Organization in {region}"),
                 details={"auto_enable_members": value})  # fmt: skip


def _administrator_or_blank(region: str) -> str:
    try:
        return administrator_account_id(region)
    except GatewayError:
        return ""
