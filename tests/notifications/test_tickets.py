"""Jira tickets from the finding page, and the link kept on the finding."""

from __future__ import annotations

import pytest

from findings.models import Finding
from findings.upsert import findings_upsert
from guardwatch.notifications.models import TicketLink
from guardwatch.notifications.selectors import ticket_links_for_finding

from .conftest import destination_make, parsed_finding

pytestmark = pytest.mark.django_db


@pytest.fixture
def jira(receiver_factory, fast_notify):
    receiver = receiver_factory(status=201, answer=b'{"id": "1", "key": "SEC-42"}')
    base = receiver.url.removesuffix("/hook")
    destination = destination_make("jira", name="Jira SEC", config={
        "base_url": base, "email": "bot@example.com", "project_key": "SEC", "issue_type": "Task",
        "labels": [], "priority_map": "", "extra_fields": {},
    }, secrets={"api_token": "tok-123456789"})  # fmt: skip
    return receiver, destination


def test_an_analyst_creates_a_ticket_from_the_finding_page(client_for, jira):
    receiver, destination = jira
    findings_upsert(findings=[parsed_finding()], source="pull")
    finding = Finding.objects.get()

    response = client_for("analyst").post(f"/settings/notifications/tickets/{finding.pk}/",
                                          {"destination": destination.pk}, follow=True)  # fmt: skip
    assert "Created SEC-42" in response.content.decode()
    [link] = ticket_links_for_finding(finding=finding)
    assert link.url == f"{receiver.url.removesuffix('/hook')}/browse/SEC-42"
    assert link.created_by.username == "analyst"
    assert receiver.requests[0].json()["fields"]["summary"].endswith(finding.title)


def test_a_manager_cannot_create_tickets(client_for, jira):
    findings_upsert(findings=[parsed_finding()], source="pull")
    finding = Finding.objects.get()
    assert client_for("manager").post(f"/settings/notifications/tickets/{finding.pk}/").status_code == 403
    assert not TicketLink.objects.exists()


def test_a_jira_error_leaves_a_retrying_delivery_and_says_so(client_for, receiver_factory, fast_notify):
    receiver = receiver_factory(status=400, answer=b'{"errors": {"project": "valid project is required"}}')
    destination = destination_make("jira", config={"base_url": receiver.url.removesuffix("/hook"),
                                   "email": "bot@example.com", "project_key": "NOPE", "issue_type": "Task"},
                                   secrets={"api_token": "tok-123456789"})  # fmt: skip
    findings_upsert(findings=[parsed_finding()], source="pull")
    finding = Finding.objects.get()
    response = client_for("analyst").post(f"/settings/notifications/tickets/{finding.pk}/",
                                          {"destination": destination.pk}, follow=True)  # fmt: skip
    assert "Jira did not create the issue yet" in response.content.decode()
    delivery = destination.deliveries.get()
    assert delivery.status == "failed" and "valid project is required" in delivery.response_body
