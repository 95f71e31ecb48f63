"""Event intake: the small API the rest of GuardWatch calls to notify people.

    events_publish(events=[event_for_finding(kind=EventKind.NEW_FINDING, finding=f), ...])

Matching is done in memory against the enabled rules (one query per call, whatever the number of
events and rules), throttling costs one more query, and the resulting `Delivery` rows are inserted
in bulk and handed to Celery only after the surrounding transaction commits. Nothing here talks to
a destination, so the findings sync never waits on one.

Sources wired so far: the findings upsert (`findings_changes_watch`: new finding, severity raised,
repeat occurrence), failed sync runs (`sync_failure_publish`), coverage alerts (`receivers.py`),
overdue findings (`overdue_findings_publish`, beat).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from guardwatch.core.queue import task_send_on_commit
from notifications.models import BANDS, Delivery, DigestEntry, EventKind, RoutingRule

logger = logging.getLogger(__name__)

FINDING_KINDS = frozenset({EventKind.NEW_FINDING, EventKind.SEVERITY_RAISED, EventKind.REPEAT_OCCURRENCE})
_CHUNK = 500


@dataclass(frozen=True)
class Event:
    """Something that happened, with a plain-dict snapshot messages are built from.

    `subject` names what it is about (a finding ARN, `alert:<id>`, `sync:<region>`) and is what
    per-rule throttling counts on; `key` identifies this very occurrence.
    """

    kind: str
    subject: str
    key: str
    snapshot: dict[str, Any]
    finding_id: int | None = None
    occurred_at: datetime = field(default_factory=timezone.now)


def public_url(path: str) -> str:
    """An absolute link back to GuardWatch."""
    return settings.GUARDWATCH_PUBLIC_URL.rstrip("/") + path


def finding_snapshot(*, finding_id: int | None, values: dict[str, Any]) -> dict[str, Any]:
    """What messages say about a finding, from a Finding, a ParsedFinding or a `.values()` row."""
    severity = values.get("severity")
    return {
        "title": values.get("title") or values.get("type", ""),
        "severity": float(severity) if severity is not None else None,
        "band": values.get("severity_band") or None,
        "account": values.get("account_id", ""),
        "region": values.get("region", ""),
        "type": values.get("type", ""),
        "count": values.get("count"),
        "arn": values.get("arn", ""),
        "finding_id": values.get("finding_id", ""),
        "url": public_url(f"/findings/{finding_id}/") if finding_id else public_url("/findings/"),
    }


# What an event snapshot reads from a finding (callers loading findings to publish pass these to `.only()`).
FINDING_FIELDS = _FINDING_FIELDS = ("id", "arn", "finding_id", "title", "type", "severity", "severity_band", "account_id",
                   "region", "count", "updated_at")  # fmt: skip


def event_for_finding(*, kind: str, finding, extra: dict[str, Any] | None = None) -> Event:
    """An event about a stored `findings.Finding`."""
    values = {name: getattr(finding, name) for name in _FINDING_FIELDS}
    snapshot = {"kind": str(kind), **finding_snapshot(finding_id=finding.pk, values=values), **(extra or {})}
    suffix = {
        EventKind.SEVERITY_RAISED: f":{finding.severity_band}",
        EventKind.REPEAT_OCCURRENCE: f":{finding.count}",
    }.get(kind, "")
    return Event(kind=str(kind), subject=finding.arn, key=f"{kind}:{finding.arn}{suffix}", snapshot=snapshot,
                 finding_id=finding.pk)  # fmt: skip


# --- Publishing ---------------------------------------------------------------------------------


def _active_rules(kinds: set[str]) -> list[RoutingRule]:
    rules = RoutingRule.objects.filter(enabled=True, destination__enabled=True).select_related("destination")
    return [rule for rule in rules if kinds.intersection(rule.event_kinds)]


def _finding_rules_cache_key() -> str:
    # Per database: test sessions (and installations) sharing one Redis must not answer for each other.
    return f"notifications:finding-rules:{connection.settings_dict['NAME']}"


def finding_rules_changed() -> None:
    """Forget the cached "no rule wants finding events" answer (rules or destinations changed)."""
    try:
        cache.delete(_finding_rules_cache_key())
    except Exception:  # noqa: BLE001 - unreachable cache: the answer expires within 60 s on its own
        logger.warning("Could not forget the cached finding rules: the cache is unreachable.", exc_info=True)


def _finding_rules() -> list[RoutingRule]:
    """Enabled rules for finding events; "none" is cached so the sync's hot path skips the query.

    The cache is only a shortcut here: when it is unreachable the rules are read from the database,
    so a Redis outage never fails a sync's or a push's batch.
    """
    key = _finding_rules_cache_key()
    try:
        if cache.get(key) is False:
            return []
    except Exception:  # noqa: BLE001 - redis ConnectionError, TimeoutError, ...
        logger.warning("The cache is unreachable: reading the finding rules from the database.", exc_info=True)
        return _active_rules(set(FINDING_KINDS))
    rules = _active_rules(set(FINDING_KINDS))
    if not rules:
        try:
            cache.set(key, False, timeout=60)  # bounded staleness for edits that bypass the services
        except Exception:  # noqa: BLE001
            logger.warning("Could not cache the finding rules: the cache is unreachable.", exc_info=True)
    return rules


def events_publish(
    *, events: Sequence[Event], now: datetime | None = None, rules: list[RoutingRule] | None = None
) -> list[Delivery]:
    """Route `events` to every matching rule's destination; deliveries are sent after commit.

    Queries: one for the rules, one for throttling (only if a matching rule throttles), one bulk
    insert each for deliveries and digest entries — whatever the number of events.
    """
    if not events:
        return []
    if rules is None:
        rules = _active_rules({e.kind for e in events})
    if not rules:
        return []
    now = now or timezone.now()
    matched = [(rule, event) for event in events for rule in rules if rule.matches(event)]
    if not matched:
        return []
    recent = _recently_sent(matched, now)
    teams = _owning_team_targets(matched)
    deliveries: list[Delivery] = []
    held: list[DigestEntry] = []
    for rule, event in matched:
        if rule.throttle == RoutingRule.Throttle.DIGEST:
            held.append(DigestEntry(rule=rule, kind=event.kind, subject=event.subject, snapshot=event.snapshot,
                                    created_at=now))  # fmt: skip
            continue
        if rule.throttle == RoutingRule.Throttle.WINDOW:
            if (rule.pk, event.subject) in recent:
                continue
            recent.add((rule.pk, event.subject))
        for destination, extra in _rule_targets(rule, event, teams):
            deliveries.append(
                Delivery(
                    destination=destination,
                    rule=rule,
                    kind=event.kind,
                    subject=event.subject[:512],
                    event_key=event.key[:600],
                    finding_id=event.finding_id,
                    created_at=now,
                    payload={"events": [event.snapshot], "digest": False, "test": False, **extra},
                )  # fmt: skip
            )
    if held:
        DigestEntry.objects.bulk_create(held)
    if deliveries:
        deliveries = Delivery.objects.bulk_create(deliveries)
        deliveries_enqueue(deliveries=deliveries)
    return deliveries


def _owning_team_targets(matched: list[tuple[RoutingRule, Event]]) -> dict[str, list]:
    """For rules targeting the owning team: each event account's (team, destination) pairs (four queries,
    none when no matched rule targets the owning team)."""
    accounts = {
        event.snapshot.get("account") or ""
        for rule, event in matched
        if rule.target == RoutingRule.Target.OWNING_TEAM
    }
    accounts.discard("")
    if not accounts:
        return {}
    from notifications.selectors import account_team_destinations

    return account_team_destinations(account_ids=accounts)


def _rule_targets(
    rule: RoutingRule, event: Event, teams: dict[str, list]
) -> list[tuple[Any, dict[str, Any]]]:
    """(destination, payload extras) for one matched event: the rule's destination, or each owning team's
    destination — the rule's destination being the fallback when no team owns the finding or none of its
    owners has an enabled destination."""
    if rule.target != RoutingRule.Target.OWNING_TEAM:
        return [(rule.destination, {})]
    pairs = teams.get(event.snapshot.get("account") or "", [])
    if not pairs:
        return [(rule.destination, {"owner_fallback": True})]
    seen: dict[int, tuple[Any, list[str]]] = {}
    for team, destination in pairs:  # two owning teams sharing a destination get one message
        seen.setdefault(destination.pk, (destination, []))[1].append(team.name)
    return [(destination, {"teams": names}) for destination, names in seen.values()]


def _recently_sent(matched: list[tuple[RoutingRule, Event]], now: datetime) -> set[tuple[int, str]]:
    """(rule, subject) pairs already messaged within their rule's window."""
    windowed = [(rule, event) for rule, event in matched if rule.throttle == RoutingRule.Throttle.WINDOW]
    if not windowed:
        return set()
    longest = max(rule.throttle_minutes for rule, _ in windowed)
    windows = {rule.pk: timedelta(minutes=rule.throttle_minutes) for rule, _ in windowed}
    rows = Delivery.objects.filter(
        rule_id__in=windows.keys(),
        subject__in={event.subject[:512] for _, event in windowed},
        created_at__gte=now - timedelta(minutes=longest),
    ).values_list("rule_id", "subject", "created_at")
    return {(rule_id, subject) for rule_id, subject, created in rows if created >= now - windows[rule_id]}


