"""Two-way tickets: a ticket's status flows back to its findings, and a finding's status out to its ticket.

- Back (Jira): `tickets_poll` (beat) asks Jira for the status of every linked issue, oldest-checked first,
  one JQL search per 100 keys; `jira_webhook_receive` takes Jira's signed `jira:issue_updated` events.
  Generic ticket webhooks call back with a signed status (`ticket_callback_receive`). A ticket whose status
  category becomes `done` resolves its open findings through triage's workflow service (audited: "Resolved
  in Jira SEC-1 by Dana"); one that leaves `done` reopens its resolved findings.
- Out: triage announces every status change (`findings.signals.findings_status_changed`); a finding resolved
  in GuardWatch queues a `ticket_resolve` delivery (the ticket is moved to done, or commented when its
  workflow allows no such transition), a resolved finding reopened (by a person, or by a new occurrence)
  queues a `ticket_reopen`. They are deliveries, so they are retried with backoff like any message.
- One ticket per finding, or per attack sequence (`ticket_scope` on the destination): making a ticket first
  looks for the finding's (or its sequence's) ticket, stored or in Jira by its label, under a Postgres
  advisory lock per (destination, finding or sequence), so concurrent deliveries and retries make one.

Notifications may not import triage: status moves are asked for with `findings.signals.finding_status_requested`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from findings.models import OPEN_STATUSES, Finding, TriageStatus
from findings.signals import finding_status_requested
from guardwatch.core.db.lookups import ids_in
from guardwatch.core.services import audit_record
from notifications import jira
from notifications.crypto import SecretsUnreadable
from notifications.events import deliveries_enqueue, event_for_finding, public_url
from notifications.models import Delivery, Destination, TicketLink
from notifications.senders import SendOutcome, message_text, webhook_signature

logger = logging.getLogger(__name__)

TICKET_KINDS = (Destination.Kind.JIRA, Destination.Kind.TICKET_WEBHOOK)
MOVES = {"ticket_resolve": "done", "ticket_reopen": "new"}
ATTACK_SEQUENCE_TYPE_PREFIX = "AttackSequence:"
# A generic ticket system's key and link: printable, short, no markup.
TICKET_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:#/-]{0,63}")


# --- One ticket per finding or per attack sequence -----------------------------------------------------


def finding_sequence_arn(finding: Finding) -> str:
    """The attack sequence a finding belongs to: its AssociatedAttackSequenceArn, or itself for a sequence."""
    if finding.attack_sequence_arn:
        return finding.attack_sequence_arn
    return finding.arn if finding.type.startswith(ATTACK_SEQUENCE_TYPE_PREFIX) else ""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class TicketGroup:
    """What one ticket tracks: a finding, or an attack sequence (`sequence_arn`), and the label marking it."""

    label: str
    sequence_arn: str = ""


def ticket_group(destination: Destination, finding: Finding) -> TicketGroup:
    """The finding's own ticket, or its sequence's when the destination keeps one ticket per sequence."""
    if destination.config.get("ticket_scope") == "sequence":
        sequence = finding_sequence_arn(finding)
        if sequence:
            return TicketGroup(label=f"guardwatch-sequence-{_digest(sequence)}", sequence_arn=sequence)
    return TicketGroup(label=f"guardwatch-finding-{_digest(finding.arn)}")


def makes_ticket(delivery: Delivery) -> bool:
    """A delivery that makes (or finds) a finding's ticket: to a ticket destination, about a finding."""
    return (delivery.destination.kind in TICKET_KINDS and delivery.finding_id is not None
            and delivery.kind not in MOVES and not delivery.payload.get("digest"))  # fmt: skip


@contextmanager
def ticket_lock(delivery: Delivery) -> Iterator[None]:
    """Hold the (destination, finding or sequence) advisory lock around one attempt that makes a ticket.

    Held through the attempt and the recording of its link, so a concurrent delivery for the same finding
    or sequence (another worker) waits, then finds the stored link instead of making a second ticket.
    A session lock (not a transaction one): the attempt commits its own rows while holding it.
    """
    if not makes_ticket(delivery) or connection.vendor != "postgresql" or delivery.finding is None:
        yield
        return
    group = ticket_group(delivery.destination, delivery.finding)
    lock_id = int.from_bytes(hashlib.sha256(f"ticket:{delivery.destination_id}:{group.label}".encode()).digest()[:8],
                             "big", signed=True)  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [lock_id])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_id])


