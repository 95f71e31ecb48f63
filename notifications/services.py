"""Notifications writes: destinations and rules (audited), delivery attempts, digests, resends, tickets."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from guardwatch.core.metrics import NOTIFICATION_DELIVERIES
from guardwatch.core.services import audit_record
from notifications import senders, tickets
from notifications.crypto import SecretsUnreadable, secret_mask, secrets_encrypt
from notifications.events import deliveries_enqueue, event_for_finding, finding_rules_changed, public_url
from notifications.models import Delivery, Destination, DigestEntry, RoutingRule, TicketLink
from notifications.senders import SendOutcome

logger = logging.getLogger(__name__)

# A "sending" claim older than this belongs to a worker that died mid-attempt.
STALE_CLAIM = timedelta(minutes=5)
# A pending row nobody picked up this long after it was created lost its task (broker down at commit).
LOST_TASK = timedelta(minutes=2)


def _rules_changed() -> None:
    # Now (this process sees it at once) and after commit (another process may have re-cached meanwhile).
    finding_rules_changed()
    transaction.on_commit(finding_rules_changed)


# --- Destinations ----------------------------------------------------------------------------------


def _hints(secrets: dict[str, str]) -> dict[str, str]:
    return {name: secret_mask(value) for name, value in secrets.items() if value}


class DestinationInvalid(ValueError):
    """The destination cannot be saved as given; `problems` maps a field name to what is wrong."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(problems.values()))
        self.problems = problems


# Where each kind sends (the field holding its address, in `config` or among the secrets) and the
# credentials that go with that address.
ADDRESS_FIELDS = {
    Destination.Kind.WEBHOOK: ("secrets", "url"),
    Destination.Kind.SLACK: ("secrets", "url"),
    Destination.Kind.TEAMS: ("secrets", "url"),
    Destination.Kind.JIRA: ("config", "base_url"),
    Destination.Kind.TICKET_WEBHOOK: ("secrets", "url"),
}
CREDENTIALS = {Destination.Kind.WEBHOOK: ("signing_secret",), Destination.Kind.JIRA: ("api_token",),
               Destination.Kind.TICKET_WEBHOOK: ("signing_secret",)}  # fmt: skip


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ("", url, None)
    return (parts.scheme.lower(), (parts.hostname or "").rstrip(".").lower(),
            port or {"https": 443, "http": 80}.get(parts.scheme.lower()))  # fmt: skip


def destination_problems(*, kind: str, destination: Destination | None, config: dict,
                         secrets: dict[str, str]) -> dict[str, str]:  # fmt: skip
    """What stops these values from being saved: Jira over plain http, or a changed address without its secrets.

    A stored credential goes only to the address it was entered for. Re-pointing a destination at
    another scheme, host or port (say, a listener of one's own) needs the credential typed again, or
    whoever may edit destinations could collect the stored token without ever having known it.
    """
    problems: dict[str, str] = {}
    where = ADDRESS_FIELDS.get(kind)
    if kind == Destination.Kind.JIRA and urlsplit(config.get("base_url") or "").scheme != "https":
        problems["base_url"] = "Jira is reached over https:// only: the API token would cross the network in clear."
    if destination is None or where is None:
        return problems
    source, field = where
    new_address = (config if source == "config" else secrets).get(field) or ""
    if not new_address:
        return problems  # blank keeps the stored address
    try:
        stored = destination.secrets()
    except SecretsUnreadable:
        stored = {}
    old_address = (destination.config if source == "config" else stored).get(field) or ""
    if _origin(new_address) == _origin(old_address):
        return problems
    for name in CREDENTIALS.get(kind, ()):
        if not secrets.get(name):
            problems[name] = ("The address changed (scheme, host or port): type this secret again, "
                              "so it only goes where it was meant to.")  # fmt: skip
    return problems


@transaction.atomic
def destination_create(
    *, name: str, kind: str, enabled: bool, config: dict, secrets: dict[str, str], actor
) -> Destination:
    """A new destination; secrets are encrypted and only masked tails are kept readable."""
    problems = destination_problems(kind=kind, destination=None, config=config, secrets=secrets)
    if problems:
        raise DestinationInvalid(problems)
    destination = Destination.objects.create(
        name=name, kind=kind, enabled=enabled, config=config, secrets_encrypted=secrets_encrypt(secrets),
        secret_hints=_hints(secrets), created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )  # fmt: skip
    _rules_changed()
    audit_record(actor=actor, verb="notification_destination.create", target=destination,
                 details={"kind": kind, "enabled": enabled, "config": config, "secrets_set": sorted(secrets)})  # fmt: skip
    return destination