def deliveries_enqueue(*, deliveries: Iterable[Delivery], countdown: float | None = None) -> None:
    """Hand each delivery to its own Celery task once the current transaction commits."""
    for delivery in deliveries:
        task_send_on_commit("notifications.tasks.delivery_send", delivery.pk, countdown=countdown)


# --- Findings upsert hook -------------------------------------------------------------------------


class FindingChanges:
    """Watches one upsert: remembers the stored versions before it and publishes what changed after.

    A row counts as changed by this upsert only if its `last_synced_at` is the upsert's `now`
    (inserted rows also carry it as `first_synced_at`), so a racing push/pull that lost the race
    publishes nothing twice.
    """

    def __init__(self, *, arns: list[str], now: datetime, rules: list[RoutingRule]):
        from findings.models import Finding

        self.arns, self.now, self.rules = arns, now, rules
        self.before: dict[str, tuple[str, int]] = {}
        for start in range(0, len(arns), _CHUNK):
            rows = Finding.objects.filter(arn__in=arns[start : start + _CHUNK]).values_list(
                "arn", "severity_band", "count"
            )
            self.before.update({arn: (band, count) for arn, band, count in rows})

    def publish(self) -> list[Delivery]:
        """Publish inside a savepoint: a notification bug is logged, never fails the sync's batch."""
        try:
            with transaction.atomic():
                return events_publish(events=self.events(), now=self.now, rules=self.rules)
        except Exception:
            logger.exception("Could not publish finding events for %d findings", len(self.arns))
            return []

    def events(self) -> list[Event]:
        from findings.models import Finding

        found: list[Event] = []
        for start in range(0, len(self.arns), _CHUNK):
            changed = Finding.objects.filter(
                arn__in=self.arns[start : start + _CHUNK], last_synced_at=self.now
            ).only(*_FINDING_FIELDS, "first_synced_at")
            for finding in changed:
                found.extend(self._classify(finding))
        return found

    def _classify(self, finding) -> list[Event]:
        previous = self.before.get(finding.arn)
        if previous is None:
            return [event_for_finding(kind=EventKind.NEW_FINDING, finding=finding)]
        old_band, old_count = previous
        found = []
        if (
            finding.severity_band in BANDS
            and old_band in BANDS
            and BANDS.index(finding.severity_band) > BANDS.index(old_band)
        ):
            found.append(event_for_finding(kind=EventKind.SEVERITY_RAISED, finding=finding,
                                           extra={"previous_band": old_band}))  # fmt: skip
        if finding.count > old_count:
            found.append(event_for_finding(kind=EventKind.REPEAT_OCCURRENCE, finding=finding,
                                           extra={"previous_count": old_count}))  # fmt: skip
        return found


