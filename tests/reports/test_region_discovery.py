"""Coverage counts every region enabled for the administrator account, not only the configured ones, and the
administrator itself where its detector is (issue 15.3)."""

from __future__ import annotations

import re

import pytest
from moto import mock_aws

from accounts import gateway, region_discovery
from accounts.models import RegionState
from guardwatch import aws
from tests.accounts.helpers import ADMIN
from tests.reports.support import member

pytestmark = pytest.mark.django_db
DEFAULT_REGIONS = 17  # enabled by default in every account (AWS General Reference)


@pytest.fixture
def one_region(simulator, settings):
    """GuardWatch manages us-east-1 only; the administrator also has a detector in eu-west-1."""
    settings.GUARDWATCH_AWS_REGIONS = ["us-east-1"]
    simulator.register_account(ADMIN, "security@example.com")
    for region in ("us-east-1", "eu-west-1"):
        simulator.ensure_detector(ADMIN, region)
    RegionState.objects.create(region="us-east-1", detector_id=simulator.detector_id(ADMIN, "us-east-1"))
    member("200000000001", "prod", us_east_1="Enabled")
    return simulator


def _region_row(html: str, region: str) -> str:
    return re.search(rf'<tr data-region="{region}">.*?</tr>', html, re.S).group(0)


def test_one_configured_region_no_longer_reads_100_percent(one_region, client_for):
    found = region_discovery.enabled_regions_discover()

    html = client_for("manager").get("/accounts/coverage/").content.decode()

    assert found.error == "" and len(found.enabled) == DEFAULT_REGIONS
    assert re.search(r'data-testid="coverage-overall">.*?<p class="big">(\d+\.\d)%', html, re.S).group(1) != "100.0"
    assert ">100.0%<" in _region_row(html, "us-east-1")  # the member and the administrator
    assert "not managed by GuardWatch" in _region_row(html, "ap-south-1")


def test_enabled_regions_without_an_administrator_detector_are_gaps(one_region, client_for):
    region_discovery.enabled_regions_discover()

    html = client_for("manager").get("/accounts/coverage/?gap=no_detector").content.decode()

    gap = re.search(r'<div class="gap-list" id="gap-no_detector".*?</table>', html, re.S).group(0)
    assert "<code>ap-south-1</code>" in gap and "<code>eu-west-1</code>" not in gap  # it has one
    unmanaged = re.search(r'<div class="gap-list" id="gap-unmanaged_regions".*?</table>', html, re.S).group(0)
    assert "<code>eu-west-1</code>" in unmanaged and "administrator detector: yes" in unmanaged
    assert "+ administrator" in _region_row(html, "eu-west-1")


def test_opt_in_regions_count_only_once_enabled(one_region):
    assert "eu-south-2" not in region_discovery.enabled_regions_discover().enabled

    one_region.opted_in_regions[ADMIN] = {"eu-south-2"}
    found = region_discovery.enabled_regions_discover()

    assert "eu-south-2" in found.unmanaged
    assert RegionState.objects.get(region="eu-south-2").account_enabled is True


def test_the_administrator_counts_as_monitored_only_where_its_detector_is(client_for, settings):
    settings.GUARDWATCH_AWS_REGIONS = ["us-east-1", "eu-west-1"]
    member("200000000001", "prod", us_east_1="Enabled", eu_west_1="Enabled")
    RegionState.objects.create(region="us-east-1", detector_id="det-1", last_synced_at="2026-12-01T00:00:00Z")
    RegionState.objects.create(region="eu-west-1", detector_id="", last_error="no detector",
                               last_error_at="2026-12-01T00:00:00Z")  # fmt: skip

    html = client_for("manager").get("/accounts/coverage/").content.decode()

    assert ">100.0%<" in _region_row(html, "us-east-1") and ">50.0%<" in _region_row(html, "eu-west-1")


@mock_aws
def test_moto_lists_disabled_regions_too_and_they_are_left_out(settings, monkeypatch):
    """moto's DescribeRegions answers every region (AWS answers only enabled ones): OptInStatus decides."""
    settings.GUARDWATCH_AWS_ENDPOINT_URL = ""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws.reset_clients()
    try:
        enabled = gateway.enabled_regions(region="us-east-1")
    finally:
        aws.reset_clients()

    assert "us-east-1" in enabled and "ap-east-1" not in enabled  # ap-east-1: "not-opted-in"