def ticket_make(delivery: Delivery, *, retrying: bool) -> SendOutcome:
    """Make the finding's ticket, or find the one that exists (stored, or in Jira by its label).

    The finding already ticketed in this destination: the event is added to its ticket (a comment, or an
    `update`) and no link is made. Its sequence already ticketed: this finding is linked to that ticket.
    """
    from notifications import senders

    destination, finding = delivery.destination, delivery.finding
    group = ticket_group(destination, finding)
    own = TicketLink.objects.filter(destination=destination, finding=finding).first()
    if own is not None:
        return _ticket_update(destination, delivery, own)
    shared = (TicketLink.objects.filter(destination=destination, sequence_arn=group.sequence_arn).first()
              if group.sequence_arn else None)  # fmt: skip
    if shared is not None:
        outcome = _ticket_update(destination, delivery, shared)
        if not outcome.ok:
            return outcome
        return SendOutcome(ok=True, body=f"Linked to {shared.key}, the ticket of its attack sequence.",
                           ticket=(shared.key, shared.url), sequence_arn=group.sequence_arn)  # fmt: skip
    if destination.kind == Destination.Kind.TICKET_WEBHOOK:
        outcome = ticket_webhook_post(destination, delivery, action="create", ticket=None, group=group)
    else:
        outcome = senders.send_jira(destination, delivery, retrying=retrying, group_label=group.label)
    if outcome.ok and outcome.ticket:
        return SendOutcome(ok=True, status_code=outcome.status_code, body=outcome.body, ticket=outcome.ticket,
                           sequence_arn=group.sequence_arn)  # fmt: skip
    return outcome


def _ticket_update(destination: Destination, delivery: Delivery, link: TicketLink) -> SendOutcome:
    if delivery.kind == "ticket":  # "Create ticket" on a finding its sequence's ticket already tracks
        return SendOutcome(ok=True, body=f"{link.key} already tracks this finding.")
    if destination.kind == Destination.Kind.TICKET_WEBHOOK:
        return ticket_webhook_post(destination, delivery, action="update", ticket=link, group=None)
    try:
        jira.issue_comment(destination, link.key, message_text(delivery))
    except (jira.JiraError, SecretsUnreadable) as error:
        return SendOutcome(ok=False, error=str(error), retry_after=getattr(error, "retry_after", None))
    return SendOutcome(ok=True, body=f"Added to {link.key} as a comment.")


# --- The generic ticket webhook -------------------------------------------------------------------------


def ticket_webhook_document(delivery: Delivery, *, action: str, ticket: TicketLink | None,
                            group: TicketGroup | None) -> dict[str, Any]:  # fmt: skip
    """The signed JSON a ticket webhook receives (docs/notifications.md, "Generic ticket webhook")."""
    events = delivery.payload.get("events") or [{}]
    return {
        "id": f"gw-delivery-{delivery.pk}",
        "action": action,  # create | update | resolve | reopen
        "ticket": {"key": ticket.key, "url": ticket.url} if ticket else None,
        "finding": events[0],
        "sequence_arn": (group.sequence_arn if group else (ticket.sequence_arn if ticket else "")),
        "note": delivery.payload.get("note", ""),
        "callback_url": public_url(f"/hooks/tickets/{delivery.destination_id}/"),
        "created_at": delivery.created_at.isoformat(),
    }


def ticket_webhook_post(destination: Destination, delivery: Delivery, *, action: str, ticket: TicketLink | None,
                        group: TicketGroup | None) -> SendOutcome:  # fmt: skip
    """POST the document signed like the generic webhook; a `create` must answer {"key", "url"}."""
    from notifications import senders

    secrets = destination.secrets()
    body = json.dumps(ticket_webhook_document(delivery, action=action, ticket=ticket, group=group),
                      separators=(",", ":"), sort_keys=True, default=str).encode()  # fmt: skip
    timestamp = str(int(time.time()))
    outcome = senders.post_json(secrets.get("url", ""), body, {
        "X-GuardWatch-Event": f"ticket.{action}", "X-GuardWatch-Timestamp": timestamp,
        "X-GuardWatch-Delivery": str(delivery.pk),
        "X-GuardWatch-Signature": webhook_signature(secrets.get("signing_secret", ""), timestamp, body),
    })  # fmt: skip
    if not outcome.ok or action != "create":
        return outcome
    try:
        answer = json.loads(outcome.body)
        key, url = str(answer["key"]), str(answer.get("url") or "")
    except (ValueError, KeyError, TypeError):
        key, url = "", ""
    if not TICKET_KEY.fullmatch(key) or (url and not url.startswith(("https://", "http://"))):
        return SendOutcome(ok=False, status_code=outcome.status_code, body=outcome.body,
                           error='The ticket webhook answered without a valid {"key", "url"}.')  # fmt: skip
    return SendOutcome(ok=True, status_code=outcome.status_code, body=outcome.body, ticket=(key, url))


