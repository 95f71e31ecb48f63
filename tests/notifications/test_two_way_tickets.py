"""Two-way tickets against a local Jira Cloud stand-in (gdsim.jira) and a generic ticket webhook: a ticket
closed in Jira resolves its finding (poll or webhook), resolving the finding closes its ticket, a new
occurrence reopens both, one ticket per finding or attack sequence, and unsigned pushes write nothing."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError, connection

from findings.models import Finding, FindingEvent
from findings.parsing import parse_finding
from findings.upsert import findings_upsert
from gdsim.catalogue import build_finding
from gdsim.jira import hub_signature
from guardwatch.core.models import AuditEntry
from notifications import services, tasks
from notifications.models import Delivery, Destination, TicketLink
from notifications.senders import webhook_signature
from notifications.services import delivery_attempt, ticket_request
from triage.services import finding_status_change

from .conftest import JIRA_WEBHOOK_SECRET, destination_make, parsed_finding, rule_make, standin_destination

pytestmark = pytest.mark.django_db

SEQUENCE = "arn:aws:guardduty:us-east-1:222222222222:detector/dddd/finding/attack-sequence-1"


@pytest.fixture
def finding() -> Finding:
    findings_upsert(findings=[parsed_finding()], source="pull")
    return Finding.objects.get()


def ticketed(finding, destination, actor=None) -> TicketLink:
    delivery = ticket_request(finding=finding, destination=destination, actor=actor)
    assert tasks.delivery_send.run(delivery.pk) == "sent"
    return TicketLink.objects.get(finding=finding, destination=destination)


def run_pending(kind: str) -> list[Delivery]:
    deliveries = list(Delivery.objects.filter(kind=kind, status="pending"))
    for delivery in deliveries:
        tasks.delivery_send.run(delivery.pk)
    return deliveries


def in_sequence(seed: int, *, sequence: str = SEQUENCE):
    raw = build_finding(random.Random(seed), finding_type="Recon:IAMUser/MaliciousIPCaller", account_id="222222222222",
                        region="us-east-1", detector_id="d" * 32, now=datetime(2026, 11, 28, 9, 0, tzinfo=UTC))  # fmt: skip
    raw["AssociatedAttackSequenceArn"] = sequence
    return parse_finding(raw)


# --- Jira → GuardWatch ------------------------------------------------------------------------------------


def test_a_ticket_closed_in_jira_resolves_its_finding_within_one_poll(jira_standin, finding, analyst):
    destination = standin_destination(jira_standin)
    link = ticketed(finding, destination, analyst)
    assert link.key == "SEC-1"

    jira_standin.close("SEC-1", by="Dana Jira")
    assert tasks.tickets_poll.run() == 1  # the beat task, one run

    finding.refresh_from_db()
    assert finding.status == "resolved"
    event = FindingEvent.objects.get(finding=finding, kind="status")
    assert event.body == "Resolved in Jira SEC-1 by Dana Jira" and event.actor_name == "Dana Jira (Jira)"
    assert AuditEntry.objects.filter(
        verb="findings.status", details__reason="Resolved in Jira SEC-1 by Dana Jira"
    ).exists()
    link.refresh_from_db()
    assert (link.status_name, link.status_category) == ("Done", "done")
    assert not Delivery.objects.filter(kind="ticket_resolve").exists()  # no echo back to Jira
    [search] = [path for method, path in jira_standin.requests if "/search/jql" in path and "key+in" in path]
    assert "fields=status" in search


def test_a_second_poll_with_nothing_new_changes_nothing(jira_standin, finding):
    destination = standin_destination(jira_standin)
    ticketed(finding, destination)
    assert tasks.tickets_poll.run() == 0
    assert tasks.tickets_poll.run() == 0
    finding.refresh_from_db()
    assert finding.status == "new" and TicketLink.objects.get().status_category == "new"


def test_a_throttled_poll_leaves_the_ticket_for_the_next_poll(jira_standin, finding):
    destination = standin_destination(jira_standin)
    ticketed(finding, destination)
    jira_standin.close("SEC-1")
    jira_standin.throttle(1)  # 429 with Retry-After

    assert tasks.tickets_poll.run() == 0
    finding.refresh_from_db()
    assert finding.status == "new" and TicketLink.objects.get().status_checked_at is None
    assert tasks.tickets_poll.run() == 1


def test_a_deleted_issue_does_not_stop_the_others_from_being_followed(jira_standin, analyst):
    findings_upsert(findings=[parsed_finding(seed=1), parsed_finding(seed=2)], source="pull")
    first, second = Finding.objects.order_by("id")
    destination = standin_destination(jira_standin)
    ticketed(first, destination)
    ticketed(second, destination)
    del jira_standin.issues["SEC-1"]  # deleted in Jira: the batch's JQL becomes invalid (400)
    jira_standin.close("SEC-2")

    assert tasks.tickets_poll.run() == 1
    second.refresh_from_db()
    assert second.status == "resolved"
    assert TicketLink.objects.get(key="SEC-1").status_name == "(not found in Jira)"


def _post_jira_webhook(client, destination, body: bytes, signature: str | None):
    headers = {"X-Hub-Signature": signature} if signature is not None else {}
    return client.post(
        f"/hooks/jira/{destination.pk}/", body, content_type="application/json", headers=headers
    )


def test_a_signed_jira_webhook_resolves_the_finding_at_once(client, jira_standin, finding):
    destination = standin_destination(jira_standin)
    ticketed(finding, destination)
    jira_standin.close("SEC-1", by="Dana Jira")
    body = json.dumps(jira_standin.issue_updated_event("SEC-1")).encode()

    response = _post_jira_webhook(client, destination, body, hub_signature(JIRA_WEBHOOK_SECRET, body))

    assert response.status_code == 200 and response.json()["resolved"] == 1
    finding.refresh_from_db()
    assert finding.status == "resolved" and finding.status_reason == "Resolved in Jira SEC-1 by Dana Jira"


@pytest.mark.parametrize("signature", [None, "", "sha256=" + "0" * 64, "sha1=abc"])
def test_an_unsigned_or_wrongly_signed_jira_webhook_is_refused_and_writes_nothing(
    client, jira_standin, finding, signature
):
    destination = standin_destination(jira_standin)
    ticketed(finding, destination)
    jira_standin.close("SEC-1")
    audits = AuditEntry.objects.count()
    body = json.dumps(jira_standin.issue_updated_event("SEC-1")).encode()

    response = _post_jira_webhook(client, destination, body, signature)

    assert response.status_code == 401
    finding.refresh_from_db()
    assert finding.status == "new" and AuditEntry.objects.count() == audits
    assert TicketLink.objects.get().status_category == ""


def test_a_jira_destination_without_a_webhook_secret_refuses_webhooks(client, jira_standin, finding):
    destination = destination_make("jira", name="Jira no secret", config={
        "base_url": jira_standin.url, "email": "bot@example.com", "project_key": "SEC", "issue_type": "Task"},
        secrets={"api_token": "tok-123456789"})  # fmt: skip
    body = b'{"webhookEvent": "jira:issue_updated"}'
    response = _post_jira_webhook(client, destination, body, hub_signature("", body))
    assert response.status_code == 403 and "no webhook secret" in response.json()["error"]


# --- GuardWatch → Jira ------------------------------------------------------------------------------------


def test_resolving_the_finding_moves_its_issue_to_done(jira_standin, finding, analyst):
    destination = standin_destination(jira_standin)
    ticketed(finding, destination)

    finding_status_change(finding=finding, status="resolved", actor=analyst)
    [move] = run_pending("ticket_resolve")

    move.refresh_from_db()
    assert move.status == "sent" and "Moved SEC-1" in move.response_body
    issue = jira_standin.issues["SEC-1"]
    assert issue.status == "Done" and issue.histories[-1]["author"]["displayName"] == "bot@example.com"
    assert "Resolved in GuardWatch by analyst" in json.dumps(issue.comments[-1]["body"])
    assert TicketLink.objects.get().status_category == "done"
    assert tasks.tickets_poll.run() == 0  # the poll sees Done: already known, nothing resolved twice


def test_a_configured_transition_name_is_the_one_used(jira_standin, finding, analyst):
    destination = standin_destination(jira_standin, done_transition="in progress")
    ticketed(finding, destination)
    finding_status_change(finding=finding, status="resolved", actor=analyst)
    run_pending("ticket_resolve")
    assert jira_standin.issues["SEC-1"].status == "In Progress"


def test_when_the_workflow_allows_no_transition_the_issue_is_commented(jira_standin, finding, analyst):
    destination = standin_destination(jira_standin)
    ticketed(finding, destination)
    jira_standin.issues["SEC-1"].transitions_allowed = False

    finding_status_change(finding=finding, status="resolved", actor=analyst)
    [move] = run_pending("ticket_resolve")

    move.refresh_from_db()
    assert move.status == "sent" and "commented instead" in move.response_body
    issue = jira_standin.issues["SEC-1"]
    assert issue.status == "To Do" and len(issue.comments) == 1


def test_a_throttled_move_is_retried_no_sooner_than_jira_asked(jira_standin, finding, analyst):
    jira_standin.retry_after = 120
    destination = standin_destination(jira_standin)
    ticketed(finding, destination)
    finding_status_change(finding=finding, status="resolved", actor=analyst)
    jira_standin.throttle(1)

    [move] = run_pending("ticket_resolve")

    move.refresh_from_db()
    assert move.status == "failed" and "rate limiting" in move.error
    assert move.next_attempt_at >= move.last_attempt_at + timedelta(seconds=120)


def test_a_new_occurrence_of_a_resolved_finding_reopens_it_and_its_issue(jira_standin, analyst):
    parsed = parsed_finding()
    findings_upsert(findings=[parsed], source="pull")
    finding = Finding.objects.get()
    destination = standin_destination(jira_standin)
    ticketed(finding, destination)
    jira_standin.close("SEC-1")
    tasks.tickets_poll.run()
    finding.refresh_from_db()
    assert finding.status == "resolved"

    again = dataclasses.replace(
        parsed, count=parsed.count + 1, updated_at=parsed.updated_at + timedelta(hours=1)
    )
    findings_upsert(findings=[again], source="pull")

    finding.refresh_from_db()
    assert finding.status == "new"
    assert FindingEvent.objects.filter(finding=finding, kind="status", to_status="new",
                                       body="New occurrence after it was resolved").exists()  # fmt: skip
    [move] = run_pending("ticket_reopen")
    move.refresh_from_db()
    assert move.status == "sent" and jira_standin.issues["SEC-1"].status == "To Do"
    assert TicketLink.objects.get().status_category == "new"


def test_a_repeat_of_a_finding_that_is_not_resolved_reopens_nothing(jira_standin, finding, settings):
    parsed = parsed_finding()
    again = dataclasses.replace(
        parsed, count=parsed.count + 1, updated_at=parsed.updated_at + timedelta(hours=1)
    )
    findings_upsert(findings=[again], source="pull")
    finding.refresh_from_db()
    assert finding.status == "new" and not FindingEvent.objects.filter(kind="status").exists()


# --- One ticket per finding or per attack sequence ----------------------------------------------------


def test_findings_of_one_attack_sequence_share_one_issue(jira_standin):
    destination = standin_destination(jira_standin, ticket_scope="sequence")
    rule_make(destination, name="New findings to Jira")
    findings_upsert(findings=[in_sequence(1), in_sequence(2)], source="pull")
    assert Finding.objects.count() == 2

    run_pending("new_finding")

    assert list(jira_standin.issues) == ["SEC-1"]
    links = list(TicketLink.objects.order_by("id"))
    assert [link.key for link in links] == ["SEC-1", "SEC-1"]
    assert {link.sequence_arn for link in links} == {SEQUENCE}
    label = "guardwatch-sequence-" + hashlib.sha256(SEQUENCE.encode()).hexdigest()[:20]
    assert label in jira_standin.issues["SEC-1"].fields["labels"]

    jira_standin.close("SEC-1")
    assert tasks.tickets_poll.run() == 2  # closing the sequence's issue resolves both findings
    assert set(Finding.objects.values_list("status", flat=True)) == {"resolved"}


def test_per_finding_a_second_event_comments_the_existing_issue(jira_standin, finding):
    destination = standin_destination(jira_standin)
    rule_make(destination, kinds=("repeat_occurrence",), name="Repeats to Jira")
    ticketed(finding, destination)
    parsed = parsed_finding()
    findings_upsert(findings=[dataclasses.replace(parsed, count=parsed.count + 1,
                                                  updated_at=parsed.updated_at + timedelta(hours=1))], source="pull")  # fmt: skip

    [delivery] = run_pending("repeat_occurrence")

    delivery.refresh_from_db()
    assert delivery.status == "sent" and "Added to SEC-1 as a comment" in delivery.response_body
    assert list(jira_standin.issues) == ["SEC-1"] and len(jira_standin.issues["SEC-1"].comments) == 1
    assert TicketLink.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_deliveries_for_one_sequence_make_one_issue(jira_standin):
    destination = standin_destination(jira_standin, ticket_scope="sequence")
    rule_make(destination, name="New findings to Jira")
    findings_upsert(findings=[in_sequence(1), in_sequence(2)], source="pull")
    ids = list(Delivery.objects.filter(kind="new_finding").values_list("id", flat=True))
    assert len(ids) == 2
    # Searches wait (up to 0.5 s) for each other: without the lock both would find nothing and both create.
    jira_standin.search_gate = threading.Barrier(2)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def attempt(pk: int) -> None:
        try:
            start.wait(timeout=10)
            delivery_attempt(delivery_id=pk)
        except BaseException as error:  # a thread swallows its exception: keep it, so the test says why
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=attempt, args=(pk,)) for pk in ids]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)

    assert not [worker for worker in workers if worker.is_alive()], "a delivery attempt is still running"
    assert errors == []
    assert list(jira_standin.issues) == ["SEC-1"]
    assert sorted(Delivery.objects.values_list("status", flat=True)) == ["sent", "sent"]
    assert list(TicketLink.objects.values_list("key", flat=True)) == ["SEC-1", "SEC-1"]


def test_a_database_error_while_recording_the_issue_leaves_the_delivery_failed_not_sending(
    jira_standin, finding, monkeypatch
):
    destination = standin_destination(jira_standin)
    delivery = ticket_request(finding=finding, destination=destination, actor=None)

    def deadlocked(*args, **kwargs):  # what PostgreSQL answers a transaction it chose as a deadlock victim
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(services, "_ticket_link_store", deadlocked)
    assert delivery_attempt(delivery_id=delivery.pk).status == "failed"

    delivery.refresh_from_db()
    assert delivery.status == "failed" and "deadlock detected" in delivery.error
    assert list(jira_standin.issues) == ["SEC-1"] and not TicketLink.objects.exists()

    monkeypatch.undo()  # the retry finds the issue the failed attempt made, by its label
    assert delivery_attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at).status == "sent"
    assert list(jira_standin.issues) == ["SEC-1"]
    assert list(TicketLink.objects.values_list("key", flat=True)) == ["SEC-1"]


# --- The generic ticket webhook ------------------------------------------------------------------------


TICKET_SECRET = "ticket-webhook-secret-16+"


@pytest.fixture
def ticket_system(receiver_factory, fast_notify):
    """A ticket system behind a local receiver: creates INC-7 and answers 200 to everything else."""

    def respond(received):
        if received.json()["action"] == "create":
            return 201, b'{"key": "INC-7", "url": "https://tickets.example.test/INC-7"}'
        return 200, b'{"ok": true}'

    receiver = receiver_factory(respond=respond)
    destination = destination_make("ticket_webhook", name="Tickets",
                                   secrets={"url": receiver.url, "signing_secret": TICKET_SECRET})  # fmt: skip
    return receiver, destination


def _callback(
    client, destination, document: dict, *, timestamp: int | None = None, secret: str = TICKET_SECRET
):
    body = json.dumps(document).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return client.post(f"/hooks/tickets/{destination.pk}/", body, content_type="application/json", headers={
        "X-GuardWatch-Timestamp": stamp, "X-GuardWatch-Signature": webhook_signature(secret, stamp, body)})  # fmt: skip


def test_the_ticket_webhook_gets_signed_create_and_resolve_documents(ticket_system, finding, analyst):
    receiver, destination = ticket_system
    link = ticketed(finding, destination, analyst)
    assert (link.key, link.url) == ("INC-7", "https://tickets.example.test/INC-7")

    finding_status_change(finding=finding, status="resolved", actor=analyst)
    run_pending("ticket_resolve")

    create, resolve = receiver.requests
    assert [create.json()["action"], resolve.json()["action"]] == ["create", "resolve"]
    assert resolve.json()["ticket"] == {"key": "INC-7", "url": "https://tickets.example.test/INC-7"}
    assert create.json()["finding"]["arn"] == finding.arn
    assert create.json()["callback_url"].endswith(f"/hooks/tickets/{destination.pk}/")
    for request in (create, resolve):
        signed = hmac.new(TICKET_SECRET.encode(), request.headers["x-guardwatch-timestamp"].encode() + b"." + request.body,
                          hashlib.sha256).hexdigest()  # fmt: skip
        assert request.headers["x-guardwatch-signature"] == f"sha256={signed}"


def test_a_signed_callback_resolves_then_reopens_the_finding(client, ticket_system, finding):
    _receiver, destination = ticket_system
    ticketed(finding, destination)

    answer = _callback(client, destination, {"ticket": "INC-7", "status": "resolved", "by": "Sam"})
    assert answer.status_code == 200
    finding.refresh_from_db()
    assert finding.status == "resolved" and finding.status_reason == "Resolved in Tickets INC-7 by Sam"

    answer = _callback(client, destination, {"ticket": "INC-7", "status": "reopened", "by": "Sam"})
    assert answer.status_code == 200 and answer.json()["reopened"] == 1
    finding.refresh_from_db()
    assert finding.status == "new"
    assert not Delivery.objects.filter(kind__in=["ticket_resolve", "ticket_reopen"]).exists()  # no echo


@pytest.mark.parametrize("problem", ["unsigned", "wrong secret", "stale", "replayed", "unknown status"])
def test_a_bad_callback_is_refused_and_writes_nothing(client, ticket_system, finding, problem):
    _receiver, destination = ticket_system
    ticketed(finding, destination)
    document = {"ticket": "INC-7", "status": "resolved", "by": "Mallory"}
    if problem == "replayed":
        stamp = int(time.time())
        assert (
            _callback(client, destination, {**document, "status": "open"}, timestamp=stamp).status_code == 200
        )
    audits = AuditEntry.objects.count()

    if problem == "unsigned":
        response = client.post(
            f"/hooks/tickets/{destination.pk}/", json.dumps(document), content_type="application/json"
        )
    elif problem == "wrong secret":
        response = _callback(client, destination, document, secret="not-the-secret-at-all")
    elif problem == "stale":
        response = _callback(client, destination, document, timestamp=int(time.time()) - 3600)
    elif problem == "replayed":
        response = _callback(client, destination, {**document, "status": "open"}, timestamp=stamp)
    else:
        response = _callback(client, destination, {**document, "status": "maybe"})

    assert response.status_code == {"unsigned": 401, "wrong secret": 401, "stale": 401, "replayed": 409,
                                    "unknown status": 400}[problem]  # fmt: skip
    finding.refresh_from_db()
    assert finding.status == "new" and AuditEntry.objects.count() == audits


def test_a_sequence_issue_closes_only_once_its_last_open_finding_is_resolved(jira_standin, analyst):
    destination = standin_destination(jira_standin, ticket_scope="sequence")
    rule_make(destination, name="New findings to Jira")
    findings_upsert(findings=[in_sequence(1), in_sequence(2)], source="pull")
    run_pending("new_finding")
    first, second = Finding.objects.order_by("id")

    finding_status_change(finding=first, status="resolved", actor=analyst)
    assert run_pending("ticket_resolve") == []  # the other finding of the sequence is still open
    finding_status_change(finding=second, status="resolved", actor=analyst)
    [move] = run_pending("ticket_resolve")

    move.refresh_from_db()
    assert move.status == "sent" and jira_standin.issues["SEC-1"].status == "Done"


def test_the_demo_adds_its_stand_in_jira_once_and_follows_a_new_port(settings):
    from django.core.management import call_command

    settings.DEMO = True
    call_command("demo_jira", base_url="https://127.0.0.1:9443")
    call_command("demo_jira", base_url="https://127.0.0.1:9443")
    call_command("demo_jira", base_url="https://127.0.0.1:9555")

    [destination] = Destination.objects.filter(kind="jira")
    assert (
        destination.name == "Jira (local stand-in)"
        and destination.config["base_url"] == "https://127.0.0.1:9555"
    )
    assert destination.secrets()["api_token"] == "tok-123456789"


def test_the_poll_follows_jiras_pages_when_it_returns_fewer_issues_than_asked(jira_standin):
    findings_upsert(findings=[parsed_finding(seed=seed) for seed in (1, 2, 3)], source="pull")
    destination = standin_destination(jira_standin)
    for finding in Finding.objects.order_by("id"):
        ticketed(finding, destination)
    jira_standin.fields_page_max = 2  # Jira may cut a page short when fields are asked for
    for key in ("SEC-1", "SEC-2", "SEC-3"):
        jira_standin.close(key)

    assert tasks.tickets_poll.run() == 3
    searches = [path for _method, path in jira_standin.requests if "key+in" in path]
    assert len(searches) == 2 and "nextPageToken=2" in searches[1]


def test_the_stand_in_refuses_a_wrong_api_token_and_the_poll_changes_nothing(jira_standin, finding):
    destination = standin_destination(jira_standin)
    ticketed(finding, destination)
    jira_standin.close("SEC-1")
    jira_standin.accounts["bot@example.com"] = "a-rotated-token"  # the stored token no longer works: 401

    assert tasks.tickets_poll.run() == 0
    finding.refresh_from_db()
    assert finding.status == "new" and TicketLink.objects.get().status_checked_at is None
