"""Member operations: invite, accept, resend, disassociate, delete, re-create, add from the organisation.

Work that calls AWS for many accounts runs as a `MemberOperation` in Celery: one result row per
(account, region), written batch by batch, so the page can show progress and a re-delivered task only
does what is still pending. AWS is reached only through `accounts.gateway`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts import gateway
from accounts.csvimport import email_problem
from accounts.gateway import GatewayError
from accounts.models import (
    MemberAccount,
    MemberOperation,
    MemberOperationResult,
    Membership,
    MembershipStatusChange,
    RegionState,
    organization_refusal,
    status_label,
)
from accounts.services import (
    STALE_AFTER,
    _memberships_for,
    administrator_account_id,
    administrator_detector,
    configured_regions,
    rows_update,
    status_changes_apply,
)
from guardwatch.core.queue import task_send_on_commit
from guardwatch.core.services import actor_user, audit_record

Action = MemberOperation.Action
Outcome = MemberOperationResult.Outcome
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
    with transaction.atomic():
        operation = MemberOperation.objects.create(
            action=action,
            regions=regions,
            message=message,
            disable_email_notification=disable_email_notification,
            create_detectors=create_detectors,
            detector_features=sorted(detector_features),
            total=len(work),
            created_by=actor_user(actor),
        )
        MemberOperationResult.objects.bulk_create(
            [MemberOperationResult(operation=operation, account=account, region=region) for account, region in work],
            batch_size=1000,
        )
        details = {"action": action.value, "regions": regions, "accounts": [a.account_id for a in accounts]}
        if message:
            details["message"] = message
        if disable_email_notification:
            details["disable_email_notification"] = True
        if create_detectors:
            details["create_detectors"] = True
        if detector_features:
            details["detector_features"] = sorted(detector_features)
        audit_record(actor=actor, verb=f"member.{action.value}", target=operation, details=details)
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
    """Fix an EmailVerificationFailed member: store the corrected email, then delete + create + invite."""
    if problem := email_problem(email.strip()):
        raise ValidationError({"email": problem})
    with transaction.atomic():
        old = account.email
        account.email = email.strip()
        account.save(update_fields=["email"])
        audit_record(actor=actor, verb="member.email_change", target=account, details={"from": old, "to": account.email})
        return member_operation_start(action=Action.RECREATE, accounts=[account], regions=regions, actor=actor)


def member_operation_retry(*, operation: MemberOperation, actor) -> int:
    """Put the failed results of a finished operation back to pending and run it again."""
    with transaction.atomic():
        claimed = MemberOperation.objects.filter(
            pk=operation.pk, status__in=[MemberOperation.Status.PARTIAL, MemberOperation.Status.FAILED]
        ).update(status=MemberOperation.Status.QUEUED, finished_at=None)
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
    operation.refresh_from_db()
    if operation.failed == 0:
        operation.status = MemberOperation.Status.SUCCEEDED
    elif operation.failed >= operation.total:
        operation.status = MemberOperation.Status.FAILED
    else:
        operation.status = MemberOperation.Status.PARTIAL
    operation.finished_at = timezone.now()
    operation.save(update_fields=["status", "finished_at"])
    return operation


def _operation_work(operation: MemberOperation) -> None:
    """The pending results of `operation`, region by region, 50 accounts per call."""
    for region in operation.regions:
        pending = list(
            operation.results.filter(region=region, outcome=Outcome.PENDING).select_related("account")
        )
        if not pending:
            continue
        try:
            detector_id = administrator_detector(region, create=operation.create_detectors, actor=operation.created_by,
                                                 features=operation.detector_features)  # fmt: skip
        except GatewayError as error:
            _record(operation, region, pending, {}, default=(False, error.message))
            continue
        handler = HANDLERS[operation.action]
        for chunk in gateway.batches(pending):
            try:
                outcomes, calls = handler(operation, region, detector_id, chunk)
            except GatewayError as error:
                if "detector" in error.message.lower():
                    RegionState.objects.filter(region=region).update(detector_id="")
                outcomes, calls = {}, 0
                _record(operation, region, chunk, outcomes, default=(False, error.message), calls=calls)
                continue
            _record(operation, region, chunk, outcomes, calls=calls)


@dataclass
class AccountOutcome:
    """What happened to one account in one region, and what GuardDuty now says about it."""

    ok: bool
    text: str = ""
    status: str | None = None  # None: unchanged
    invited_at: datetime | None = None
    updated_at: datetime | None = None
    detector_id: str | None = None


Chunk = list[MemberOperationResult]
Handler = Callable[[MemberOperation, str, str, Chunk], tuple[dict[str, AccountOutcome], int]]


def _ids(chunk: Chunk) -> list[str]:
    return [result.account.account_id for result in chunk]


def _handle_invite(operation: MemberOperation, region: str, detector_id: str, chunk: Chunk):
    """CreateMembers (already-members are fine) then InviteMembers; auto-accept where configured."""
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
            outcomes[result.account.account_id] = AccountOutcome(ok=True, text="Created", status="Created")
    calls = created.calls
    if to_invite:
        invited = gateway.members_invite(
            region=region,
            detector_id=detector_id,
            account_ids=to_invite,
            message=operation.message,
            disable_email=operation.disable_email_notification,
        )
        calls += invited.calls
        failed = invited.failed()
        now = timezone.now()
        for account_id in to_invite:
            if account_id in failed:
                outcomes[account_id] = AccountOutcome(
                    ok=False, text=f"InviteMembers: {failed[account_id]}", status=_status_after_failed_invite(failed[account_id])
                )
            else:
                outcomes[account_id] = AccountOutcome(ok=True, text="Invited", status="Invited", invited_at=now)
    calls += _auto_accept(region, chunk, outcomes, operation.detector_features)
    return outcomes, calls


def _status_after_failed_invite(reason: str) -> str | None:
    """GuardDuty marks a member EmailVerificationFailed when the email is not the root email."""
    return "EmailVerificationFailed" if "email" in reason.lower() and "match" in reason.lower() else None


def _auto_accept(region: str, chunk: Chunk, outcomes: dict[str, AccountOutcome], features: Sequence[str]) -> int:
    """Accept invitations just sent to accounts marked auto-accept, when a member role is configured."""
    if not settings.GUARDWATCH_MEMBER_ROLE_NAME:
        return 0
    calls = 0
    for result in chunk:
        account_id = result.account.account_id
        if result.account.auto_accept and outcomes.get(account_id) and outcomes[account_id].status == "Invited":
            accepted = _accept_on_behalf(account_id, region, features)
            calls += accepted.calls
            outcomes[account_id] = accepted.outcome
    return calls


@dataclass
class _Accepted:
    outcome: AccountOutcome
    calls: int


def _accept_on_behalf(account_id: str, region: str, features: Sequence[str]) -> _Accepted:
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
            return _Accepted(
                AccountOutcome(ok=False, text=f"Auto-accept: {account_id} has no pending invitation in {region}."),
                calls,
            )
        gateway.member_invitation_accept(
            account_id=account_id,
            region=region,
            detector_id=member_detector,
            administrator_id=administrator_id,
            invitation_id=invitation.invitation_id,
        )
        calls += 1
    except GatewayError as error:
        return _Accepted(AccountOutcome(ok=False, text=f"Auto-accept: {error.operation}: {error.message}"), calls)
    return _Accepted(
        AccountOutcome(ok=True, text="Invited and accepted on the member's behalf", status="Enabled",
                       detector_id=member_detector),  # fmt: skip
        calls,
    )


def _handle_accept(operation: MemberOperation, region: str, detector_id: str, chunk: Chunk):
    """Accept pending invitations on the members' behalf (needs GUARDWATCH_MEMBER_ROLE_NAME)."""
    if not settings.GUARDWATCH_MEMBER_ROLE_NAME:
        text = "No member role is configured: set GUARDWATCH_MEMBER_ROLE_NAME to accept on a member's behalf."
        return {r.account.account_id: AccountOutcome(ok=False, text=text) for r in chunk}, 0
    outcomes, calls = {}, 0
    for result in chunk:
        accepted = _accept_on_behalf(result.account.account_id, region, operation.detector_features)
        outcomes[result.account.account_id] = accepted.outcome
        calls += accepted.calls
    return outcomes, calls