# --- Out: finding status → ticket ------------------------------------------------------------------------


def tickets_follow_findings(*, ids: list[int], status: str, previous: dict[int, str], actor_name: str) -> int:
    """Findings moved in triage: queue the moves of their tickets; returns how many were queued.

    Resolved: each ticket not yet done none of whose linked findings is still open is moved to done (one
    ticket per sequence: the last of its findings to be closed closes it).
    Back to an open status from resolved: each ticket that is done is moved back. A ticket whose status
    caused the move (already done, or already open) is left alone, so nothing echoes back and forth.
    """
    if status == TriageStatus.RESOLVED:
        kind = "ticket_resolve"
        links = TicketLink.objects.filter(ids_in(ids, "finding_id")).exclude(status_category="done")
    elif status in OPEN_STATUSES:
        reopened = [pk for pk in ids if previous.get(pk) == TriageStatus.RESOLVED]
        if not reopened:
            return 0
        kind = "ticket_reopen"
        links = TicketLink.objects.filter(ids_in(reopened, "finding_id"), status_category="done")
    else:
        return 0
    links = list(links.filter(destination__kind__in=TICKET_KINDS).select_related("destination", "finding"))
    if not links:
        return 0
    tickets = {(link.destination_id, link.key): link for link in links}
    if kind == "ticket_resolve":
        still_open = set(TicketLink.objects.filter(
            destination_id__in={d for d, _ in tickets}, key__in={k for _, k in tickets},
            finding__status__in=OPEN_STATUSES,
        ).values_list("destination_id", "key"))  # fmt: skip
        tickets = {ticket: link for ticket, link in tickets.items() if ticket not in still_open}
    now = timezone.now()
    verb = "Resolved" if kind == "ticket_resolve" else "Reopened"
    deliveries = []
    for (_destination_id, key), link in tickets.items():
        event = event_for_finding(kind=kind, finding=link.finding)
        note = f"{verb} in GuardWatch by {actor_name}: {link.finding.title}"
        deliveries.append(Delivery(
            destination=link.destination, kind=kind, subject=key, finding=link.finding, created_at=now,
            event_key=f"{kind}:{link.destination_id}:{key}:{now.isoformat()}"[:600],
            payload={"events": [event.snapshot], "digest": False, "test": False, "key": key, "note": note},
        ))  # fmt: skip
    deliveries = Delivery.objects.bulk_create(deliveries)
    deliveries_enqueue(deliveries=deliveries)
    return len(deliveries)


def findings_status_changed_received(sender, ids, status, previous, actor_name, **_kwargs) -> None:
    """`findings.signals.findings_status_changed`: in a savepoint, so a ticket problem never fails triage."""
    try:
        with transaction.atomic():
            tickets_follow_findings(ids=list(ids), status=status, previous=previous, actor_name=actor_name)
    except Exception:
        logger.exception("Could not queue the ticket moves of %d findings", len(ids))


def ticket_move(delivery: Delivery) -> SendOutcome:
    """Send one `ticket_resolve` / `ticket_reopen` delivery; on success the link's status follows."""
    destination, key = delivery.destination, delivery.payload.get("key", "")
    category = MOVES[delivery.kind]
    link = TicketLink.objects.filter(destination=destination, key=key).first()
    note = delivery.payload.get("note", "")
    if destination.kind == Destination.Kind.TICKET_WEBHOOK:
        action = "resolve" if category == "done" else "reopen"
        outcome = ticket_webhook_post(destination, delivery, action=action, ticket=link, group=None)
        moved = outcome.ok
    else:
        transition = destination.config.get(
            "done_transition" if category == "done" else "reopen_transition", ""
        )
        try:
            said = jira.issue_move(destination, key, category=category, transition=transition, note=note)
        except (jira.JiraError, SecretsUnreadable) as error:
            return SendOutcome(ok=False, status_code=getattr(error, "status", None), error=str(error),
                               retry_after=getattr(error, "retry_after", None))  # fmt: skip
        outcome, moved = SendOutcome(ok=True, body=said), said.startswith("Moved")
    if moved:
        # What Jira will say at the next poll; until then, a poll that sees it must not count as news.
        TicketLink.objects.filter(destination=destination, key=key).update(
            status_category=category, status_name="Done" if category == "done" else "Reopened"
        )
    return outcome


