"""Member account writes: add and import accounts, run invite/bulk operations, sync statuses, raise alerts.

Views, tasks and commands call these; every mutation is audited. AWS is reached only through
`accounts.gateway`. Work that calls AWS for many accounts runs as a `MemberOperation` in Celery:
one result row per (account, region), written batch by batch, so the page can show progress and a
re-delivered task only does what is still pending.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts import gateway
from accounts.csvimport import account_id_problem, email_problem
from accounts.gateway import GatewayError
from accounts.models import (
    ALERT_STATUSES,
    MemberAccount,
    MemberOperation,
    MemberOperationResult,
    Membership,
    MembershipStatusChange,
    RegionState,
    status_label,
)
from guardwatch.core.models import Alert
from guardwatch.core.services import alert_raise, audit_record
from reports.cache import reports_cache_bump

logger = logging.getLogger(__name__)
Action = MemberOperation.Action
Outcome = MemberOperationResult.Outcome
# A RUNNING operation whose worker has not reported for this long is presumed dead and may be re-claimed.
STALE_AFTER = timedelta(minutes=10)
ALERT_SEVERITY = {
    "Resigned": Alert.Severity.HIGH,
    "Removed": Alert.Severity.MEDIUM,
    "Disabled": Alert.Severity.MEDIUM,
    "EmailVerificationFailed": Alert.Severity.MEDIUM,
}
ALERT_EXPLANATION = {
    "Resigned": "The member disassociated itself from the administrator: its findings are no longer visible.",
    "Removed": "The member was disassociated from the administrator: its findings are no longer visible.",
    "Disabled": "Monitoring of the member was stopped: its new findings are not visible.",
    "EmailVerificationFailed": (
        "GuardDuty could not verify the email: it must be the account's root email. "
        "Re-create the member with the corrected email."
    ),
}


def _actor_name(actor) -> str:
    if getattr(actor, "is_authenticated", False):
        return actor.get_username()
    return actor if isinstance(actor, str) and actor else "system"


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def configured_regions() -> list[str]:
    return list(settings.GUARDWATCH_AWS_REGIONS)


# --- Adding accounts -------------------------------------------------------------------------------


def member_account_create(
    *,
    account_id: str,
    email: str,
    actor,
    display_name: str = "",
    notes: str = "",
    tags: Sequence[str] = (),
    source: str = MemberAccount.Source.INVITATION,
) -> MemberAccount:
    """Add one account (not yet a member anywhere); refuses bad ids/emails and duplicates."""
    account_id, email = account_id.strip(), email.strip()
    errors = {}
    if problem := account_id_problem(account_id):
        errors["account_id"] = problem
    if problem := email_problem(email):
        errors["email"] = problem
    if not errors and MemberAccount.objects.filter(account_id=account_id).exists():
        errors["account_id"] = f"Account {account_id} is already a member account in GuardWatch."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        account = MemberAccount.objects.create(
            account_id=account_id,
            email=email,
            display_name=display_name.strip(),
            notes=notes,
            tags=list(tags),
            source=source,
            created_by=_user(actor),
        )
        audit_record(actor=actor, verb="member.create", target=account, details={"email": email, "source": source})
    return account


def member_account_update(
    *, account: MemberAccount, actor, display_name: str, notes: str, tags: Sequence[str], auto_accept: bool
) -> MemberAccount:
    """Change what GuardWatch keeps about an account (not its GuardDuty state)."""
    before = {"display_name": account.display_name, "notes": account.notes, "tags": account.tags,
              "auto_accept": account.auto_accept}  # fmt: skip
    account.display_name, account.notes, account.tags, account.auto_accept = (
        display_name.strip(), notes, list(tags), auto_accept
    )
    after = {"display_name": account.display_name, "notes": account.notes, "tags": account.tags,
             "auto_accept": account.auto_accept}  # fmt: skip
    changed = {key: value for key, value in after.items() if before[key] != value}
    if changed:
        with transaction.atomic():
            account.save(update_fields=list(changed))
            audit_record(actor=actor, verb="member.update", target=account, details=changed)
    return account


@dataclass
class ImportResult:
    """Accounts an import created, and lines it skipped at confirmation time with the reason."""

    created: list[MemberAccount] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def member_accounts_import(*, lines: Iterable[tuple[str, str]], actor) -> ImportResult:
    """Create the confirmed lines of a CSV preview, checking each again (the file may be old)."""
    result = ImportResult()
    wanted: dict[str, str] = {}
    for account_id, email in lines:
        problem = account_id_problem(account_id) or email_problem(email)
        if not problem and account_id in wanted:
            problem = "Duplicate in the file."
        if problem:
            result.skipped.append((account_id, problem))
        else:
            wanted[account_id] = email
    with transaction.atomic():
        existing = set(MemberAccount.objects.filter(account_id__in=list(wanted)).values_list("account_id", flat=True))
        for account_id in sorted(existing):
            result.skipped.append((account_id, f"Account {account_id} is already a member account in GuardWatch."))
        user = _user(actor)
        new = [
            MemberAccount(account_id=account_id, email=email, created_by=user)
            for account_id, email in wanted.items()
            if account_id not in existing
        ]
        result.created = MemberAccount.objects.bulk_create(new, batch_size=500)
        if not connection_returns_ids():
            result.created = list(MemberAccount.objects.filter(account_id__in=[a.account_id for a in new]))
        for account in result.created:
            audit_record(actor=actor, verb="member.create", target=account,
                         details={"email": account.email, "source": "csv"})  # fmt: skip
    return result


def connection_returns_ids() -> bool:
    """Whether bulk_create sets primary keys (Postgres and SQLite ≥ 3.35 do)."""
    from django.db import connection

    return connection.features.can_return_rows_from_bulk_insert


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
) -> MemberOperation:
    """Record an operation with one pending result per (account, region) and queue it after commit."""
    from accounts.tasks import member_operation_run

    action = Action(action)
    unknown = [region for region in regions if region not in configured_regions()]
    if unknown or not regions:
        raise ValidationError(f"Choose regions among the configured ones ({', '.join(configured_regions())}).")
    if not accounts:
        raise ValidationError("Choose at least one account.")
    regions = [region for region in configured_regions() if region in set(regions)]
    with transaction.atomic():
        operation = MemberOperation.objects.create(
            action=action,
            regions=regions,
            message=message,
            disable_email_notification=disable_email_notification,
            create_detectors=create_detectors,
            total=len(accounts) * len(regions),
            created_by=_user(actor),
        )
        MemberOperationResult.objects.bulk_create(
            [
                MemberOperationResult(operation=operation, account=account, region=region)
                for region in regions
                for account in accounts
            ],
            batch_size=1000,
        )
        details = {"action": action.value, "regions": regions, "accounts": [a.account_id for a in accounts]}
        if message:
            details["message"] = message
        if disable_email_notification:
            details["disable_email_notification"] = True
        if create_detectors:
            details["create_detectors"] = True
        audit_record(actor=actor, verb=f"member.{action.value}", target=operation, details=details)
        transaction.on_commit(lambda: member_operation_run.delay(operation.pk))
    return operation


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
    from accounts.tasks import member_operation_run

    with transaction.atomic():
        claimed = MemberOperation.objects.filter(
            pk=operation.pk, status__in=[MemberOperation.Status.PARTIAL, MemberOperation.Status.FAILED]
        ).update(status=MemberOperation.Status.QUEUED, finished_at=None)
        if not claimed:
            return 0
        count = operation.results.filter(outcome=Outcome.FAILED).update(outcome=Outcome.PENDING, result="")
        MemberOperation.objects.filter(pk=operation.pk).update(done=F("done") - count, failed=F("failed") - count)
        audit_record(actor=actor, verb="member.operation_retry", target=operation, details={"results": count})
        transaction.on_commit(lambda: member_operation_run.delay(operation.pk))
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
    for region in operation.regions:
        pending = list(
            operation.results.filter(region=region, outcome=Outcome.PENDING).select_related("account")
        )
        if not pending:
            continue
        try:
            detector_id = _administrator_detector(region, create=operation.create_detectors, actor=operation.created_by)
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


class NoDetector(GatewayError):
    """The administrator has no detector in a region and creating one was not confirmed."""


def _administrator_detector(region: str, *, create: bool, actor=None) -> str:
    """The administrator's detector id in `region` (cached), created if allowed and missing."""
    state, _ = RegionState.objects.get_or_create(region=region)
    if state.detector_id:
        return state.detector_id
    detector_id = gateway.detector_id_find(region=region)
    if detector_id is None:
        if not create:
            raise NoDetector(
                region,
                "ListDetectors",
                f"GuardDuty is not enabled for the administrator in {region} (no detector). Retry with "
                "“Create the administrator's detector where missing” confirmed, or remove the region.",
            )
        detector_id = gateway.detector_create(region=region)
        audit_record(actor=actor, verb="detector.create", target=("region", region, f"Detector in {region}"),
                     details={"detector_id": detector_id})  # fmt: skip
    RegionState.objects.filter(pk=state.pk).update(detector_id=detector_id)
    return detector_id


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
    calls += _auto_accept(region, chunk, outcomes)
    return outcomes, calls