@transaction.atomic
def destination_update(*, destination: Destination, name: str, enabled: bool, config: dict,
                       secrets: dict[str, str], actor) -> Destination:  # fmt: skip
    """Change a destination; a secret left blank keeps its stored value, unless the address changed."""
    problems = destination_problems(kind=destination.kind, destination=destination, config=config, secrets=secrets)
    if problems:
        raise DestinationInvalid(problems)
    changed_secrets = sorted(name for name, value in secrets.items() if value)
    if changed_secrets:
        merged = {**destination.secrets(), **{k: v for k, v in secrets.items() if v}}
        destination.secrets_encrypted = secrets_encrypt(merged)
        destination.secret_hints = _hints(merged)
    before = {"name": destination.name, "enabled": destination.enabled, "config": destination.config}
    destination.name, destination.enabled, destination.config = name, enabled, config
    destination.save()
    _rules_changed()
    audit_record(actor=actor, verb="notification_destination.update", target=destination,
                 details={"before": before, "after": {"name": name, "enabled": enabled, "config": config},
                          "secrets_changed": changed_secrets})  # fmt: skip
    return destination


@transaction.atomic
def destination_delete(*, destination: Destination, actor) -> None:
    """Remove a destination with its rules and delivery log."""
    _rules_changed()
    audit_record(actor=actor, verb="notification_destination.delete", target=destination,
                 details={"kind": destination.kind, "rules": destination.rules.count()})  # fmt: skip
    destination.delete()


def destination_test(*, destination: Destination, actor) -> Delivery:
    """Send a test message now (in the request, bounded by the timeout) and log it; never retried."""
    username = actor.get_username() if getattr(actor, "is_authenticated", False) else "system"
    snapshot = {
        "kind": "test",
        "title": f"GuardWatch test message from {username}",
        "severity": 8.0,
        "band": "high",
        "account": "123456789012",
        "region": "us-east-1",
        "type": "Recon:EC2/PortProbeUnprotectedPort",
        "count": 1,
        "arn": "",
        "url": public_url("/settings/notifications/"),
    }
    delivery = Delivery.objects.create(destination=destination, kind="test", subject="test",
                                       payload={"events": [snapshot], "digest": False, "test": True})  # fmt: skip
    audit_record(actor=actor, verb="notification_destination.test", target=destination,
                 details={"delivery": delivery.pk})  # fmt: skip
    _attempt(delivery, retry=False)
    delivery.refresh_from_db()
    return delivery


# --- Routing rules ---------------------------------------------------------------------------------

RULE_FIELDS = ("name", "enabled", "destination", "event_kinds", "min_band", "type_prefix", "accounts", "regions",
               "min_count", "throttle", "throttle_minutes", "target")  # fmt: skip


def _rule_audit_view(rule: RoutingRule) -> dict[str, Any]:
    view = {name: getattr(rule, name) for name in RULE_FIELDS}
    view["destination"] = rule.destination.name
    return view


@transaction.atomic
def rule_create(*, values: dict[str, Any], actor) -> RoutingRule:
    """A new routing rule."""
    rule = RoutingRule(**{k: values[k] for k in RULE_FIELDS if k in values})
    rule.created_by = actor if getattr(actor, "is_authenticated", False) else None
    rule.save()
    _rules_changed()
    audit_record(actor=actor, verb="notification_rule.create", target=rule, details=_rule_audit_view(rule))
    return rule


@transaction.atomic
def rule_update(*, rule: RoutingRule, values: dict[str, Any], actor) -> RoutingRule:
    """Change a routing rule."""
    before = _rule_audit_view(rule)
    for name in RULE_FIELDS:
        if name in values:
            setattr(rule, name, values[name])
    rule.save()
    _rules_changed()
    audit_record(actor=actor, verb="notification_rule.update", target=rule,
                 details={"before": before, "after": _rule_audit_view(rule)})  # fmt: skip
    return rule