# --- Back: ticket status → findings ----------------------------------------------------------------------


@dataclass(frozen=True)
class StatusApplied:
    """What one ticket status did: findings resolved or reopened (0 when nothing changed)."""

    key: str
    resolved: int = 0
    reopened: int = 0
    known: bool = True


def ticket_status_apply(*, destination: Destination, key: str, category: str, name: str, by: str, source: str,
                        now: datetime | None = None) -> StatusApplied:  # fmt: skip
    """Record a ticket's status; done resolves its open findings, leaving done reopens its resolved ones."""
    now = now or timezone.now()
    system = "Jira" if destination.kind == Destination.Kind.JIRA else destination.name
    with transaction.atomic():
        links = list(TicketLink.objects.select_for_update(of=("self",)).filter(destination=destination, key=key)
                     .select_related("finding"))  # fmt: skip
        if not links:
            return StatusApplied(key=key, known=False)
        was_done = all(link.status_category == "done" for link in links)
        TicketLink.objects.filter(pk__in=[link.pk for link in links]).update(
            status_category=category, status_name=name[:100], status_checked_at=now
        )
        findings = [link.finding for link in links if link.finding is not None]
        who = by or "someone"
        if category == "done" and not was_done:
            ids = [f.pk for f in findings if f.status in OPEN_STATUSES]
            moved = _request(
                ids, TriageStatus.RESOLVED, f"{who} ({system})", f"Resolved in {system} {key} by {who}"
            )
            result = StatusApplied(key=key, resolved=moved)
        elif category != "done" and was_done and any(link.status_category for link in links):
            ids = [f.pk for f in findings if f.status == TriageStatus.RESOLVED]
            moved = _request(
                ids, TriageStatus.NEW, f"{who} ({system})", f"Reopened in {system} {key} by {who}"
            )
            result = StatusApplied(key=key, reopened=moved)
        else:
            return StatusApplied(key=key)
        audit_record(actor=f"{who} ({system})", verb="notification_ticket.status", target=destination,
                     details={"key": key, "status": name, "category": category, "source": source,
                              "resolved": result.resolved, "reopened": result.reopened})  # fmt: skip
    return result


def _request(ids: list[int], status: str, actor: str, reason: str) -> int:
    if not ids:
        return 0
    answers = finding_status_requested.send(sender=TicketLink, finding_ids=ids, status=status, actor=actor,
                                            reason=reason)  # fmt: skip
    return sum(answer for _receiver, answer in answers if isinstance(answer, int))


def tickets_poll(*, now: datetime | None = None) -> int:
    """Beat: ask each enabled Jira destination for its linked issues' statuses; returns the findings moved.

    The checkpoint is each link's `status_checked_at`: the links checked longest ago (never first) go
    first, GUARDWATCH_TICKET_POLL_LIMIT per destination and poll, so a backlog larger than one poll rotates.
    A Jira that fails or throttles (429) is left for the next poll; the others carry on.
    """
    now = now or timezone.now()
    moved = 0
    for destination in Destination.objects.filter(kind=Destination.Kind.JIRA, enabled=True):
        rows = (TicketLink.objects.filter(destination=destination, finding__isnull=False)
                .order_by(F("status_checked_at").asc(nulls_first=True), "id")
                .values_list("key", flat=True)[: settings.GUARDWATCH_TICKET_POLL_LIMIT])  # fmt: skip
        keys = list(dict.fromkeys(rows))
        if not keys:
            continue
        try:
            statuses = jira.issue_statuses(destination, keys)
        except (jira.JiraError, SecretsUnreadable) as error:
            logger.warning("Ticket poll of destination %s failed: %s", destination.pk, error)
            continue
        for key, status in statuses.items():
            if status is None:  # deleted or moved out of reach: remember that, follow the rest
                TicketLink.objects.filter(destination=destination, key=key).update(
                    status_name="(not found in Jira)", status_checked_at=now)  # fmt: skip
                continue
            applied = ticket_status_apply(destination=destination, key=key, category=status.category,
                                          name=status.name, by=status.changed_by, source="poll", now=now)  # fmt: skip
            moved += applied.resolved + applied.reopened
    return moved


# --- Back: signed pushes ---------------------------------------------------------------------------------


