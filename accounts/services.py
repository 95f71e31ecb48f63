"""Member account writes: add and import accounts, and apply status changes (with their alerts).

Views, tasks and commands call these; every mutation is audited. AWS is reached only through
`accounts.gateway`. Work that calls AWS for many accounts runs as a `MemberOperation` in Celery:
one result row per (account, region), written batch by batch, so the page can show progress and a
re-delivered task only does what is still pending.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts import gateway
from accounts.csvimport import account_id_problem, email_problem
from accounts.gateway import GatewayError
from accounts.models import (
    ALERT_STATUSES,
    MONITORED,
    MemberAccount,
    Membership,
    MembershipStatusChange,
    MembershipStatusCount,
    RegionState,
    status_label,
)
from guardwatch.core.db.bulk import rows_insert
from guardwatch.core.models import Alert
from guardwatch.core.services import actor_name, actor_user, alert_raise, audit_record, audit_record_many

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


def configured_regions() -> list[str]:
    return list(settings.GUARDWATCH_AWS_REGIONS)


# --- The administrator's detector and account ---------------------------------------------------------


class NoDetector(GatewayError):
    """The administrator has no detector in a region and creating one was not confirmed."""


def administrator_detector(region: str, *, create: bool, actor=None, features: Sequence[str] = ()) -> str:
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
        detector_id = gateway.detector_create(region=region, features=features)
        audit_record(actor=actor, verb="detector.create", target=("region", region, f"Detector in {region}"),
                     details={"detector_id": detector_id, "features_enabled": sorted(features)})  # fmt: skip
    RegionState.objects.filter(pk=state.pk).update(detector_id=detector_id)
    return detector_id


def administrator_account_id(region: str) -> str:
    """The administrator's own account id (STS GetCallerIdentity), cached per process."""
    if not _ADMIN_ID:
        _ADMIN_ID.append(gateway.caller_account_id(region=region))
    return _ADMIN_ID[0]


_ADMIN_ID: list[str] = []


def administrator_principal(region: str) -> str:
    """The ARN GuardWatch's administrator credentials act as (STS GetCallerIdentity), cached per process."""
    if not _ADMIN_PRINCIPAL:
        _ADMIN_PRINCIPAL.append(gateway.caller_arn(region=region))
    return _ADMIN_PRINCIPAL[0]


_ADMIN_PRINCIPAL: list[str] = []


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
    added_via: str = "form",
) -> MemberAccount:
    """Add one account (not yet a member anywhere); refuses bad ids/emails and duplicates.

    `added_via` is how it came in, as the audit log says it ("form": typed on the add page).
    """
    account_id, email = account_id.strip(), email.strip()
    errors = {}
    if problem := account_id_problem(account_id):
        errors["account_id"] = problem
    if problem := email_problem(email):
        errors["email"] = problem
    if not errors and MemberAccount.objects.filter(account_id=account_id).exists():
        errors["account_id"] = ValidationError(
            f"Account {account_id} is already a member account in GuardWatch.", code="duplicate"
        )
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
            created_by=actor_user(actor),
        )
        audit_record(actor=actor, verb="member.create", target=account, details={"email": email, "source": added_via})
    return account


def member_account_update(
    *, account: MemberAccount, actor, display_name: str, notes: str, tags: Sequence[str], auto_accept: bool,
    organizational_unit: str | None = None,
) -> MemberAccount:
    """Change what GuardWatch keeps about an account (not its GuardDuty state); `organizational_unit` None keeps it."""
    before = {"display_name": account.display_name, "notes": account.notes, "tags": account.tags,
              "auto_accept": account.auto_accept, "organizational_unit": account.organizational_unit}  # fmt: skip
    account.display_name, account.notes, account.tags, account.auto_accept = (
        display_name.strip(), notes, list(tags), auto_accept
    )
    if organizational_unit is not None:
        account.organizational_unit = organizational_unit.strip()
    after = {"display_name": account.display_name, "notes": account.notes, "tags": account.tags,
             "auto_accept": account.auto_accept, "organizational_unit": account.organizational_unit}  # fmt: skip
    changed = {key: value for key, value in after.items() if before[key] != value}
    if changed:
        with transaction.atomic():
            account.save(update_fields=list(changed))
            audit_record(actor=actor, verb="member.update", target=account, details=changed)
    return account


def member_account_remove(*, account: MemberAccount, actor) -> None:
    """Forget an account entirely: its memberships, status history and run results go; its findings stay.

    Only an account GuardDuty lists in no region (never invited, or deleted as a member everywhere):
    otherwise the next member sync would find it again. Findings are kept because they are GuardDuty's
    record of what happened in the account; retention ages them out like any other. Its open alerts
    are closed, and the removal is audited with what the account was.
    """
    with transaction.atomic():
        listed = list(
            Membership.objects.select_for_update()
            .filter(account=account)
            .exclude(relationship_status="")
            .values_list("region", "relationship_status")
        )
        if listed:
            where = ", ".join(f"{region} ({status_label(status)})" for region, status in listed)
            raise ValidationError(
                f"{account.account_id} is still in GuardDuty's member list in {where}. Delete it as a member in "
                "those regions first (“Delete member”), otherwise the next sync brings it back."
            )
        closed = Alert.objects.filter(
            target_type="accounts.memberaccount", target_id=account.account_id, acknowledged_at__isnull=True
        ).update(acknowledged_at=timezone.now(), acknowledged_by=actor_user(actor))
        audit_record(
            actor=actor,
            verb="member.remove",
            target=("accounts.memberaccount", str(account.pk), str(account)),
            details={"account_id": account.account_id, "email": account.email, "name": account.display_name,
                     "findings": "kept", "alerts_closed": closed},
        )  # fmt: skip
        account.delete()


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
        user = actor_user(actor)
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




