"""One sender per destination kind: turn a delivery's payload into the receiver's format and send it.

Each returns a `SendOutcome`; none raises for a receiver's failure (timeouts, 5xx, S3 errors become
an outcome with `ok=False` and an error the delivery log shows).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.mail import EmailMessage

from guardwatch import aws
from notifications.models import Delivery, Destination
from notifications.outbound import HttpAnswer, OutboundFailed, OutboundRefused, http_get, http_post


@dataclass(frozen=True)
class SendOutcome:
    """What one attempt achieved."""

    ok: bool
    status_code: int | None = None
    body: str = ""
    error: str = ""
    # Jira: (issue key, browse URL)
    ticket: tuple[str, str] | None = None
    # The receiver asked to wait this long before the next attempt (429 Retry-After).
    retry_after: float | None = None
    # The ticket is its attack sequence's (one ticket per sequence): the link records the sequence.
    sequence_arn: str = ""


# --- Message text --------------------------------------------------------------------------------

KIND_LABELS = {
    "new_finding": "New finding",
    "severity_raised": "Severity raised",
    "repeat_occurrence": "Repeat occurrence",
    "finding_overdue": "Finding overdue",
    "coverage_alert": "Coverage alert",
    "sync_failing": "Sync failing",
    "test": "Test message",
    "ticket": "Ticket",
    "finding_updated": "Finding updated",  # in a team's daily digest
}


def _events(delivery: Delivery) -> list[dict[str, Any]]:
    return list(delivery.payload.get("events") or [])


def event_headline(event: dict[str, Any]) -> str:
    """`[HIGH] Title` — the one line every format starts from."""
    band = (event.get("band") or "").upper()
    return f"[{band}] {event.get('title', '')}" if band else str(event.get("title", ""))


def event_facts(event: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs worth showing, in a fixed order, empty ones left out."""
    severity = event.get("severity")
    facts = [
        ("Event", KIND_LABELS.get(event.get("kind", ""), event.get("kind", ""))),
        (
            "Severity",
            f"{severity:g} ({event.get('band')})" if severity is not None else (event.get("band") or ""),
        ),
        ("Account", event.get("account") or ""),
        ("Region", event.get("region") or ""),
        ("Type", event.get("type") or ""),
        ("Count", str(event["count"]) if event.get("count") is not None else ""),
        ("Error", event.get("error") or ""),
        ("Details", event.get("message") or ""),
    ]
    return [(label, str(value)) for label, value in facts if value]


def message_subject(delivery: Delivery) -> str:
    events = _events(delivery)
    if delivery.payload.get("digest") and delivery.payload.get("team"):  # a team's daily digest (owners.py)
        team = " ".join(str(delivery.payload["team"]).split())
        total = delivery.payload.get("total", len(events))
        return f"GuardWatch daily digest for {team}: {total} finding{'' if total == 1 else 's'}"
    if delivery.payload.get("digest"):
        return f"GuardWatch digest: {len(events)} events"
    headline = event_headline(events[0]) if events else "notification"
    # One line whatever the finding's title holds: a CR/LF in an email subject would break the header.
    return "GuardWatch: " + " ".join(headline.split())


def message_text(delivery: Delivery) -> str:
    """Plain text (email body, Jira description, chat fallback)."""
    lines = []
    for event in _events(delivery):
        lines.append(event_headline(event))
        lines.extend(f"  {label}: {value}" for label, value in event_facts(event))
        lines.append(f"  {event.get('url', '')}")
        lines.append("")
    return "\n".join(lines).strip() + "\n"


def webhook_body(delivery: Delivery) -> dict[str, Any]:
    """The generic webhook's JSON document."""
    events = _events(delivery)
    body: dict[str, Any] = {
        "id": f"gw-delivery-{delivery.pk}",
        "event": "digest" if delivery.payload.get("digest") else delivery.kind,
        "test": bool(delivery.payload.get("test")),
        "created_at": delivery.created_at.isoformat(),
    }
    if delivery.payload.get("digest"):
        body["events"] = events
    else:
        body["data"] = events[0] if events else {}
    return body


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn control characters; escaping stops titles from forging links or mentions.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(delivery: Delivery) -> dict[str, Any]:
    """Slack incoming webhook: `text` (notification fallback) and Block Kit `blocks`."""
    blocks: list[dict[str, Any]] = []
    if delivery.payload.get("digest"):
        blocks.append(
            {"type": "header", "text": {"type": "plain_text", "text": message_subject(delivery)[:150]}}
        )
    for event in _events(delivery)[:20]:
        fields = [{"type": "mrkdwn", "text": f"*{label}*\n{_slack_escape(value)[:500]}"}
                  for label, value in event_facts(event)[:10]]  # fmt: skip
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                       "text": f"*{_slack_escape(event_headline(event))[:2900]}*"}})  # fmt: skip
        if fields:
            blocks.append({"type": "section", "fields": fields})
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"<{event.get('url', '')}|Open in GuardWatch>"}]})  # fmt: skip
    return {"text": _slack_escape(message_subject(delivery)), "blocks": blocks}


