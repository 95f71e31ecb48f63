"""Member account Celery tasks: thin, idempotent interfaces to `accounts.services`."""

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model

from accounts import aws_organizations, gateway, member_sync, operations, region_discovery


@shared_task(name="accounts.tasks.members_sync_all_regions")
def members_sync_all_regions() -> list[str]:
    """Beat: one status-sync task per configured region, so a failing region holds up no other.

    Also re-queues the email-verification checks of invitations whose task was lost.
    """
    for region in settings.GUARDWATCH_AWS_REGIONS:
        members_sync_region.delay(region)
    for operation_id in operations.member_invitations_overdue():
        member_invitations_verify.delay(operation_id)
    return list(settings.GUARDWATCH_AWS_REGIONS)


@shared_task(name="accounts.tasks.members_sync_region")
def members_sync_region(region: str, actor_id: int | None = None) -> dict:
    """Sync one region's member statuses; running it twice only re-reads the same statuses."""
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    with gateway.acting_as(actor):
        result = member_sync.members_sync_region(region=region, actor=actor)
    if not result.error:
        # Protection plans need the detector id and memberships this sync just stored.
        member_protection_sync_region.delay(region)
    return {"region": region, "members": result.members, "changed": result.changed, "error": result.error}


@shared_task(name="accounts.tasks.member_operation_run")
def member_operation_run(operation_id: int) -> dict:
    """Do an operation's pending work; a duplicate delivery finds nothing to claim and returns."""
    operation = operations.member_operation_run(operation_id=operation_id)
    if operation is None:
        return {"operation": operation_id, "status": "not claimed"}
    return {"operation": operation_id, "status": operation.status, "done": operation.done, "failed": operation.failed}


@shared_task(name="accounts.tasks.member_invitations_verify")
def member_invitations_verify(operation_id: int) -> dict:
    """Poll GetMembers for the emails GuardDuty is verifying; re-queue itself (backing off) until they settle.

    Bounded by the operation's `verify_until`; a duplicate delivery finds the check claimed and stops.
    """
    again = operations.member_invitations_verify(operation_id=operation_id)
    if again is not None:
        member_invitations_verify.apply_async((operation_id,), countdown=again)
    return {"operation": operation_id, "next_check_in": again}


# --- Coverage (reports): protection plans ----------------------------------------------------------


@shared_task(name="accounts.tasks.member_protection_sync_region")
def member_protection_sync_region(region: str) -> dict:
    """Read the region's associated members' protection plans (GetMemberDetectors); idempotent."""
    from accounts.protection import member_protection_sync_region as sync

    result = sync(region=region)
    return {"region": result.region, "described": result.described, "error": result.error}


# --- Organizations mode ------------------------------------------------------------------------------


@shared_task(name="accounts.tasks.organization_refresh")
def organization_refresh(actor_id: int | None = None) -> dict:
    """Read the organization and its configuration into the Organization page's snapshot; idempotent."""
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    with gateway.acting_as(actor):
        snapshot = aws_organizations.organization_snapshot_refresh(actor=actor)
    return {"accounts": len(snapshot.accounts), "error": snapshot.error}


# --- Coverage (reports): enabled regions ---------------------------------------------------------


@shared_task(name="accounts.tasks.enabled_regions_discover")
def enabled_regions_discover() -> dict:
    """Read which regions are enabled for the administrator and where it has a detector; idempotent."""
    found = region_discovery.enabled_regions_discover()
    return {"enabled": found.enabled, "unmanaged": found.unmanaged, "error": found.error}


# --- Coverage policies: drift --------------------------------------------------------------------


@shared_task(name="accounts.tasks.drift_evaluate")
def drift_evaluate() -> dict:
    """Beat: compare every account with its coverage policy from the synced tables; idempotent."""
    from accounts.drift import drift_evaluate as evaluate

    result = evaluate()
    return {"pairs": result.pairs, "compliant": result.compliant, "new": result.new, "resolved": result.resolved}


# --- Coverage policies: S3 malware protection per bucket tag ------------------------------------------


@shared_task(name="accounts.tasks.s3_inventory_sync")
def s3_inventory_sync() -> dict:
    """Beat: one inventory task per account whose policy names S3 malware bucket tags."""
    from accounts.s3_malware import accounts_needing_inventory

    pks = accounts_needing_inventory()
    for pk in pks:
        s3_inventory_account.delay(pk)
    return {"accounts": len(pks)}


@shared_task(name="accounts.tasks.s3_inventory_account")
def s3_inventory_account(account_pk: int) -> dict:
    """Read one member's buckets, tags and malware protection plans (as the member); idempotent."""
    from accounts.models import MemberAccount
    from accounts.s3_malware import s3_inventory_refresh

    account = MemberAccount.objects.filter(pk=account_pk).first()
    if account is None:
        return {"account": account_pk, "error": "gone"}
    result = s3_inventory_refresh(account=account)
    return {"account": result.account_id, "buckets": result.buckets, "plans": result.plans, "error": result.error}
