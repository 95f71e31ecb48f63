"""Owner routing: each team's destinations, rules that target "the owning team", and the teams' daily digests.

Who owns a finding is answered in one place, `accounts.teams.finding_owners` / `account_owners` (team
scopes, Organizations OUs, owner tags); this module only turns owners into destinations.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Team
from guardwatch.core.services import audit_record
from notifications.events import FINDING_FIELDS, deliveries_enqueue, event_for_finding
from notifications.models import BANDS, Delivery, Destination, TeamRouting
from notifications.selectors import owned_account_ids

DIGEST_MAX_EVENTS = (
    200  # a digest lists at most this many findings (the newest) and says how many it left out
)

# --- Writes --------------------------------------------------------------------------------------


@transaction.atomic
def team_routing_save(*, team: Team, destinations: Sequence[Destination], digest_enabled: bool,
                      digest_hour: int, digest_min_band: str, actor) -> TeamRouting:  # fmt: skip
    """Set a team's destinations and digest (validated before anything is written; audited)."""
    if not isinstance(digest_hour, int) or not 0 <= digest_hour <= 23:
        raise ValidationError("The digest hour is a whole hour from 0 to 23.")
    if digest_min_band not in BANDS:
        raise ValidationError(f"The digest's minimum severity is one of {', '.join(BANDS)}.")
    if digest_enabled and not destinations:
        raise ValidationError("A daily digest needs at least one destination for the team.")
    routing, _ = TeamRouting.objects.get_or_create(team=team)
    before = {
        "destinations": sorted(routing.destinations.values_list("name", flat=True)),
        "digest_enabled": routing.digest_enabled, "digest_hour": routing.digest_hour,
        "digest_min_band": routing.digest_min_band,
    }  # fmt: skip
    routing.digest_enabled, routing.digest_hour, routing.digest_min_band = (
        digest_enabled,
        digest_hour,
        digest_min_band,
    )
    routing.save()
    routing.destinations.set(destinations)
    after = {
        "destinations": sorted(d.name for d in destinations), "digest_enabled": digest_enabled,
        "digest_hour": digest_hour, "digest_min_band": digest_min_band,
    }  # fmt: skip
    if before != after:
        audit_record(
            actor=actor, verb="team.routing", target=team, details={"before": before, "after": after}
        )
    return routing


# --- Daily digests -------------------------------------------------------------------------------


def _digest_start(now: datetime, hour: int) -> datetime:
    """Today's digest moment (in TIME_ZONE) at `hour`."""
    local = timezone.localtime(now)
    return local.replace(hour=hour, minute=0, second=0, microsecond=0)


def team_digests_send(*, now: datetime | None = None) -> int:
    """Beat (every 15 minutes): each team whose digest hour has come today and has not had today's digest gets one."""
    now = now or timezone.now()
    due = [
        routing
        for routing in TeamRouting.objects.filter(digest_enabled=True).select_related("team")
        if _digest_start(now, routing.digest_hour) <= now
        and (routing.digest_last_sent_at is None or routing.digest_last_sent_at < _digest_start(now, routing.digest_hour))
    ]  # fmt: skip
    if not due:
        return 0
    owned = owned_account_ids(teams=[routing.team for routing in due])
    return sum(len(_team_digest_make(routing=r, accounts=owned[r.team_id], now=now)) for r in due)


def _team_digest_make(*, routing: TeamRouting, accounts: set[str], now: datetime) -> list[Delivery]:
    """Claim today's digest (conditional UPDATE: of two racing beats one wins) and queue it per destination."""
    from findings.models import Finding
    from findings.sla import BAND_RANGES

    start = _digest_start(now, routing.digest_hour)
    since = routing.digest_last_sent_at or (now - timedelta(days=1))
    with transaction.atomic():
        claimed = (
            TeamRouting.objects.filter(pk=routing.pk)
            .filter(Q(digest_last_sent_at__isnull=True) | Q(digest_last_sent_at__lt=start))
            .update(digest_last_sent_at=now)
        )
        destinations = [d for d in routing.destinations.all() if d.enabled]
        if not claimed or not destinations or not accounts:
            return []
        low = BAND_RANGES[routing.digest_min_band][0]
        rows = Finding.objects.filter(
            Q(first_synced_at__gt=since) | Q(last_synced_at__gt=since),
            account_id__in=sorted(accounts), severity__gte=low, archived=False,
        ).only(*FINDING_FIELDS, "first_synced_at").order_by("-severity", "-id")  # fmt: skip
        total = rows.count()
        if not total:
            return []
        events = []
        for finding in rows[:DIGEST_MAX_EVENTS]:
            kind = "new_finding" if finding.first_synced_at > since else "finding_updated"
            events.append(event_for_finding(kind=kind, finding=finding).snapshot)
        deliveries = Delivery.objects.bulk_create([
            Delivery(
                destination=destination, kind="digest", subject=f"team-digest:{routing.team_id}",
                event_key=f"team-digest:{routing.team_id}:{start.date().isoformat()}:{destination.pk}", created_at=now,
                payload={"events": events, "digest": True, "test": False, "team": routing.team.name, "total": total,
                         "since": since.isoformat()},
            )
            for destination in destinations
        ])  # fmt: skip
        deliveries_enqueue(deliveries=deliveries)
    return deliveries