@transaction.atomic
def rule_delete(*, rule: RoutingRule, actor) -> None:
    """Remove a routing rule (its delivery log stays)."""
    _rules_changed()
    audit_record(actor=actor, verb="notification_rule.delete", target=rule, details=_rule_audit_view(rule))
    rule.delete()


# --- Delivery --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptResult:
    """The delivery's state after one attempt; `retry_in` seconds when another attempt is due."""

    status: str
    retry_in: float | None = None


def backoff_seconds(attempts: int) -> int:
    """Wait before attempt `attempts + 1`: base, 2×base, 4×base, … capped at one hour."""
    return min(3600, settings.GUARDWATCH_NOTIFY_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))


def delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> AttemptResult | None:
    """Claim the delivery if it is due and try it once; None if it is not due or someone else has it.

    The claim is a conditional UPDATE, so duplicate tasks (acks_late redelivery, the retry sweeper)
    never send one delivery twice at the same time.
    """
    now = now or timezone.now()
    due = Q(status=Delivery.Status.PENDING) | Q(status=Delivery.Status.FAILED, next_attempt_at__lte=now)
    stale = Q(status=Delivery.Status.SENDING, last_attempt_at__lt=now - STALE_CLAIM)
    row = Delivery.objects.filter(pk=delivery_id)
    reclaimed = False
    if not row.filter(due).update(status=Delivery.Status.SENDING, last_attempt_at=now):
        # A claim of a worker that died mid-attempt: that attempt may have reached the destination.
        reclaimed = bool(row.filter(stale).update(status=Delivery.Status.SENDING, last_attempt_at=now))
        if not reclaimed:
            return None
    delivery = Delivery.objects.select_related("destination").get(pk=delivery_id)
    return _attempt(delivery, retry=True, claimed_at=now, reclaimed=reclaimed)


def _attempt(
    delivery: Delivery, *, retry: bool, claimed_at: datetime | None = None, reclaimed: bool = False
) -> AttemptResult:
    try:
        # One ticket per finding or sequence: concurrent attempts for the same one take turns (tickets.py).
        with tickets.ticket_lock(delivery):
            return _attempt_locked(delivery, retry=retry, claimed_at=claimed_at, reclaimed=reclaimed)
    except Exception as error:
        # Taking the lock or recording the outcome failed (a database error): never leave the claim in
        # "sending" until the stale-claim sweep. Recorded as a failed attempt, so it is retried with backoff
        # and its retry looks for a ticket this attempt may have made. If recording fails too, that error
        # propagates and the stale claim is taken back after STALE_CLAIM.
        logger.exception("Delivery %s to destination %s failed unexpectedly", delivery.pk, delivery.destination_id)
        if transaction.get_connection().needs_rollback:
            raise  # the caller's transaction is broken: it rolls back (and with it the claim) itself
        outcome = SendOutcome(ok=False, error=f"{type(error).__name__}: {error}")
        return _record(delivery, outcome, retry=retry, now=claimed_at or timezone.now())


def _attempt_locked(
    delivery: Delivery, *, retry: bool, claimed_at: datetime | None = None, reclaimed: bool = False
) -> AttemptResult:
    destination = delivery.destination
    link = (
        TicketLink.objects.filter(delivery=delivery).first()
        if destination.kind in tickets.TICKET_KINDS
        else None
    )
    if link is not None:
        # The issue exists (its key is stored): never create it again, whatever the delivery's state says.
        outcome = SendOutcome(ok=True, body=f"{link.key} was already created for this delivery.")
    elif not destination.enabled and not delivery.payload.get("test"):
        outcome = SendOutcome(ok=False, error="The destination is disabled; resend after enabling it.")
        retry = False
    else:
        try:
            # An earlier attempt (also one before a resend, which resets `attempts` but keeps its error)
            # may have reached the destination.
            retrying = reclaimed or delivery.attempts > 0 or bool(delivery.error)
            if delivery.kind in tickets.MOVES:
                outcome = tickets.ticket_move(delivery)
            elif tickets.makes_ticket(delivery):
                outcome = tickets.ticket_make(delivery, retrying=retrying)
            else:
                outcome = senders.send(delivery, retrying=retrying)
        except SecretsUnreadable as error:
            outcome = SendOutcome(ok=False, error=str(error))
        except Exception as error:  # a bug in a sender must not kill the task without a trace
            logger.exception("Delivery %s to destination %s failed unexpectedly", delivery.pk, destination.pk)
            outcome = SendOutcome(ok=False, error=f"{type(error).__name__}: {error}")
    return _record(delivery, outcome, retry=retry, now=claimed_at or timezone.now())


