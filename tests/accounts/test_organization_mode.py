"""Organizations mode as the delegated administrator: the page's kept snapshot (issue 22), what AWS refuses
under auto-enable ALL, deleting and re-adding organization members, ACTIVE accounts only, members GuardDuty does
not list yet (issue 15.5), and pages an administrator can act on (issue 16.4)."""

import pytest
from django.core.cache import cache

from accounts import aws_organizations, operations
from accounts.models import MemberAccount, MemberOperation, Membership, RegionState
from guardwatch.core.models import AuditEntry

from .helpers import ADMIN, detectors

pytestmark = pytest.mark.django_db
MANAGEMENT = "999999999999"
WORKLOAD, DATA, SUSPENDED = "222222222222", "333333333333", "444444444444"


@pytest.fixture
def regions(settings):
    settings.GUARDWATCH_AWS_REGIONS = ["us-east-1", "eu-west-1"]
    return settings.GUARDWATCH_AWS_REGIONS


@pytest.fixture(autouse=True)
def _no_kept_snapshot():
    cache.delete_many([aws_organizations.SNAPSHOT_KEY, aws_organizations.REQUESTED_KEY])
    yield
    cache.delete_many([aws_organizations.SNAPSHOT_KEY, aws_organizations.REQUESTED_KEY])


@pytest.fixture
def organization(simulator, regions, monkeypatch):
    """GuardWatch's administrator is the organization's delegated GuardDuty administrator in both regions."""
    simulator.register_account(MANAGEMENT, "root@example.com", name="management")
    simulator.register_account(WORKLOAD, "workload@example.com", name="workload")
    simulator.register_account(DATA, "data@example.com", name="data")
    simulator.register_account(SUSPENDED, "old@example.com", name="old-project")
    simulator.set_organization(MANAGEMENT, [ADMIN, WORKLOAD, DATA, SUSPENDED])
    simulator.accounts[SUSPENDED].state = "SUSPENDED"
    for region in regions:
        simulator.delegated_admins[region] = ADMIN
        simulator.ensure_detector(ADMIN, region)
    monkeypatch.setattr(operations, "MEMBER_APPEAR_WAITS", (0, 0, 0))  # no pause between reads in tests
    return simulator


def run(operation):
    return operations.member_operation_run(operation_id=operation.pk)


def added(organization, regions, admin, *account_ids) -> list[MemberAccount]:
    """The accounts added from the Organization page (snapshot read first, as the page does)."""
    aws_organizations.organization_snapshot_refresh()
    snapshot = aws_organizations.organization_snapshot_get()
    chosen = [a for a in snapshot.accounts if a.account_id in account_ids]
    assert run(aws_organizations.organization_members_add(accounts=chosen, regions=regions, actor=admin)).failed == 0
    return list(MemberAccount.objects.filter(account_id__in=account_ids))


# --- Issue 22: the page shows a kept snapshot; a task reads AWS ---------------------------------------


def test_the_page_shows_the_kept_snapshot_with_its_age_and_calls_no_aws(organization, client_for):
    aws_organizations.organization_snapshot_refresh()
    calls = organization.call_counts["organizations:ListAccounts"]
    admin = client_for("admin")

    html = admin.get("/accounts/organization/").content.decode()
    admin.get("/accounts/organization/")

    assert organization.call_counts["organizations:ListAccounts"] == calls  # no AWS call on a GET
    assert 'data-testid="organization-freshness">Read from AWS' in html
    assert f'data-account="{WORKLOAD}"' in html and 'data-polling="off"' in html
    assert "Refresh</button>" in html


def test_without_a_snapshot_the_page_queues_a_read_and_polls(organization, client_for, django_capture_on_commit_callbacks):
    analyst = client_for("analyst")  # made first: creating a person queues its own callbacks (access caches)
    with django_capture_on_commit_callbacks() as queued:
        html = analyst.get("/accounts/organization/").content.decode()

    assert len(queued) == 1  # the organization_refresh task, sent after commit
    assert "Not read from AWS yet" in html and 'data-polling="on"' in html
    assert organization.call_counts["organizations:ListAccounts"] == 0


def test_a_refresh_that_never_lands_stops_polling_and_says_what_to_check(organization, client_for):
    from datetime import timedelta

    from django.utils import timezone

    cache.set(aws_organizations.REQUESTED_KEY, timezone.now() - timedelta(minutes=5))

    html = client_for("analyst").get("/accounts/organization/").content.decode()

    assert 'data-polling="off"' in html and "check that the Celery worker is running" in html