class _NoChanges:
    def publish(self) -> list[Delivery]:
        return []


def findings_changes_watch(*, findings: Sequence, now: datetime) -> FindingChanges | _NoChanges:
    """Call before the upsert with its ParsedFindings and `now`; call `.publish()` after it.

    With no enabled rule for finding events this costs no query (a cached answer) and does nothing else.
    """
    if not findings:
        return _NoChanges()
    rules = _finding_rules()
    if not rules:
        return _NoChanges()
    arns = sorted({f.arn for f in findings})
    return FindingChanges(arns=arns, now=now, rules=rules)


def events_from_upsert(*, findings: Sequence, now: datetime, upsert) -> Any:
    """Run `upsert()` (a callable doing the findings upsert at `now`) and publish what it changed."""
    watch = findings_changes_watch(findings=findings, now=now)
    result = upsert()
    watch.publish()
    return result


# --- Other sources -------------------------------------------------------------------------------


def sync_failure_publish(*, region: str, run_id: int | None, error: str) -> list[Delivery]:
    """A findings sync of `region` failed (throttle per rule to hear about it once an hour)."""
    snapshot = {
        "kind": EventKind.SYNC_FAILING.value,
        "title": f"Findings sync failing in {region}",
        "severity": None,
        "band": None,
        "account": "",
        "region": region,
        "type": None,
        "count": None,
        "error": error[:1000],
        "url": public_url("/findings/sync/"),
    }
    event = Event(kind=EventKind.SYNC_FAILING, subject=f"sync:{region}", key=f"sync:{region}:{run_id}",
                  snapshot=snapshot)  # fmt: skip
    try:
        with transaction.atomic():
            return events_publish(events=[event])
    except Exception:  # the sync records its own failure; a notification problem must not mask it
        logger.exception("Could not publish the sync failure of %s", region)
        return []