class CallbackRefused(Exception):
    """A status push that is not accepted; `status` is the HTTP answer. Nothing was written."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _destination(pk: int, kind: str) -> tuple[Destination, dict[str, str]]:
    destination = Destination.objects.filter(pk=pk, kind=kind, enabled=True).first()
    if destination is None:
        raise CallbackRefused(404, "No such ticket destination.")
    try:
        return destination, destination.secrets()
    except SecretsUnreadable:
        raise CallbackRefused(503, "The destination's secrets cannot be read.") from None


def jira_webhook_receive(*, destination_pk: int, body: bytes, signature: str) -> StatusApplied:
    """A Jira admin webhook (`jira:issue_updated`), signed with the destination's webhook secret.

    Jira signs admin webhooks registered with a secret: X-Hub-Signature = sha256=HMAC-SHA256(secret, raw
    body). It signs no timestamp, so replays cannot be refused by age; applying a status is idempotent
    (the same status twice changes nothing), so a replay does no harm.
    """
    destination, secrets = _destination(destination_pk, Destination.Kind.JIRA)
    secret = secrets.get("webhook_secret", "")
    if not secret:
        raise CallbackRefused(403, "This Jira destination has no webhook secret: set one to accept webhooks.")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(expected, signature):
        raise CallbackRefused(401, "Missing or wrong X-Hub-Signature.")
    try:
        event = json.loads(body)
        issue = event["issue"]
        key = str(issue["key"])
        status = issue["fields"]["status"]
        category = str(status["statusCategory"]["key"])
    except (ValueError, KeyError, TypeError):
        raise CallbackRefused(400, "Not a Jira issue event with the issue's status.") from None
    if category not in jira.STATUS_CATEGORIES:
        raise CallbackRefused(400, f"Unknown status category “{category[:40]}”.")
    by = str((event.get("user") or {}).get("displayName", ""))[:150]
    return ticket_status_apply(destination=destination, key=key[:64], category=category,
                               name=str(status.get("name", ""))[:100], by=by, source="webhook")  # fmt: skip


CALLBACK_STATUSES = {"resolved": "done", "done": "done", "closed": "done", "reopened": "new", "open": "new"}


def ticket_callback_receive(*, destination_pk: int, body: bytes, timestamp: str, signature: str,
                            now: float | None = None) -> StatusApplied:  # fmt: skip
    """A generic ticket system's status callback: signed like GuardWatch's own webhooks, fresh, used once.

    X-GuardWatch-Signature = sha256=HMAC-SHA256(signing secret, timestamp + "." + raw body), with the
    timestamp (X-GuardWatch-Timestamp, Unix seconds) within GUARDWATCH_TICKET_CALLBACK_WINDOW_SECONDS of
    now; a signature already seen in that window is a replay (409).
    """
    destination, secrets = _destination(destination_pk, Destination.Kind.TICKET_WEBHOOK)
    secret = secrets.get("signing_secret", "")
    expected = webhook_signature(secret, timestamp, body)
    if not secret or not signature or not hmac.compare_digest(expected, signature):
        raise CallbackRefused(401, "Missing or wrong X-GuardWatch-Signature.")
    window = settings.GUARDWATCH_TICKET_CALLBACK_WINDOW_SECONDS
    try:
        age = abs((now or time.time()) - int(timestamp))
    except ValueError:
        raise CallbackRefused(401, "X-GuardWatch-Timestamp is not Unix seconds.") from None
    if age > window:
        raise CallbackRefused(401, f"X-GuardWatch-Timestamp is more than {window} s away from now.")
    try:
        document = json.loads(body)
        key, said = str(document["ticket"]), str(document["status"]).lower()
    except (ValueError, KeyError, TypeError):
        raise CallbackRefused(
            400, 'The body must be {"ticket": "<key>", "status": "resolved|reopened", "by": …}.'
        ) from None
    if said not in CALLBACK_STATUSES or not TICKET_KEY.fullmatch(key):
        raise CallbackRefused(
            400, f"Unknown status “{said[:40]}” or ticket key; use one of {', '.join(CALLBACK_STATUSES)}."
        )
    if not cache.add(f"ticket-callback:{connection.settings_dict['NAME']}:{destination.pk}:{signature}", 1,
                     timeout=window * 2 + 1):  # fmt: skip
        raise CallbackRefused(409, "This callback was already received (a replay).")
    by = str(document.get("by") or "")[:150]
    return ticket_status_apply(destination=destination, key=key, category=CALLBACK_STATUSES[said], name=said,
                               by=by, source="callback")  # fmt: skip