def _status_after_failed_invite(reason: str) -> str | None:
    """GuardDuty marks a member EmailVerificationFailed when the email is not the root email."""
    return "EmailVerificationFailed" if "email" in reason.lower() and "match" in reason.lower() else None


def _auto_accept(region: str, chunk: Chunk, outcomes: dict[str, AccountOutcome]) -> int:
    """Accept invitations just sent to accounts marked auto-accept, when a member role is configured."""
    if not settings.GUARDWATCH_MEMBER_ROLE_NAME:
        return 0
    calls = 0
    for result in chunk:
        account_id = result.account.account_id
        if result.account.auto_accept and outcomes.get(account_id) and outcomes[account_id].status == "Invited":
            accepted = _accept_on_behalf(account_id, region)
            calls += accepted.calls
            outcomes[account_id] = accepted.outcome
    return calls


@dataclass
class _Accepted:
    outcome: AccountOutcome
    calls: int


def administrator_account_id(region: str) -> str:
    """The administrator's own account id (STS GetCallerIdentity), cached per process."""
    if not _ADMIN_ID:
        _ADMIN_ID.append(gateway.caller_account_id(region=region))
    return _ADMIN_ID[0]


_ADMIN_ID: list[str] = []


def _accept_on_behalf(account_id: str, region: str) -> _Accepted:
    """As the member (assume-role): create its detector if missing, find the invitation, accept it."""
    calls = 0
    try:
        administrator_id = administrator_account_id(region)
        member_detector = gateway.detector_id_find(region=region, member_account_id=account_id)
        calls += 1
        if member_detector is None:
            member_detector = gateway.detector_create(region=region, member_account_id=account_id)
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
        accepted = _accept_on_behalf(result.account.account_id, region)
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