# Both summaries of an account as sorted JSON lists, from one read of its memberships (`m`, by the account's index:
# the only condition is the account, so no planner can prefer the status index and walk 800,000 "Enabled" rows).
REGIONS_SET = {
    "postgresql": "(member_regions, monitored_regions) = (SELECT "
                  "COALESCE(jsonb_agg(m.region ORDER BY m.region) FILTER (WHERE m.relationship_status <> ''), '[]'), "
                  "COALESCE(jsonb_agg(m.region ORDER BY m.region) FILTER (WHERE m.relationship_status = %s), '[]') "
                  "FROM accounts_membership m WHERE m.account_id = accounts_memberaccount.id)",
    # SQLite (the demo) before 3.44 has no ORDER BY inside an aggregate: the memberships are ordered first.
    "sqlite": "(member_regions, monitored_regions) = (SELECT "
              "json_group_array(region) FILTER (WHERE relationship_status <> ''), "
              "json_group_array(region) FILTER (WHERE relationship_status = %s) "
              "FROM (SELECT m.region, m.relationship_status FROM accounts_membership m "
              "WHERE m.account_id = accounts_memberaccount.id ORDER BY m.region))",
}  # fmt: skip
REFRESH_BATCH = 5000


def account_regions_refresh(account_pks: Iterable[int]) -> None:
    """Rewrite `MemberAccount.member_regions` / `monitored_regions` of these accounts from their memberships.

    Call it after saving membership statuses (every writer does: the member sync, member operations and the
    drift fixes they run, seeds). The accounts are locked first, in id order, so two writers of one account's
    memberships (two regions' syncs) cannot leave a summary that misses the other's change: the rewrite is a
    statement of its own, after the lock, and reads what the other committed.
    """
    pks = sorted(set(account_pks))
    if not pks:
        return
    sets = REGIONS_SET["postgresql" if connection.vendor == "postgresql" else "sqlite"]
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(pks), REFRESH_BATCH):
            batch = pks[start : start + REFRESH_BATCH]
            list(MemberAccount.objects.select_for_update().filter(pk__in=batch).order_by("pk").values_list("pk"))
            marks = ", ".join(["%s"] * len(batch))
            cursor.execute(
                f"UPDATE accounts_memberaccount SET {sets} WHERE id IN ({marks})",  # noqa: S608 - constants and %s
                [MONITORED, *batch],
            )


def membership_counts_compact(*, region: str) -> None:
    """Fold one region's `MembershipStatusCount` deltas into one row per status (PostgreSQL; the triggers only add).

    One statement, in its own short transaction: the deltas it deletes are the ones its snapshot sees, and it
    writes their sums back, so a writer adding deltas meanwhile, or a second compaction of the region, changes no
    sum (a row the other compaction deleted first is skipped). Run after a region's member sync, outside it.
    """
    if connection.vendor != "postgresql":
        return
    table = MembershipStatusCount._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"WITH gone AS (DELETE FROM {table} WHERE region = %s RETURNING region, status, n)"  # noqa: S608
            f" INSERT INTO {table} (region, status, n)"
            " SELECT region, status, sum(n) FROM gone GROUP BY region, status HAVING sum(n) <> 0",
            [region],
        )


def account_regions_stale(memberships: Iterable[Membership]) -> set[int]:
    """The accounts (pks) of these memberships, read with their `account`, whose summary disagrees with a status."""
    return {
        m.account_id for m in memberships
        if (m.region in m.account.member_regions) != bool(m.relationship_status)
        or (m.region in m.account.monitored_regions) != (m.relationship_status == MONITORED)
    }  # fmt: skip


def rows_update(model, objects: Sequence, fields: Sequence[str], *, batch_size: int = 5000) -> None:
    """Write `fields` of many rows: one `UPDATE … FROM unnest(…)` per batch on Postgres, a column an array.

    Django's `bulk_update` builds a CASE per field and row, which costs seconds of CPU for a few
    thousand rows; a `VALUES` list of one placeholder per cell costs psycopg's query parsing as much.
    One array parameter per column does not grow the statement. SQLite (the demo) still uses bulk_update.
    """
    if not objects:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objects, fields, batch_size=500)
        return
    meta = model._meta
    quote = connection.ops.quote_name
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    names = ", ".join(quote(column.column) for column in columns)
    arrays = ", ".join(f"%s::{column.db_type(connection)}[]" for column in columns)
    sets = ", ".join(f"{quote(column.column)} = v.{quote(column.column)}" for column in columns[1:])
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {sets} FROM unnest({arrays}) AS v({names}) "  # noqa: S608
        f"WHERE t.{quote(meta.pk.column)} = v.{quote(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        for start in range(0, len(objects), batch_size):
            batch = objects[start : start + batch_size]
            cursor.execute(
                sql,
                [[column.get_db_prep_save(getattr(obj, column.attname), connection) for obj in batch]
                 for column in columns],
            )  # fmt: skip


