"""Notification fixtures: real local HTTP receivers, destinations and rules ready to use."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from notifications import services
from notifications.models import Destination

from .receiver import FakeJira, Receiver

SIGNING_SECRET = "s3cret-signing-key-for-tests"


@pytest.fixture
def receiver_factory():
    """`receiver_factory(status=500)`: a started local receiver, stopped after the test."""
    started: list[Receiver] = []

    def make(**kwargs) -> Receiver:
        receiver = Receiver(**kwargs).start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.stop()


@pytest.fixture
def tls_receiver_factory(receiver_factory, test_pki, settings):
    """`tls_receiver_factory(...)`: an https receiver whose CA GuardWatch trusts (GUARDWATCH_NOTIFY_CA_FILE)."""
    settings.GUARDWATCH_NOTIFY_CA_FILE = str(test_pki.ca_file)

    def make(**kwargs) -> Receiver:
        return receiver_factory(tls=test_pki.server_context(), **kwargs)

    return make


@pytest.fixture
def receiver(receiver_factory) -> Receiver:
    return receiver_factory()


@pytest.fixture
def fast_notify(settings):
    """Short timeouts and backoff, so fault tests finish quickly."""
    settings.GUARDWATCH_NOTIFY_TIMEOUT_SECONDS = 1
    settings.GUARDWATCH_NOTIFY_RETRY_BASE_SECONDS = 10
    settings.GUARDWATCH_NOTIFY_MAX_ATTEMPTS = 3
    settings.GUARDWATCH_PUBLIC_URL = "https://guardwatch.example.test"
    return settings


@pytest.fixture
def fake_jira_factory(tls_receiver_factory, fast_notify):
    """`fake_jira_factory(slow_creates=1)`: a FakeJira on a local https receiver and a Jira destination for it."""

    def make(**kwargs) -> tuple[FakeJira, Receiver, Destination]:
        jira = FakeJira(**kwargs)
        receiver = tls_receiver_factory(respond=jira.respond)
        return jira, receiver, jira_make(receiver.url.removesuffix("/hook"))

    return make


def jira_make(base_url: str, *, name: str = "Jira SEC") -> Destination:
    return destination_make("jira", name=name, config={
        "base_url": base_url, "email": "bot@example.com", "project_key": "SEC", "issue_type": "Task",
        "labels": [], "priority_map": "", "extra_fields": {},
    }, secrets={"api_token": "tok-123456789"})  # fmt: skip


def destination_make(kind: str, *, name: str | None = None, config: dict | None = None,
                     secrets: dict | None = None, actor=None) -> Destination:  # fmt: skip
    return services.destination_create(name=name or f"{kind} destination", kind=kind, enabled=True,
                                       config=config or {}, secrets=secrets or {}, actor=actor)  # fmt: skip


def webhook_make(url: str, *, name: str = "SOC webhook", actor=None) -> Destination:
    return destination_make(
        "webhook", name=name, secrets={"url": url, "signing_secret": SIGNING_SECRET}, actor=actor
    )


def rule_make(destination: Destination, *, kinds=("new_finding",), actor=None, **values):
    return services.rule_create(
        values={"name": values.pop("name", "rule"), "enabled": True, "destination": destination,
                "event_kinds": list(kinds), **values},
        actor=actor,
    )  # fmt: skip


def parsed_finding(*, finding_type: str = "Backdoor:EC2/C&CActivity.B!DNS", account: str = "222222222222",
                   region: str = "us-east-1", seed: int = 1, now: datetime | None = None):  # fmt: skip
    """A ParsedFinding built by the simulator's catalogue, as a sync would store it."""
    from findings.parsing import parse_finding
    from gdsim.catalogue import build_finding

    raw = build_finding(random.Random(seed), finding_type=finding_type, account_id=account, region=region,
                        detector_id="d" * 32, now=now or datetime(2026, 11, 28, 9, 0, tzinfo=UTC))  # fmt: skip
    return parse_finding(raw)


@pytest.fixture
def jira_standin(test_pki, fast_notify):
    """A started Jira Cloud stand-in (gdsim.jira) on local https, trusted by GuardWatch; stopped after the test."""
    from gdsim.jira import JiraStandIn

    fast_notify.GUARDWATCH_NOTIFY_CA_FILE = str(test_pki.ca_file)
    stand_in = JiraStandIn().start(tls=test_pki.server_context())
    yield stand_in
    stand_in.stop()


JIRA_WEBHOOK_SECRET = "jira-webhook-secret-for-tests"


def standin_destination(stand_in, *, name: str = "Jira SEC", **config) -> Destination:
    """A Jira destination for the stand-in, with a webhook secret; `config` adds ticket_scope, transitions."""
    return destination_make("jira", name=name, config={
        "base_url": stand_in.url, "email": "bot@example.com", "project_key": "SEC", "issue_type": "Task",
        "labels": [], "priority_map": "", "extra_fields": {}, **config,
    }, secrets={"api_token": "tok-123456789", "webhook_secret": JIRA_WEBHOOK_SECRET})  # fmt: skip
