"""A member that resigns: GuardDuty's signal is its relationship status, which the member sync turns into an alert.

GuardDuty raises no finding when a member disassociates itself (no such type in the User Guide's finding-type
lists); the simulator once invented one (`Stealth:IAMUser/GuardDutyMemberResigned`). Nothing may depend on it.
"""

from __future__ import annotations

import pytest

from accounts import member_sync
from findings.models import Finding
from findings.sync import findings_sync_region
from guardwatch.core.models import Alert

from .helpers import ADMIN, accounts_make, detectors

pytestmark = pytest.mark.django_db
REGION = "eu-west-1"


@pytest.fixture
def regions(settings):
    settings.GUARDWATCH_AWS_REGIONS = [REGION]
    return settings.GUARDWATCH_AWS_REGIONS


def test_a_resigned_member_raises_the_alert_from_its_status_and_no_finding_arrives(simulator, regions):
    from guardwatch.aws import guardduty

    (account,) = accounts_make(1, simulator=simulator)
    detectors(simulator, regions)
    client = guardduty(REGION)
    detector = simulator.detector_id(ADMIN, REGION)
    client.create_members(DetectorId=detector, AccountDetails=[{"AccountId": account.account_id,
                                                                "Email": account.email}])
    client.invite_members(DetectorId=detector, AccountIds=[account.account_id], DisableEmailNotification=True)
    simulator.accept_invitation(account.account_id, REGION, ADMIN)
    member_sync.members_sync_region(region=REGION)
    findings_sync_region(region=REGION)

    simulator.resign(account.account_id, REGION)
    member_sync.members_sync_region(region=REGION)
    findings_sync_region(region=REGION)

    alert = Alert.objects.get()
    assert alert.kind == "member.Resigned"
    assert account.account_id in alert.title and REGION in alert.title
    assert client.get_members(DetectorId=detector, AccountIds=[account.account_id])["Members"][0][
        "RelationshipStatus"] == "Resigned"
    assert not Finding.objects.filter(account_id=ADMIN).exists()
    assert not Finding.objects.filter(type__contains="Resigned").exists()
