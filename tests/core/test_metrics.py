"""Prometheus at /metrics: off unless asked for, guarded by a token and/or an allowlist, bounded labels."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import MemberAccount, Membership
from findings.models import WriteSource
from findings.services import ingest_key_create
from findings.upsert import findings_upsert
from gdsim.catalogue import to_eventbridge_event
from guardwatch.monitoring.state import STATE
from notifications.models import Delivery, Destination
from notifications.services import delivery_attempt, destination_create
from tests.findings.factories import MEMBER, parsed, raw_finding
from tests.support.metrics import sample
from triage.models import WriteBack

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-the-tests-0123456789abcdef"
URL = "/metrics"


@pytest.fixture
def metrics_on(settings):
    """Metrics on, with a token, and state read afresh on each scrape."""
    settings.GUARDWATCH_METRICS = True
    settings.GUARDWATCH_METRICS_TOKEN = TOKEN
    settings.GUARDWATCH_METRICS_ALLOW = []
    settings.GUARDWATCH_METRICS_CACHE_SECONDS = 0
    STATE.forget()
    yield settings
    STATE.forget()


def scrape(client: Client | None = None, **headers) -> dict:
    response = (client or Client()).get(URL, headers={"Authorization": f"Bearer {TOKEN}", **headers})
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(response.content.decode())}


# --- Off, token, allowlist ----------------------------------------------------------------------


def test_metrics_are_a_404_while_off(settings):
    settings.GUARDWATCH_METRICS = False

    response = Client().get(URL, headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 404
    assert reverse("metrics") == URL


def test_a_scraper_without_the_token_gets_401_and_no_figures(metrics_on):
    response = Client().get(URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="guardwatch-metrics"'
    assert b"guardwatch_" not in response.content


def test_a_wrong_or_truncated_token_gets_401(metrics_on):
    for presented in ("Bearer wrong", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN):
        response = Client().get(URL, headers={"Authorization": presented})
        assert response.status_code == 401, presented


def test_the_scraper_with_the_token_reads_the_metrics_without_signing_in(metrics_on):
    families = scrape()

    assert "guardwatch_findings_open" in families
    assert "guardwatch_sync_last_success_timestamp_seconds" in families


def test_an_address_outside_the_allowlist_gets_403(metrics_on):
    import ipaddress

    metrics_on.GUARDWATCH_METRICS_TOKEN = ""
    metrics_on.GUARDWATCH_METRICS_ALLOW = [ipaddress.ip_network("10.1.0.0/16")]

    assert Client(REMOTE_ADDR="10.2.0.5").get(URL).status_code == 403
    assert Client(REMOTE_ADDR="10.1.200.5").get(URL).status_code == 200


def test_with_both_set_an_allowed_address_still_needs_the_token(metrics_on):
    import ipaddress

    metrics_on.GUARDWATCH_METRICS_ALLOW = [ipaddress.ip_network("10.1.0.0/16")]

    assert Client(REMOTE_ADDR="10.1.0.9").get(URL).status_code == 401
    assert Client(REMOTE_ADDR="10.9.0.9").get(URL, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 403
    scrape(Client(REMOTE_ADDR="10.1.0.9"))


def test_behind_a_trusted_proxy_the_allowlist_reads_the_forwarded_address(metrics_on):
    import ipaddress

    metrics_on.GUARDWATCH_METRICS_TOKEN = ""
    metrics_on.GUARDWATCH_METRICS_ALLOW = [ipaddress.ip_network("192.0.2.0/24")]
    metrics_on.GUARDWATCH_TRUSTED_PROXY_HOPS = 1
    proxy = Client(REMOTE_ADDR="10.0.0.1")

    assert proxy.get(URL, headers={"X-Forwarded-For": "192.0.2.7"}).status_code == 200
    # An entry left of the proxy's own is the client's to write: never believed.
    assert proxy.get(URL, headers={"X-Forwarded-For": "192.0.2.7, 203.0.113.9"}).status_code == 403


# --- Settings fail loudly -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GUARDWATCH_METRICS": "true"}, "needs GUARDWATCH_METRICS_TOKEN or GUARDWATCH_METRICS_ALLOW"),
        ({"GUARDWATCH_METRICS": "true", "GUARDWATCH_METRICS_TOKEN": "short"}, "at least 32 characters"),
        ({"GUARDWATCH_METRICS": "true", "GUARDWATCH_METRICS_ALLOW": "10.0.0.0/8,intranet"},
         "'intranet', which is not an IP address or CIDR network"),
        ({"GUARDWATCH_METRICS_TOKEN": TOKEN}, "GUARDWATCH_METRICS is off"),
        ({"PROMETHEUS_MULTIPROC_DIR": "/nonexistent/guardwatch-metrics"}, "is not a folder this process can write"),
    ],
)  # fmt: skip
def test_metrics_settings_fail_loudly(env, message):
    from tests.core.test_settings import check_with

    result = check_with({"GUARDWATCH_ENV": "test", **env})

    assert result.returncode != 0
    assert message in result.stderr


def test_good_metrics_settings_pass_the_check():
    from tests.core.test_settings import check_with

    result = check_with({"GUARDWATCH_ENV": "test", "GUARDWATCH_METRICS": "true", "GUARDWATCH_METRICS_TOKEN": TOKEN,
                         "GUARDWATCH_METRICS_ALLOW": "10.0.0.0/8, 192.168.1.7, fd00::/8"})  # fmt: skip

    assert result.returncode == 0, result.stderr


# --- Labels: URL names, never paths or secrets ------------------------------------------------------


def test_request_latency_is_labelled_by_url_name_never_the_path(metrics_on, client_for):
    analyst = client_for("analyst")  # made after the settings change: its handler times requests
    assert analyst.get("/findings/?q=secret-search-words").status_code == 200
    assert analyst.get("/findings/987654/").status_code == 404
    assert analyst.get("/no-such-page/AKIAEXAMPLESECRET").status_code == 404

    text = Client().get(URL, headers={"Authorization": f"Bearer {TOKEN}"}).content.decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}

    views = {s.labels["view"] for s in families["guardwatch_http_request_duration_seconds"].samples}
    assert {"triage:list", "triage:detail", "unresolved"} <= views
    for forbidden in ("987654", "/findings/", "secret-search-words", "AKIAEXAMPLESECRET", "no-such-page", TOKEN,
                      django_settings.SECRET_KEY):  # fmt: skip
        assert forbidden not in text


def test_an_odd_http_method_is_counted_as_other(metrics_on):
    Client().generic("BREW", "/healthz")

    families = scrape()

    methods = {s.labels["method"] for s in families["guardwatch_http_request_duration_seconds"].samples}
    assert "BREW" not in methods and "other" in methods


def test_a_webhook_delivery_that_dies_counts_and_shows_as_a_dead_letter_without_its_url(metrics_on, admin):
    metrics_on.GUARDWATCH_NOTIFY_MAX_ATTEMPTS = 1
    with socket.socket() as sock:  # a port nobody listens on: the delivery fails at once
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret_url = f"http://127.0.0.1:{port}/hooks/T0-secret-path"
    destination = destination_create(name="SOC webhook", kind=Destination.Kind.WEBHOOK, enabled=True, config={},
                                     secrets={"url": secret_url, "signing_secret": "s" * 32}, actor=admin)  # fmt: skip
    delivery = Delivery.objects.create(destination=destination, kind="test", payload={"events": [], "test": False})
    before = scrape()

    delivery_attempt(delivery_id=delivery.pk)

    text = Client().get(URL, headers={"Authorization": f"Bearer {TOKEN}"}).content.decode()
    after = {f.name: f for f in text_string_to_metric_families(text)}
    delivered = {"kind": "webhook", "outcome": "dead"}
    assert sample(after, "guardwatch_notification_deliveries_total", delivered) == \
        sample(before, "guardwatch_notification_deliveries_total", delivered) + 1  # fmt: skip
    assert sample(after, "guardwatch_notification_dead_letters") == 1
    assert "T0-secret-path" not in text and str(port) not in text


# --- Event counters -----------------------------------------------------------------------------


@pytest.fixture
def monitored_member():
    account = MemberAccount.objects.create(account_id=MEMBER, email="root+member@example.com")
    Membership.objects.create(account=account, region="us-east-1", relationship_status="Enabled")


def test_pushed_findings_count_as_ingested_and_refused_pushes_as_refused(
    metrics_on, admin, monitored_member, django_capture_on_commit_callbacks
):
    _key, secret = ingest_key_create(name="EventBridge", actor=admin)
    before = scrape()
    post = lambda events: Client().post("/ingest/eventbridge/", data=json.dumps(events), content_type="application/json",  # noqa: E731
                                        headers={"X-GuardWatch-Key": secret})  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):  # counted once the findings are committed
        assert post([to_eventbridge_event(raw_finding()), to_eventbridge_event(raw_finding())]).status_code == 202
    assert post([{"source": "not.guardduty"}, to_eventbridge_event(raw_finding())]).status_code == 400

    after = scrape()
    push = {"source": "push"}
    assert sample(after, "guardwatch_findings_ingested_total", push) == sample(before, "guardwatch_findings_ingested_total", push) + 2
    invalid = {"source": "push", "reason": "invalid"}
    assert sample(after, "guardwatch_findings_refused_total", invalid) == sample(before, "guardwatch_findings_refused_total", invalid) + 1
    # The last stored push of the region, for the push side of the sync gauges.
    pushed = sample(after, "guardwatch_sync_last_success_timestamp_seconds", {"region": "us-east-1", "direction": "push"})
    assert abs(pushed - timezone.now().timestamp()) < 60


# --- State gauges -------------------------------------------------------------------------------


def test_write_back_backlog_and_its_overdue_age_come_from_the_queue_rows(metrics_on):
    findings_upsert(findings=[parsed(raw_finding()), parsed(raw_finding())], source=WriteSource.PULL)
    from findings.models import Finding

    first, second = Finding.objects.order_by("id")
    now = timezone.now()
    WriteBack.objects.create(finding=first, operation="archive", region="us-east-1", created_at=now,
                             next_attempt_at=now - timedelta(minutes=10))  # fmt: skip
    WriteBack.objects.create(finding=second, operation="archive", region="us-east-1", status="failed", attempts=3,
                             created_at=now, next_attempt_at=now + timedelta(minutes=5))  # fmt: skip
    WriteBack.objects.create(finding=second, operation="useful", region="us-east-1", status="sent", created_at=now,
                             next_attempt_at=now)  # fmt: skip

    families = scrape()

    assert sample(families, "guardwatch_writeback_backlog", {"status": "pending"}) == 1
    assert sample(families, "guardwatch_writeback_backlog", {"status": "failed"}) == 1
    assert 590 <= sample(families, "guardwatch_writeback_overdue_seconds") < 700


def test_member_statuses_are_counted_and_an_unknown_status_is_other(metrics_on):
    for number, status in enumerate(("Enabled", "Enabled", "Resigned", "SomethingNew<script>")):
        account = MemberAccount.objects.create(account_id=f"55555555555{number}", email=f"m{number}@example.com")
        Membership.objects.create(account=account, region="us-east-1", relationship_status=status)

    families = scrape()

    assert sample(families, "guardwatch_members", {"status": "Enabled", "region": "us-east-1"}) == 2
    assert sample(families, "guardwatch_members", {"status": "Resigned", "region": "us-east-1"}) == 1
    assert sample(families, "guardwatch_members", {"status": "other", "region": "us-east-1"}) == 1


def test_open_findings_by_severity_and_sla_breaches(metrics_on):
    old = raw_finding(now=timezone.now() - timedelta(days=60))  # past every band's SLA (30 days at most)
    findings_upsert(findings=[parsed(old), parsed(raw_finding(now=timezone.now()))], source=WriteSource.PULL)

    families = scrape()

    open_total = sum(s.value for s in families["guardwatch_findings_open"].samples)
    assert open_total == 2
    assert {s.labels["severity"] for s in families["guardwatch_findings_open"].samples} == {"critical", "high", "medium", "low"}
    assert sample(families, "guardwatch_findings_sla_breached") == 1


def test_queue_depth_is_read_from_the_broker_for_each_queue(metrics_on):
    queue = "gw-metrics-probe"
    metrics_on.CELERY_TASK_DEFAULT_QUEUE = queue
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    client.delete(queue, f"{queue}\x06\x166")
    try:
        client.lpush(queue, "one", "two")
        client.lpush(f"{queue}\x06\x166", "urgent")  # kombu's list for priority 6

        families = scrape()
    finally:
        client.delete(queue, f"{queue}\x06\x166")
        client.close()

    assert sample(families, "guardwatch_celery_queue_length", {"queue": queue}) == 3


def test_every_section_reads_and_the_figures_are_reused_within_the_cache_window(metrics_on, django_assert_num_queries):
    metrics_on.GUARDWATCH_METRICS_CACHE_SECONDS = 300
    families = scrape()
    assert {s.labels["section"]: s.value for s in families["guardwatch_metrics_section_up"].samples} == {
        "sync": 1, "members": 1, "findings": 1, "writebacks": 1, "notifications": 1, "queues": 1,
    }  # fmt: skip

    with django_assert_num_queries(0):
        scrape()


def test_a_section_that_cannot_be_read_is_reported_and_the_rest_still_served(metrics_on):
    metrics_on.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    families = scrape()

    up = {s.labels["section"]: s.value for s in families["guardwatch_metrics_section_up"].samples}
    assert up["queues"] == 0 and up["sync"] == 1
    assert "guardwatch_findings_open" in families


# --- The ledger gap -------------------------------------------------------------------------------


def test_a_finding_the_sync_lost_shows_as_the_ledger_gap_when_the_ids_comparison_finds_it(metrics_on, simulator):
    from findings.models import Finding
    from findings.services import findings_ids_compare_region
    from findings.sync import findings_sync_region
    from tests.findings.simulated import estate

    estate(simulator, ["us-east-1"], per_region=30)
    simulator.advance_clock(3600)
    assert findings_sync_region(region="us-east-1").status == "succeeded"
    Finding.objects.filter(archived=False).order_by("arn").first().delete()  # as if a page had been skipped
    before = scrape()

    assert findings_ids_compare_region(region="us-east-1").missing == 1

    after = scrape()
    gap = {"region": "us-east-1"}
    assert sample(after, "guardwatch_findings_ids_compare_missing_total", gap) == \
        sample(before, "guardwatch_findings_ids_compare_missing_total", gap) + 1  # fmt: skip
    runs = {"region": "us-east-1", "outcome": "succeeded"}
    assert sample(after, "guardwatch_findings_ids_compare_runs_total", runs) == \
        sample(before, "guardwatch_findings_ids_compare_runs_total", runs) + 1  # fmt: skip


def test_a_finding_guardduty_returns_that_cannot_be_parsed_counts_as_refused(metrics_on):
    from findings.parsing import findings_parse_skipping

    before = scrape()

    assert findings_parse_skipping([{"Id": "not-a-finding"}, raw_finding()], what="Confirmation") != []

    unparseable = {"source": "pull", "reason": "unparseable"}
    assert sample(scrape(), "guardwatch_findings_refused_total", unparseable) == \
        sample(before, "guardwatch_findings_refused_total", unparseable) + 1  # fmt: skip