def _handle_org_add(operation: MemberOperation, region: str, detector_id: str, chunk: Chunk):
    """Organization accounts of a delegated administrator become members without an invitation."""
    created = gateway.members_create(
        region=region, detector_id=detector_id, accounts=[(r.account.account_id, r.account.email) for r in chunk]
    )
    return _then_read_statuses(region, detector_id, chunk, created, "CreateMembers")


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
        # The operation itself is audited (who, what, which accounts); its status changes go to history.
        status_changes_apply(changes, source=MembershipStatusChange.Source.ACTION,
                             actor=operation.created_by or "system", audit=False)  # fmt: skip
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


def rows_update(model, objects: Sequence, fields: Sequence[str], *, batch_size: int = 1000) -> None:
    """Write `fields` of many rows: one `UPDATE … FROM (VALUES …)` per batch on Postgres.

    Django's `bulk_update` builds a CASE per field and row, which costs seconds of CPU for a few
    thousand rows; SQLite (the demo) still uses it.
    """
    if not objects:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objects, fields, batch_size=500)
        return
    meta = model._meta
    quote = connection.ops.quote_name
    columns = [meta.get_field(name) for name in fields]
    names = ", ".join(quote(column.column) for column in [meta.pk, *columns])
    sets = ", ".join(
        f"{quote(column.column)} = v.{quote(column.column)}::{column.db_type(connection)}" for column in columns
    )
    with connection.cursor() as cursor:
        for start in range(0, len(objects), batch_size):
            batch = objects[start : start + batch_size]
            params: list = []
            for obj in batch:
                params.append(obj.pk)
                params.extend(column.get_db_prep_save(getattr(obj, column.attname), connection) for column in columns)
            row = "(" + ", ".join(["%s"] * (len(columns) + 1)) + ")"
            cursor.execute(
                f"UPDATE {quote(meta.db_table)} AS t SET {sets} FROM (VALUES {', '.join([row] * len(batch))}) "  # noqa: S608
                f"AS v({names}) WHERE t.{quote(meta.pk.column)} = v.{quote(meta.pk.column)}",
                params,
            )