def _handle_resend(operation: MemberOperation, region: str, detector_id: str, chunk: Chunk):
    invited = gateway.members_invite(
        region=region,
        detector_id=detector_id,
        account_ids=_ids(chunk),
        message=operation.message,
        disable_email=operation.disable_email_notification,
    )
    failed, now = invited.failed(), timezone.now()
    outcomes = {
        account_id: AccountOutcome(ok=False, text=f"InviteMembers: {failed[account_id]}",
                                   status=_status_after_failed_invite(failed[account_id]))  # fmt: skip
        if account_id in failed
        else AccountOutcome(ok=True, text="Invitation sent", status="Invited", invited_at=now)
        for account_id in _ids(chunk)
    }
    return outcomes, invited.calls


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
}


def _record(
    operation: MemberOperation,
    region: str,
    chunk: Chunk,
    outcomes: dict[str, AccountOutcome],
    *,
    default: tuple[bool, str] = (False, "No answer for this account."),
    calls: int = 0,
) -> None:
    """Save one batch's outcomes in a few queries: result rows, memberships (+ history, alerts), progress."""
    now = timezone.now()
    with transaction.atomic():
        memberships = _memberships_for([result.account for result in chunk], region)
        failed = 0
        changes: list[tuple[Membership, str]] = []
        for result in chunk:
            outcome = outcomes.get(result.account.account_id) or AccountOutcome(ok=default[0], text=default[1])
            result.outcome = Outcome.OK if outcome.ok else Outcome.FAILED
            result.result = outcome.text[:2000]
            result.finished_at = now
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
        rows_update(MemberOperationResult, chunk, ["outcome", "result", "finished_at"])
        MemberOperation.objects.filter(pk=operation.pk).update(
            done=F("done") + len(chunk), failed=F("failed") + failed, api_calls=F("api_calls") + calls,
            heartbeat_at=now,
        )  # fmt: skip