def _record(delivery: Delivery, outcome: SendOutcome, *, retry: bool, now: datetime) -> AttemptResult:
    attempts = delivery.attempts + 1
    fields: dict[str, Any] = {
        "attempts": attempts,
        "last_attempt_at": now,
        "last_status_code": outcome.status_code,
        "response_body": outcome.body[:2000],
        "error": outcome.error[:2000],
    }
    retry_in = None
    if not outcome.ok:
        # The destination's id and kind, never its URL or secrets; the error text is redacted as it is logged.
        logger.warning("Delivery %s to destination %s (%s) failed, attempt %d: %s", delivery.pk,
                       delivery.destination_id, delivery.destination.kind, attempts, outcome.error[:500],
                       extra={"delivery": delivery.pk, "destination": delivery.destination_id})  # fmt: skip
    if outcome.ok:
        fields.update(status=Delivery.Status.SENT, sent_at=timezone.now(), next_attempt_at=None)
    elif retry and attempts < settings.GUARDWATCH_NOTIFY_MAX_ATTEMPTS:
        retry_in = max(backoff_seconds(attempts), outcome.retry_after or 0)
        fields.update(status=Delivery.Status.FAILED, next_attempt_at=now + timedelta(seconds=retry_in))
    else:
        dead = retry or not delivery.payload.get("test")
        fields.update(status=Delivery.Status.DEAD if dead else Delivery.Status.FAILED, next_attempt_at=None)
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(**fields)
        if outcome.ok and outcome.ticket:
            _ticket_link_store(delivery, outcome.ticket, sequence_arn=outcome.sequence_arn)
    NOTIFICATION_DELIVERIES.labels(kind=delivery.destination.kind, outcome=fields["status"]).inc()
    return AttemptResult(status=fields["status"], retry_in=retry_in)


def _ticket_link_store(delivery: Delivery, ticket: tuple[str, str], *, sequence_arn: str = "") -> TicketLink:
    """Keep the issue's key and URL, and put it in the finding's timeline."""
    from findings.models import FindingEvent

    key, url = ticket
    events = delivery.payload.get("events") or [{}]
    actor = get_user_model().objects.filter(pk=delivery.payload.get("actor_id")).first()
    # A ticket shared by an attack sequence: this finding's link starts from the status the others know.
    known = TicketLink.objects.filter(destination=delivery.destination, key=key[:64]).first()
    link = TicketLink.objects.create(
        finding_id=delivery.finding_id, finding_arn=events[0].get("arn", "")[:512], destination=delivery.destination,
        delivery=delivery, key=key[:64], url=url[:500], created_by=actor, sequence_arn=sequence_arn[:512],
        status_name=known.status_name if known else "", status_category=known.status_category if known else "",
    )  # fmt: skip
    if delivery.finding_id:
        FindingEvent.objects.create(
            finding_id=delivery.finding_id, kind=FindingEvent.Kind.TICKET, actor=actor,
            actor_name=actor.get_username() if actor else "", created_at=link.created_at,
            body=(f"Jira issue {link.key} created in {delivery.destination.name}" if known is None
                  else f"Linked to {link.key}, its attack sequence's ticket in {delivery.destination.name}"),
            details={"key": link.key, "url": link.url, "destination": delivery.destination.name,
                     "delivery": delivery.pk},
        )  # fmt: skip
    return link