_TEAMS_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_[]()<>#~|"})


def _teams_escape(text: str) -> str:
    # Adaptive Card TextBlocks and facts render Markdown: backslash-escape it so a finding title
    # cannot forge a link ([click](https://…)) or bury the text in formatting.
    return str(text).translate(_TEAMS_MARKDOWN)


def teams_body(delivery: Delivery) -> dict[str, Any]:
    """Teams (Workflows / incoming webhook): a message carrying one Adaptive Card."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "size": "Medium",
            "weight": "Bolder",
            "wrap": True,
            "text": _teams_escape(message_subject(delivery)),
        }
    ]
    actions = []
    for event in _events(delivery)[:20]:
        if delivery.payload.get("digest"):
            body.append(
                {
                    "type": "TextBlock",
                    "weight": "Bolder",
                    "wrap": True,
                    "text": _teams_escape(event_headline(event)),
                }
            )
        body.append({"type": "FactSet", "facts": [{"title": label, "value": _teams_escape(value)}
                                                  for label, value in event_facts(event)]})  # fmt: skip
        if not actions:
            actions.append(
                {"type": "Action.OpenUrl", "title": "Open in GuardWatch", "url": event.get("url", "")}
            )
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": actions,
    }
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}  # fmt: skip


def _json_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True, default=str).encode()


def _outcome(answer: HttpAnswer) -> SendOutcome:
    if answer.ok:
        return SendOutcome(ok=True, status_code=answer.status, body=answer.body)
    return SendOutcome(ok=False, status_code=answer.status, body=answer.body, error=f"HTTP {answer.status}",
                       retry_after=answer.retry_after)  # fmt: skip


def _post(url: str, body: bytes, headers: dict[str, str]) -> SendOutcome:
    try:
        return _outcome(
            http_post(url=url, body=body, headers={"Content-Type": "application/json", **headers})
        )
    except (OutboundFailed, OutboundRefused) as error:
        return SendOutcome(ok=False, error=str(error))


def post_json(url: str, body: bytes, headers: dict[str, str]) -> SendOutcome:
    """POST JSON `body` under the outbound rules; the answer (or the failure) as an outcome."""
    return _post(url, body, headers)


# --- Senders ---------------------------------------------------------------------------------------


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of `<timestamp>.<raw body>` under the destination's secret.

    The timestamp (also sent as X-GuardWatch-Timestamp) is inside the signature, so a receiver that
    refuses old timestamps also refuses a captured request replayed later (docs/notifications.md).
    """
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def send_webhook(destination: Destination, delivery: Delivery) -> SendOutcome:
    secrets = destination.secrets()
    body = _json_bytes(webhook_body(delivery))
    timestamp = str(int(time.time()))
    headers = {
        "X-GuardWatch-Event": "digest" if delivery.payload.get("digest") else delivery.kind,
        "X-GuardWatch-Timestamp": timestamp,
        "X-GuardWatch-Delivery": str(delivery.pk),
        "X-GuardWatch-Signature": webhook_signature(secrets.get("signing_secret", ""), timestamp, body),
    }
    return _post(secrets.get("url", ""), body, headers)


def send_slack(destination: Destination, delivery: Delivery) -> SendOutcome:
    return _post(destination.secrets().get("url", ""), _json_bytes(slack_body(delivery)), {})


def send_teams(destination: Destination, delivery: Delivery) -> SendOutcome:
    return _post(destination.secrets().get("url", ""), _json_bytes(teams_body(delivery)), {})


