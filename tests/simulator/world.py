"""The accounts and helpers the simulator tests share.

Personas: ADMIN (the security team's administrator account), MEMBER and OTHER_MEMBER (workload
accounts), OUTSIDER (an account with no relationship).
"""

from __future__ import annotations

import http.client
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

ADMIN = "111111111111"
MEMBER = "222222222222"
OTHER_MEMBER = "333333333333"
OUTSIDER = "444444444444"
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def list_all_finding_ids(client, detector_id: str, **kwargs: Any) -> list[str]:
    """Every finding id ListFindings returns, following NextToken."""
    ids: list[str] = []
    token: dict[str, str] = {}
    while True:
        page = client.list_findings(DetectorId=detector_id, **kwargs, **token)
        ids.extend(page["FindingIds"])
        if not page.get("NextToken"):
            return ids
        token = {"NextToken": page["NextToken"]}


def epoch_ms(moment: datetime) -> int:
    """What FindingCriteria's updatedAt compares with."""
    return int(moment.timestamp() * 1000)


def http_call(endpoint_url: str, method: str, path: str, *, headers: dict[str, str] | None = None,
              body: bytes | None = None) -> tuple[int, dict[str, str], dict]:
    """One raw HTTP request to the simulator: status, headers and the JSON body."""
    address = urlsplit(endpoint_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read() or b"{}")
    finally:
        connection.close()