def _memberships_for(accounts: Sequence[MemberAccount], region: str) -> dict[int, Membership]:
    """The membership rows of `accounts` in `region`, created empty where missing; by account pk."""
    Membership.objects.bulk_create(
        [Membership(account=account, region=region) for account in accounts], ignore_conflicts=True
    )
    return {m.account_id: m for m in Membership.objects.filter(account__in=accounts, region=region)}


def status_changes_apply(changes: Sequence[tuple[Membership, str]], *, source: str, actor, audit: bool) -> int:
    """Set new statuses on memberships (the caller saves them): history rows, audit entries, alerts.

    Memberships must carry their `account`. Returns how many changed.
    """
    history = []
    for membership, status in changes:
        before = membership.relationship_status
        if before == status:
            continue
        membership.relationship_status = status
        history.append(
            MembershipStatusChange(
                membership=membership, from_status=before, to_status=status, source=source,
                actor_name=_actor_name(actor),
            )  # fmt: skip
        )
        if audit:
            audit_record(
                actor=actor,
                verb="membership.status_change",
                target=membership.account,
                details={"region": membership.region, "from": before, "to": status, "source": source},
            )
        if status in ALERT_STATUSES:
            coverage_alert_raise(membership=membership, status=status)
    MembershipStatusChange.objects.bulk_create(history, batch_size=1000)
    return len(history)


def coverage_alert_raise(*, membership: Membership, status: str) -> None:
    """The in-app alert (and notification hook) for a member that fell out of monitoring."""
    account = membership.account
    name = f" ({account.display_name})" if account.display_name else ""
    alert_raise(
        kind=f"member.{status}",
        title=f"Member {account.account_id}{name} is {status_label(status)} in {membership.region}",
        message=ALERT_EXPLANATION.get(status, ""),
        target=("accounts.memberaccount", account.account_id, f"{account.account_id} in {membership.region}"),
        dedupe_key=f"membership:{account.account_id}:{membership.region}:{status}",
        severity=ALERT_SEVERITY.get(status, Alert.Severity.MEDIUM),
    )


# --- Status sync ------------------------------------------------------------------------------------


@dataclass
class SyncResult:
    """What one region's sync saw and changed."""

    region: str
    members: int = 0
    changed: int = 0
    discovered: int = 0
    error: str = ""


def members_sync_request(*, actor, regions: Sequence[str] | None = None) -> list[str]:
    """"Refresh now": mark the regions as refreshing and queue one sync task each, after commit."""
    from accounts.tasks import members_sync_region

    chosen = [region for region in configured_regions() if regions is None or region in regions]
    now = timezone.now()
    actor_id = actor.pk if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        for region in chosen:
            RegionState.objects.update_or_create(region=region, defaults={"sync_requested_at": now})
        audit_record(actor=actor, verb="members.sync_request", target=("region", ",".join(chosen), "Member sync"),
                     details={"regions": chosen})  # fmt: skip
        for region in chosen:
            transaction.on_commit(lambda region=region: members_sync_region.delay(region, actor_id))
    return chosen


def members_sync_region(*, region: str, actor=None) -> SyncResult:
    """Read every member of the region (ListMembers) into Membership: history, audit and alerts on change."""
    outcome = SyncResult(region=region)
    state, _ = RegionState.objects.get_or_create(region=region)
    try:
        listed = _list_members(region, state)
    except GatewayError as error:
        outcome.error = error.message
        RegionState.objects.filter(pk=state.pk).update(last_error=error.message, last_error_at=timezone.now())
        return outcome
    outcome.members = len(listed)
    with transaction.atomic():
        RegionState.objects.select_for_update().get(pk=state.pk)  # one region's sync applies at a time
        _apply_listing(region, listed, outcome, actor or "system")
        invited_too_long_check(region=region)
        RegionState.objects.filter(pk=state.pk).update(last_synced_at=timezone.now(), last_error="", last_error_at=None)
        transaction.on_commit(reports_cache_bump)  # reports: coverage figures are stale now
    return outcome


def _list_members(region: str, state: RegionState) -> list[gateway.MemberInfo]:
    detector_id = state.detector_id
    if detector_id:
        try:
            return gateway.members_list(region=region, detector_id=detector_id)
        except GatewayError as error:
            if "detector" not in error.message.lower():
                raise
    detector_id = gateway.detector_id_find(region=region)
    if detector_id is None:
        RegionState.objects.filter(pk=state.pk).update(detector_id="")
        raise NoDetector(
            region, "ListDetectors", f"GuardDuty is not enabled for the administrator in {region} (no detector)."
        )
    RegionState.objects.filter(pk=state.pk).update(detector_id=detector_id)
    return gateway.members_list(region=region, detector_id=detector_id)


