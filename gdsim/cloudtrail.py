"""CloudTrail management events of GuardDuty calls, delivered the way EventBridge delivers them to an API destination.

What AWS documents, and what is modelled:
- GuardDuty is integrated with CloudTrail: every GuardDuty API call is recorded as a management event with
  `eventSource` "guardduty.amazonaws.com" (GuardDuty User Guide, "Logging GuardDuty API calls with AWS
  CloudTrail").
- EventBridge receives CloudTrail management events with detail-type "AWS API Call via CloudTrail", and
  not read-only ones: "AWS services ... events with a read-only value of true ... are not delivered"
  (EventBridge User Guide, "Events from AWS services", "Events delivered via AWS CloudTrail": events for
  List, Get and Describe calls are not sent). So only write calls are emitted here.
- The event is the CloudTrail record under `detail` (CloudTrail User Guide, "CloudTrail record contents"):
  eventVersion, userIdentity (type, arn, accountId, sessionContext.sourceIdentity for a role session
  assumed with one), eventTime, eventSource, eventName, awsRegion, sourceIPAddress, userAgent,
  requestParameters (camelCase, as on the wire), responseElements, requestID, eventID, readOnly,
  eventType "AwsApiCall", managementEvent, recipientAccountId; a failed call carries errorCode and
  errorMessage (not emitted by this simulator for its own calls: only successful ones are recorded here).
- A call lands on the default event bus of the account that made it, in its region: reaching the
  security account needs a rule in each member account forwarding to it (docs/tamper-alarms.md). The
  simulator stands for that whole path: one target receives every account's events.
Delivery is best effort, as EventBridge's is to an API destination (retried, then dropped): a
background thread posts each event once, retries twice on a connection error, and counts what it could
not deliver.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.request
import uuid
from datetime import datetime
from typing import Any

logger = logging.getLogger(__name__)

READ_ONLY_PREFIXES = ("Get", "List", "Describe")


def _camel(value: Any) -> Any:
    """Request parameters as CloudTrail records them: the wire's lowerCamel member names."""
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: _camel(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camel(item) for item in value]
    return value


def cloudtrail_event(*, event_name: str, account_id: str, region: str, moment: datetime,
                     request_parameters: dict[str, Any], principal_arn: str = "", source_identity: str = "",
                     source_ip: str = "198.51.100.7", user_agent: str = "aws-cli/2.17 Python/3.12") -> dict[str, Any]:
    """One "AWS API Call via CloudTrail" event as EventBridge delivers it."""
    arn = principal_arn or f"arn:aws:iam::{account_id}:user/simulator"
    identity: dict[str, Any] = {"type": "AssumedRole" if ":assumed-role/" in arn else "IAMUser", "arn": arn,
                                "accountId": account_id, "principalId": f"AIDA{account_id}SIM"}  # fmt: skip
    if source_identity:
        identity["sessionContext"] = {"sourceIdentity": source_identity}
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.guardduty", "account": account_id, "time": stamp, "region": region, "resources": [],
        "detail": {
            "eventVersion": "1.09", "userIdentity": identity, "eventTime": stamp,
            "eventSource": "guardduty.amazonaws.com", "eventName": event_name, "awsRegion": region,
            "sourceIPAddress": source_ip, "userAgent": user_agent, "requestParameters": _camel(request_parameters),
            "responseElements": None, "requestID": str(uuid.uuid4()), "eventID": str(uuid.uuid4()),
            "readOnly": False, "eventType": "AwsApiCall", "managementEvent": True,
            "recipientAccountId": account_id, "eventCategory": "Management",
        },
    }  # fmt: skip


class EventTarget:
    """Where events go (an EventBridge API destination stand-in): a URL and headers, set by the control API."""

    def __init__(self) -> None:
        self.url = ""
        self.headers: dict[str, str] = {}
        self.delivered = 0
        self.failed = 0
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def configure(self, url: str, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self.url, self.headers = url, dict(headers or {})
            if url and self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gdsim-eventbridge", daemon=True)
                self._thread.start()

    def describe(self) -> dict[str, Any]:
        return {"url": self.url, "delivered": self.delivered, "failed": self.failed, "queued": self._queue.qsize()}

    def emit(self, event: dict[str, Any]) -> None:
        if self.url:
            self._queue.put(event)

    def record_call(self, *, operation: str, account_id: str, region: str, params: dict[str, Any],
                    moment: datetime, session: dict[str, str] | None) -> None:
        """A successful GuardDuty call, as CloudTrail would record it (write calls only, see the module)."""
        if not self.url or operation.startswith(READ_ONLY_PREFIXES):
            return
        session = session or {}
        self.emit(cloudtrail_event(event_name=operation, account_id=account_id, region=region, moment=moment,
                                   request_parameters=params, principal_arn=session.get("arn", ""),
                                   source_identity=session.get("source_identity", ""),
                                   user_agent="Boto3/1.44 (simulated caller)"))  # fmt: skip

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            with self._lock:
                url, headers = self.url, dict(self.headers)
            if not url:
                continue
            body = json.dumps(event).encode()
            for attempt in range(3):
                try:
                    request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 - the configured target
                                                     headers={"Content-Type": "application/json", **headers})  # fmt: skip
                    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                        answer.read()
                    self.delivered += 1
                    break
                except OSError as error:  # refused, reset, an HTTP error status
                    if attempt == 2:
                        self.failed += 1
                        logger.warning("EventBridge stand-in: %s not delivered to %s: %s", event["detail"]["eventName"],
                                       url, error)  # fmt: skip