@pytest.mark.worker
def test_refresh_reads_the_organization_in_the_worker(organization, celery_worker_process, transactional_db, client_for):
    from tests.support.waiting import wait_for

    admin = client_for("admin")
    admin.post("/accounts/organization/refresh/")

    wait_for(lambda: aws_organizations.organization_snapshot_get() is not None, timeout=30,
             what="the worker to read the organization")  # fmt: skip
    html = admin.get("/accounts/organization/").content.decode()
    assert f'data-account="{WORKLOAD}"' in html and 'data-polling="off"' in html


# --- Issue 16.4: errors say what to do, labels are words, only accounts that can be added are offered ----------


def test_not_the_delegated_administrator_explains_how_to_become_it(organization, regions, client_for):
    del organization.delegated_admins["eu-west-1"]
    aws_organizations.organization_snapshot_refresh()

    html = client_for("admin").get("/accounts/organization/").content.decode()

    row = html.split('<tr data-region="eu-west-1">')[1].split("</tr>")[0]
    assert "enable-organization-admin-account --admin-account-id 111111111111 --region eu-west-1" in row
    assert "management account designates it" in row
    assert "AUTOENABLEORGANIZATIONMEMBERS" not in html.upper().replace("AUTO-ENABLE", "")
    assert "Auto-enable for members</th>" in html


def test_without_an_organization_the_page_says_invite_instead(simulator, regions, client_for):
    detectors(simulator, regions)
    aws_organizations.organization_snapshot_refresh()

    html = client_for("analyst").get("/accounts/organization/").content.decode()

    assert "not a member of an organization" in html and "add members by invitation" in html


def test_only_active_accounts_are_offered_and_the_management_account_is_explained(organization, client_for):
    aws_organizations.organization_snapshot_refresh()

    html = client_for("admin").get("/accounts/organization/").content.decode()

    offered = html.split('aria-label="Organization accounts"')[1].split("</table>")[0]
    assert f'value="{WORKLOAD}"' in offered and f'value="{DATA}"' in offered
    assert SUSPENDED not in offered and MANAGEMENT not in offered and ADMIN not in offered
    unavailable = html.split('aria-label="Organization accounts that cannot be added"')[1]
    assert f'data-unavailable="{SUSPENDED}"' in unavailable and "Suspended: only ACTIVE accounts" in unavailable
    assert f'data-unavailable="{MANAGEMENT}"' in unavailable and "must enable GuardDuty itself" in unavailable


def test_a_suspended_account_posted_anyway_is_not_added(organization, client_for):
    aws_organizations.organization_snapshot_refresh()

    response = client_for("admin").post("/accounts/organization/", {"account": [SUSPENDED]})

    assert response.status_code == 302
    assert not MemberAccount.objects.filter(account_id=SUSPENDED).exists()
    assert organization.member_status(ADMIN, SUSPENDED, "us-east-1") is None


def test_organization_accounts_become_members_without_invitation(organization, admin, regions):
    account = added(organization, regions, admin, WORKLOAD)[0]

    assert organization.member_status(ADMIN, WORKLOAD, "eu-west-1") == "Enabled"
    assert account.source == MemberAccount.Source.ORGANIZATIONS and account.in_organization
    assert set(account.memberships.values_list("relationship_status", flat=True)) == {"Enabled"}
    assert organization.outbox == []


def test_changing_auto_enable_says_it_may_take_a_day_and_is_shown_in_words(organization, client_for, monkeypatch):
    aws_organizations.organization_snapshot_refresh()
    admin = client_for("admin")

    response = admin.post("/accounts/organization/auto-enable/", {"region": "eu-west-1", "value": "ALL"}, follow=True)
    monkeypatch.setattr(organization, "member_account_limit", 1)
    aws_organizations.organization_snapshot_refresh()
    html = admin.get("/accounts/organization/").content.decode()

    assert "up to 24 hours" in response.content.decode()
    assert organization.scope(ADMIN, "eu-west-1").organization.auto_enable_members == "ALL"
    row = html.split('<tr data-region="eu-west-1">')[1].split("</tr>")[0]
    assert "All accounts: every account is kept a member" in row and "Limit reached" in row
    assert "up to 24 hours" in html
    assert RegionState.objects.get(region="eu-west-1").org_auto_enable_members == "ALL"
    assert AuditEntry.objects.filter(verb="organization.auto_enable").exists()


# --- Issue 15.5: what AWS refuses in Organizations mode is neither offered nor sent -------------------------