def _apply_listing(region: str, listed: list[gateway.MemberInfo], outcome: SyncResult, actor) -> None:
    now = timezone.now()
    by_id = {member.account_id: member for member in listed}
    accounts = {a.account_id: a for a in MemberAccount.objects.filter(account_id__in=list(by_id))}
    unknown = [member for account_id, member in by_id.items() if account_id not in accounts]
    if unknown:
        MemberAccount.objects.bulk_create(
            [MemberAccount(account_id=m.account_id, email=m.email[:64]) for m in unknown], ignore_conflicts=True
        )
        for account in MemberAccount.objects.filter(account_id__in=[m.account_id for m in unknown]):
            accounts[account.account_id] = account
            audit_record(actor=actor, verb="member.discover", target=account,
                         details={"region": region, "status": by_id[account.account_id].relationship_status})  # fmt: skip
        outcome.discovered = len(unknown)
    known = Membership.objects.filter(region=region).filter(
        Q(account__account_id__in=list(by_id)) | ~Q(relationship_status="")
    )
    existing = {m.account.account_id: m for m in known.select_related("account")}
    new_rows = [
        Membership(account=accounts[account_id], region=region)
        for account_id in by_id
        if account_id not in existing
    ]
    if new_rows:
        Membership.objects.bulk_create(new_rows, ignore_conflicts=True)
        for m in Membership.objects.filter(region=region, account__account_id__in=[r.account.account_id for r in new_rows]
                                           ).select_related("account"):  # fmt: skip
            existing[m.account.account_id] = m
    changes = []
    for account_id, membership in existing.items():
        member = by_id.get(account_id)
        changes.append((membership, member.relationship_status if member else ""))
        if member:
            membership.detector_id = member.detector_id
            membership.invited_at = member.invited_at
            membership.updated_at = member.updated_at
        membership.last_synced_at = now
    outcome.changed = status_changes_apply(changes, source=MembershipStatusChange.Source.SYNC, actor=actor, audit=True)
    rows_update(
        Membership, list(existing.values()),
        ["relationship_status", "detector_id", "invited_at", "updated_at", "last_synced_at"],
    )  # fmt: skip


def invited_too_long_check(*, region: str | None = None, now: datetime | None = None) -> int:
    """Alert on members still Invited after GUARDWATCH_INVITE_PENDING_DAYS; returns how many alerts."""
    now = now or timezone.now()
    days = settings.GUARDWATCH_INVITE_PENDING_DAYS
    stale = Membership.objects.filter(relationship_status="Invited", invited_at__lt=now - timedelta(days=days))
    if region:
        stale = stale.filter(region=region)
    count = 0
    for membership in stale.select_related("account"):
        account = membership.account
        alert_raise(
            kind="member.invited_too_long",
            title=f"Member {account.account_id} has not accepted the invitation in {membership.region} "
            f"for more than {days} days",
            message=f"Invited {membership.invited_at:%Y-%m-%d}. Resend the invitation or ask the account owner "
            "to accept it.",
            target=("accounts.memberaccount", account.account_id, f"{account.account_id} in {membership.region}"),
            dedupe_key=f"membership:{account.account_id}:{membership.region}:invited:{membership.invited_at:%Y%m%d%H%M%S}",
            severity=Alert.Severity.LOW,
        )
        count += 1
    return count


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
            detector_id = _administrator_detector(region, create=False)
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
                    source=MemberAccount.Source.ORGANIZATIONS, created_by=_user(actor),
                )  # fmt: skip
                audit_record(actor=actor, verb="member.create", target=account, details={"source": "organizations"})
            rows.append(account)
        return member_operation_start(action=Action.ORG_ADD, accounts=rows, regions=regions, actor=actor)


def organization_auto_enable_set(*, region: str, value: str, actor) -> None:
    """Change AutoEnableOrganizationMembers (NEW, ALL or NONE) in one region."""
    if value not in ("NEW", "ALL", "NONE"):
        raise ValidationError("AutoEnableOrganizationMembers must be NEW, ALL or NONE.")
    detector_id = _administrator_detector(region, create=False)
    gateway.organization_configuration_update(region=region, detector_id=detector_id, auto_enable_members=value)
    audit_record(actor=actor, verb="organization.auto_enable", target=("region", region, f"Organization in {region}"),
                 details={"auto_enable_members": value})  # fmt: skip
