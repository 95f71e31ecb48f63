"""Faults: a destination that times out and one that answers 500 are retried with backoff and end in
the dead letters, while a healthy destination gets its message at once; an Admin resends from there."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from findings.models import Finding
from findings.upsert import findings_upsert
from guardwatch.core.models import AuditEntry
from notifications import tasks
from notifications.models import Delivery
from notifications.services import delivery_attempt

from .conftest import parsed_finding, rule_make, webhook_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_destinations(receiver_factory, fast_notify):
    """A hanging receiver, one answering 500, a healthy one; one rule each for new findings."""
    receivers = {
        "slow": receiver_factory(hang=True),
        "broken": receiver_factory(status=500, answer=b"<h1>Internal error</h1>"),
        "healthy": receiver_factory(),
    }
    for name, receiver in receivers.items():
        rule_make(webhook_make(receiver.url, name=name), name=f"to {name}")
    findings_upsert(findings=[parsed_finding()], source="pull")
    return receivers


def deliveries() -> dict[str, Delivery]:
    return {d.destination.name: d for d in Delivery.objects.select_related("destination")}


def attempt_all(now) -> None:
    """What the workers do: one attempt per delivery, each independent of the others."""
    for delivery in Delivery.objects.order_by("id"):
        delivery_attempt(delivery_id=delivery.pk, now=now)


def test_failing_destinations_are_retried_with_backoff_and_the_healthy_one_is_sent(three_destinations):
    start = timezone.now()
    attempt_all(start)

    rows = deliveries()
    assert rows["healthy"].status == "sent" and len(three_destinations["healthy"].requests) == 1
    assert rows["slow"].status == "failed" and "Timed out after 1 s" in rows["slow"].error
    assert rows["broken"].status == "failed" and rows["broken"].last_status_code == 500
    for name in ("slow", "broken"):
        assert rows[name].attempts == 1
        assert rows[name].next_attempt_at == start + timedelta(seconds=10)

    attempt_all(start + timedelta(seconds=5))  # not due yet: nothing is tried
    assert deliveries()["broken"].attempts == 1 and len(three_destinations["broken"].requests) == 1

    attempt_all(start + timedelta(seconds=10))
    rows = deliveries()
    assert rows["broken"].attempts == 2 and rows["broken"].next_attempt_at == start + timedelta(seconds=30)
    assert len(three_destinations["healthy"].requests) == 1  # sent once, never again


def test_after_the_last_attempt_the_failures_are_dead_letters(three_destinations, client_for):
    start = timezone.now()
    for offset in (0, 10, 30):  # backoff 10 s, then 20 s; three attempts in all
        attempt_all(start + timedelta(seconds=offset))
    rows = deliveries()
    assert (rows["slow"].status, rows["slow"].attempts) == ("dead", 3)
    assert (rows["broken"].status, rows["broken"].attempts) == ("dead", 3)
    assert len(three_destinations["broken"].requests) == 3

    page = client_for("admin").get("/settings/notifications/dead-letters/")
    html = page.content.decode()
    assert page.status_code == 200
    assert (
        f'data-testid="dead-{rows["slow"].pk}"' in html and f'data-testid="dead-{rows["broken"].pk}"' in html
    )
    assert "healthy" not in html
    assert "&lt;h1&gt;Internal error&lt;/h1&gt;" in html and "<h1>Internal error" not in html


def test_an_admin_resends_a_dead_letter_once_the_receiver_is_fixed(three_destinations, client_for,
                                                                  django_capture_on_commit_callbacks):  # fmt: skip
    start = timezone.now()
    for offset in (0, 10, 30):
        attempt_all(start + timedelta(seconds=offset))
    broken = deliveries()["broken"]
    three_destinations["broken"].status = 200

    admin = client_for("admin")  # made first: creating a person queues its own callbacks (access caches)
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin.post(
            f"/settings/notifications/deliveries/{broken.pk}/resend/", {"next": "https://evil.example/"}
        )
    assert response.status_code == 302 and response["Location"] == "/settings/notifications/dead-letters/"
    broken.refresh_from_db()
    assert (broken.status, broken.attempts) == ("pending", 0)
    assert len(callbacks) == 1  # queued for a worker

    tasks.delivery_send.run(broken.pk)  # what the worker runs
    broken.refresh_from_db()
    assert broken.status == "sent" and len(three_destinations["broken"].requests) == 4
    assert AuditEntry.objects.filter(verb="notification_delivery.resend", target_id=str(broken.pk)).exists()


def test_the_task_schedules_its_own_retry_with_the_backoff(three_destinations, monkeypatch):
    scheduled = []
    monkeypatch.setattr(
        tasks.delivery_send, "apply_async", lambda args, countdown: scheduled.append((args, countdown))
    )
    broken = deliveries()["broken"]

    assert tasks.delivery_send.run(broken.pk) == "failed"
    assert scheduled == [((broken.pk,), 10)]
    assert tasks.delivery_send.run(broken.pk) is None  # not due yet: a duplicate task does nothing


def test_a_lost_task_is_picked_up_by_the_retry_sweep(three_destinations):
    from notifications.services import deliveries_due

    Delivery.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    assert len(deliveries_due()) == 3
    assert Finding.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_hanging_destination_delays_neither_the_sync_nor_a_healthy_destination(
    receiver_factory, fast_notify, monkeypatch
):
    fast_notify.GUARDWATCH_NOTIFY_TIMEOUT_SECONDS = 30  # the slow receiver holds its request all test long
    slow, healthy = receiver_factory(hang=True), receiver_factory()
    rule_make(webhook_make(slow.url, name="slow"), name="to slow")
    rule_make(webhook_make(healthy.url, name="healthy"), name="to healthy")
    queued = []
    monkeypatch.setattr(tasks.delivery_send, "apply_async", lambda args, countdown=None: queued.append(args))

    findings_upsert(findings=[parsed_finding()], source="pull")  # the sync, committed

    assert not slow.requests and not healthy.requests  # the sync itself calls no destination
    rows = deliveries()
    assert sorted(queued) == sorted([(rows["slow"].pk,), (rows["healthy"].pk,)])  # one task per destination

    def worker_on_the_slow_task():
        try:
            delivery_attempt(delivery_id=rows["slow"].pk)
        finally:
            connections.close_all()

    busy = threading.Thread(target=worker_on_the_slow_task)
    busy.start()
    slow.wait_for(1)  # that worker is now stuck waiting for the slow receiver

    assert delivery_attempt(delivery_id=rows["healthy"].pk).status == "sent"  # another worker, meanwhile
    assert len(healthy.requests) == 1 and busy.is_alive()
    assert deliveries()["slow"].status == "sending"

    slow.release.set()  # the slow receiver hangs up; its delivery fails and will be retried
    busy.join(timeout=30)
    assert deliveries()["slow"].status == "failed"