@pytest.mark.parametrize("action", ["stop", "disassociate", "delete"])
def test_under_all_letting_an_organization_member_go_is_refused_with_what_to_do(organization, regions, admin,
                                                                                 client_for, action):
    added(organization, regions, admin, WORKLOAD)
    aws_organizations.organization_auto_enable_set(region="us-east-1", value="ALL", actor=admin)
    before = MemberOperation.objects.count()
    client = client_for("admin")

    response = client.post(f"/accounts/{WORKLOAD}/action/", {"action": action, "region": "us-east-1"}, follow=True)

    html = response.content.decode()
    assert "AutoEnableOrganizationMembers is ALL here" in html and "NEW or NONE" in html
    assert MemberOperation.objects.count() == before  # nothing recorded, nothing sent
    assert organization.member_status(ADMIN, WORKLOAD, "us-east-1") == "Enabled"


def test_under_all_the_account_page_does_not_offer_what_aws_refuses(organization, regions, admin, client_for):
    added(organization, regions, admin, WORKLOAD)
    aws_organizations.organization_auto_enable_set(region="us-east-1", value="ALL", actor=admin)

    html = client_for("admin").get(f"/accounts/{WORKLOAD}/").content.decode()

    held = html.split('<tr data-region="us-east-1">')[1].split("</tr>")[0]
    free = html.split('<tr data-region="eu-west-1">')[1].split("</tr>")[0]
    assert 'value="stop"' not in held and 'value="disassociate"' not in held and 'value="delete"' not in held
    assert 'value="stop"' in free and 'value="disassociate"' in free
    assert 'data-testid="held-by-all"' in html


def test_an_organization_member_is_deleted_only_after_it_is_disassociated(organization, regions, admin, client_for):
    added(organization, regions, admin, WORKLOAD)
    client = client_for("admin")

    html = client.get(f"/accounts/{WORKLOAD}/").content.decode()
    row = html.split('<tr data-region="us-east-1">')[1].split("</tr>")[0]
    assert 'value="delete"' not in row and 'value="disassociate"' in row
    refused = client.post(f"/accounts/{WORKLOAD}/action/", {"action": "delete", "region": "us-east-1"}, follow=True)
    assert "disassociate it first" in refused.content.decode()

    account = MemberAccount.objects.get(account_id=WORKLOAD)
    run(operations.member_operation_start(action="disassociate", accounts=[account], regions=["us-east-1"], actor=admin))
    assert organization.member_status(ADMIN, WORKLOAD, "us-east-1") == "Removed"
    deleted = run(operations.member_operation_start(action="delete", accounts=[account], regions=["us-east-1"],
                                                    actor=admin))  # fmt: skip

    assert deleted.status == MemberOperation.Status.SUCCEEDED
    assert organization.member_status(ADMIN, WORKLOAD, "us-east-1") is None


def test_a_disassociated_organization_member_is_added_again_not_invited(organization, regions, admin, client_for):
    account = added(organization, regions, admin, WORKLOAD)[0]
    run(operations.member_operation_start(action="disassociate", accounts=[account], regions=["us-east-1"], actor=admin))
    client = client_for("admin")

    html = client.get(f"/accounts/{WORKLOAD}/").content.decode()
    row = html.split('<tr data-region="us-east-1">')[1].split("</tr>")[0]
    assert 'value="org_add"' in row and "Add again (organization)" in row and 'value="invite"' not in row
    refused = client.post(f"/accounts/{WORKLOAD}/action/", {"action": "invite", "region": "us-east-1"}, follow=True)
    assert "add it again (CreateMembers)" in refused.content.decode()

    response = client.post(f"/accounts/{WORKLOAD}/action/", {"action": "org_add", "region": "us-east-1"})
    operation = run(MemberOperation.objects.get(pk=int(response.url.rstrip("/").rsplit("/", 1)[1])))

    assert operation.status == MemberOperation.Status.SUCCEEDED
    assert organization.member_status(ADMIN, WORKLOAD, "us-east-1") == "Enabled"
    assert Membership.objects.get(account=account, region="us-east-1").relationship_status == "Enabled"
    assert organization.outbox == []