def _memberships_for(accounts: Sequence[MemberAccount], region: str) -> dict[int, Membership]:
    """The membership rows of `accounts` in `region`, created empty where missing; by account pk."""
    Membership.objects.bulk_create(
        [Membership(account=account, region=region) for account in accounts], ignore_conflicts=True
    )
    return {m.account_id: m for m in Membership.objects.filter(account__in=accounts, region=region)}


def status_changes_apply(
    changes: Sequence[tuple[Membership, str]], *, source: str, actor, audit: bool, alerts: bool = True
) -> int:
    """Set new statuses on memberships (the caller saves them): history rows, audit entries, alerts.

    Memberships must carry their `account`; once they are saved, the caller rewrites their accounts' region
    summary (`account_regions_refresh`), which the heatmap's filters read. `alerts=False` for what an
    administrator did on purpose (stop, disassociate, delete): the change is recorded in the history, not raised.
    Returns how many changed.
    """
    history: dict[str, list] = {"membership_id": [], "from_status": [], "to_status": []}
    audited = []
    alerting: dict[tuple[int, str], MemberAccount] = {}
    for membership, status in changes:
        before = membership.relationship_status
        if before == status:
            continue
        membership.relationship_status = status
        history["membership_id"].append(membership.pk)
        history["from_status"].append(before)
        history["to_status"].append(status)
        if audit:
            audited.append(
                (membership.account, {"region": membership.region, "from": before, "to": status, "source": source})
            )
        if alerts and status in ALERT_STATUSES:
            alerting[(membership.account_id, status)] = membership.account
    rows_insert(
        model=MembershipStatusChange, varying=history, batch_size=2000,
        fixed={"source": source, "actor_name": actor_name(actor), "at": timezone.now()},
    )  # fmt: skip
    audit_record_many(actor=actor, verb="membership.status_change", entries=audited)
    if alerting:
        _coverage_alerts_raise(alerting, changes)
    return len(history["to_status"])


def _coverage_alerts_raise(
    alerting: dict[tuple[int, str], MemberAccount], changes: Sequence[tuple[Membership, str]]
) -> None:
    """One alert per account and status, naming every region where the account now has that status.

    The regions are the stored ones (one query) overlaid with this batch's new statuses, not yet saved.
    """
    accounts = {account_pk for account_pk, _status in alerting}
    now_in: dict[tuple[int, str], str] = {}
    changed = {membership.pk for membership, _status in changes if membership.pk}
    stored = Membership.objects.filter(account__in=accounts, relationship_status__in=ALERT_STATUSES).exclude(
        pk__in=changed
    )
    for account_pk, region, status in stored.values_list("account_id", "region", "relationship_status"):
        now_in[(account_pk, region)] = status
    for membership, _status in changes:
        if membership.account_id in accounts:
            now_in[(membership.account_id, membership.region)] = membership.relationship_status
    order = {region: index for index, region in enumerate(configured_regions())}
    for (account_pk, status), account in alerting.items():
        regions = sorted(
            (region for (pk, region), found in now_in.items() if pk == account_pk and found == status),
            key=lambda region: (order.get(region, len(order)), region),
        )
        coverage_alert_raise(account=account, status=status, regions=regions)


# How an alert says what happened to a member (`who` is the id and name, `regions` a list).
ALERT_TITLES = {
    "Resigned": "Member {who} left the administrator (resigned) in {regions}",
    "Removed": "Member {who} was disassociated from the administrator in {regions}",
    "Disabled": "Member {who} is no longer monitored (monitoring stopped) in {regions}",
    "EmailVerificationFailed": "Member {who} could not be invited: GuardDuty could not verify its email in {regions}",
}


def account_who(account: MemberAccount) -> str:
    """`123456789012 (payments-prod)`, or the id alone when the account has no name."""
    return f"{account.account_id} ({account.display_name})" if account.display_name else account.account_id


def coverage_alert_raise(*, account: MemberAccount, status: str, regions: Sequence[str]) -> None:
    """The in-app alert (and notification hook) for a member that fell out of monitoring, one per account and status."""
    where = ", ".join(regions)
    template = ALERT_TITLES.get(status, "Member {who} is now " + status_label(status) + " in {regions}")
    alert_raise(
        kind=f"member.{status}",
        title=template.format(who=account_who(account), regions=where),
        message=ALERT_EXPLANATION.get(status, ""),
        target=("accounts.memberaccount", account.account_id, f"{account.account_id} in {where}"),
        dedupe_key=f"member:{account.account_id}:{status}",
        severity=ALERT_SEVERITY.get(status, Alert.Severity.MEDIUM),
    )
