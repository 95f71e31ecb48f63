"""Member operations: invite, accept, resend, disassociate, delete, re-create, add from the organisation.

Work that calls AWS for many accounts runs as a `MemberOperation` in Celery: one result row per
(account, region), written batch by batch, so the page can show progress and a re-delivered task only
does what is still pending. AWS is reached only through `accounts.gateway`.

Invitations are asynchronous in GuardDuty: after InviteMembers the member is EmailVerificationInProgress
until GuardDuty has checked its root email, then Invited (the invitation is sent) or
EmailVerificationFailed (terraform-provider-aws polls GetMembers for it: internal/service/guardduty/
member.go, inviteMemberWaiter). So an invite reads the members' statuses back (GetMembers) and leaves
the ones being verified in the "verifying" outcome; `member_invitations_verify` (a Celery task that
re-queues itself with backoff) polls them until they settle or `VERIFY_FOR` has passed. Accepting on a
member's behalf starts only once the member is Invited, as its own operation.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts import gateway
from accounts.csvimport import email_problem
from accounts.gateway import GatewayError
from accounts.models import (
    RUNTIME_AGENTS,
    MemberAccount,
    MemberOperation,
    MemberOperationResult,
    Membership,
    MembershipStatusChange,
    RegionState,
    S3Bucket,
    organization_refusal,
    status_label,
)
from accounts.protection import member_protection_refresh
from accounts.s3_malware import plan_record, role_arn
from accounts.services import (
    STALE_AFTER,
    _memberships_for,
    account_regions_refresh,
    administrator_account_id,
    administrator_detector,
    configured_regions,
    rows_update,
    status_changes_apply,
)
from guardwatch.core.logs import log_context
from guardwatch.core.queue import task_send_on_commit
from guardwatch.core.services import actor_user, audit_record

Action = MemberOperation.Action
Outcome = MemberOperationResult.Outcome
Status = MemberOperation.Status

# How long an operation polls GetMembers for emails GuardDuty is still verifying, and how often: the
# first check soon after the invitations, then backing off (half the time waited so far, at most a minute).
VERIFY_FOR = timedelta(minutes=10)
VERIFY_FIRST_CHECK = 2.0
VERIFY_MAX_INTERVAL = 60.0
# A check claims the operation for this long: a duplicate delivery finds it claimed and stops.
VERIFY_LEASE = timedelta(minutes=2)
# Statuses in which GuardDuty has not finished with an invitation yet (Created: the check has not started).
VERIFYING_STATUSES = ("EmailVerificationInProgress", "Created")
# Statuses that mean the invitation was sent (or was already accepted): the invite succeeded.
INVITED_STATUSES = ("Invited", "Enabled", "Disabled")

# Actions whose resulting status (Disabled, Removed, not a member) is what the administrator asked for.
DELIBERATE = frozenset({Action.STOP, Action.DISASSOCIATE, Action.DELETE})


# --- Operations (Celery) ------------------------------------------------------------------------------


def member_operation_start(
    *,
    action: str,
    accounts: Sequence[MemberAccount],
    regions: Sequence[str],
    actor,
    message: str = "",
    disable_email_notification: bool = False,
    create_detectors: bool = False,
    detector_features: Sequence[str] = (),
    pairs: Sequence[tuple[MemberAccount, str]] | None = None,
    drift_fix: bool = False,
    s3_bucket_ids: Sequence[int] | None = None,
) -> MemberOperation:
    """Record an operation with one pending result per (account, region) and queue it after commit.

    `pairs` narrows the work to those (account, region) pairs (e.g. only where an account was never
    invited); by default it is every account in every region.
    """
    action = Action(action)
    unknown = [region for region in regions if region not in configured_regions()]
    if unknown or not regions:
        raise ValidationError(f"Choose regions among the configured ones ({', '.join(configured_regions())}).")
    if not accounts:
        raise ValidationError("Choose at least one account.")
    regions = [region for region in configured_regions() if region in set(regions)]
    work = [(account, region) for region in regions for account in accounts]
    if pairs is not None:
        wanted = {(account.pk, region) for account, region in pairs}
        work = [(account, region) for account, region in work if (account.pk, region) in wanted]
        if not work:
            raise ValidationError("Nothing to do: every chosen account is already invited in the chosen regions.")
        regions = [region for region in regions if any(region == r for _a, r in work)]
        accounts = list({account.pk: account for account, _r in work}.values())
    _refuse_what_organizations_mode_refuses(action, accounts, regions)
    return _operation_create(
        action=action, pairs=work, actor=actor,
        message=message, disable_email_notification=disable_email_notification, create_detectors=create_detectors,
        detector_features=detector_features, drift_fix=drift_fix, s3_bucket_ids=s3_bucket_ids,
    )  # fmt: skip


def _operation_create(
    *,
    action: str,
    pairs: Sequence[tuple[MemberAccount, str]],
    actor,
    message: str = "",
    disable_email_notification: bool = False,
    create_detectors: bool = False,
    detector_features: Sequence[str] = (),
    drift_fix: bool = False,
    s3_bucket_ids: Sequence[int] | None = None,
) -> MemberOperation:
    """An operation with one pending result per (account, region) pair, audited and queued after commit."""
    regions = [region for region in configured_regions() if region in {region for _account, region in pairs}]
    accounts = list({account.pk: account for account, _region in pairs}.values())
    with transaction.atomic():
        operation = MemberOperation.objects.create(
            action=action,
            regions=regions,
            message=message,
            disable_email_notification=disable_email_notification,
            create_detectors=create_detectors,
            detector_features=sorted(detector_features),
            drift_fix=drift_fix,
            s3_bucket_ids=list(s3_bucket_ids) if s3_bucket_ids is not None else None,
            total=len(pairs),
            created_by=actor_user(actor),
        )
        MemberOperationResult.objects.bulk_create(
            [MemberOperationResult(operation=operation, account=account, region=region) for account, region in pairs],
            batch_size=1000,
        )
        details = {"action": Action(action).value, "regions": regions, "accounts": [a.account_id for a in accounts]}
        if message:
            details["message"] = message
        if disable_email_notification:
            details["disable_email_notification"] = True
        if create_detectors:
            details["create_detectors"] = True
        if detector_features:
            details["detector_features"] = sorted(detector_features)
        if s3_bucket_ids:
            details["s3_buckets"] = list(S3Bucket.objects.filter(pk__in=s3_bucket_ids).order_by("name")
                                         .values_list("name", flat=True))  # fmt: skip
        audit_record(actor=actor, verb=f"member.{Action(action).value}", target=operation, details=details)
        task_send_on_commit("accounts.tasks.member_operation_run", operation.pk)
    return operation


def _refuse_what_organizations_mode_refuses(action: str, accounts: Sequence[MemberAccount], regions: Sequence[str]) -> None:
    """Refuse, before anything is recorded, an operation AWS would refuse for organization accounts."""
    if action == Action.ORG_ADD:
        outside = [a.account_id for a in accounts if not a.is_organization_account]
        if outside:
            raise ValidationError(f"Only organization accounts are added without an invitation; "
                                  f"{', '.join(outside[:5])} {'is' if len(outside) == 1 else 'are'} not one: invite "
                                  "instead.")  # fmt: skip
        return
    organization = [a for a in accounts if a.is_organization_account]
    if not organization or action not in ("stop", "disassociate", "delete", "invite"):
        return
    held = set(RegionState.objects.filter(region__in=regions, org_auto_enable_members="ALL").values_list("region", flat=True))
    statuses = {
        (account_id, region): status
        for account_id, region, status in Membership.objects.filter(account__in=organization, region__in=regions)
        .values_list("account__account_id", "region", "relationship_status")
    }
    problems = []
    for region in regions:
        for account in organization:
            reason = organization_refusal(action, statuses.get((account.account_id, region), ""), organization=True,
                                          held_by_all=region in held)  # fmt: skip
            if reason:
                problems.append(f"{account.account_id} in {region}: {reason}")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ValidationError(f"Nothing was done. {' '.join(problems[:3])}{more}")


def member_recreate(*, account: MemberAccount, email: str, regions: Sequence[str], actor) -> MemberOperation:
    """Fix an EmailVerificationFailed member: store the corrected email, then delete + create + invite.

    Only in regions where GuardDuty's verification failed: anywhere else the delete would end a working
    relationship (or withdraw a valid invitation) for nothing.
    """
    if problem := email_problem(email.strip()):
        raise ValidationError({"email": problem})
    failed = set(recreate_regions(account=account))
    if not regions or not set(regions) <= failed:
        where = ", ".join(sorted(failed)) if failed else "no region"
        raise ValidationError({"regions": f"Re-create is only for regions where email verification failed "
                                          f"({where}); other regions were not changed."})
    with transaction.atomic():
        old = account.email
        account.email = email.strip()
        account.save(update_fields=["email"])
        audit_record(actor=actor, verb="member.email_change", target=account, details={"from": old, "to": account.email})
        return member_operation_start(action=Action.RECREATE, accounts=[account], regions=regions, actor=actor)


def recreate_regions(*, account: MemberAccount) -> list[str]:
    """The configured regions where the account's email verification failed (where re-create applies)."""
    failed = set(
        account.memberships.filter(relationship_status="EmailVerificationFailed").values_list("region", flat=True)
    )
    return [region for region in configured_regions() if region in failed]


