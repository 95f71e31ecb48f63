"""Jira tickets for findings: "Create ticket" on the finding page, the link kept on the finding and shown
in its timeline, and retries that never make a second issue for one delivery."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from findings.models import Finding, FindingEvent
from findings.upsert import findings_upsert
from guardwatch.core.models import AuditEntry
from notifications import tasks
from notifications.models import Delivery, TicketLink
from notifications.services import TicketError, delivery_attempt, delivery_resend, ticket_request

from .conftest import destination_make, parsed_finding, rule_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def finding() -> Finding:
    findings_upsert(findings=[parsed_finding()], source="pull")
    return Finding.objects.get()


def posts(receiver) -> list:
    return [r for r in receiver.requests if r.method == "POST"]


# --- The service and the task ---------------------------------------------------------------------


def test_a_ticket_request_is_queued_and_the_worker_creates_the_issue_into_the_timeline(
    fake_jira_factory, finding, analyst, django_capture_on_commit_callbacks
):
    jira, receiver, destination = fake_jira_factory()
    with django_capture_on_commit_callbacks() as callbacks:
        delivery = ticket_request(finding=finding, destination=destination, actor=analyst)
    assert delivery.status == "pending" and len(callbacks) == 1  # handed to a worker, not sent in the request
    assert not receiver.requests

    assert tasks.delivery_send.run(delivery.pk) == "sent"  # what the worker runs

    [issue] = jira.issues
    assert issue["fields"]["summary"] == f"[HIGH] {finding.title}"
    assert f"guardwatch-delivery-{delivery.pk}" in issue["labels"]
    link = TicketLink.objects.get()
    base = receiver.url.removesuffix("/hook")
    assert (link.finding, link.key, link.url, link.created_by) == (
        finding, "SEC-1", f"{base}/browse/SEC-1", analyst,
    )  # fmt: skip
    event = FindingEvent.objects.get(finding=finding, kind="ticket")
    assert event.actor_name == "analyst"
    assert event.details["key"] == "SEC-1" and event.details["url"] == f"{base}/browse/SEC-1"
    assert AuditEntry.objects.filter(verb="notification_ticket.create", target_id=str(finding.pk)).exists()


def test_a_second_request_while_one_is_under_way_is_the_same_request(fake_jira_factory, finding):
    _jira, _receiver, destination = fake_jira_factory()
    first = ticket_request(finding=finding, destination=destination, actor=None)
    again = ticket_request(finding=finding, destination=destination, actor=None)
    assert again.pk == first.pk and Delivery.objects.count() == 1


def test_a_finding_already_ticketed_in_that_jira_is_refused(fake_jira_factory, finding):
    jira, _receiver, destination = fake_jira_factory()
    delivery = ticket_request(finding=finding, destination=destination, actor=None)
    delivery_attempt(delivery_id=delivery.pk)

    with pytest.raises(TicketError, match="SEC-1 already tracks this finding"):
        ticket_request(finding=finding, destination=destination, actor=None)
    assert len(jira.issues) == 1


def test_tickets_go_only_to_enabled_jira_destinations(receiver, finding, fast_notify):
    webhook = destination_make("webhook", secrets={"url": receiver.url, "signing_secret": "x" * 16})
    with pytest.raises(TicketError, match="only be created in a Jira destination"):
        ticket_request(finding=finding, destination=webhook, actor=None)


def test_a_jira_timeout_after_the_issue_was_made_does_not_make_a_duplicate_on_retry(
    fake_jira_factory, finding
):
    jira, receiver, destination = fake_jira_factory(slow_creates=1)
    delivery = ticket_request(finding=finding, destination=destination, actor=None)
    start = timezone.now()

    delivery_attempt(delivery_id=delivery.pk, now=start)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "Timed out" in delivery.error
    assert [issue["key"] for issue in jira.issues] == ["SEC-1"]  # Jira made it; GuardWatch never heard

    delivery_attempt(delivery_id=delivery.pk, now=start + timedelta(seconds=10))
    delivery.refresh_from_db()
    assert delivery.status == "sent" and "Found SEC-1" in delivery.response_body
    assert len(jira.issues) == 1 and len(posts(receiver)) == 1  # searched by its label, not created again
    assert [r.method for r in receiver.requests] == ["GET", "POST", "GET"]  # the finding's issue looked for first
    assert TicketLink.objects.get().key == "SEC-1"
    assert FindingEvent.objects.filter(finding=finding, kind="ticket").count() == 1


def test_a_retry_after_jira_made_nothing_creates_the_issue(fake_jira_factory, finding):
    jira, receiver, destination = fake_jira_factory(failing_creates=1)
    delivery = ticket_request(finding=finding, destination=destination, actor=None)
    start = timezone.now()

    delivery_attempt(delivery_id=delivery.pk, now=start)
    delivery_attempt(delivery_id=delivery.pk, now=start + timedelta(seconds=10))

    delivery.refresh_from_db()
    assert delivery.status == "sent" and [r.method for r in receiver.requests] == ["GET", "POST", "GET", "POST"]
    assert [issue["key"] for issue in jira.issues] == ["SEC-1"]


def test_when_jira_search_fails_a_retry_does_not_risk_a_duplicate(fake_jira_factory, finding):
    jira, receiver, destination = fake_jira_factory(slow_creates=1, search_status=500)
    delivery = ticket_request(finding=finding, destination=destination, actor=None)
    start = timezone.now()

    delivery_attempt(delivery_id=delivery.pk, now=start)
    delivery_attempt(delivery_id=delivery.pk, now=start + timedelta(seconds=10))

    delivery.refresh_from_db()
    assert delivery.status == "failed" and "not creating a possible duplicate" in delivery.error
    # The finding's issue is looked for before every create, so not even the first attempt creates one.
    assert len(jira.issues) == 0 and len(posts(receiver)) == 0


def test_a_worker_that_died_mid_attempt_is_followed_by_a_search_not_a_second_create(
    fake_jira_factory, finding
):
    jira, receiver, destination = fake_jira_factory(slow_creates=1)
    delivery = ticket_request(finding=finding, destination=destination, actor=None)
    start = timezone.now()
    delivery_attempt(delivery_id=delivery.pk, now=start)
    # As if the worker had been killed while waiting for Jira: claimed, never recorded.
    Delivery.objects.filter(pk=delivery.pk).update(status="sending", attempts=0, last_attempt_at=start)

    delivery_attempt(delivery_id=delivery.pk, now=start + timedelta(minutes=10))

    delivery.refresh_from_db()
    assert delivery.status == "sent" and len(jira.issues) == 1 and len(posts(receiver)) == 1


def test_resending_a_dead_ticket_finds_the_issue_its_timed_out_attempt_made(
    fake_jira_factory, finding, admin
):
    jira, receiver, destination = fake_jira_factory(slow_creates=1)
    delivery = ticket_request(finding=finding, destination=destination, actor=None)
    delivery_attempt(delivery_id=delivery.pk)
    Delivery.objects.filter(pk=delivery.pk).update(status="dead")  # gave up after its last attempt
    delivery.refresh_from_db()

    delivery_resend(delivery=delivery, actor=admin)  # attempts back to 0
    delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert delivery.status == "sent" and len(jira.issues) == 1 and len(posts(receiver)) == 1
    assert TicketLink.objects.get().key == "SEC-1"


def test_a_delivery_whose_issue_key_is_stored_never_creates_it_again(fake_jira_factory, finding):
    jira, receiver, destination = fake_jira_factory()
    delivery = ticket_request(finding=finding, destination=destination, actor=None)
    delivery_attempt(delivery_id=delivery.pk)
    Delivery.objects.filter(pk=delivery.pk).update(status="pending", attempts=0)  # e.g. resent by mistake

    delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert delivery.status == "sent" and "SEC-1 was already created" in delivery.response_body
    assert len(jira.issues) == 1 and len(receiver.requests) == 2  # the first attempt's search and create only
    assert TicketLink.objects.count() == 1


def test_an_issue_made_by_a_routing_rule_enters_the_finding_timeline(fake_jira_factory):
    jira, _receiver, destination = fake_jira_factory()
    rule_make(destination, name="New findings to Jira")
    findings_upsert(findings=[parsed_finding()], source="pull")
    finding = Finding.objects.get()
    delivery_attempt(delivery_id=Delivery.objects.get().pk)

    event = FindingEvent.objects.get(finding=finding, kind="ticket")
    assert event.details["key"] == "SEC-1" and event.actor is None
    assert TicketLink.objects.get().finding == finding


def test_an_answer_with_an_odd_issue_key_is_a_failure_not_a_link(tls_receiver_factory, finding, fast_notify):
    from .conftest import jira_make

    receiver = tls_receiver_factory(status=201, answer=b'{"id": "1", "key": "<img src=x onerror=alert(1)>"}')
    destination = jira_make(receiver.url.removesuffix("/hook"))
    delivery = ticket_request(finding=finding, destination=destination, actor=None)
    delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert delivery.status == "failed" and "without a valid issue key" in delivery.error
    assert not TicketLink.objects.exists() and not FindingEvent.objects.filter(kind="ticket").exists()


# --- The finding page -----------------------------------------------------------------------------


def test_an_analyst_creates_a_ticket_from_the_finding_page_and_sees_its_link_in_the_timeline(
    client_for, fake_jira_factory, finding, django_capture_on_commit_callbacks
):
    _jira, receiver, destination = fake_jira_factory()
    analyst = client_for("analyst")

    panel = analyst.get(f"/settings/notifications/tickets/{finding.pk}/panel/").content.decode()
    assert "Create ticket" in panel and f'value="{destination.pk}"' in panel
    with django_capture_on_commit_callbacks():
        response = analyst.post(f"/settings/notifications/tickets/{finding.pk}/",
                                {"destination": destination.pk}, follow=True)  # fmt: skip
    assert "Ticket requested in “Jira SEC”" in response.content.decode()
    delivery = Delivery.objects.get(kind="ticket")
    assert delivery.status == "pending"
    tasks.delivery_send.run(delivery.pk)  # the worker

    html = analyst.get(f"/findings/{finding.pk}/").content.decode()
    base = receiver.url.removesuffix("/hook")
    assert f'href="{base}/browse/SEC-1"' in html and 'data-testid="ticket-link">SEC-1</a>' in html


def test_a_manager_can_neither_create_tickets_nor_see_the_panel(client_for, fake_jira_factory, finding):
    fake_jira_factory()
    manager = client_for("manager")
    assert manager.post(f"/settings/notifications/tickets/{finding.pk}/").status_code == 403
    assert manager.get(f"/settings/notifications/tickets/{finding.pk}/panel/").status_code == 403
    assert "ticket_panel" not in manager.get(f"/findings/{finding.pk}/").content.decode()
    assert "/tickets/" not in manager.get(f"/findings/{finding.pk}/").content.decode()
    assert not Delivery.objects.exists()


def test_without_a_jira_destination_there_is_no_create_ticket_button(client_for, finding):
    response = client_for("analyst").get(f"/settings/notifications/tickets/{finding.pk}/panel/")
    assert response.status_code == 200 and "Create ticket" not in response.content.decode()
    response = client_for("analyst").post(f"/settings/notifications/tickets/{finding.pk}/", follow=True)
    assert "Choose a Jira destination" in response.content.decode() and not Delivery.objects.exists()


def test_an_unknown_finding_is_not_found(client_for, fake_jira_factory):
    _jira, _receiver, destination = fake_jira_factory()
    analyst = client_for("analyst")
    assert (
        analyst.post("/settings/notifications/tickets/999999/", {"destination": destination.pk}).status_code
        == 404
    )
    assert analyst.get("/settings/notifications/tickets/999999/panel/").status_code == 404


def test_a_jira_error_is_shown_to_the_analyst_escaped(client_for, tls_receiver_factory, finding, fast_notify):
    from .conftest import jira_make

    receiver = tls_receiver_factory(
        status=400, answer=b'{"errors": {"project": "<script>alert(1)</script> is not valid"}}'
    )
    jira_make(receiver.url.removesuffix("/hook"))
    analyst = client_for("analyst")
    analyst.post(f"/settings/notifications/tickets/{finding.pk}/")
    delivery_attempt(delivery_id=Delivery.objects.get().pk)

    panel = analyst.get(f"/settings/notifications/tickets/{finding.pk}/panel/").content.decode()
    assert "HTTP 400" in panel and "&lt;script&gt;alert(1)&lt;/script&gt; is not valid" in panel
    assert "<script>" not in panel and "next try" in panel


def test_a_second_click_after_the_ticket_exists_says_which_issue_tracks_it(
    client_for, fake_jira_factory, finding
):
    _jira, _receiver, destination = fake_jira_factory()
    analyst = client_for("analyst")
    analyst.post(f"/settings/notifications/tickets/{finding.pk}/", {"destination": destination.pk})
    delivery_attempt(delivery_id=Delivery.objects.get().pk)

    response = analyst.post(f"/settings/notifications/tickets/{finding.pk}/", {"destination": destination.pk},
                            follow=True)  # fmt: skip
    assert "SEC-1 already tracks this finding" in response.content.decode()
    assert Delivery.objects.count() == 1


def test_the_panel_polls_while_under_way_and_reloads_the_page_once_the_issue_exists(
    client_for, fake_jira_factory, finding
):
    _jira, _receiver, destination = fake_jira_factory()
    analyst = client_for("analyst")
    analyst.post(f"/settings/notifications/tickets/{finding.pk}/", {"destination": destination.pk})
    delivery = Delivery.objects.get()
    panel_url = f"/settings/notifications/tickets/{finding.pk}/panel/?known=0"  # the page showed no issue

    html = analyst.get(panel_url, headers={"HX-Request": "true"}).content.decode()
    assert f'hx-get="{panel_url}"' in html and 'hx-trigger="every 2s"' in html
    assert "waiting for Jira" in html

    delivery_attempt(delivery_id=delivery.pk)
    polled = analyst.get(panel_url, headers={"HX-Request": "true"})
    assert polled.status_code == 204 and polled["HX-Refresh"] == "true"  # the page's timeline lacks SEC-1

    settled = analyst.get(f"/settings/notifications/tickets/{finding.pk}/panel/?known=1")  # the reloaded page
    html = settled.content.decode()
    assert settled.status_code == 200 and "every 2s" not in html and ">SEC-1</a>" in html
    assert "Create ticket" not in html  # the only Jira destination already tracks this finding


def test_an_issue_stamped_before_the_page_but_committed_after_it_still_reloads_the_page(
    client_for, fake_jira_factory, finding
):
    """The race a clock comparison lost: the worker stamps the link, the page renders, then it commits."""
    _jira, _receiver, destination = fake_jira_factory()
    analyst = client_for("analyst")
    analyst.post(f"/settings/notifications/tickets/{finding.pk}/", {"destination": destination.pk})
    delivery_attempt(delivery_id=Delivery.objects.get().pk)
    TicketLink.objects.filter(finding=finding).update(created_at=timezone.now() - timedelta(minutes=5))

    polled = analyst.get(f"/settings/notifications/tickets/{finding.pk}/panel/?known=0")

    assert polled.status_code == 204 and polled["HX-Refresh"] == "true"


def test_the_finding_page_tells_the_panel_how_many_issues_it_shows(
    client_for, fake_jira_factory, finding
):
    analyst = client_for("analyst")
    panel = f'hx-get="/settings/notifications/tickets/{finding.pk}/panel/?known='
    assert panel + '0"' in analyst.get(f"/findings/{finding.pk}/").content.decode()

    _jira, _receiver, destination = fake_jira_factory()
    analyst.post(f"/settings/notifications/tickets/{finding.pk}/", {"destination": destination.pk})
    delivery_attempt(delivery_id=Delivery.objects.get().pk)
    html = analyst.get(f"/findings/{finding.pk}/").content.decode()
    assert panel + '1"' in html and 'data-testid="ticket-link">SEC-1</a>' in html


@pytest.mark.parametrize("known", ["99999999999999999999", "１", "abc", "-1", ""])
def test_a_malformed_count_is_ignored_not_an_error(client_for, fake_jira_factory, finding, known):
    fake_jira_factory()
    response = client_for("analyst").get(
        f"/settings/notifications/tickets/{finding.pk}/panel/",
        {"known": known},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200 and 'hx-trigger="every 2s"' not in response.content.decode()
