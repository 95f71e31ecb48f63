"""The AWS client factory: the only place GuardWatch makes boto3 sessions and clients.

Gateways (`accounts/gateway.py`, `findings/gateway.py`, …) ask here for a client of one service in
one region, as the administrator account or — for auto-accept — as one member account reached by
assume-role. Clients are cached per (account, service, region, thread): boto3 clients are thread
safe but sessions are not, and Celery threads/processes each get their own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import boto3
import botocore.config
from botocore.credentials import RefreshableCredentials
from botocore.session import get_session
from django.conf import settings

# The local GuardDuty simulator serves these services on one endpoint; everything else goes to AWS
# (or, in tests, to moto).
SIMULATED_SERVICES = frozenset({"guardduty", "sts", "organizations"})

_local = threading.local()


@dataclass(frozen=True)
class ClientKey:
    """What a cached client is for."""

    service: str
    region: str
    member_account_id: str | None
    endpoint_url: str | None


def client_config() -> botocore.config.Config:
    """Adaptive retries (GuardDuty publishes no rate limits, only 429s) and bounded timeouts."""
    return botocore.config.Config(
        retries={
            "mode": getattr(settings, "GUARDWATCH_AWS_RETRY_MODE", "adaptive"),
            "max_attempts": getattr(settings, "GUARDWATCH_AWS_MAX_ATTEMPTS", 8),
        },
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=20,
        user_agent_extra="GuardWatch",
    )


def endpoint_for(service: str) -> str | None:
    """The simulator's URL for the services it stands in for, else None (real AWS endpoints)."""
    url = settings.GUARDWATCH_AWS_ENDPOINT_URL
    return url if url and service in SIMULATED_SERVICES else None


def _cache() -> dict:
    if not hasattr(_local, "clients"):
        _local.clients = {}
        _local.sessions = {}
    return _local.clients


def reset_clients() -> None:
    """Forget cached sessions and clients of this thread (tests switch endpoints between cases)."""
    _local.clients = {}
    _local.sessions = {}


def home_region() -> str:
    """The first configured region: where GuardWatch's own STS calls go, and whose partition ARNs use."""
    return settings.GUARDWATCH_AWS_REGIONS[0]


def partition_for(region: str) -> str:
    """`aws`, `aws-cn` or `aws-us-gov`: the partition of `region`, from botocore's endpoint data."""
    return boto3.Session().get_partition_for_region(region)


def sts_client(base: boto3.Session):
    """STS in the home region. With no region boto3 may use the global endpoint, whose session tokens
    are not valid in opt-in regions ("AWS STS Regionalized endpoints", IAM User Guide): regional always."""
    region = home_region()
    return base.client("sts", region_name=region, endpoint_url=endpoint_for("sts"), config=client_config())


def _assumed_session(base: boto3.Session, role_arn: str, session_name: str) -> boto3.Session:
    """A session whose credentials come from assume-role and refresh themselves before expiry."""

    def refresh() -> dict:
        sts = sts_client(base)
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=3600)[
            "Credentials"
        ]
        expiry = creds["Expiration"]
        if isinstance(expiry, datetime) and expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=UTC)
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": expiry.isoformat() if isinstance(expiry, datetime) else str(expiry),
        }

    botocore_session = get_session()
    botocore_session._credentials = RefreshableCredentials.create_from_metadata(  # noqa: SLF001
        metadata=refresh(), refresh_using=refresh, method="sts-assume-role"
    )
    return boto3.Session(botocore_session=botocore_session)


def admin_session() -> boto3.Session:
    """The administrator account: the default credential chain, or the configured admin role."""
    _cache()
    session = _local.sessions.get("admin")
    if session is None:
        session = boto3.Session()
        if settings.GUARDWATCH_ADMIN_ROLE_ARN:
            session = _assumed_session(session, settings.GUARDWATCH_ADMIN_ROLE_ARN, "guardwatch-admin")
        _local.sessions["admin"] = session
    return session


def member_role_arn(account_id: str, role_name: str | None = None) -> str:
    """The role GuardWatch assumes in a member account (for auto-accept), in the home region's partition
    (`arn:aws-cn:…` in China, `arn:aws-us-gov:…` in GovCloud)."""
    name = role_name or settings.GUARDWATCH_MEMBER_ROLE_NAME
    if not name:
        raise ValueError("No member role name is configured (GUARDWATCH_MEMBER_ROLE_NAME).")
    return f"arn:{partition_for(home_region())}:iam::{account_id}:role/{name}"


def member_session(account_id: str, role_name: str | None = None) -> boto3.Session:
    """A member account, reached from the administrator by assume-role."""
    _cache()
    key = f"member:{account_id}:{role_name or ''}"
    session = _local.sessions.get(key)
    if session is None:
        session = _assumed_session(admin_session(), member_role_arn(account_id, role_name), "guardwatch-accept")
        _local.sessions[key] = session
    return session


def client(service: str, region: str, *, member_account_id: str | None = None, role_name: str | None = None):
    """A boto3 client for `service` in `region`, as the administrator or as a member account."""
    clients = _cache()
    key = ClientKey(service, region, member_account_id, endpoint_for(service))
    found = clients.get(key)
    if found is None:
        session = member_session(member_account_id, role_name) if member_account_id else admin_session()
        found = session.client(service, region_name=region, endpoint_url=key.endpoint_url, config=client_config())
        clients[key] = found
    return found


def guardduty(region: str, *, member_account_id: str | None = None):
    """Shorthand for the GuardDuty client every gateway uses."""
    return client("guardduty", region, member_account_id=member_account_id)
