"""Invitations are asynchronous: GuardDuty verifies each member's email before it sends the invitation.

After InviteMembers a member is EmailVerificationInProgress, then Invited or EmailVerificationFailed
(terraform-provider-aws polls GetMembers for it; docs/aws-fidelity.md). GuardWatch shows the verification
as its own outcome, polls GetMembers with backoff for at most ten minutes, takes EmailVerificationFailed from
the status, accepts on a member's behalf only once it is Invited (as an operation of its own), and resends an
invitation the way GuardDuty allows it.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import operations
from accounts.models import (
    MemberAccount,
    MemberOperation,
    MemberOperationResult,
    Membership,
    MembershipStatusChange,
)
from guardwatch.core.models import Alert

from .helpers import ADMIN, accounts_make, detectors

pytestmark = pytest.mark.django_db

REGIONS = ["us-east-1", "eu-west-1"]
VERIFICATION = 60  # seconds GuardDuty (the simulator) takes to verify an email in these tests
Status = MemberOperation.Status


@pytest.fixture
def regions(simulator, settings):
    settings.GUARDWATCH_AWS_REGIONS = list(REGIONS)
    detectors(simulator, REGIONS)
    simulator.email_verification_seconds = VERIFICATION
    return REGIONS


def start(action, accounts, regions, actor, **options) -> MemberOperation:
    operation = operations.member_operation_start(action=action, accounts=accounts, regions=regions, actor=actor,
                                                  **options)  # fmt: skip
    return operations.member_operation_run(operation_id=operation.pk)


def later(seconds: float):
    """A moment `seconds` from now, when the verification check of the test runs."""
    return timezone.now() + timedelta(seconds=seconds)


def result_of(operation, account, region="us-east-1") -> MemberOperationResult:
    return MemberOperationResult.objects.get(operation=operation, account=account, region=region)


def test_an_invite_shows_the_email_being_verified_until_guardduty_has_sent_the_invitation(simulator, regions, admin):
    account = accounts_make(1, simulator=simulator)[0]

    operation = start("invite", [account], ["us-east-1"], admin)

    assert operation.status == Status.VERIFYING and operation.active
    assert operation.done == 0
    verifying = result_of(operation, account)
    assert verifying.outcome == "verifying" and "verifying the email" in verifying.result
    assert Membership.objects.get(account=account).relationship_status == "EmailVerificationInProgress"

    simulator.advance_clock(VERIFICATION)
    assert operations.member_invitations_verify(operation_id=operation.pk, now=later(5)) is None

    operation.refresh_from_db()
    assert operation.status == Status.SUCCEEDED and operation.done == 1 and not operation.active
    assert result_of(operation, account).outcome == "ok" and result_of(operation, account).result == "Invited"
    membership = Membership.objects.get(account=account)
    assert membership.relationship_status == "Invited" and membership.invited_at is not None
    history = MembershipStatusChange.objects.filter(membership=membership).order_by("at", "id")
    assert [(c.from_status, c.to_status) for c in history] == [("", "EmailVerificationInProgress"),
                                                               ("EmailVerificationInProgress", "Invited")]


def test_email_verification_failed_comes_from_the_relationship_status(simulator, regions, admin):
    good, bad = accounts_make(2, simulator=simulator)
    simulator.register_account(bad.account_id, "real-root@example.com")  # GuardWatch has another email

    operation = start("invite", [good, bad], ["us-east-1"], admin)
    assert {r.outcome for r in operation.results.all()} == {"verifying"}  # nothing to guess from InviteMembers
    simulator.advance_clock(VERIFICATION)
    operations.member_invitations_verify(operation_id=operation.pk, now=later(5))

    operation.refresh_from_db()
    assert operation.status == Status.PARTIAL and operation.failed == 1
    failed = result_of(operation, bad)
    assert failed.outcome == "failed"
    assert failed.result == operations.email_verification_failed_text(bad.email)
    assert "Re-create with a corrected email" in failed.result
    membership = Membership.objects.get(account=bad)
    assert membership.relationship_status == "EmailVerificationFailed"
    assert Alert.objects.filter(kind="member.EmailVerificationFailed").count() == 1
    assert Membership.objects.get(account=good).relationship_status == "Invited"


def test_the_checks_back_off_and_stop_after_ten_minutes_with_a_clear_still_verifying(simulator, regions, admin):
    simulator.email_verification_seconds = 3600  # GuardDuty takes an hour today
    account = accounts_make(1, simulator=simulator)[0]
    operation = start("invite", [account], REGIONS, admin)
    simulator.call_counts.reset()

    delays = [operations.member_invitations_verify(operation_id=operation.pk, now=later(seconds))
              for seconds in (3, 30, 240)]

    assert delays[0] >= operations.VERIFY_FIRST_CHECK
    assert delays[0] < delays[1] < delays[2] <= operations.VERIFY_MAX_INTERVAL
    assert simulator.call_counts["GetMembers"] == 3 * len(REGIONS)  # one batch per region per check
    operation.refresh_from_db()
    assert operation.status == Status.VERIFYING

    assert operations.member_invitations_verify(operation_id=operation.pk, now=later(601)) is None

    operation.refresh_from_db()
    assert operation.status == Status.UNSETTLED and not operation.active
    assert operation.get_status_display() == "Finished, emails still verifying"
    assert operation.done == 2 and operation.failed == 0
    for region in REGIONS:
        unsettled = result_of(operation, account, region)
        assert unsettled.outcome == "unsettled" and unsettled.get_outcome_display() == "Still verifying"
        assert unsettled.result.startswith("Still verifying after 10 minutes")
    assert Membership.objects.get(account=account, region="us-east-1").relationship_status == "EmailVerificationInProgress"


def test_a_check_delivered_twice_records_nothing_twice(simulator, regions, admin):
    account = accounts_make(1, simulator=simulator)[0]
    operation = start("invite", [account], ["us-east-1"], admin)
    simulator.advance_clock(VERIFICATION)
    moment = later(5)

    operations.member_invitations_verify(operation_id=operation.pk, now=moment)
    assert operations.member_invitations_verify(operation_id=operation.pk, now=moment) is None

    operation.refresh_from_db()
    assert (operation.done, operation.failed, operation.status) == (1, 0, Status.SUCCEEDED)


def test_a_check_whose_task_was_lost_is_found_again(simulator, regions, admin):
    account = accounts_make(1, simulator=simulator)[0]
    operation = start("invite", [account], ["us-east-1"], admin)

    assert operations.member_invitations_overdue(now=later(10)) == []
    assert operations.member_invitations_overdue(now=later(3 * 60)) == [operation.pk]


def test_the_progress_page_shows_each_region_verifying_and_keeps_polling(simulator, regions, admin, client_for):
    accounts = accounts_make(2, simulator=simulator)
    operation = start("invite", accounts, REGIONS, admin)

    response = client_for("analyst").get(f"/accounts/operations/{operation.pk}/", headers={"HX-Request": "true"})

    html = response.content.decode()
    assert 'hx-trigger="every 1s"' in html  # still polling: verifying is not finished
    assert 'data-testid="operation-status">Verifying emails<' in html
    for region in REGIONS:
        assert f'<tr data-region-progress="{region}"><th scope="row"><code>{region}</code></th><td data-count="pending">0</td><td data-count="verifying">2</td>' in html
    assert "Verifying email</span>" in html
    response = client_for("analyst").get(f"/accounts/operations/{operation.pk}/?outcome=verifying")
    assert response.content.decode().count('class="badge outcome-verifying"') == 4


# --- Accepting on the member's behalf ------------------------------------------------------------------------


@pytest.fixture
def auto_accepting(simulator, regions, settings):
    settings.GUARDWATCH_MEMBER_ROLE_NAME = "GuardWatchMember"
    account = accounts_make(1, simulator=simulator)[0]
    MemberAccount.objects.filter(pk=account.pk).update(auto_accept=True)
    account.refresh_from_db()
    return account


def test_auto_accept_waits_until_guardduty_has_sent_the_invitation(simulator, auto_accepting, admin):
    operation = start("invite", [auto_accepting], ["us-east-1"], admin)
    assert not MemberOperation.objects.filter(action="accept").exists()  # nothing to accept yet

    simulator.advance_clock(VERIFICATION)
    operations.member_invitations_verify(operation_id=operation.pk, now=later(5))

    accept = MemberOperation.objects.get(action="accept")
    assert [(r.account, r.region) for r in accept.results.all()] == [(auto_accepting, "us-east-1")]
    assert result_of(operation, auto_accepting).result == f"Invited; accepting on the member's behalf in " \
                                                         f"Accept on the member's behalf #{accept.pk}"
    accept = operations.member_operation_run(operation_id=accept.pk)
    assert accept.status == Status.SUCCEEDED
    assert simulator.member_status(ADMIN, auto_accepting.account_id, "us-east-1") == "Enabled"
    assert Membership.objects.get(account=auto_accepting).relationship_status == "Enabled"


def test_an_accept_failure_is_recorded_on_its_own_and_the_invitation_keeps_its_success(simulator, auto_accepting,
                                                                                       admin, settings):
    settings.GUARDWATCH_AWS_MAX_ATTEMPTS = 1
    from guardwatch.aws import reset_clients

    reset_clients()
    operation = start("invite", [auto_accepting], ["us-east-1"], admin)
    simulator.advance_clock(VERIFICATION)
    operations.member_invitations_verify(operation_id=operation.pk, now=later(5))
    simulator.faults.add("server_error", operation="AcceptAdministratorInvitation")

    accept = operations.member_operation_run(operation_id=MemberOperation.objects.get(action="accept").pk)

    assert accept.status == Status.FAILED
    assert result_of(accept, auto_accepting).result.startswith("Accept: AcceptAdministratorInvitation")
    invited = result_of(operation, auto_accepting)
    assert invited.outcome == "ok" and invited.result.startswith("Invited; accepting")
    operation.refresh_from_db()
    assert operation.status == Status.SUCCEEDED and operation.failed == 0
    membership = Membership.objects.get(account=auto_accepting)
    assert membership.relationship_status == "Invited"  # still invited: the member can accept it itself
    assert membership.last_error.startswith("Accept: AcceptAdministratorInvitation")


def test_accept_before_the_invitation_exists_is_refused_without_acting_as_the_member(simulator, regions, admin,
                                                                                    settings):
    settings.GUARDWATCH_MEMBER_ROLE_NAME = "GuardWatchMember"
    account = accounts_make(1, simulator=simulator)[0]
    start("invite", [account], ["us-east-1"], admin)
    simulator.call_counts.reset()

    accept = start("accept", [account], ["us-east-1"], admin)

    assert accept.status == Status.FAILED
    assert result_of(accept, account).result == (
        "Not accepted: there is no invitation to accept in us-east-1; GuardDuty reports Verifying email. "
        "Accept once the member is Invited (after the email is verified).")
    assert simulator.call_counts["sts:AssumeRole"] == 0
    assert simulator.detector_id(account.account_id, "us-east-1") is None  # nothing created as the member


# --- Resending -----------------------------------------------------------------------------------------------


def test_resend_withdraws_the_pending_invitation_and_guardduty_sends_a_new_one(simulator, regions, admin):
    simulator.email_verification_seconds = 0
    account = accounts_make(1, simulator=simulator)[0]
    start("invite", [account], ["us-east-1"], admin)
    first = simulator.scope(account.account_id, "us-east-1").invitations[ADMIN].invitation_id

    resend = start("resend", [account], ["us-east-1"], admin)

    assert resend.status == Status.SUCCEEDED and result_of(resend, account).result == "Invited"
    assert simulator.scope(account.account_id, "us-east-1").invitations[ADMIN].invitation_id != first
    assert len(simulator.outbox) == 2
    assert simulator.call_counts[("DisassociateMembers", ADMIN, "us-east-1")] == 1
    assert Membership.objects.get(account=account).relationship_status == "Invited"


def test_resend_says_what_to_do_where_guardduty_would_not_send_a_new_invitation(simulator, regions, admin):
    simulator.email_verification_seconds = 0
    wrong, monitored = accounts_make(2, simulator=simulator)
    simulator.register_account(wrong.account_id, "real-root@example.com")
    start("invite", [wrong, monitored], ["us-east-1"], admin)
    simulator.accept_invitation(monitored.account_id, "us-east-1", ADMIN)

    resend = start("resend", [wrong, monitored], ["us-east-1"], admin)

    assert resend.status == Status.FAILED
    assert result_of(resend, wrong).result == "Not re-sent: " + operations.email_verification_failed_text(wrong.email)
    assert result_of(resend, monitored).result == ("Not re-sent: the account is Monitored in us-east-1, not waiting "
                                                   "for an invitation.")
    assert simulator.member_status(ADMIN, monitored.account_id, "us-east-1") == "Enabled"  # left alone
    assert simulator.call_counts[("DisassociateMembers", ADMIN, "us-east-1")] == 0


# --- The account's page --------------------------------------------------------------------------------------


def test_the_account_page_offers_re_create_only_where_verification_failed(client_for, settings):
    settings.GUARDWATCH_AWS_REGIONS = list(REGIONS)
    failed, fine = accounts_make(2)
    Membership.objects.create(account=failed, region="us-east-1", relationship_status="EmailVerificationFailed")
    Membership.objects.create(account=failed, region="eu-west-1", relationship_status="Invited")
    Membership.objects.create(account=fine, region="us-east-1", relationship_status="Invited")
    admin = client_for("admin")

    html = admin.get(f"/accounts/{failed.account_id}/").content.decode()
    card = html[html.index('data-testid="recreate-card"'):]
    card = card[:card.index("</form>")]
    assert 'value="us-east-1"' in card and 'value="eu-west-1"' not in card
    assert "GuardDuty could not verify" in card and "in us-east-1:" in card
    assert 'data-testid="recreate-card"' not in admin.get(f"/accounts/{fine.account_id}/").content.decode()


def test_resend_is_offered_for_invited_members_only(client_for, settings):
    settings.GUARDWATCH_AWS_REGIONS = list(REGIONS)
    account = accounts_make(1)[0]
    Membership.objects.create(account=account, region="us-east-1", relationship_status="EmailVerificationFailed")
    Membership.objects.create(account=account, region="eu-west-1", relationship_status="Invited")

    html = client_for("admin").get(f"/accounts/{account.account_id}/").content.decode()

    rows = {region: html[html.index(f'<tr data-region="{region}">'):] for region in REGIONS}
    rows = {region: row[:row.index("</tr>")] for region, row in rows.items()}
    assert "Resend invitation" in rows["eu-west-1"] and "Accept on member" in rows["eu-west-1"]
    assert "Resend invitation" not in rows["us-east-1"] and "Accept on member" not in rows["us-east-1"]


def test_re_create_in_a_region_where_verification_did_not_fail_is_refused_and_changes_nothing(client_for, settings):
    settings.GUARDWATCH_AWS_REGIONS = list(REGIONS)
    account = accounts_make(1)[0]
    Membership.objects.create(account=account, region="us-east-1", relationship_status="EmailVerificationFailed")
    Membership.objects.create(account=account, region="eu-west-1", relationship_status="Enabled")

    response = client_for("admin").post(f"/accounts/{account.account_id}/recreate/",
                                         {"email": "new-root@example.com", "regions": ["eu-west-1"]}, follow=True)

    assert "eu-west-1 is not a region where email verification failed" in response.content.decode()
    assert MemberOperation.objects.count() == 0
    account.refresh_from_db()
    assert account.email != "new-root@example.com"


def test_re_create_refuses_regions_where_verification_did_not_fail_even_when_called_directly(settings, admin):
    settings.GUARDWATCH_AWS_REGIONS = list(REGIONS)
    account = accounts_make(1)[0]
    Membership.objects.create(account=account, region="us-east-1", relationship_status="EmailVerificationFailed")

    with pytest.raises(Exception, match="only for regions where email verification failed"):
        operations.member_recreate(account=account, email="new-root@example.com", regions=REGIONS, actor=admin)
    assert MemberOperation.objects.count() == 0


def test_re_create_with_the_corrected_email_ends_invited(simulator, regions, admin):
    simulator.email_verification_seconds = 0
    account = accounts_make(1, simulator=simulator)[0]
    simulator.register_account(account.account_id, "real-root@example.com")
    start("invite", [account], ["us-east-1"], admin)
    assert Membership.objects.get(account=account).relationship_status == "EmailVerificationFailed"

    operation = operations.member_recreate(account=account, email="real-root@example.com", regions=["us-east-1"],
                                           actor=admin)  # fmt: skip
    operation = operations.member_operation_run(operation_id=operation.pk)

    assert operation.status == Status.SUCCEEDED
    assert Membership.objects.get(account=account).relationship_status == "Invited"


# --- In a real Celery worker ---------------------------------------------------------------------------------


@pytest.mark.worker
def test_a_real_worker_polls_guardduty_until_the_email_is_verified(simulator, celery_worker_process,
                                                                  transactional_db, admin):
    from tests.support.waiting import wait_for

    simulator.ensure_detector(ADMIN, "us-east-1")
    simulator.email_verification_seconds = 3  # real seconds: the simulator's clock runs in this test
    account = accounts_make(1, simulator=simulator)[0]

    operation = operations.member_operation_start(action="invite", accounts=[account], regions=["us-east-1"],
                                                  actor=admin)  # fmt: skip (committed: the worker gets it)

    wait_for(lambda: not MemberOperation.objects.get(pk=operation.pk).active, timeout=60,
             what="the worker to invite, then poll GetMembers until GuardDuty has verified the email")
    operation.refresh_from_db()
    assert operation.status == Status.SUCCEEDED and operation.verify_until is not None
    assert result_of(operation, account).result == "Invited"
    history = MembershipStatusChange.objects.filter(membership__account=account).order_by("at", "id")
    assert [c.to_status for c in history] == ["EmailVerificationInProgress", "Invited"]
    assert simulator.call_counts[("GetMembers", ADMIN, "us-east-1")] >= 2  # after the invite, then the task's checks


def test_the_accounts_page_keeps_refreshing_while_emails_are_verified(simulator, regions, admin, client_for):
    account = accounts_make(1, simulator=simulator)[0]
    operation = start("invite", [account], ["us-east-1"], admin)

    html = client_for("analyst").get("/accounts/", headers={"HX-Request": "true"}).content.decode()

    assert 'data-polling="on"' in html
    assert f"#{operation.pk}</a>: 0 of 1 done, GuardDuty verifying emails" in html
    assert "Verifying email" in html  # the account's cell in us-east-1