def member_operation_retry(*, operation: MemberOperation, actor) -> int:
    """Put the failed results of a finished operation back to pending and run it again."""
    with transaction.atomic():
        claimed = MemberOperation.objects.filter(
            pk=operation.pk, status__in=[Status.PARTIAL, Status.FAILED, Status.UNSETTLED], failed__gt=0
        ).update(status=Status.QUEUED, finished_at=None)
        if not claimed:
            return 0
        count = operation.results.filter(outcome=Outcome.FAILED).update(outcome=Outcome.PENDING, result="")
        MemberOperation.objects.filter(pk=operation.pk).update(done=F("done") - count, failed=F("failed") - count)
        audit_record(actor=actor, verb="member.operation_retry", target=operation, details={"results": count})
        task_send_on_commit("accounts.tasks.member_operation_run", operation.pk)
    return count


def _claim(operation_id: int) -> MemberOperation | None:
    now = timezone.now()
    claimed = MemberOperation.objects.filter(pk=operation_id, status=MemberOperation.Status.QUEUED).update(
        status=MemberOperation.Status.RUNNING, started_at=now, heartbeat_at=now
    ) or MemberOperation.objects.filter(
        pk=operation_id, status=MemberOperation.Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER
    ).update(heartbeat_at=now)
    return MemberOperation.objects.get(pk=operation_id) if claimed else None


