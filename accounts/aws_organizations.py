"""AWS Organizations: the organisation's accounts as GuardDuty sees them, adding them as members, auto-enable."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import gateway
from accounts.gateway import GatewayError
from accounts.models import (
    MemberAccount,
    MemberOperation,
    Membership,
)
from accounts.operations import member_operation_start
from accounts.services import administrator_account_id, administrator_detector, configured_regions
from guardwatch.core.services import actor_user, audit_record

Action = MemberOperation.Action

# --- AWS Organizations ---------------------------------------------------------------------------------


@dataclass
class OrganizationView:
    """What Organizations mode shows: per-region configuration and the accounts not yet members."""

    configurations: dict[str, gateway.OrganizationConfiguration | str] = field(default_factory=dict)
    candidates: list[gateway.OrganizationAccount] = field(default_factory=list)
    error: str = ""


def organization_view_load() -> OrganizationView:
    """Read the organization (ListAccounts) and each region's configuration; errors are shown, not raised."""
    view = OrganizationView()
    regions = configured_regions()
    try:
        accounts = gateway.organization_accounts_list(region=regions[0])
    except GatewayError as error:
        view.error = error.message
        return view
    administrator = None
    with contextlib.suppress(GatewayError):
        administrator = administrator_account_id(regions[0])
    monitored = set(
        Membership.objects.exclude(relationship_status="").values_list("account__account_id", flat=True).distinct()
    )
    view.candidates = [a for a in accounts if a.account_id not in monitored and a.account_id != administrator]
    for region in regions:
        try:
            detector_id = administrator_detector(region, create=False)
            view.configurations[region] = gateway.organization_configuration_get(region=region, detector_id=detector_id)
        except GatewayError as error:
            view.configurations[region] = error.message
    return view


def organization_members_add(
    *, accounts: Sequence[gateway.OrganizationAccount], regions: Sequence[str], actor
) -> MemberOperation:
    """Add organization accounts as members (no invitation), as the delegated administrator."""
    with transaction.atomic():
        rows = []
        for org_account in accounts:
            account = MemberAccount.objects.filter(account_id=org_account.account_id).first()
            if account is None:
                account = MemberAccount.objects.create(
                    account_id=org_account.account_id, email=org_account.email[:64], display_name=org_account.name[:128],
                    source=MemberAccount.Source.ORGANIZATIONS, created_by=actor_user(actor),
                )  # fmt: skip
                audit_record(actor=actor, verb="member.create", target=account, details={"source": "organizations"})
            rows.append(account)
        return member_operation_start(action=Action.ORG_ADD, accounts=rows, regions=regions, actor=actor)


def organization_auto_enable_set(*, region: str, value: str, actor) -> None:
    """Change AutoEnableOrganizationMembers (NEW, ALL or NONE) in one region."""
    if value not in ("NEW", "ALL", "NONE"):
        raise ValidationError("AutoEnableOrganizationMembers must be NEW, ALL or NONE.")
    detector_id = administrator_detector(region, create=False)
    gateway.organization_configuration_update(region=region, detector_id=detector_id, auto_enable_members=value)
    audit_record(actor=actor, verb="organization.auto_enable", target=("region", region, f"Organization in {region}"),
                 details={"auto_enable_members": value})  # fmt: skip
