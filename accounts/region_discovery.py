"""Region discovery: which regions are enabled for the administrator account, and where it has a detector.

Coverage counts every enabled region, not only the configured ones (GUARDWATCH_AWS_REGIONS): a single
configured region must not read 100 % while GuardDuty is off in the other regions the account runs in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from accounts import gateway
from accounts.gateway import GatewayError
from accounts.models import RegionState
from accounts.services import configured_regions
from guardwatch.core.data_version import data_version_bump_on_commit


@dataclass
class RegionDiscovery:
    """What a discovery run found: enabled regions, those not configured, and per-region read errors."""

    enabled: list[str] = field(default_factory=list)
    unmanaged: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    error: str = ""


def enabled_regions_discover() -> RegionDiscovery:
    """Read the enabled regions (EC2 DescribeRegions) and the administrator's detector in those GuardWatch does
    not manage (ListDetectors); record both on RegionState. Idempotent."""
    configured = configured_regions()
    found = RegionDiscovery()
    try:
        found.enabled = gateway.enabled_regions(region=configured[0])
    except GatewayError as error:
        found.error = error.message
        return found
    found.unmanaged = [region for region in found.enabled if region not in configured]
    detectors: dict[str, str] = {}
    for region in found.unmanaged:
        try:
            detectors[region] = gateway.detector_id_find(region=region) or ""
        except GatewayError as error:
            found.errors[region] = error.message
    now = timezone.now()
    with transaction.atomic():
        for region in found.enabled:
            defaults = {"account_enabled": True, "discovered_at": now}
            if region in detectors:
                defaults["detector_id"] = detectors[region]
            if region in found.errors:
                defaults.update(last_error=found.errors[region], last_error_at=now)
            RegionState.objects.update_or_create(region=region, defaults=defaults)
        RegionState.objects.exclude(region__in=found.enabled).update(account_enabled=False, discovered_at=now)
        data_version_bump_on_commit()  # reports: coverage counts these regions
    return found
