"""Member status sync: read every member's relationship status per region (ListMembers) and apply the changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts import gateway
from accounts.aws_organizations import organization_snapshot_get
from accounts.gateway import GatewayError
from accounts.models import (
    MONITORED,
    MemberAccount,
    Membership,
    MembershipStatusChange,
    RegionState,
)
from accounts.services import (
    NoDetector,
    account_regions_refresh,
    account_regions_stale,
    account_who,
    configured_regions,
    membership_counts_compact,
    rows_update,
    status_changes_apply,
)
from guardwatch.core.data_version import data_version_bump
from guardwatch.core.db.bulk import rows_insert
from guardwatch.core.db.lookups import ids_in
from guardwatch.core.models import Alert
from guardwatch.core.queue import task_send_on_commit
from guardwatch.core.services import alert_raise, audit_record, audit_record_many

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
    chosen = [region for region in configured_regions() if regions is None or region in regions]
    now = timezone.now()
    actor_id = actor.pk if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        for region in chosen:
            RegionState.objects.update_or_create(region=region, defaults={"sync_requested_at": now})
        audit_record(actor=actor, verb="members.sync_request", target=("region", ",".join(chosen), "Member sync"),
                     details={"regions": chosen})  # fmt: skip
        for region in chosen:
            task_send_on_commit("accounts.tasks.members_sync_region", region, actor_id)
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
        transaction.on_commit(data_version_bump)  # reports: coverage figures are stale now
    membership_counts_compact(region=region)  # after the commit: the sync's own deltas are folded in too
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


# A membership as the sync compares it with GuardDuty's listing: plain values, not model instances (a region holds
# up to 50,000); indexes 3..8 are the fields the listing sets, in `_listed_fields`' order.
_ROW = ("pk", "account_id", "account__account_id", "relationship_status", "detector_id", "invited_at", "updated_at",
        "last_error", "last_error_at", "account__member_regions", "account__monitored_regions")  # fmt: skip
_LOOKUP_CHUNK = 5000


def _apply_listing(region: str, listed: list[gateway.MemberInfo], outcome: SyncResult, actor) -> None:
    """Compare the listing with the region's memberships; write in full only the rows that differ (with history,
    audit and alerts), and stamp the others synced in one statement. A sync in which nothing changed reads the
    region once and writes `last_synced_at`: no model instance per member."""
    now = timezone.now()
    by_id = {member.account_id: member for member in listed}
    rows = {row[2]: row for row in Membership.objects.filter(region=region).values_list(*_ROW)}
    missing = [account_id for account_id in by_id if account_id not in rows]
    created: list[Membership] = []
    if missing:
        outcome.discovered, created = _memberships_create(region, missing, by_id, actor, now)
        taken = {membership.account.account_id for membership in created}
        # Created meanwhile by another writer (a member operation): compared with the listing like the others.
        for chunk in gateway.batches([account_id for account_id in missing if account_id not in taken], _LOOKUP_CHUNK):
            rows.update((row[2], row) for row in
                        Membership.objects.filter(region=region, account__account_id__in=chunk).values_list(*_ROW))  # fmt: skip
    differ, same, stale = [], [], set()
    for account_id, row in rows.items():
        member = by_id.get(account_id)
        if member is None and not row[3]:
            continue  # not a member here, and GuardDuty agrees
        if _listed_fields(member, row) == row[3:9]:
            same.append(row[0])
            status, member_regions, monitored_regions = row[3], row[9], row[10]
            if (region in member_regions) != bool(status) or (region in monitored_regions) != (status == MONITORED):
                stale.add(row[1])  # left behind by a writer that keeps no summary (release N during an upgrade)
        else:
            differ.append(row[0])
    changed = 0
    for chunk in gateway.batches(differ, _LOOKUP_CHUNK):
        memberships = list(Membership.objects.filter(pk__in=chunk).select_related("account"))
        changes = []
        for membership in memberships:
            member = by_id.get(membership.account.account_id)
            status, membership.detector_id, membership.invited_at, membership.updated_at, membership.last_error, \
                membership.last_error_at = _listed_fields(member, _values(membership))
            changes.append((membership, status))
            membership.last_synced_at = now
        changed += status_changes_apply(changes, source=MembershipStatusChange.Source.SYNC, actor=actor, audit=True)
        rows_update(
            Membership, memberships,
            ["relationship_status", "detector_id", "invited_at", "updated_at", "last_synced_at", "last_error",
             "last_error_at"],
        )  # fmt: skip
        stale |= account_regions_stale(memberships)
    for chunk in gateway.batches(created, _LOOKUP_CHUNK):  # stored as listed already: history, audit, alerts
        changes = [(membership, by_id[membership.account.account_id].relationship_status) for membership in chunk]
        changed += status_changes_apply(changes, source=MembershipStatusChange.Source.SYNC, actor=actor, audit=True)
        stale |= account_regions_stale(chunk)
    _synced_stamp(same, now)
    outcome.changed = changed
    account_regions_refresh(stale)


def _values(membership: Membership) -> tuple:
    return (membership.relationship_status, membership.detector_id, membership.invited_at, membership.updated_at,
            membership.last_error, membership.last_error_at)  # fmt: skip


def _listed_fields(member: gateway.MemberInfo | None, current: tuple) -> tuple:
    """(status, detector id, invited at, updated at, last error, last error at) once the listing is applied to a
    membership holding `current` (the same six): a member gone from the list is no member; one monitored now has
    an earlier step's failure over."""
    if member is None:
        return ("", *current[1:6])
    if member.relationship_status == MONITORED:
        error, error_at = "", None
    else:
        error, error_at = current[4], current[5]
    return (member.relationship_status, member.detector_id, member.invited_at, member.updated_at, error, error_at)