def deliveries_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Deliveries whose task may have been lost: failed and due, pending for a while, or stale claims."""
    now = now or timezone.now()
    rows = Delivery.objects.filter(
        Q(status=Delivery.Status.FAILED, next_attempt_at__lte=now - timedelta(seconds=30))
        | Q(status=Delivery.Status.PENDING, created_at__lte=now - LOST_TASK)
        | Q(status=Delivery.Status.SENDING, last_attempt_at__lt=now - STALE_CLAIM)
    ).order_by("id")
    return list(rows.values_list("id", flat=True)[:limit])


@transaction.atomic
def delivery_resend(*, delivery: Delivery, actor) -> Delivery:
    """Put a dead (or failed) delivery back in the queue for a fresh set of attempts."""
    previous = delivery.status
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.PENDING, attempts=0, next_attempt_at=None
    )
    delivery.refresh_from_db()
    audit_record(actor=actor, verb="notification_delivery.resend", target=delivery,
                 details={"destination": delivery.destination.name, "previous_status": previous})  # fmt: skip
    deliveries_enqueue(deliveries=[delivery])
    return delivery


# --- Digests ---------------------------------------------------------------------------------------


def digests_send(*, now: datetime | None = None) -> int:
    """Beat: for each digest rule whose window has passed, gather its held events into one delivery."""
    now = now or timezone.now()
    made = 0
    rules = RoutingRule.objects.filter(throttle=RoutingRule.Throttle.DIGEST, enabled=True).select_related(
        "destination"
    )
    for rule in rules:
        since = rule.last_digest_at or rule.created_at
        if since > now - timedelta(minutes=rule.throttle_minutes):
            continue
        if _digest_make(rule=rule, now=now):
            made += 1
    return made


def _digest_make(*, rule: RoutingRule, now: datetime) -> Delivery | None:
    with transaction.atomic():
        # Claim the window first: of two racing beat ticks only one moves last_digest_at.
        window_start = now - timedelta(minutes=rule.throttle_minutes)
        claimed = (
            RoutingRule.objects.filter(pk=rule.pk)
            .filter(Q(last_digest_at__isnull=True) | Q(last_digest_at__lte=window_start))
            .update(last_digest_at=now)
        )
        if not claimed:
            return None
        entries = list(
            DigestEntry.objects.filter(rule=rule, delivery__isnull=True).order_by("created_at", "id")
        )
        if not entries:
            return None
        delivery = Delivery.objects.create(
            destination=rule.destination, rule=rule, kind="digest", subject=f"digest:{rule.pk}",
            event_key=f"digest:{rule.pk}:{now.isoformat()}", created_at=now,
            payload={"events": [e.snapshot for e in entries], "digest": True, "test": False},
        )  # fmt: skip
        DigestEntry.objects.filter(pk__in=[e.pk for e in entries]).update(delivery=delivery)
        deliveries_enqueue(deliveries=[delivery])
    return delivery


# --- Tickets ---------------------------------------------------------------------------------------


class TicketError(ValueError):
    """A ticket cannot be requested; the message says why, for the person who asked."""


OPEN_STATUSES = (Delivery.Status.PENDING, Delivery.Status.SENDING, Delivery.Status.FAILED)


def ticket_request(*, finding, destination: Destination, actor) -> Delivery:
    """ "Create ticket" on a finding page: queue a Jira issue for the delivery task to create.

    One ticket per finding and Jira destination: a second request while one is under way returns
    that one (a double click makes one issue), and a finding already ticketed there is refused.
    """
    if destination.kind not in tickets.TICKET_KINDS:
        raise TicketError("Tickets can only be created in a Jira destination.")
    if not destination.enabled:
        raise TicketError(f"The Jira destination “{destination.name}” is disabled.")
    with transaction.atomic():
        # Serialises requests for this destination, so two clicks cannot both pass the checks below.
        Destination.objects.select_for_update().filter(pk=destination.pk).first()
        existing = TicketLink.objects.filter(finding=finding, destination=destination).first()
        if existing:
            raise TicketError(f"{existing.key} already tracks this finding in “{destination.name}”.")
        under_way = Delivery.objects.filter(finding=finding, destination=destination, kind="ticket",
                                            status__in=OPEN_STATUSES).first()  # fmt: skip
        if under_way:
            return under_way
        event = event_for_finding(kind="ticket", finding=finding)
        actor_id = actor.pk if getattr(actor, "is_authenticated", False) else None
        delivery = Delivery.objects.create(
            destination=destination, kind="ticket", subject=finding.arn[:512], event_key=f"ticket:{finding.arn}"[:600],
            finding=finding, payload={"events": [event.snapshot], "digest": False, "test": False, "actor_id": actor_id},
        )  # fmt: skip
        audit_record(actor=actor, verb="notification_ticket.create", target=finding,
                     details={"destination": destination.name, "delivery": delivery.pk})  # fmt: skip
        deliveries_enqueue(deliveries=[delivery])
    return delivery