def alert_event(alert) -> Event:
    """A coverage alert (`core.Alert`, e.g. member resigned/removed/disabled) as an event."""
    account, _, region = (alert.target_label or "").partition(" in ")
    snapshot = {
        "kind": EventKind.COVERAGE_ALERT.value,
        "title": alert.title,
        "severity": None,
        "band": alert.severity if alert.severity in BANDS else None,
        "account": alert.target_id if alert.target_type == "accounts.memberaccount" else account,
        "region": region,
        "type": None,
        "count": None,
        "alert_kind": alert.kind,
        "message": alert.message,
        "url": public_url("/alerts/"),
    }
    return Event(kind=EventKind.COVERAGE_ALERT, subject=f"alert:{alert.dedupe_key}"[:512], key=f"alert:{alert.pk}",
                 snapshot=snapshot)  # fmt: skip


def overdue_findings_publish(
    *, now: datetime | None = None, lookback: timedelta = timedelta(minutes=30)
) -> int:
    """Publish `finding_overdue` for open findings whose SLA ran out within `lookback` (beat, every 5 min).

    Due = created_at + the band's SLA (`findings.sla.sla_hours`) (as the finding page shows it). An event key already
    delivered, or a finding already held for a digest, is not published again, so the overlapping
    runs (every 5 minutes over a 30-minute lookback) notify once.
    """
    from findings.models import OPEN_STATUSES, Finding
    from findings.sla import sla_hours

    if not _active_rules({EventKind.FINDING_OVERDUE}):
        return 0
    now = now or timezone.now()
    events = []
    for band, hours in sla_hours().items():
        sla = timedelta(hours=hours)
        due_now = Finding.objects.filter(
            severity_band=band, status__in=OPEN_STATUSES, archived=False,
            created_at__gt=now - sla - lookback, created_at__lte=now - sla,
        ).only(*_FINDING_FIELDS, "created_at")  # fmt: skip
        for finding in due_now:
            due = finding.created_at + sla
            events.append(event_for_finding(kind=EventKind.FINDING_OVERDUE, finding=finding,
                                            extra={"due_at": due.isoformat()}))  # fmt: skip
    if not events:
        return 0
    seen = set(
        Delivery.objects.filter(event_key__in=[e.key for e in events]).values_list("event_key", flat=True)
    )
    # Held for a digest rule counts too (digest entries keep the subject, not the key): a finding is
    # overdue once, so one held entry per finding is enough.
    held = DigestEntry.objects.filter(
        kind=EventKind.FINDING_OVERDUE, subject__in=[e.subject[:512] for e in events]
    ).values_list("subject", flat=True)
    seen.update(f"{EventKind.FINDING_OVERDUE}:{subject}" for subject in held)
    fresh = [e for e in events if e.key not in seen]
    events_publish(events=fresh, now=now)
    return len(fresh)
