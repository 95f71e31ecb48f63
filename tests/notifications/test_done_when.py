"""The issue's "Done when": from a fresh start, an Admin adds a generic webhook and a routing rule for
high-severity findings, the simulator produces one high finding, a findings sync runs, and the
webhook receiver gets exactly one signed message with the finding's title, severity, account, region
and a link back to GuardWatch — sent by the real Celery worker."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
from django.conf import settings

from findings.models import Finding
from findings.sync import findings_sync_region
from notifications.models import Delivery

from .conftest import SIGNING_SECRET

pytestmark = [pytest.mark.worker, pytest.mark.timeout(120)]

ADMIN_ACCOUNT = "111111111111"
REGION = "us-east-1"


def wait_until(predicate, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)  # readiness polling with a deadline
    raise AssertionError(f"Timed out waiting for {what}")


def test_a_high_finding_from_the_simulator_reaches_the_webhook_once_signed(
    simulator, celery_worker_process, transactional_db, client_for, receiver
):
    admin = client_for("admin")
    response = admin.post("/settings/notifications/destinations/new/?kind=webhook", {
        "name": "SOC webhook", "enabled": "on", "url": receiver.url, "signing_secret": SIGNING_SECRET,
    })  # fmt: skip
    assert response.status_code == 302
    destination_pk = int(response.url.rstrip("/").rsplit("/", 1)[1])
    response = admin.post("/settings/notifications/rules/new/", {
        "name": "High findings to the SOC", "enabled": "on", "destination": destination_pk,
        "event_kinds": ["new_finding"], "min_band": "high", "min_count": "0", "throttle": "none",
        "throttle_minutes": "60",
    })  # fmt: skip
    assert response.status_code == 302

    simulator.register_account(ADMIN_ACCOUNT, "root@example.com")
    simulator.ensure_detector(ADMIN_ACCOUNT, REGION)
    simulator.generate_findings(ADMIN_ACCOUNT, REGION, 1, finding_types=["Backdoor:EC2/C&CActivity.B!DNS"])
    simulator.generate_findings(
        ADMIN_ACCOUNT, REGION, 1, finding_types=["Recon:EC2/Portscan"]
    )  # medium: not routed
    run = findings_sync_region(region=REGION)
    assert run.status == "succeeded" and run.new == 2

    [request] = receiver.wait_for(1, timeout=30)
    wait_until(
        lambda: Delivery.objects.filter(status="sent").exists(),
        timeout=15,
        what="the delivery to be marked sent",
    )
    finding = Finding.objects.get(severity_band="high")
    signed = request.headers["x-guardwatch-timestamp"].encode() + b"." + request.body  # docs/notifications.md
    signature = "sha256=" + hmac.new(SIGNING_SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-guardwatch-signature"], signature)
    data = request.json()["data"]
    assert data["title"] == finding.title and finding.title
    assert (data["severity"], data["band"]) == (8.0, "high")
    assert (data["account"], data["region"]) == (ADMIN_ACCOUNT, REGION)
    assert data["url"] == f"{settings.GUARDWATCH_PUBLIC_URL.rstrip('/')}/findings/{finding.pk}/"

    again = findings_sync_region(region=REGION)  # nothing new: nobody is notified twice
    assert again.status == "succeeded"
    assert Delivery.objects.count() == 1 and len(receiver.requests) == 1