def send_email(destination: Destination, delivery: Delivery) -> SendOutcome:
    recipients = destination.config.get("recipients") or []
    try:
        sent = EmailMessage(subject=message_subject(delivery)[:200], body=message_text(delivery),
                            from_email=settings.DEFAULT_FROM_EMAIL, to=recipients).send()  # fmt: skip
    except OSError as error:  # SMTP errors are OSErrors (smtplib.SMTPException subclasses OSError)
        return SendOutcome(ok=False, error=f"Mail not sent: {error}")
    return SendOutcome(ok=bool(sent), error="" if sent else "The mail backend sent nothing.")


def s3_key(destination: Destination, delivery: Delivery) -> str:
    """One object per delivery, so a retry overwrites rather than duplicates."""
    prefix = destination.config.get("prefix", "")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return f"{prefix}{delivery.created_at:%Y/%m/%d}/guardwatch-{delivery.kind}-{delivery.pk}.jsonl"


def send_s3(destination: Destination, delivery: Delivery) -> SendOutcome:
    lines = "".join(json.dumps({"delivery": delivery.pk, **event}, sort_keys=True, default=str) + "\n"
                    for event in _events(delivery))  # fmt: skip
    config = destination.config
    try:
        client = aws.client("s3", config.get("region") or "us-east-1")
        answer = client.put_object(Bucket=config["bucket"], Key=s3_key(destination, delivery),
                                   Body=lines.encode(), ContentType="application/x-ndjson")  # fmt: skip
    except ClientError as error:
        info = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return SendOutcome(
            ok=False, status_code=status, error=f"S3 {info.get('Code')}: {info.get('Message', '')}"
        )
    except BotoCoreError as error:
        return SendOutcome(ok=False, error=f"S3: {error}")
    return SendOutcome(ok=True, status_code=answer["ResponseMetadata"]["HTTPStatusCode"],
                       body=f"s3://{config['bucket']}/{s3_key(destination, delivery)}")  # fmt: skip


# --- Jira Cloud --------------------------------------------------------------------------------------


def _adf(text: str) -> dict[str, Any]:
    """Atlassian Document Format (API v3 descriptions): one paragraph per line."""
    paragraphs = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]}
        for line in text.splitlines()
        if line.strip()
    ]
    return {"type": "doc", "version": 1, "content": paragraphs}


def priority_map(raw: str) -> dict[str, str]:
    """`critical=Highest,high=High` → {"critical": "Highest", "high": "High"}."""
    found = {}
    for part in raw.split(","):
        band, _, name = part.partition("=")
        if band.strip() and name.strip():
            found[band.strip().lower()] = name.strip()
    return found


def jira_delivery_label(delivery: Delivery) -> str:
    """The label that marks the one issue a delivery creates, so a retry can find it instead of re-creating it."""
    return f"guardwatch-delivery-{delivery.pk}"


def jira_fields(destination: Destination, delivery: Delivery, *, group_label: str = "") -> dict[str, Any]:
    """The issue's fields: project, type, summary, description, labels, priority, plus static extras."""
    config = destination.config
    events = _events(delivery)
    first = events[0] if events else {}
    summary = message_subject(delivery).removeprefix("GuardWatch: ")
    fields: dict[str, Any] = {
        **(config.get("extra_fields") or {}),
        "project": {"key": config.get("project_key", "")},
        "issuetype": {"name": config.get("issue_type") or "Task"},
        "summary": summary[:250],
        "description": _adf(message_text(delivery)),
        "labels": sorted(
            {
                "guardwatch",
                jira_delivery_label(delivery),
                *([group_label] if group_label else []),
                *(config.get("labels") or []),
            }
        ),
    }
    priority = priority_map(config.get("priority_map", "")).get(first.get("band") or "")
    if priority:
        fields["priority"] = {"name": priority}
    return fields


# Jira Cloud issue keys: a project key (a letter, then letters, digits, underscores) and a number.
JIRA_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,63}-[0-9]{1,12}")


def _jira_ticket(base: str, key: Any) -> tuple[str, str] | None:
    key = str(key)
    if not JIRA_KEY.fullmatch(key):
        return None
    return key, f"{base}/browse/{key}"