def test_a_member_guardduty_lists_late_is_read_again_then_shown_as_pending(organization, regions, admin, client_for):
    organization.new_member_hidden_reads = 2  # GetMembers leaves it out twice: the second read finds it
    added(organization, regions, admin, WORKLOAD)
    assert Membership.objects.get(account__account_id=WORKLOAD, region="us-east-1").relationship_status == "Enabled"

    organization.new_member_hidden_reads = 10  # longer than GuardWatch waits
    added(organization, regions, admin, DATA)

    assert set(Membership.objects.filter(account__account_id=DATA).values_list("relationship_status", flat=True)) == {""}
    html = client_for("admin").get("/accounts/organization/").content.decode()
    assert f'data-pending="{DATA}"' in html and f'value="{DATA}"' not in html


def test_a_failed_read_does_not_forget_that_auto_enable_is_all(organization, admin, regions, settings):
    settings.GUARDWATCH_AWS_MAX_ATTEMPTS = 1  # the failure is the point: no retries
    aws_organizations.organization_auto_enable_set(region="us-east-1", value="ALL", actor=admin)
    organization.faults.configure([{"kind": "server_error", "operation": "DescribeOrganizationConfiguration"}])
    try:
        aws_organizations.organization_snapshot_refresh()
    finally:
        organization.faults.configure([])

    assert RegionState.objects.get(region="us-east-1").org_auto_enable_members == "ALL"



def test_a_snapshot_another_version_pickled_is_read_again_not_a_500(organization, client_for,
                                                                     django_capture_on_commit_callbacks):
    from tests.reports.test_cache_upgrade import pickled_by_a_module_that_is_gone, store_raw

    store_raw(aws_organizations.SNAPSHOT_KEY, pickled_by_a_module_that_is_gone())

    analyst = client_for("analyst")  # made first: creating a person queues its own callbacks (access caches)
    with django_capture_on_commit_callbacks() as queued:
        response = analyst.get("/accounts/organization/")

    assert response.status_code == 200 and "Not read from AWS yet" in response.content.decode()
    assert len(queued) == 1  # read again


def test_a_region_without_the_administrators_detector_says_how_to_get_one(organization, regions, client_for):
    del organization.delegated_admins["eu-west-1"]
    organization.scope(ADMIN, "eu-west-1").detector = None
    aws_organizations.organization_snapshot_refresh()

    html = client_for("admin").get("/accounts/organization/").content.decode()

    row = html.split('<tr data-region="eu-west-1">')[1].split("</tr>")[0]
    assert "no detector" in row and "--region eu-west-1" in row and "Create the administrator" not in row


def test_the_organization_refresh_records_each_accounts_ou_so_an_ou_policy_applies(organization, regions, admin):
    from accounts.models import CoveragePolicy
    from accounts.policies import policies_ordered, policy_resolve

    organization.register_account(WORKLOAD, parent_id="ou-ab12-workload1")
    added(organization, regions, admin, WORKLOAD, DATA)  # reads the snapshot, OUs included
    workload, data = (MemberAccount.objects.get(account_id=i) for i in (WORKLOAD, DATA))
    assert workload.organizational_unit == "ou-ab12-workload1" and data.organizational_unit.startswith("r-")
    assert organization.call_counts["organizations:ListOrganizationalUnitsForParent"] == 2  # the root and one OU

    unit = CoveragePolicy.objects.create(name="workloads", scope="ou", scope_value="ou-ab12-workload1")
    CoveragePolicy.objects.create(name="everything", scope="organisation", plans=["s3_data_events"])
    applied = policy_resolve(policies_ordered(), account_id=WORKLOAD, tags=[], ou=workload.organizational_unit)
    assert applied.policy == unit


def test_a_member_the_sync_finds_after_the_organization_read_gets_its_ou_and_organization_at_once(
    organization, regions
):
    """`make demo`'s first sync reads the organization and the members at the same time: an account the member
    sync creates after the read is an organization account in its OU then, not at the next read an hour later."""
    from accounts.member_sync import members_sync_region

    organization.register_account(WORKLOAD, parent_id="ou-ab12-workload1")
    for region in regions:  # members GuardWatch has not added itself: the member sync discovers them
        organization.scope(ADMIN, region).organization.auto_enable_members = "ALL"
    from gdsim.relationships import enable_all_organization_accounts

    for region in regions:
        enable_all_organization_accounts(organization, ADMIN, region)
    aws_organizations.organization_snapshot_refresh()
    assert not MemberAccount.objects.exists()  # the read found no account to record its OU on

    members_sync_region(region=regions[0])

    workload, data = (MemberAccount.objects.get(account_id=i) for i in (WORKLOAD, DATA))
    assert (workload.organizational_unit, workload.in_organization) == ("ou-ab12-workload1", True)
    assert data.in_organization and data.organizational_unit.startswith("r-")