def member_operation_run(*, operation_id: int) -> MemberOperation | None:
    """Do the pending work of an operation, region by region, 50 accounts per call; None if not claimable."""
    operation = _claim(operation_id)
    if operation is None:
        return None
    with gateway.acting_as(operation.created_by):
        _operation_work(operation)
    if operation.results.filter(outcome=Outcome.VERIFYING).exists():
        now = timezone.now()
        MemberOperation.objects.filter(pk=operation.pk).update(
            status=Status.VERIFYING, verify_until=now + VERIFY_FOR,
            verify_check_at=now + timedelta(seconds=VERIFY_FIRST_CHECK),
        )  # fmt: skip
        task_send_on_commit("accounts.tasks.member_invitations_verify", operation.pk, countdown=VERIFY_FIRST_CHECK)
        operation.refresh_from_db()
        return operation
    return _operation_finish(operation)


def _operation_work(operation: MemberOperation) -> None:
    """The pending results of `operation`, region by region, 50 accounts per call."""
    for region in operation.regions:
        with log_context(region=region, operation=operation.pk):
            _operation_region_work(operation, region)


def _operation_region_work(operation: MemberOperation, region: str) -> None:
    pending = list(operation.results.filter(region=region, outcome=Outcome.PENDING).select_related("account"))
    if not pending:
        return
    try:
        detector_id = administrator_detector(region, create=operation.create_detectors, actor=operation.created_by,
                                             features=operation.detector_features)  # fmt: skip
    except GatewayError as error:
        _record(operation, region, pending, {}, default=(False, error.message))
        return
    handler = HANDLERS[operation.action]
    for chunk in gateway.batches(pending):
        # A call for one account names it on its lines; a batch's lines name the region and operation.
        with log_context(account=chunk[0].account.account_id if len(chunk) == 1 else None):
            try:
                outcomes, calls = handler(operation, region, detector_id, chunk)
                if operation.drift_fix and operation.detector_features and operation.action in POLICY_THEN:
                    outcomes, calls = _then_policy_features(operation, region, detector_id, chunk, outcomes, calls)
            except GatewayError as error:
                if "detector" in error.message.lower():
                    RegionState.objects.filter(region=region).update(detector_id="")
                _record(operation, region, chunk, {}, default=(False, error.message), calls=0)
                continue
            _record(operation, region, chunk, outcomes, calls=calls)


def _operation_finish(operation: MemberOperation) -> MemberOperation:
    """Set the final status from the results' outcomes."""
    operation.refresh_from_db()
    unsettled = operation.results.filter(outcome=Outcome.UNSETTLED).exists()
    if operation.failed == 0:
        operation.status = Status.UNSETTLED if unsettled else Status.SUCCEEDED
    elif operation.failed >= operation.total:
        operation.status = Status.FAILED
    else:
        operation.status = Status.PARTIAL
    operation.finished_at = timezone.now()
    operation.verify_check_at = None
    operation.save(update_fields=["status", "finished_at", "verify_check_at"])
    if operation.drift_fix:  # checked again: the policies against what the operation left
        task_send_on_commit("accounts.tasks.drift_evaluate")
    return operation


# --- Email verification (after InviteMembers) ---------------------------------------------------------------


def member_invitations_verify(*, operation_id: int, now: datetime | None = None) -> float | None:
    """Read the status of the operation's members GuardDuty is verifying (GetMembers) and record those that settled.

    Returns the seconds until the next check, or None when there is nothing more to check (every email
    settled, the operation is not verifying, or another check holds it). Past `verify_until`, the emails
    still being verified are recorded as "still verifying" and the operation finishes.
    """
    now = now or timezone.now()
    claimed = MemberOperation.objects.filter(
        pk=operation_id, status=Status.VERIFYING, verify_check_at__lte=now + timedelta(seconds=1)
    ).update(verify_check_at=now + VERIFY_LEASE, heartbeat_at=now)
    if not claimed:
        return None
    operation = MemberOperation.objects.get(pk=operation_id)
    expired = operation.verify_until is None or now >= operation.verify_until
    with gateway.acting_as(operation.created_by):  # SourceIdentity: the person who asked for the invite
        for region in operation.regions:
            verifying = list(
                operation.results.filter(region=region, outcome=Outcome.VERIFYING).select_related("account")
            )
            if verifying:
                _verify_region(operation, region, verifying, expired=expired)
    if not operation.results.filter(outcome=Outcome.VERIFYING).exists():
        _operation_finish(operation)
        return None
    started = operation.verify_until - VERIFY_FOR
    waited = max((now - started).total_seconds(), 0.0)
    remaining = (operation.verify_until - now).total_seconds()
    delay = min(max(waited / 2, VERIFY_FIRST_CHECK), VERIFY_MAX_INTERVAL, max(remaining, VERIFY_FIRST_CHECK))
    MemberOperation.objects.filter(pk=operation.pk).update(verify_check_at=now + timedelta(seconds=delay))
    return delay


