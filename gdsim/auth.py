"""Who is calling: the account and region behind a SigV4-signed request.

Signatures are not verified (there is no secret worth protecting); the access key id in the
`Authorization` header's credential scope names the account, the scope names the region.
By default an access key id containing a run of exactly 12 digits belongs to that account, which
is what `credentials_for` and the simulator's STS hand out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")
_ACCOUNT_IN_KEY = re.compile(r"(?<!\d)(\d{12})(?!\d)")
_REGION_IN_HOST = re.compile(r"^[a-z0-9-]+\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com")
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Caller:
    """The signer of a request: access key id, region and service of its credential scope."""

    access_key_id: str
    region: str
    service: str


def credentials_for(account_id: str) -> dict[str, str]:
    """Static credentials that act as `account_id` against the simulator (boto3 keyword names)."""
    if not re.fullmatch(r"\d{12}", account_id):
        raise ValueError(f"not a 12-digit account id: {account_id!r}")
    return {
        "aws_access_key_id": f"AKIA{account_id}GDSM",
        "aws_secret_access_key": f"simulator-secret-{account_id}",
    }


def account_in_access_key(access_key_id: str) -> str | None:
    """The account a key names by the default rule (a run of exactly 12 digits), or None."""
    found = _ACCOUNT_IN_KEY.search(access_key_id)
    return found.group(1) if found else None


def parse_caller(authorization: str | None, host: str | None) -> Caller | None:
    """The caller from a SigV4 `Authorization` header; the region falls back to the Host name."""
    if not authorization:
        return None
    found = _SCOPE.search(authorization)
    if not found:
        return None
    access_key_id, region, service = found.groups()
    if not region:
        host_match = _REGION_IN_HOST.match(host or "")
        region = host_match.group(1) if host_match else DEFAULT_REGION
    return Caller(access_key_id=access_key_id, region=region, service=service)