def jira_issue_find(
    destination: Destination, delivery: Delivery, headers: dict[str, str], *, label: str = ""
) -> SendOutcome | None:
    """The issue an earlier attempt of `delivery` created, looked up by its label (JQL search).

    `label`: the finding's or attack sequence's label instead (one ticket per finding or sequence), so an
    issue made by any delivery for it is found, not only by this one.

    None: no such issue, so creating one is safe. An outcome: found (`ok`), or the search failed and
    creating could duplicate the issue, so the attempt fails and is retried later. Jira's search index
    can lag a fresh issue by a few seconds; the retry backoff is longer than that.
    """
    base = destination.config.get("base_url", "").rstrip("/")
    query = urlencode(
        {"jql": f'labels = "{label or jira_delivery_label(delivery)}"', "fields": "key", "maxResults": "1"}
    )
    try:
        answer = http_get(url=f"{base}/rest/api/3/search/jql?{query}", headers=headers)
    except (OutboundFailed, OutboundRefused) as error:
        return SendOutcome(
            ok=False, error=f"Could not check Jira for an issue made by an earlier attempt: {error}"
        )
    if not answer.ok:
        return SendOutcome(ok=False, status_code=answer.status, body=answer.body,
                           error=f"Jira issue search answered HTTP {answer.status}; not creating a possible duplicate.")  # fmt: skip
    try:
        issues = json.loads(answer.body).get("issues") or []
    except (ValueError, AttributeError):
        issues = None
    if issues is None:
        return SendOutcome(ok=False, status_code=answer.status, body=answer.body,
                           error="Jira's issue search answered something other than JSON.")  # fmt: skip
    if not issues:
        return None
    ticket = _jira_ticket(base, issues[0].get("key") if isinstance(issues[0], dict) else None)
    if ticket is None:
        return SendOutcome(ok=False, status_code=answer.status, body=answer.body,
                           error="Jira's issue search answered without a valid issue key.")  # fmt: skip
    return SendOutcome(ok=True, status_code=answer.status, body=f"Found {ticket[0]}, created by an earlier attempt.",
                       ticket=ticket)  # fmt: skip


def send_jira(destination: Destination, delivery: Delivery, *, retrying: bool = False,
              group_label: str = "") -> SendOutcome:  # fmt: skip
    """Create one issue. On a retry, first look for the issue an earlier attempt may have created
    (a timeout can hide a success), and return that one instead of creating a duplicate.

    `group_label` (the finding's or its attack sequence's, `tickets.py`): always look for an issue with
    that label first, and mark the new issue with it, so one finding or sequence has one issue.
    """
    config = destination.config
    base = config.get("base_url", "").rstrip("/")
    if not base.startswith("https://"):
        # Saved before https was required: the API token is a Basic credential, never sent in clear.
        return SendOutcome(ok=False, error="Jira is reached over https:// only: edit the destination's site "
                                           "(and type its API token again).")  # fmt: skip
    secrets = destination.secrets()
    token = base64.b64encode(f"{config.get('email', '')}:{secrets.get('api_token', '')}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
    if retrying or group_label:
        found = jira_issue_find(destination, delivery, headers, label=group_label)
        if found is not None:
            return found
    outcome = _post(f"{base}/rest/api/3/issue",
                    _json_bytes({"fields": jira_fields(destination, delivery, group_label=group_label)}), headers)  # fmt: skip
    if not outcome.ok:
        return outcome
    try:
        ticket = _jira_ticket(base, json.loads(outcome.body)["key"])
    except (ValueError, KeyError, TypeError):
        ticket = None
    if ticket is None:
        return SendOutcome(ok=False, status_code=outcome.status_code, body=outcome.body,
                           error="Jira answered without a valid issue key.")  # fmt: skip
    return SendOutcome(ok=True, status_code=outcome.status_code, body=outcome.body, ticket=ticket)


SENDERS = {
    Destination.Kind.WEBHOOK: send_webhook,
    Destination.Kind.SLACK: send_slack,
    Destination.Kind.TEAMS: send_teams,
    Destination.Kind.EMAIL: send_email,
    Destination.Kind.JIRA: send_jira,
    Destination.Kind.S3: send_s3,
    # Test messages and digests to a ticket webhook are plain signed webhooks; tickets go through tickets.py.
    Destination.Kind.TICKET_WEBHOOK: send_webhook,
}


def send(delivery: Delivery, *, retrying: bool = False) -> SendOutcome:
    """Send one delivery to its destination; `retrying`: an earlier attempt may have reached it."""
    destination = delivery.destination
    if destination.kind == Destination.Kind.JIRA:
        return send_jira(destination, delivery, retrying=retrying)
    return SENDERS[destination.kind](destination, delivery)