def member_invitations_overdue(*, now: datetime | None = None) -> list[int]:
    """Verifying operations whose next check is long overdue (its task was lost): their ids, to queue again."""
    now = now or timezone.now()
    return list(
        MemberOperation.objects.filter(status=Status.VERIFYING, verify_check_at__lt=now - VERIFY_LEASE)
        .values_list("pk", flat=True)
    )


def _verify_region(operation: MemberOperation, region: str, verifying: Chunk, *, expired: bool) -> None:
    try:
        detector_id = administrator_detector(region, create=False)
    except GatewayError as error:
        if expired:
            _record(operation, region, verifying, {}, default=(True, _still_verifying(error.message)),
                    only=Outcome.VERIFYING, unsettled=True)  # fmt: skip
        return
    for chunk in gateway.batches(verifying):
        try:
            fetched = gateway.members_get(region=region, detector_id=detector_id, account_ids=_ids(chunk))
        except GatewayError as error:
            if expired:
                _record(operation, region, chunk, {}, default=(True, _still_verifying(error.message)),
                        only=Outcome.VERIFYING, unsettled=True)  # fmt: skip
            continue
        members = {member.account_id: member for member in fetched.members}
        outcomes = {}
        for result in chunk:
            outcome = _after_invite(result.account, region, members.get(result.account.account_id))
            if outcome.verifying and expired:
                outcome = AccountOutcome(ok=True, unsettled=True, text=_still_verifying(), status=outcome.status)
            if not outcome.verifying:
                outcomes[result.account.account_id] = outcome
        settled = [result for result in chunk if result.account.account_id in outcomes]
        _record(operation, region, settled, outcomes, calls=fetched.calls, only=Outcome.VERIFYING)


