"""Protection plans' additional configuration (Runtime Monitoring's automated agents) is read and shown."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from accounts.member_sync import members_sync_region
from accounts.models import MemberProtection
from accounts.protection import member_protection_sync_region
from tests.findings.simulated import MEMBERS, estate

REGION = "us-east-1"
AGENTS = {"EKS_ADDON_MANAGEMENT": "ENABLED", "ECS_FARGATE_AGENT_MANAGEMENT": "DISABLED",
          "EC2_AGENT_MANAGEMENT": "ENABLED"}


@pytest.fixture
def synced(simulator, settings):
    settings.GUARDWATCH_AWS_REGIONS = [REGION]
    estate(simulator, [REGION], per_region=0)
    detector = simulator.scope(MEMBERS[0], REGION).detector
    detector.features = {**detector.features, "RUNTIME_MONITORING": "ENABLED"}
    detector.additional = dict(AGENTS)
    members_sync_region(region=REGION)
    member_protection_sync_region(region=REGION)
    return MEMBERS[0]


@pytest.mark.django_db
def test_the_sync_keeps_each_plans_additional_configuration_as_guardduty_reports_it(synced):
    stored = MemberProtection.objects.get(membership__account__account_id=synced)

    assert stored.runtime_monitoring == "ENABLED"
    assert stored.additional_configuration["RUNTIME_MONITORING"] == AGENTS


@pytest.mark.django_db
def test_the_account_page_shows_runtime_monitorings_automated_agents_per_region(synced, client_for):
    html = client_for("admin").get(f"/accounts/{synced}/").content.decode()

    table = html.split('data-testid="protection-plans"')[1].split("</table>")[0]
    runtime = table.split('data-plan="Runtime"')[1].split("</ul>")[0]
    for name, status in AGENTS.items():
        assert re.search(rf'data-additional="{name}">[^<]*<span class="muted mono">{name}</span>: '
                         rf'<span class="badge [^"]+">{status}</span>', runtime), name
    assert "Automated agent for AWS Fargate (ECS)" in runtime


def test_a_configuration_guardduty_adds_later_is_shown_by_its_name():
    protection = MemberProtection(runtime_monitoring="ENABLED", checked_at=timezone.now(), additional_configuration={
        "RUNTIME_MONITORING": {"EKS_ADDON_MANAGEMENT": "ENABLED"},
        "EKS_RUNTIME_MONITORING": {"EKS_ADDON_MANAGEMENT": "DISABLED", "NEW_AGENT_MANAGEMENT": "ENABLED"},
        "RDS_LOGIN_EVENTS": {"RDS_DATA_RISK": "DISABLED"}})

    rows = {row.label: row for row in protection.plan_rows}

    assert rows["Runtime"].additional == [
        ("Automated agent for Amazon EKS", "EKS_ADDON_MANAGEMENT", "ENABLED"),  # RUNTIME_MONITORING's wins
        ("NEW_AGENT_MANAGEMENT", "NEW_AGENT_MANAGEMENT", "ENABLED")]
    assert rows["RDS"].additional == [("RDS data risk", "RDS_DATA_RISK", "DISABLED")]
    assert rows["RDS"].status == ""
