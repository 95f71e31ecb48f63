"""Every destination kind, each against a real receiver: local HTTP servers, moto S3, locmem mail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from pathlib import Path
from unittest import mock
from urllib.parse import unquote

import boto3
import pytest
from django.core import mail
from django.utils.datastructures import CaseInsensitiveMapping
from moto import mock_aws

from findings.models import Finding
from findings.upsert import findings_upsert
from notifications.events import event_for_finding, events_publish
from notifications.models import Delivery, TicketLink
from notifications.services import delivery_attempt

from .conftest import SIGNING_SECRET, destination_make, parsed_finding, rule_make, webhook_make

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def finding(fast_notify):
    """One stored high-severity finding (no rules yet, so storing it notifies no one)."""
    findings_upsert(findings=[parsed_finding()], source="pull")
    return Finding.objects.get()


def deliver(destination, finding, kind="new_finding") -> Delivery:
    """Route one event about `finding` to `destination` and make the delivery attempt a worker would."""
    rule_make(destination, kinds=(kind,))
    [delivery] = events_publish(events=[event_for_finding(kind=kind, finding=finding)])
    delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


def test_generic_webhook_receives_a_signed_json_message(receiver, finding):
    delivery = deliver(webhook_make(receiver.url), finding)

    [request] = receiver.requests
    signed = request.headers["x-guardwatch-timestamp"].encode() + b"." + request.body
    expected = "sha256=" + hmac.new(SIGNING_SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-guardwatch-signature"], expected)
    assert request.headers["x-guardwatch-event"] == "new_finding"
    assert request.headers["x-guardwatch-timestamp"].isdigit()
    assert request.headers["content-type"] == "application/json"
    body = request.json()
    assert body["event"] == "new_finding"
    assert body["data"]["title"] == finding.title
    assert body["data"]["severity"] == finding.severity and body["data"]["band"] == "high"
    assert (body["data"]["account"], body["data"]["region"]) == ("222222222222", "us-east-1")
    assert body["data"]["url"] == f"https://guardwatch.example.test/findings/{finding.pk}/"
    assert (delivery.status, delivery.last_status_code, delivery.attempts) == ("sent", 200, 1)


def documented_verifier():
    """The Python snippet docs/notifications.md gives receivers, exactly as written there."""
    text = (ROOT / "docs" / "notifications.md").read_text()
    code = re.search(r"<!-- verify-webhook -->\n```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "docs/notifications.md", "exec"), namespace)  # noqa: S102 (our own documentation)
    return namespace["guardwatch_webhook_is_genuine"]


def test_the_documented_verifier_accepts_a_real_delivery_and_refuses_tampering_and_replay(receiver, finding):
    deliver(webhook_make(receiver.url), finding)
    [request] = receiver.requests
    headers = CaseInsensitiveMapping(request.headers)
    genuine = documented_verifier()

    assert genuine(SIGNING_SECRET, headers, request.body)
    assert not genuine("another-secret-of-16+", headers, request.body)
    assert not genuine(SIGNING_SECRET, headers, request.body.replace(b'"high"', b'"low"'))
    # A replay with a fresh timestamp but the old signature: the timestamp is inside the signature.
    fresh = CaseInsensitiveMapping({**request.headers, "x-guardwatch-timestamp": str(int(time.time()) + 60)})
    assert not genuine(SIGNING_SECRET, fresh, request.body)
    # The same request, unchanged, an hour later.
    later = time.time() + 3600
    with mock.patch("time.time", return_value=later):
        assert not genuine(SIGNING_SECRET, headers, request.body)


def test_slack_gets_text_and_blocks_with_the_link(receiver, finding):
    destination = destination_make("slack", secrets={"url": receiver.url})
    deliver(destination, finding)

    body = receiver.requests[0].json()
    assert body["text"].startswith("GuardWatch: [HIGH] ")
    assert any(block["type"] == "section" and "fields" in block for block in body["blocks"])
    link = body["blocks"][-1]["elements"][0]["text"]
    assert link == f"<https://guardwatch.example.test/findings/{finding.pk}/|Open in GuardWatch>"


def test_slack_text_cannot_forge_links_from_a_finding_title(receiver, finding):
    Finding.objects.filter(pk=finding.pk).update(title="<https://evil.example|click> & co")
    finding.refresh_from_db()
    deliver(destination_make("slack", secrets={"url": receiver.url}), finding)

    headline = receiver.requests[0].json()["blocks"][0]["text"]["text"]
    assert "&lt;https://evil.example|click&gt; &amp; co" in headline


def test_teams_gets_an_adaptive_card(receiver, finding):
    deliver(destination_make("teams", secrets={"url": receiver.url}), finding)

    body = receiver.requests[0].json()
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    facts = {fact["title"]: fact["value"] for block in card["body"] if block["type"] == "FactSet"
             for fact in block["facts"]}  # fmt: skip
    assert facts["Account"] == "222222222222" and facts["Region"] == "us-east-1"
    assert card["actions"][0]["url"].endswith(f"/findings/{finding.pk}/")


def test_email_goes_to_every_recipient(finding):
    destination = destination_make("email", config={"recipients": ["soc@example.com", "lead@example.com"]})
    delivery = deliver(destination, finding)

    [message] = mail.outbox
    assert message.to == ["soc@example.com", "lead@example.com"]
    assert message.subject == f"GuardWatch: [HIGH] {finding.title}"
    assert "Account: 222222222222" in message.body and f"/findings/{finding.pk}/" in message.body
    assert delivery.status == "sent"


def test_jira_issue_is_created_and_linked_to_the_finding(tls_receiver_factory, finding):
    jira = tls_receiver_factory(status=201, answer=b'{"id": "10001", "key": "SEC-7", "self": "x"}')
    base = jira.url.removesuffix("/hook")
    destination = destination_make(
        "jira",
        config={"base_url": base, "email": "bot@example.com", "project_key": "SEC", "issue_type": "Bug",
                "labels": ["aws"], "priority_map": "high=High", "extra_fields": {"components": [{"name": "Sec"}]}},
        secrets={"api_token": "jira-token-123"},
    )  # fmt: skip
    delivery = deliver(destination, finding)

    # The finding's issue is looked for first (one ticket per finding), then created.
    search, request = jira.requests
    assert search.method == "GET" and search.path.startswith("/rest/api/3/search/jql?")
    assert request.path == "/rest/api/3/issue"
    assert (
        request.headers["authorization"]
        == "Basic " + base64.b64encode(b"bot@example.com:jira-token-123").decode()
    )
    fields = request.json()["fields"]
    assert fields["project"] == {"key": "SEC"} and fields["issuetype"] == {"name": "Bug"}
    assert fields["summary"] == f"[HIGH] {finding.title}"
    assert fields["priority"] == {"name": "High"}
    finding_label = "guardwatch-finding-" + hashlib.sha256(finding.arn.encode()).hexdigest()[:20]
    assert fields["labels"] == ["aws", "guardwatch", f"guardwatch-delivery-{delivery.pk}", finding_label]
    assert finding_label in unquote(search.path)
    assert fields["components"] == [{"name": "Sec"}]
    assert fields["description"]["type"] == "doc"
    link = TicketLink.objects.get()
    assert (link.finding, link.key, link.url) == (finding, "SEC-7", f"{base}/browse/SEC-7")
    assert delivery.status == "sent"


@mock_aws
def test_s3_export_writes_json_lines(finding):
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="gw-export")
    destination = destination_make(
        "s3", config={"bucket": "gw-export", "prefix": "guardwatch/", "region": "us-east-1"}
    )
    delivery = deliver(destination, finding)

    s3 = boto3.client("s3", region_name="us-east-1")
    [obj] = s3.list_objects_v2(Bucket="gw-export", Prefix="guardwatch/")["Contents"]
    assert obj["Key"].endswith(f"-{delivery.pk}.jsonl")
    lines = s3.get_object(Bucket="gw-export", Key=obj["Key"])["Body"].read().decode().splitlines()
    [record] = [json.loads(line) for line in lines]
    assert record["arn"] == finding.arn and record["band"] == "high" and record["kind"] == "new_finding"
    assert delivery.status == "sent"


@mock_aws
def test_s3_export_to_a_missing_bucket_fails_with_the_reason(finding):
    destination = destination_make(
        "s3", config={"bucket": "no-such-bucket", "prefix": "", "region": "us-east-1"}
    )
    delivery = deliver(destination, finding)

    assert delivery.status == "failed" and "NoSuchBucket" in delivery.error


def test_teams_card_text_cannot_forge_links_from_a_finding_title(receiver, finding):
    Finding.objects.filter(pk=finding.pk).update(title="[click here](https://evil.example) *now*")
    finding.refresh_from_db()
    deliver(destination_make("teams", secrets={"url": receiver.url}), finding)

    card = receiver.requests[0].json()["attachments"][0]["content"]
    heading = card["body"][0]["text"]
    assert r"\[click here\]\(https://evil.example\) \*now\*" in heading


def test_a_title_with_line_breaks_stays_on_one_subject_line(finding):
    Finding.objects.filter(pk=finding.pk).update(title="Benign\r\nBcc: victim@example.com\nmore")
    finding.refresh_from_db()
    deliver(destination_make("email", config={"recipients": ["soc@example.com"]}), finding)

    [message] = mail.outbox
    assert message.subject == "GuardWatch: [HIGH] Benign Bcc: victim@example.com more"
    assert "\n" not in message.message()["Subject"] and "\r" not in message.message()["Subject"]
