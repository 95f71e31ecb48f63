"""The AWS client factory: the only place GuardWatch makes boto3 sessions and clients.

Gateways (`accounts/gateway.py`, `findings/gateway.py`, …) ask here for a client of one service in
one region, as the administrator account or — for auto-accept — as one member account reached by
assume-role. Clients are cached per (account, service, region, thread): boto3 clients are thread
safe but sessions are not, and Celery threads/processes each get their own.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

import boto3
import botocore.config
from botocore.credentials import RefreshableCredentials
from botocore.session import get_session
from django.conf import settings

# The local GuardDuty simulator serves these services on one endpoint (EC2: DescribeRegions only; S3: a member's bucket
# list, locations and tags, path-style); everything else goes to AWS (or, in tests, to moto).
SIMULATED_SERVICES = frozenset({"guardduty", "sts", "organizations", "ec2", "s3"})

_local = threading.local()

# Who acts, for CloudTrail: every role GuardWatch assumes is assumed with this STS SourceIdentity, so the member
# account's (and the administrator role's) CloudTrail names the GuardWatch user behind each call ("Monitor and
# control actions taken with assumed roles", IAM User Guide). Work no user started (beat) is the system's.
SYSTEM_SOURCE_IDENTITY = "guardwatch-system"
_source_identity: ContextVar[str] = ContextVar("guardwatch_source_identity", default=SYSTEM_SOURCE_IDENTITY)
# botocore's sts model, AssumeRoleRequest.SourceIdentity: min 2, max 256, pattern [\w+=,.@-]* (\w: ASCII letters,
# digits and underscore); "You cannot use a value that begins with the text aws:" (a colon is replaced anyway).
_NOT_IN_SOURCE_IDENTITY = re.compile(r"[^A-Za-z0-9_+=,.@-]")


@dataclass(frozen=True)
class ClientKey:
    """What a cached client is for."""

    service: str
    region: str
    member_account_id: str | None
    endpoint_url: str | None
    source_identity: str


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


def source_identity_for(username: str) -> str:
    """A GuardWatch username as STS accepts it for SourceIdentity: other characters become `_`, at most 256
    characters, at least 2 (a one-letter name is prefixed with `gw-`); no name is the system's identity."""
    if not username:
        return SYSTEM_SOURCE_IDENTITY
    cleaned = _NOT_IN_SOURCE_IDENTITY.sub("_", username)
    return (cleaned if len(cleaned) >= 2 else f"gw-{cleaned}")[:256]


def current_source_identity() -> str:
    return _source_identity.get()


@contextmanager
def acting_as(user) -> Iterator[str]:
    """AWS calls in this block (this thread or task) assume roles with `user`'s SourceIdentity; None or a
    non-user (beat, ingest) is the system's."""
    username = user.get_username() if getattr(user, "is_authenticated", False) else ""
    token = _source_identity.set(source_identity_for(username))
    try:
        yield _source_identity.get()
    finally:
        _source_identity.reset(token)


class SourceIdentityMiddleware:
    """AWS calls a request makes assume roles with the signed-in user's SourceIdentity (in settings.MIDDLEWARE
    after authentication)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with acting_as(getattr(request, "user", None)):
            return self.get_response(request)


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


def _assumed_session(base: boto3.Session, role_arn: str, session_name: str, source_identity: str) -> boto3.Session:
    """A session whose credentials come from assume-role (with `source_identity`) and refresh themselves before
    expiry. A chained role keeps the identity its first session set, and STS refuses to change it: each identity
    has its own chain of sessions."""

    def refresh() -> dict:
        sts = sts_client(base)
        creds = sts.assume_role(
            RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=3600, SourceIdentity=source_identity
        )["Credentials"]
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
    identity = current_source_identity()
    key = f"admin:{identity}" if settings.GUARDWATCH_ADMIN_ROLE_ARN else "admin"
    session = _local.sessions.get(key)
    if session is None:
        session = boto3.Session()
        if settings.GUARDWATCH_ADMIN_ROLE_ARN:
            session = _assumed_session(session, settings.GUARDWATCH_ADMIN_ROLE_ARN, "guardwatch-admin", identity)
        _local.sessions[key] = session
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
    identity = current_source_identity()
    key = f"member:{account_id}:{role_name or ''}:{identity}"
    session = _local.sessions.get(key)
    if session is None:
        session = _assumed_session(admin_session(), member_role_arn(account_id, role_name), "guardwatch-accept",
                                   identity)  # fmt: skip
        _local.sessions[key] = session
    return session


def client(service: str, region: str, *, member_account_id: str | None = None, role_name: str | None = None):
    """A boto3 client for `service` in `region`, as the administrator or as a member account."""
    clients = _cache()
    assumed = member_account_id or settings.GUARDWATCH_ADMIN_ROLE_ARN
    key = ClientKey(service, region, member_account_id, endpoint_for(service),
                    current_source_identity() if assumed else "")  # fmt: skip
    found = clients.get(key)
    if found is None:
        session = member_session(member_account_id, role_name) if member_account_id else admin_session()
        config = client_config()
        if service == "s3" and key.endpoint_url:  # one host serves every bucket: path-style addressing
            config = config.merge(botocore.config.Config(s3={"addressing_style": "path"}))
        found = session.client(service, region_name=region, endpoint_url=key.endpoint_url, config=config)
        clients[key] = found
    return found


def guardduty(region: str, *, member_account_id: str | None = None):
    """Shorthand for the GuardDuty client every gateway uses."""
    return client("guardduty", region, member_account_id=member_account_id)
