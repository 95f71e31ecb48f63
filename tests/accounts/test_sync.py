"""Status sync: GuardDuty's member list becomes Membership rows, with history, audit and coverage alerts."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from accounts import member_sync, operations, tasks
from accounts.models import MemberAccount, Membership, MembershipStatusChange, RegionState
from gdsim import relationships
from guardwatch.core.models import Alert, AuditEntry
from guardwatch.core.signals import alert_raised

from .helpers import ADMIN, accounts_make, detectors

pytestmark = pytest.mark.django_db


@pytest.fixture
def regions(settings):
    settings.GUARDWATCH_AWS_REGIONS = ["us-east-1", "eu-west-1"]
    return settings.GUARDWATCH_AWS_REGIONS


def invited(simulator, accounts, region):
    """Members created and invited in GuardDuty directly (as another tool or the console would)."""
    from guardwatch.aws import guardduty

    client = guardduty(region)
    detector = simulator.detector_id(ADMIN, region)
    client.create_members(DetectorId=detector, AccountDetails=[{"AccountId": a.account_id, "Email": a.email} for a in accounts])
    client.invite_members(DetectorId=detector, AccountIds=[a.account_id for a in accounts], DisableEmailNotification=True)


def test_sync_reads_every_member_status_into_memberships(simulator, regions):
    accounts = accounts_make(3, simulator=simulator)
    detectors(simulator, regions)
    invited(simulator, accounts, "us-east-1")
    simulator.accept_invitation(accounts[0].account_id, "us-east-1", ADMIN)

    result = member_sync.members_sync_region(region="us-east-1")

    assert result.error == "" and result.members == 3
    statuses = dict(Membership.objects.filter(region="us-east-1").values_list("account__account_id", "relationship_status"))
    assert statuses == {accounts[0].account_id: "Enabled", accounts[1].account_id: "Invited", accounts[2].account_id: "Invited"}
    enabled = Membership.objects.get(account=accounts[0], region="us-east-1")
    assert enabled.detector_id and enabled.invited_at and enabled.updated_at and enabled.last_synced_at
    assert RegionState.objects.get(region="us-east-1").last_synced_at is not None


def test_sync_records_each_status_change_in_history_and_audit(simulator, regions):
    accounts = accounts_make(1, simulator=simulator)
    detectors(simulator, regions)
    invited(simulator, accounts, "us-east-1")
    member_sync.members_sync_region(region="us-east-1")
    simulator.accept_invitation(accounts[0].account_id, "us-east-1", ADMIN)

    result = member_sync.members_sync_region(region="us-east-1")

    assert result.changed == 1
    changes = list(MembershipStatusChange.objects.filter(membership__account=accounts[0]).order_by("at", "id"))
    assert [(c.from_status, c.to_status, c.source) for c in changes] == [("", "Invited", "sync"), ("Invited", "Enabled", "sync")]
    entry = AuditEntry.objects.filter(verb="membership.status_change").first()
    assert entry.details == {"region": "us-east-1", "from": "Invited", "to": "Enabled", "source": "sync"}


def test_a_second_sync_with_nothing_new_changes_nothing(simulator, regions):
    accounts = accounts_make(2, simulator=simulator)
    detectors(simulator, regions)
    invited(simulator, accounts, "us-east-1")
    member_sync.members_sync_region(region="us-east-1")

    result = member_sync.members_sync_region(region="us-east-1")

    assert result.changed == 0
    assert MembershipStatusChange.objects.count() == 2


def test_members_unknown_to_guardwatch_are_added_so_nothing_is_hidden(simulator, regions):
    detectors(simulator, regions)
    simulator.register_account("123456789012", "stray@example.com")
    invited(simulator, [MemberAccount(account_id="123456789012", email="stray@example.com")], "eu-west-1")

    result = member_sync.members_sync_region(region="eu-west-1")

    assert result.discovered == 1
    account = MemberAccount.objects.get(account_id="123456789012")
    assert account.email == "stray@example.com"
    assert account.memberships.get().relationship_status == "Invited"


def test_a_member_deleted_outside_guardwatch_becomes_not_a_member(simulator, regions):
    from guardwatch.aws import guardduty

    accounts = accounts_make(1, simulator=simulator)
    detectors(simulator, regions)
    invited(simulator, accounts, "us-east-1")
    member_sync.members_sync_region(region="us-east-1")
    guardduty("us-east-1").delete_members(DetectorId=simulator.detector_id(ADMIN, "us-east-1"), AccountIds=[accounts[0].account_id])

    member_sync.members_sync_region(region="us-east-1")

    assert Membership.objects.get(account=accounts[0], region="us-east-1").relationship_status == ""


def test_a_member_that_resigns_raises_one_alert_handed_to_the_notification_hook(simulator, regions, django_capture_on_commit_callbacks):
    accounts = accounts_make(1, simulator=simulator)
    detectors(simulator, regions)
    invited(simulator, accounts, "eu-west-1")
    simulator.accept_invitation(accounts[0].account_id, "eu-west-1", ADMIN)
    member_sync.members_sync_region(region="eu-west-1")
    simulator.resign(accounts[0].account_id, "eu-west-1")
    received = []

    def receiver(sender, alert, **kwargs):
        received.append(alert)

    alert_raised.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            member_sync.members_sync_region(region="eu-west-1")
            member_sync.members_sync_region(region="eu-west-1")
    finally:
        alert_raised.disconnect(receiver)

    alert = Alert.objects.get()
    assert alert.kind == "member.Resigned" and alert.severity == "high"
    assert accounts[0].account_id in alert.title and "eu-west-1" in alert.title
    assert received == [alert]


@pytest.mark.parametrize(("action", "status"), [("disassociate", "Removed"), ("stop", "Disabled"), ("delete", "")])
def test_what_the_admin_did_on_purpose_is_recorded_not_raised_as_an_alert(simulator, regions, admin, action, status):
    accounts = accounts_make(1, simulator=simulator)
    detectors(simulator, regions)
    invited(simulator, accounts, "us-east-1")
    simulator.accept_invitation(accounts[0].account_id, "us-east-1", ADMIN)
    member_sync.members_sync_region(region="us-east-1")
    operation = operations.member_operation_start(action=action, accounts=accounts, regions=["us-east-1"], actor=admin)

    operations.member_operation_run(operation_id=operation.pk)
    member_sync.members_sync_region(region="us-east-1")

    assert Membership.objects.get(account=accounts[0], region="us-east-1").relationship_status == status
    change = MembershipStatusChange.objects.filter(membership__account=accounts[0]).first()
    assert (change.from_status, change.to_status, change.source, change.actor_name) == ("Enabled", status, "action", "admin")
    assert not Alert.objects.exists()


@pytest.mark.parametrize(("call", "status"), [("disassociate_members", "Removed"), ("stop_monitoring_members", "Disabled")])
def test_a_member_stopped_or_removed_outside_guardwatch_still_raises_an_alert(simulator, regions, call, status):
    from guardwatch.aws import guardduty

    accounts = accounts_make(1, simulator=simulator)
    detectors(simulator, regions)
    invited(simulator, accounts, "us-east-1")
    simulator.accept_invitation(accounts[0].account_id, "us-east-1", ADMIN)
    member_sync.members_sync_region(region="us-east-1")
    getattr(guardduty("us-east-1"), call)(DetectorId=simulator.detector_id(ADMIN, "us-east-1"), AccountIds=[accounts[0].account_id])

    member_sync.members_sync_region(region="us-east-1")

    assert Alert.objects.get().kind == f"member.{status}"


def test_an_account_resigned_in_every_region_gives_one_alert_naming_the_regions(simulator, regions):
    accounts = accounts_make(3, simulator=simulator)
    detectors(simulator, regions)
    for region in regions:
        invited(simulator, accounts, region)
        for account in accounts:
            simulator.accept_invitation(account.account_id, region, ADMIN)
        member_sync.members_sync_region(region=region)
    MemberAccount.objects.filter(pk=accounts[0].pk).update(display_name="payments-prod")
    for region in regions:
        for account in accounts[:2]:
            simulator.resign(account.account_id, region)

    for region in regions:
        member_sync.members_sync_region(region=region)

    alerts = list(Alert.objects.order_by("target_id"))
    assert len(alerts) == 2  # two accounts resigned in two regions: two alerts, not four
    assert alerts[0].title == f"Member {accounts[0].account_id} (payments-prod) left the administrator (resigned) in us-east-1, eu-west-1"
    assert alerts[1].title.endswith("in us-east-1, eu-west-1")


def test_the_alerts_page_reads_one_line_per_account(client_for, simulator, regions):
    accounts = accounts_make(1, simulator=simulator)
    detectors(simulator, regions)
    for region in regions:
        invited(simulator, accounts, region)
        simulator.accept_invitation(accounts[0].account_id, region, ADMIN)
        member_sync.members_sync_region(region=region)
        simulator.resign(accounts[0].account_id, region)
        member_sync.members_sync_region(region=region)

    html = client_for("analyst").get("/alerts/").content.decode()

    assert html.count('data-alert-kind="member.Resigned"') == 1
    assert "left the administrator (resigned) in us-east-1, eu-west-1" in html
    assert " is Resigned" not in html


def test_an_invitation_pending_too_long_raises_an_alert(simulator, regions, settings):
    settings.GUARDWATCH_INVITE_PENDING_DAYS = 7
    accounts = accounts_make(2, simulator=simulator)
    detectors(simulator, regions)
    simulator.set_clock(datetime.now(UTC) - timedelta(days=8))
    invited(simulator, accounts[:1], "us-east-1")
    simulator.set_clock(datetime.now(UTC))
    invited(simulator, accounts[1:], "us-east-1")

    member_sync.members_sync_region(region="us-east-1")

    alert = Alert.objects.get()
    assert alert.kind == "member.invited_too_long"
    assert accounts[0].account_id in alert.title and "7 days" in alert.title


def test_an_invitation_pending_too_long_in_two_regions_is_one_alert(simulator, regions, settings):
    settings.GUARDWATCH_INVITE_PENDING_DAYS = 7
    accounts = accounts_make(1, simulator=simulator)
    detectors(simulator, regions)
    simulator.set_clock(datetime.now(UTC) - timedelta(days=8))
    for region in regions:
        invited(simulator, accounts, region)
    simulator.set_clock(datetime.now(UTC))

    for region in regions:
        member_sync.members_sync_region(region=region)

    alert = Alert.objects.get()
    assert "in eu-west-1, us-east-1 for more than 7 days" in alert.title


def test_a_region_without_detector_is_reported_on_the_region(simulator, regions):
    result = member_sync.members_sync_region(region="eu-west-1")

    state = RegionState.objects.get(region="eu-west-1")
    assert "no detector" in result.error
    assert "no detector" in state.last_error and state.last_error_at is not None


def test_a_failing_region_keeps_its_error_and_the_next_success_clears_it(simulator, regions, settings):
    from guardwatch.aws import reset_clients

    settings.GUARDWATCH_AWS_MAX_ATTEMPTS = 1
    reset_clients()
    detectors(simulator, regions)
    simulator.faults.add("server_error", operation="ListMembers", region="us-east-1")

    member_sync.members_sync_region(region="us-east-1")
    assert "usually temporary" in RegionState.objects.get(region="us-east-1").last_error

    simulator.faults.clear()
    member_sync.members_sync_region(region="us-east-1")
    assert RegionState.objects.get(region="us-east-1").last_error == ""


def test_beat_task_fans_out_one_sync_per_region(regions, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.members_sync_region, "delay", lambda region, *args: queued.append(region))

    assert tasks.members_sync_all_regions() == regions
    assert queued == regions


def test_the_beat_schedule_runs_the_sync_at_the_configured_interval(settings):
    from guardwatch.celery import BEAT_SCHEDULE, app

    app.finalize()
    entry = BEAT_SCHEDULE["members-status-sync"]
    assert entry["task"] == "accounts.tasks.members_sync_all_regions"
    assert entry["schedule"].run_every.total_seconds() == settings.GUARDWATCH_MEMBER_SYNC_MINUTES * 60


def test_refresh_now_marks_regions_refreshing_and_queues_after_commit(regions, admin, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.members_sync_region, "delay", lambda region, actor_id=None: queued.append((region, actor_id)))

    with django_capture_on_commit_callbacks(execute=True):
        member_sync.members_sync_request(actor=admin)

    assert queued == [(region, admin.pk) for region in regions]
    assert all(state.refreshing for state in RegionState.objects.all())
    assert AuditEntry.objects.filter(verb="members.sync_request", actor_name="admin").exists()


def test_a_member_monitored_after_a_failed_step_no_longer_shows_that_failure(simulator, regions, client_for):
    accounts = accounts_make(2, simulator=simulator)
    detectors(simulator, regions)
    invited(simulator, accounts, "us-east-1")
    member_sync.members_sync_region(region="us-east-1")
    Membership.objects.filter(region="us-east-1").update(last_error="AcceptAdministratorInvitation: AccessDenied",
                                                         last_error_at=datetime(2026, 12, 1, tzinfo=UTC))  # fmt: skip
    simulator.accept_invitation(accounts[0].account_id, "us-east-1", ADMIN)  # the member accepted by itself

    member_sync.members_sync_region(region="us-east-1")

    monitored = Membership.objects.get(account=accounts[0], region="us-east-1")
    assert (monitored.relationship_status, monitored.last_error, monitored.last_error_at) == ("Enabled", "", None)
    still_invited = Membership.objects.get(account=accounts[1], region="us-east-1")
    assert still_invited.last_error.startswith("AcceptAdministratorInvitation")  # not monitored: the error stands
    page = client_for("admin").get(f"/accounts/{accounts[0].account_id}/").content.decode()
    assert "AccessDenied" not in page


def test_members_found_in_guardduty_get_their_name_from_organizations(simulator, regions):
    detectors(simulator, regions)
    simulator.set_organization("999999999999", [ADMIN])
    simulator.register_account("123456789012", "root@example.com", name="payments-prod", organization=True)
    invited(simulator, [MemberAccount(account_id="123456789012", email="root@example.com")], "us-east-1")

    member_sync.members_sync_region(region="us-east-1")

    assert MemberAccount.objects.get(account_id="123456789012").display_name == "payments-prod"


def test_the_demos_accounts_have_names_once_synced(simulator, settings):
    from django.core.management import call_command

    from gdsim import invitation_only_accounts
    from gdsim.scenarios import REGIONS

    settings.GUARDWATCH_AWS_REGIONS = list(REGIONS)
    settings.DEMO = True
    simulator.seed_scenario("demo", seed=7)
    # what `manage.py demo` does first: the hand-invited accounts outside the organization, named by their admin
    hand_invited = invitation_only_accounts()
    call_command("demo_accounts", *[f"{a['account_id']},{a['email']},{a['name']}" for a in hand_invited])
    call_command("demo_accounts", *[f"{a['account_id']},{a['email']},{a['name']}" for a in hand_invited])  # idempotent

    member_sync.members_sync_region(region=REGIONS[0])

    names = list(MemberAccount.objects.values_list("display_name", flat=True))
    assert len(names) == 39 and all(names)  # the 40th was never invited, so GuardDuty does not list it
    assert {"payments-prod", "payments-staging", "web-prod"} <= set(names)
    assert AuditEntry.objects.filter(verb="member.create", details__source="demo").count() == len(hand_invited)


def test_syncing_1000_members_in_4_regions_lists_each_region_in_pages_of_50_and_gets_no_member(simulator, settings):
    regions = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]
    settings.GUARDWATCH_AWS_REGIONS = regions
    accounts = accounts_make(1000, simulator=simulator)
    detectors(simulator, regions)
    for region in regions:
        relationships.create_members(simulator, ADMIN, region, [{"AccountId": a.account_id, "Email": a.email} for a in accounts])
    relationships.invite_members(simulator, ADMIN, "eu-west-1", [a.account_id for a in accounts[:300]], disable_email=True)
    simulator.call_counts.reset()

    for region in regions:
        assert member_sync.members_sync_region(region=region).members == 1000
    simulator.accept_invitation(accounts[0].account_id, "eu-west-1", ADMIN)  # the second sync has a change to read
    for region in regions:
        member_sync.members_sync_region(region=region)

    for region in regions:
        # One listing per region, ⌈1000/50⌉ pages a sync; never GetMembers per account (or per 50).
        assert simulator.call_counts[("ListMembers", ADMIN, region)] == 2 * 20
        assert simulator.call_counts[("GetMembers", ADMIN, region)] == 0
    # Besides those, one ListDetectors per region the first time (the detector id is kept), nothing else.
    assert simulator.call_counts.total == 2 * 4 * 20 + 4
    statuses = Membership.objects.filter(region="eu-west-1").values_list("relationship_status", flat=True)
    assert sorted(set(statuses)) == ["Created", "Enabled", "Invited"]
    assert Membership.objects.get(account=accounts[0], region="eu-west-1").relationship_status == "Enabled"
    assert Membership.objects.exclude(relationship_status="").count() == 4000


def test_a_sync_that_changes_nothing_still_stamps_every_membership_synced(simulator, regions):
    accounts = accounts_make(3, simulator=simulator)
    detectors(simulator, regions)
    invited(simulator, accounts, "us-east-1")
    member_sync.members_sync_region(region="us-east-1")
    before = timezone.now()

    result = member_sync.members_sync_region(region="us-east-1")

    assert result.changed == 0
    synced = Membership.objects.filter(region="us-east-1").values_list("last_synced_at", flat=True)
    assert len(synced) == 3 and all(moment >= before for moment in synced)


def test_a_first_sync_stores_members_as_listed_with_their_history_and_audit_in_few_statements(simulator, regions):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    accounts = accounts_make(30, simulator=simulator)
    detectors(simulator, regions)
    invited(simulator, accounts, "us-east-1")
    for account in accounts[:10]:
        simulator.accept_invitation(account.account_id, "us-east-1", ADMIN)

    with CaptureQueriesContext(connection) as queries:
        result = member_sync.members_sync_region(region="us-east-1")

    assert result.changed == 30
    stored = {m.account.account_id: m for m in Membership.objects.filter(region="us-east-1").select_related("account")}
    assert {m.relationship_status for a, m in stored.items() if a in {x.account_id for x in accounts[:10]}} == {"Enabled"}
    assert all(m.last_synced_at and m.invited_at and m.updated_at for m in stored.values())
    assert all(m.detector_id for m in stored.values() if m.relationship_status == "Enabled")
    history = MembershipStatusChange.objects.filter(membership__region="us-east-1")
    assert sorted(history.values_list("from_status", "to_status")) == [("", "Enabled")] * 10 + [("", "Invited")] * 20
    assert AuditEntry.objects.filter(verb="membership.status_change").count() == 30
    writes = [q["sql"] for q in queries if q["sql"].startswith(("INSERT", "UPDATE"))]
    assert len([sql for sql in writes if "accounts_membership\"" in sql.split("(")[0]]) == 1, writes
    # No member is written twice: inserted as listed, not inserted empty then updated.
    assert not [sql for sql in writes if sql.startswith('UPDATE "accounts_membership" AS t')], writes
    assert {a.account_id for a in MemberAccount.objects.filter(member_regions__contains="us-east-1")} == {
        a.account_id for a in accounts
    }


def test_a_membership_created_by_another_writer_during_the_first_sync_is_compared_not_overwritten(simulator, regions):
    accounts = accounts_make(2, simulator=simulator)
    detectors(simulator, regions)
    invited(simulator, accounts, "us-east-1")
    # What the sync's insert meets when a member operation stored this membership after the sync read the region.
    Membership.objects.create(account=accounts[1], region="us-east-1", relationship_status="Created")
    listed = {m.account_id: m for m in member_sync._list_members("us-east-1", RegionState.objects.get_or_create(region="us-east-1")[0])}

    discovered, created = member_sync._memberships_create("us-east-1", [a.account_id for a in accounts], listed, "system", timezone.now())

    assert discovered == 0
    assert [m.account.account_id for m in created] == [accounts[0].account_id]
    assert Membership.objects.get(account=accounts[1], region="us-east-1").relationship_status == "Created"
    result = member_sync.members_sync_region(region="us-east-1")  # the next sync compares it like any other
    assert result.changed == 1
    assert Membership.objects.get(account=accounts[1], region="us-east-1").relationship_status == "Invited"