def _memberships_create(
    region: str, account_ids: list[str], by_id: dict[str, gateway.MemberInfo], actor, now: datetime
) -> tuple[int, list[Membership]]:
    """Memberships for listed accounts that have none in the region, stored as the listing says in one statement
    per batch (an estate's first sync writes 50,000 a region); accounts GuardWatch does not know are added first
    (named from Organizations), so nothing GuardDuty lists is hidden. Returns how many accounts were discovered,
    and the memberships inserted, with their account, still "not a member" in memory: the caller records each
    "" → status change (history, audit, alerts). A membership another writer created meanwhile is skipped here."""
    accounts: dict[str, MemberAccount] = {}
    for chunk in gateway.batches(account_ids, _LOOKUP_CHUNK):
        accounts.update((account.account_id, account) for account in MemberAccount.objects.filter(account_id__in=chunk))
    unknown = [by_id[account_id] for account_id in account_ids if account_id not in accounts]
    if unknown:
        names = _organization_names(region)
        parents = _organization_parents()
        MemberAccount.objects.bulk_create(
            [MemberAccount(account_id=m.account_id, email=m.email[:64], display_name=names.get(m.account_id, "")[:128],
                           in_organization=m.account_id in parents, organizational_unit=parents.get(m.account_id, ""))
             for m in unknown],
            ignore_conflicts=True, batch_size=2000,
        )  # fmt: skip
        discovered = []
        for chunk in gateway.batches([m.account_id for m in unknown], _LOOKUP_CHUNK):
            for account in MemberAccount.objects.filter(account_id__in=chunk):
                accounts[account.account_id] = account
                discovered.append((account, {"region": region, "status": by_id[account.account_id].relationship_status}))
        audit_record_many(actor=actor, verb="member.discover", entries=discovered)
    columns: dict[str, list] = {name: [] for name in _LISTED_COLUMNS}
    for account_id in account_ids:
        for name, value in zip(_LISTED_COLUMNS, (accounts[account_id].pk, *_listed_fields(by_id[account_id], _NONE)),
                               strict=True):  # fmt: skip
            columns[name].append(value)
    by_pk = {account.pk: account for account in accounts.values()}
    inserted = rows_insert(
        model=Membership, varying=columns, fixed={"region": region, "last_synced_at": now}, batch_size=_LOOKUP_CHUNK,
        skip_conflicts=True, returning=("id", "account_id"),
    )  # fmt: skip
    created = [Membership(pk=pk, account=by_pk[account_pk], region=region) for pk, account_pk in inserted]
    return len(unknown), created


# A membership's columns as `_memberships_create` stores them: the account, then `_listed_fields`' six, applied
# to a membership that has none of them yet (`_NONE`).
_LISTED_COLUMNS = ("account_id", "relationship_status", "detector_id", "invited_at", "updated_at", "last_error",
                   "last_error_at")  # fmt: skip
_NONE = ("", "", None, None, "", None)


def _synced_stamp(pks: list[int], now: datetime) -> None:
    """`last_synced_at` of memberships the listing did not change: one statement (an id array) on Postgres,
    batches of 500 on SQLite (its limit on a statement's parameters)."""
    size = len(pks) if connection.vendor == "postgresql" else 500
    for chunk in gateway.batches(pks, max(size, 1)):
        Membership.objects.filter(ids_in(chunk)).update(last_synced_at=now)


def _organization_names(region: str) -> dict[str, str]:
    """Account names from AWS Organizations (ListAccounts), for members found in GuardDuty's list: GuardDuty
    knows only ids and emails. Empty when the administrator is not in an organization or may not list it."""
    try:
        return {account.account_id: account.name for account in gateway.organization_accounts_list(region=region)}
    except GatewayError:
        return {}


def _organization_parents() -> dict[str, str]:
    """Each organization account's parent (OU or root) as the last Organization snapshot read it: an account the
    member sync finds after that read (the demo's first sync runs both at once) is known as an organization account
    in its OU now, not at the next read."""
    snapshot = organization_snapshot_get()
    return snapshot.parents if snapshot and not snapshot.error else {}


def invited_too_long_check(*, region: str | None = None, now: datetime | None = None) -> int:
    """Alert on members still Invited after GUARDWATCH_INVITE_PENDING_DAYS, one alert per account naming
    its regions; returns how many accounts."""
    now = now or timezone.now()
    days = settings.GUARDWATCH_INVITE_PENDING_DAYS
    stale = Membership.objects.filter(relationship_status="Invited", invited_at__lt=now - timedelta(days=days))
    if region:  # the accounts stale in this region, with every region where they are stale
        stale = stale.filter(account__in=stale.filter(region=region).values("account_id"))
    by_account: dict[int, list[Membership]] = {}
    for membership in stale.select_related("account").order_by("account_id", "region"):
        by_account.setdefault(membership.account_id, []).append(membership)
    for memberships in by_account.values():
        account = memberships[0].account
        where = ", ".join(m.region for m in memberships)
        since = min(m.invited_at for m in memberships)
        alert_raise(
            kind="member.invited_too_long",
            title=f"Member {account_who(account)} has not accepted the invitation in {where} "
            f"for more than {days} days",
            message=f"Invited {since:%Y-%m-%d}. Ask the account owner to accept it, or resend it from the account's "
            "page (GuardWatch withdraws the pending invitation and GuardDuty sends a new one).",
            target=("accounts.memberaccount", account.account_id, f"{account.account_id} in {where}"),
            dedupe_key=f"member:{account.account_id}:invited_too_long",
            severity=Alert.Severity.LOW,
        )
    return len(by_account)