def _still_verifying(problem: str = "") -> str:
    minutes = int(VERIFY_FOR.total_seconds() // 60)
    why = f" The last check failed: {problem}" if problem else ""
    return (f"Still verifying after {minutes} minutes: GuardDuty had not finished checking the email, so the "
            f"invitation is not sent yet. The member status sync will show how it ends; nothing to do now.{why}")


@dataclass
class AccountOutcome:
    """What happened to one account in one region, and what GuardDuty now says about it."""

    ok: bool
    text: str = ""
    status: str | None = None  # None: unchanged
    invited_at: datetime | None = None
    updated_at: datetime | None = None
    detector_id: str | None = None
    verifying: bool = False  # GuardDuty is still verifying the email: not finished yet
    unsettled: bool = False  # still verifying when the operation stopped checking


Chunk = list[MemberOperationResult]
Handler = Callable[[MemberOperation, str, str, Chunk], tuple[dict[str, AccountOutcome], int]]


def _ids(chunk: Chunk) -> list[str]:
    return [result.account.account_id for result in chunk]


def _after_invite(account: MemberAccount, region: str, member: gateway.MemberInfo | None) -> AccountOutcome:
    """An invitation's outcome from the member's RelationshipStatus (GetMembers), never from guessing at text."""
    if member is None:
        return AccountOutcome(ok=False, status="", text=f"GuardDuty no longer lists {account.account_id} as a member "
                                                         f"in {region} (deleted meanwhile?). Invite it again.")  # fmt: skip
    status = member.relationship_status
    seen = {"status": status, "updated_at": member.updated_at, "detector_id": member.detector_id,
            "invited_at": member.invited_at}  # fmt: skip
    if status in VERIFYING_STATUSES:
        return AccountOutcome(ok=True, verifying=True, text=VERIFYING_TEXT, **seen)
    if status in INVITED_STATUSES:
        return AccountOutcome(ok=True, text=status_label(status), **seen)
    if status == "EmailVerificationFailed":
        return AccountOutcome(ok=False, text=email_verification_failed_text(account.email), **seen)
    return AccountOutcome(ok=False, text=f"GuardDuty reports {status_label(status)} after the invitation.", **seen)


VERIFYING_TEXT = ("Invitation requested: GuardDuty is verifying the email (it must be the account's root email) "
                  "before it sends the invitation.")


def email_verification_failed_text(email: str) -> str:
    """What to say, and to do, when GuardDuty reports EmailVerificationFailed."""
    return (f"Email verification failed: GuardDuty could not verify {email} as the account's root email, so no "
            "invitation was sent. Use “Re-create with a corrected email” on the account's page.")


def _statuses_read(region: str, detector_id: str, account_ids: list[str]) -> tuple[dict[str, gateway.MemberInfo], int]:
    fetched = gateway.members_get(region=region, detector_id=detector_id, account_ids=account_ids)
    return {member.account_id: member for member in fetched.members}, fetched.calls


def _invite_and_read(operation: MemberOperation, region: str, detector_id: str, chunk: Chunk,
                     account_ids: list[str], outcomes: dict[str, AccountOutcome]) -> int:
    """InviteMembers for `account_ids`, then GetMembers: each one's outcome from the status GuardDuty reports."""
    if not account_ids:
        return 0
    invited = gateway.members_invite(
        region=region,
        detector_id=detector_id,
        account_ids=account_ids,
        message=operation.message,
        disable_email=operation.disable_email_notification,
    )
    calls, failed = invited.calls, invited.failed()
    accounts = {result.account.account_id: result.account for result in chunk}
    try:
        members, more = _statuses_read(region, detector_id, account_ids)
    except GatewayError as error:  # the invitations went out: the verification checks read them later
        for account_id in account_ids:
            outcomes[account_id] = (
                AccountOutcome(ok=False, text=f"InviteMembers: {failed[account_id]}") if account_id in failed
                else AccountOutcome(ok=True, verifying=True, text=f"{VERIFYING_TEXT} (Status not read yet: "
                                                                  f"{error.message})")
            )  # fmt: skip
        return calls
    calls += more
    for account_id in account_ids:
        outcome = _after_invite(accounts[account_id], region, members.get(account_id))
        if account_id in failed:  # GuardDuty's reason, with the status it reports (not guessed from the text)
            outcome = AccountOutcome(ok=False, text=f"InviteMembers: {failed[account_id]}", status=outcome.status,
                                     updated_at=outcome.updated_at, invited_at=outcome.invited_at)  # fmt: skip
        outcomes[account_id] = outcome
    return calls


def _handle_invite(operation: MemberOperation, region: str, detector_id: str, chunk: Chunk):
    """CreateMembers (already-members are fine), InviteMembers, then GetMembers for where each one stands."""
    created = gateway.members_create(
        region=region, detector_id=detector_id, accounts=[(r.account.account_id, r.account.email) for r in chunk]
    )
    outcomes: dict[str, AccountOutcome] = {}
    to_invite = []
    for result in chunk:
        reason = created.failed().get(result.account.account_id)
        if reason and "already" not in reason.lower():
            outcomes[result.account.account_id] = AccountOutcome(ok=False, text=f"CreateMembers: {reason}")
        else:
            to_invite.append(result.account.account_id)
    calls = created.calls + _invite_and_read(operation, region, detector_id, chunk, to_invite, outcomes)
    return outcomes, calls


def _handle_resend(operation: MemberOperation, region: str, detector_id: str, chunk: Chunk):
    """Send a new invitation: what GuardDuty allows depends on the member's status, read first (GetMembers).

    GuardDuty refuses InviteMembers for an Invited member ("already invited"; terraform-provider-aws
    member.go quotes the answer), so the pending invitation is withdrawn first: DisassociateMembers takes
    an Invited member to Removed (terraform-provider-aws member_test.go, invite then disassociate), and a
    disassociated member "can be invited without CreateMembers" (API reference, InviteMembers). Removed,
    Resigned and Created members are simply invited. A failed email verification would fail again: it
    needs "Re-create with a corrected email".
    """
    members, calls = _statuses_read(region, detector_id, _ids(chunk))
    outcomes: dict[str, AccountOutcome] = {}
    withdraw, invite = [], []
    for result in chunk:
        account_id = result.account.account_id
        member = members.get(account_id)
        status = member.relationship_status if member else ""
        if status == "Invited":
            withdraw.append(account_id)
        elif status in ("Removed", "Resigned", "Created"):
            invite.append(account_id)
        else:
            outcomes[account_id] = AccountOutcome(ok=False, status=status, text=_not_resent(status, result.account,
                                                                                            region))  # fmt: skip
    if withdraw:
        withdrawn = gateway.members_disassociate(region=region, detector_id=detector_id, account_ids=withdraw)
        calls += withdrawn.calls
        refused = withdrawn.failed()
        for account_id in withdraw:
            if account_id in refused:
                outcomes[account_id] = AccountOutcome(ok=False, text=f"DisassociateMembers: {refused[account_id]}")
            else:
                invite.append(account_id)
    calls += _invite_and_read(operation, region, detector_id, chunk, invite, outcomes)
    return outcomes, calls


def _not_resent(status: str, account: MemberAccount, region: str) -> str:
    if status == "":
        return f"Not re-sent: {account.account_id} is not a member in {region}. Use Invite."
    if status == "EmailVerificationFailed":
        return "Not re-sent: " + email_verification_failed_text(account.email)
    if status == "EmailVerificationInProgress":
        return ("Not re-sent: GuardDuty is still verifying the email of the invitation just requested; the member "
                "will be Invited (or Email verification failed) shortly.")
    return f"Not re-sent: the account is {status_label(status)} in {region}, not waiting for an invitation."


def _accept_on_behalf(account_id: str, region: str, features: Sequence[str]) -> tuple[AccountOutcome, int]:
    """As the member (assume-role): create its detector if missing (with `features` enabled, every other plan
    disabled), find the invitation, accept it."""
    calls = 0
    try:
        administrator_id = administrator_account_id(region)
        member_detector = gateway.detector_id_find(region=region, member_account_id=account_id)
        calls += 1
        if member_detector is None:
            member_detector = gateway.detector_create(region=region, features=features, member_account_id=account_id)
            calls += 1
        invitations = gateway.member_invitations_list(account_id=account_id, region=region)
        calls += 1
        invitation = next((i for i in invitations if i.administrator_id == administrator_id), None)
        if invitation is None:
            return AccountOutcome(ok=False, text=f"Accept: {account_id} has no pending invitation in {region}."), calls
        gateway.member_invitation_accept(
            account_id=account_id,
            region=region,
            detector_id=member_detector,
            administrator_id=administrator_id,
            invitation_id=invitation.invitation_id,
        )
        calls += 1
    except GatewayError as error:
        return AccountOutcome(ok=False, text=f"Accept: {error.operation}: {error.message}"), calls
    return AccountOutcome(ok=True, text="Accepted on the member's behalf", status="Enabled",
                          detector_id=member_detector), calls  # fmt: skip


def _handle_accept(operation: MemberOperation, region: str, detector_id: str, chunk: Chunk):
    """Accept invitations on the members' behalf (needs GUARDWATCH_MEMBER_ROLE_NAME), only where one exists.

    GuardDuty sends the invitation once it has verified the email (the member is then Invited); before
    that, or after, there is nothing to accept, so the member's status is read first (GetMembers) and
    nothing is done as the member unless it is Invited.
    """
    if not settings.GUARDWATCH_MEMBER_ROLE_NAME:
        text = "No member role is configured: set GUARDWATCH_MEMBER_ROLE_NAME to accept on a member's behalf."
        return {r.account.account_id: AccountOutcome(ok=False, text=text) for r in chunk}, 0
    members, calls = _statuses_read(region, detector_id, _ids(chunk))
    outcomes = {}
    for result in chunk:
        account_id = result.account.account_id
        member = members.get(account_id)
        status = member.relationship_status if member else ""
        if status != "Invited":
            outcomes[account_id] = AccountOutcome(
                ok=False, status=status,
                text=f"Not accepted: there is no invitation to accept in {region}; GuardDuty reports "
                     f"{status_label(status)}. Accept once the member is Invited (after the email is verified).",
            )  # fmt: skip
            continue
        outcomes[account_id], more = _accept_on_behalf(account_id, region, operation.detector_features)
        calls += more
    return outcomes, calls


def _then_read_statuses(region: str, detector_id: str, chunk: Chunk, done: gateway.BatchResult, label: str):
    """After a state-changing call: GetMembers tells the status each member now has."""
    failed = done.failed()
    fetched = gateway.members_get(region=region, detector_id=detector_id, account_ids=_ids(chunk))
    members = {member.account_id: member for member in fetched.members}
    outcomes = {}
    for account_id in _ids(chunk):
        member = members.get(account_id)
        status = member.relationship_status if member else ""
        extra = {"status": status}
        if member:
            extra.update(updated_at=member.updated_at, detector_id=member.detector_id)
        if account_id in failed:
            outcomes[account_id] = AccountOutcome(ok=False, text=f"{label}: {failed[account_id]}", **extra)
        else:
            outcomes[account_id] = AccountOutcome(ok=True, text=status_label(status), **extra)
    return outcomes, done.calls + fetched.calls


def _simple(call, label: str) -> Handler:
    def handle(operation: MemberOperation, region: str, detector_id: str, chunk: Chunk):
        done = call(region=region, detector_id=detector_id, account_ids=_ids(chunk))
        return _then_read_statuses(region, detector_id, chunk, done, label)

    return handle


def _handle_delete(operation: MemberOperation, region: str, detector_id: str, chunk: Chunk):
    done = gateway.members_delete(region=region, detector_id=detector_id, account_ids=_ids(chunk))
    failed = done.failed()
    outcomes = {}
    for account_id in _ids(chunk):
        reason = failed.get(account_id)
        if reason and "not a member" not in reason.lower():
            outcomes[account_id] = AccountOutcome(ok=False, text=f"DeleteMembers: {reason}")
        else:
            outcomes[account_id] = AccountOutcome(ok=True, text="Deleted", status="", detector_id="")
    return outcomes, done.calls


def _handle_recreate(operation: MemberOperation, region: str, detector_id: str, chunk: Chunk):
    deleted, calls = _handle_delete(operation, region, detector_id, chunk)
    retry = [result for result in chunk if deleted[result.account.account_id].ok]
    outcomes = {k: v for k, v in deleted.items() if not v.ok}
    if retry:
        invited, more = _handle_invite(operation, region, detector_id, retry)
        outcomes.update(invited)
        calls += more
    return outcomes, calls


# A member CreateMembers just added may not be listed by GetMembers/ListMembers at once (eventually consistent:
# Terraform's guardduty member resource waits for it, and fails with "member missing from response" when it does
# not). Read again after these pauses, then show the rest as pending; the next member sync finds them.
MEMBER_APPEAR_WAITS = (1.0, 2.0, 4.0)
PENDING_TEXT = ("Added; GuardDuty does not list it yet. It shows as pending on the Organization page until a "
                "member sync reads it.")


def _handle_org_add(operation: MemberOperation, region: str, detector_id: str, chunk: Chunk):
    """Organization accounts of a delegated administrator become members without an invitation; a disassociated
    organization member is added again the same way (AWS refuses to invite it)."""
    created = gateway.members_create(
        region=region, detector_id=detector_id, accounts=[(r.account.account_id, r.account.email) for r in chunk]
    )
    outcomes, calls = _then_read_statuses(region, detector_id, chunk, created, "CreateMembers")
    for wait in MEMBER_APPEAR_WAITS:
        missing = [r for r in chunk if outcomes[r.account.account_id].ok and not outcomes[r.account.account_id].status]
        if not missing:
            break
        time.sleep(wait)
        more, more_calls = _then_read_statuses(region, detector_id, missing, gateway.BatchResult(calls=0), "CreateMembers")
        outcomes.update(more)
        calls += more_calls
    for result in chunk:
        outcome = outcomes[result.account.account_id]
        if outcome.ok and not outcome.status:
            outcomes[result.account.account_id] = AccountOutcome(ok=True, text=PENDING_TEXT)
    return outcomes, calls


def _handle_features(operation: MemberOperation, region: str, detector_id: str, chunk: Chunk):
    """Turn protection plans (and Runtime's agent management) on in members' detectors, then read them back
    (GetMemberDetectors) into MemberProtection, so drift is checked against what GuardDuty now reports."""
    names = operation.detector_features
    agents = [name for name in names if name in RUNTIME_AGENTS]
    features = [name for name in names if name not in RUNTIME_AGENTS]
    done = gateway.member_detectors_update(region=region, detector_id=detector_id, account_ids=_ids(chunk),
                                           features=features, agents=agents)  # fmt: skip
    failed = done.failed()
    reread = member_protection_refresh(region=region, detector_id=detector_id,
                                       account_ids=[a for a in _ids(chunk) if a not in failed])  # fmt: skip
    outcomes = {
        account_id: AccountOutcome(ok=False, text=f"UpdateMemberDetectors: {failed[account_id]}")
        if account_id in failed else AccountOutcome(ok=True, text=f"Turned on: {', '.join(names)}")
        for account_id in _ids(chunk)
    }  # fmt: skip
    return outcomes, done.calls + reread


def _handle_s3_malware(operation: MemberOperation, region: str, detector_id: str, chunk: Chunk):
    """CreateMalwareProtectionPlan, as each member, for its chosen buckets in this region (one call per bucket: the
    API takes one), recording each plan GuardDuty answers (GetMalwareProtectionPlan) for drift to see."""
    buckets = S3Bucket.objects.filter(pk__in=operation.s3_bucket_ids or [], region=region,
                                      account__in=[result.account for result in chunk]).order_by("name")  # fmt: skip
    by_account: dict[int, list[S3Bucket]] = {}
    for bucket in buckets:
        by_account.setdefault(bucket.account_id, []).append(bucket)
    outcomes, calls = {}, 0
    for result in chunk:
        done, problems = [], []
        for bucket in by_account.get(result.account_id, []):
            if bucket.plan_id:
                done.append(f"{bucket.name} (already {bucket.plan_status})")
                continue
            try:
                plan = gateway.member_malware_plan_create(account_id=result.account.account_id, region=region,
                                                          bucket=bucket.name, role_arn=role_arn(result.account.account_id))  # fmt: skip
            except GatewayError as error:
                calls += 1
                problems.append(f"{bucket.name}: {error.operation}: {error.message}")
                continue
            calls += 2
            plan_record(bucket=bucket, plan=plan)
            done.append(f"{bucket.name} ({plan.status})")
        text = "; ".join([*(["Protected: " + ", ".join(done)] if done else []), *problems]) or "No bucket to protect."
        outcomes[result.account.account_id] = AccountOutcome(ok=not problems, text=text)
    return outcomes, calls


# A drift fix that makes accounts monitored also turns on what their policy asks for, in the same operation.
POLICY_THEN = (Action.START, Action.ORG_ADD)


def _then_policy_features(operation: MemberOperation, region: str, detector_id: str, chunk: Chunk, outcomes: dict,
                          calls: int) -> tuple[dict, int]:  # fmt: skip
    """UpdateMemberDetectors (read back) for the accounts the call just made monitored, so the re-check after one
    fix finds them as their policy asks, not with a second round of plan deviations to fix."""
    monitored = [r for r in chunk if outcomes[r.account.account_id].ok
                 and outcomes[r.account.account_id].status == "Enabled"]  # fmt: skip
    if not monitored:
        return outcomes, calls
    _memberships_for([r.account for r in monitored], region)  # a new member's row, for its plans read back
    turned, more = _handle_features(operation, region, detector_id, monitored)
    for account_id, outcome in turned.items():
        before = outcomes[account_id]
        outcomes[account_id] = dataclasses.replace(before, ok=outcome.ok, text=f"{before.text}; {outcome.text}")
    return outcomes, calls + more


HANDLERS: dict[str, Handler] = {
    Action.INVITE: _handle_invite,
    Action.RESEND: _handle_resend,
    Action.START: _simple(gateway.members_start_monitoring, "StartMonitoringMembers"),
    Action.STOP: _simple(gateway.members_stop_monitoring, "StopMonitoringMembers"),
    Action.DISASSOCIATE: _simple(gateway.members_disassociate, "DisassociateMembers"),
    Action.DELETE: _handle_delete,
    Action.RECREATE: _handle_recreate,
    Action.ACCEPT: _handle_accept,
    Action.ORG_ADD: _handle_org_add,
    Action.FEATURES: _handle_features,
    Action.S3_MALWARE: _handle_s3_malware,
}


def _record(
    operation: MemberOperation,
    region: str,
    chunk: Chunk,
    outcomes: dict[str, AccountOutcome],
    *,
    default: tuple[bool, str] = (False, "No answer for this account."),
    calls: int = 0,
    only: str | None = None,
    unsettled: bool = False,
) -> None:
    """Save one batch's outcomes in a few queries: result rows, memberships (+ history, alerts), progress.

    `only`: record just the rows still in that outcome, locked first, so a check delivered twice records
    nothing twice. A "verifying" outcome is not done yet; members that became Invited and accept
    automatically get an accept operation of their own (its failure never overwrites the invitation's).
    """
    now = timezone.now()
    with transaction.atomic():
        if only is not None and chunk:
            mine = set(
                MemberOperationResult.objects.select_for_update(skip_locked=True)
                .filter(pk__in=[result.pk for result in chunk], outcome=only).values_list("pk", flat=True)
            )
            chunk = [result for result in chunk if result.pk in mine]
        if not chunk:
            MemberOperation.objects.filter(pk=operation.pk).update(api_calls=F("api_calls") + calls, heartbeat_at=now)
            return
        memberships = _memberships_for([result.account for result in chunk], region)
        failed = finished = 0
        changes: list[tuple[Membership, str]] = []
        invited: list[MemberOperationResult] = []
        for result in chunk:
            outcome = outcomes.get(result.account.account_id) or AccountOutcome(
                ok=default[0], text=default[1], unsettled=unsettled)
            if outcome.verifying:
                result.outcome, result.finished_at = Outcome.VERIFYING, None
            else:
                result.outcome = (Outcome.FAILED if not outcome.ok else Outcome.UNSETTLED if outcome.unsettled
                                  else Outcome.OK)  # fmt: skip
                result.finished_at = now
                finished += 1
            result.result = outcome.text[:2000]
            failed += 0 if outcome.ok else 1
            membership = memberships[result.account_id]
            membership.account = result.account
            if outcome.ok:
                membership.last_error, membership.last_error_at = "", None
            else:
                membership.last_error, membership.last_error_at = outcome.text, now
            for name in ("invited_at", "updated_at", "detector_id"):
                value = getattr(outcome, name)
                if value is not None:
                    setattr(membership, name, value)
            if outcome.status is not None and outcome.status != membership.relationship_status:
                changes.append((membership, outcome.status))
            if outcome.ok and outcome.status == "Invited":
                invited.append(result)
        _accept_start(operation, region, invited)
        # The operation itself is audited (who, what, which accounts); its status changes go to history,
        # and what the administrator did on purpose (stop, disassociate, delete) is not raised as an alert.
        status_changes_apply(changes, source=MembershipStatusChange.Source.ACTION,
                             actor=operation.created_by or "system", audit=False,
                             alerts=operation.action not in DELIBERATE)  # fmt: skip
        rows_update(
            Membership,
            list(memberships.values()),
            ["relationship_status", "last_error", "last_error_at", "invited_at", "updated_at", "detector_id"],
        )
        account_regions_refresh(membership.account_id for membership, _status in changes)
        rows_update(MemberOperationResult, chunk, ["outcome", "result", "finished_at"])
        MemberOperation.objects.filter(pk=operation.pk).update(
            done=F("done") + finished, failed=F("failed") + failed, api_calls=F("api_calls") + calls,
            heartbeat_at=now,
        )  # fmt: skip


def _accept_start(operation: MemberOperation, region: str, invited: Chunk) -> None:
    """Accept on the behalf of just-Invited members marked auto-accept, as an operation of its own.

    Its outcome (and failure message) is that operation's: the invitation's result keeps saying Invited.
    Needs the member role (GUARDWATCH_MEMBER_ROLE_NAME); without it auto-accept does nothing.
    """
    if operation.action not in (Action.INVITE, Action.RESEND, Action.RECREATE) or not settings.GUARDWATCH_MEMBER_ROLE_NAME:
        return
    chosen = [result for result in invited if result.account.auto_accept]
    if not chosen:
        return
    accept = _operation_create(action=Action.ACCEPT, pairs=[(result.account, region) for result in chosen],
                               actor=operation.created_by or "system", detector_features=operation.detector_features)
    for result in chosen:
        result.result = f"{result.result}; accepting on the member's behalf in {accept.get_action_display()} #{accept.pk}"
