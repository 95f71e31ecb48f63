"""A push is a hint GuardDuty confirms: what an ingest key can and cannot make GuardWatch believe.

The attacker holds a valid ingest key. They push findings carrying a real finding's ARN, timestamps
from the future, lowered severities, other accounts, other regions, decoys copying a real finding's id.
GuardDuty (the simulator) stays the truth: the pull and the GetFindings confirmation always win.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Membership
from findings.models import Finding, IngestApiKey
from findings.push import findings_push_confirm
from findings.services import ingest_key_create
from findings.sync import findings_sync_region
from gdsim.catalogue import to_eventbridge_event
from guardwatch.core.models import AuditEntry
from triage.models import WriteBack
from triage.services import finding_status_change
from triage.writeback import writebacks_flush

from .factories import raw_finding
from .simulated import ADMIN, MEMBERS, estate, members_monitored, simulated_findings

pytestmark = pytest.mark.django_db

URL = "/ingest/eventbridge/"
REGION = "us-east-1"


@pytest.fixture
def members():
    members_monitored([REGION, "us-west-2"])


@pytest.fixture
def key(admin, members):
    _key, secret = ingest_key_create(name="EventBridge us-east-1", actor=admin)
    return secret


def push(body, *, key):
    return Client().post(URL, data=json.dumps(body), content_type="application/json", headers={"X-GuardWatch-Key": key})


def tampered(finding: dict, **top) -> dict:
    """The attack: the real finding's ARN, a version a minute newer, severity 1, archived (and `top` keys)."""
    forged = copy.deepcopy(finding)
    forged["UpdatedAt"] = (datetime.fromisoformat(finding["UpdatedAt"]) + timedelta(minutes=1)).isoformat()
    forged["Severity"] = 1.0
    forged["Service"]["Archived"] = True
    forged.update(top)
    return forged


@pytest.fixture
def estate_one_region(simulator, members):
    """The simulated estate in us-east-1 (administrator and two members, 30 findings), nothing synced yet."""
    estate(simulator, [REGION], per_region=30)
    return simulated_findings(simulator, [REGION])


def member_finding(truth: dict) -> dict:
    return next(f for arn, f in sorted(truth.items()) if f["AccountId"] == MEMBERS[0])


# --- 1. Pushed data is never more authoritative than GuardDuty ------------------------------------


def test_a_push_from_the_future_is_refused_with_the_reason_and_nothing_stored(key):
    finding = raw_finding()
    future = (timezone.now() + timedelta(days=3650)).isoformat()
    forged = tampered(finding, UpdatedAt=future)

    response = push(to_eventbridge_event(forged), key=key)

    assert response.status_code == 400
    reason = response.json()["errors"][0]["reason"]
    assert reason.startswith("updatedAt ") and "ahead of GuardWatch's clock" in reason and "300 s" in reason
    assert Finding.objects.count() == 0


def test_a_few_seconds_of_clock_skew_are_accepted(key, settings):
    settings.GUARDWATCH_INGEST_MAX_FUTURE_SECONDS = 120
    finding = raw_finding(now=timezone.now() + timedelta(seconds=60))

    assert push(to_eventbridge_event(finding), key=key).status_code == 202


def test_a_tampering_push_of_a_real_findings_arn_changes_nothing_guardduty_gave(estate_one_region, key):
    assert findings_sync_region(region=REGION).status == "succeeded"
    real = member_finding(estate_one_region)
    before = Finding.objects.values().get(arn=real["Arn"])

    response = push(to_eventbridge_event(tampered(real)), key=key)

    assert response.status_code == 202
    assert response.json()["unchanged"] == 1
    assert Finding.objects.values().get(arn=real["Arn"]) == before


def test_a_pull_restores_the_truth_over_a_tampered_push(estate_one_region, key):
    real = member_finding(estate_one_region)
    assert push(to_eventbridge_event(tampered(real)), key=key).json()["new"] == 1
    assert Finding.objects.get(arn=real["Arn"]).archived is True

    assert findings_sync_region(region=REGION).status == "succeeded"

    stored = Finding.objects.get(arn=real["Arn"])
    assert (stored.severity, stored.archived, stored.source) == (real["Severity"], real["Service"]["Archived"], "pull")


def test_a_pull_overwrites_pushed_values_even_when_the_push_claimed_a_newer_version(estate_one_region, key, settings):
    settings.GUARDWATCH_INGEST_MAX_FUTURE_SECONDS = 10 * 365 * 86400  # as before the limit existed
    real = member_finding(estate_one_region)
    far = (timezone.now() + timedelta(days=3650)).isoformat()
    assert push(to_eventbridge_event(tampered(real, UpdatedAt=far)), key=key).status_code == 202

    assert findings_sync_region(region=REGION).status == "succeeded"

    stored = Finding.objects.get(arn=real["Arn"])
    assert stored.updated_at == datetime.fromisoformat(real["UpdatedAt"]).astimezone(UTC)
    assert (stored.severity, stored.archived, stored.source) == (real["Severity"], False, "pull")


def test_the_getfindings_confirmation_replaces_pushed_values_with_guardduty_s(estate_one_region, key, client_for):
    real = member_finding(estate_one_region)
    push(to_eventbridge_event(tampered(real)), key=key)
    page = f"/findings/{Finding.objects.get(arn=real['Arn']).pk}/"
    assert "Pushed, not yet confirmed by GuardDuty" in client_for("analyst").get(page).content.decode()

    result = findings_push_confirm(arns=[real["Arn"]])

    assert (result.asked, result.confirmed, result.calls, result.errors) == (1, 1, 1, [])
    stored = Finding.objects.get(arn=real["Arn"])
    assert (stored.severity, stored.archived, stored.source) == (real["Severity"], False, "pull")
    assert "not yet confirmed" not in client_for("analyst").get(page).content.decode()


def test_the_confirmation_asks_guardduty_for_50_ids_a_call(estate_one_region, key, settings):
    settings.GUARDWATCH_INGEST_MAX_EVENTS = 100
    events = [to_eventbridge_event(f) for f in estate_one_region.values() if f["AccountId"] in MEMBERS]
    more = [to_eventbridge_event(raw_finding(account_id=MEMBERS[1])) for _ in range(60 - len(events))]
    assert push(events + more, key=key).status_code == 202

    result = findings_push_confirm()  # the beat's sweep: every finding still holding pushed values

    assert result.asked == 60
    assert result.calls == 2  # 60 ids: 50 + 10
    assert result.confirmed == len(events)
    assert Finding.objects.filter(source="push").count() == len(more)  # not (yet) known to GuardDuty


def test_a_pushed_finding_guardduty_does_not_know_is_deleted_after_the_grace_period(simulator, key, settings):
    simulator.ensure_detector(ADMIN, REGION)
    fabricated = raw_finding()
    push(to_eventbridge_event(fabricated), key=key)

    assert findings_push_confirm(arns=[fabricated["Arn"]]).waiting == 1
    assert Finding.objects.filter(arn=fabricated["Arn"]).exists()  # maybe not visible to GetFindings yet

    later = timezone.now() + timedelta(minutes=settings.GUARDWATCH_INGEST_CONFIRM_GRACE_MINUTES + 1)
    assert findings_push_confirm(now=later).discarded == 1
    assert not Finding.objects.filter(arn=fabricated["Arn"]).exists()
    assert AuditEntry.objects.filter(verb="findings.push_discarded").exists()


# --- 2. Ingest accepts only what is consistent, a member's, in a configured region, within the key's scope -


def _mismatch(event: dict, what: str) -> None:
    detail = event["detail"]
    if what == "account":
        detail["accountId"] = MEMBERS[1]
    elif what == "id":
        detail["id"] = "f" * 32
    elif what == "detector":
        detail["service"]["detectorId"] = "e" * 32
    elif what == "partition":
        detail["partition"] = "aws-cn"
    elif what == "envelope-region":
        event["region"] = "us-west-2"
    elif what == "envelope-account":
        event["account"] = "999999999999"


@pytest.mark.parametrize(
    ("what", "words"),
    [
        ("account", "accountId 333333333333 does not match the account 222222222222 in the ARN"),
        ("id", "does not match the finding id"),
        ("detector", "service.detectorId"),
        ("partition", "partition aws-cn does not match"),
        ("envelope-region", "The event's region 'us-west-2' does not match the region us-east-1"),
        ("envelope-account", "The event's account '999999999999' is neither"),
    ],
)
def test_an_event_whose_arn_disagrees_with_its_fields_or_envelope_is_refused(simulator, key, what, words):
    event = to_eventbridge_event(raw_finding())
    _mismatch(event, what)

    response = push(event, key=key)

    assert response.status_code == 400
    assert words in response.json()["errors"][0]["reason"]
    assert Finding.objects.count() == 0


def test_an_arn_in_a_partition_its_region_is_not_in_is_refused(key):
    finding = raw_finding()
    finding["Arn"] = finding["Arn"].replace("arn:aws:", "arn:aws-cn:")
    finding["Partition"] = "aws-cn"

    response = push(to_eventbridge_event(finding), key=key)

    assert response.status_code == 400
    assert "is not in its partition aws-cn" in response.json()["errors"][0]["reason"]


def test_an_account_that_is_not_a_monitored_member_is_refused_per_event(simulator, key):
    outsider = raw_finding(account_id="444444444444")
    events = [to_eventbridge_event(raw_finding()), to_eventbridge_event(outsider)]

    response = push(events, key=key)

    assert response.status_code == 403
    assert response.json()["errors"] == [
        {"index": 1, "reason": "Account 444444444444 is not a monitored member in us-east-1, nor the administrator. "
                               "If it joined recently, the member sync will add it and the pull sync will bring its findings."}  # fmt: skip
    ]
    assert Finding.objects.count() == 0


def test_a_member_that_stopped_being_monitored_is_refused(simulator, key):
    Membership.objects.filter(account__account_id=MEMBERS[0], region=REGION).update(relationship_status="Resigned")

    response = push(to_eventbridge_event(raw_finding()), key=key)

    assert response.status_code == 403


def test_the_administrators_own_findings_are_accepted(simulator, key):
    response = push(to_eventbridge_event(raw_finding(account_id=ADMIN)), key=key)

    assert response.status_code == 202


def test_a_region_guardwatch_does_not_sync_is_refused(key, settings):
    settings.GUARDWATCH_AWS_REGIONS = ["us-west-2"]

    response = push(to_eventbridge_event(raw_finding(region="us-east-1")), key=key)

    assert response.status_code == 403
    assert response.json()["errors"][0]["reason"] == "Region us-east-1 is not one GuardWatch syncs (us-west-2)."


def test_a_key_scoped_to_regions_and_accounts_pushes_only_those(admin, members):
    _k, west_only = ingest_key_create(name="us-west-2", actor=admin, regions=["us-west-2"])
    _k, one_account = ingest_key_create(name="member 3", actor=admin, accounts=[MEMBERS[1]])

    refused = push(to_eventbridge_event(raw_finding(region="us-east-1")), key=west_only)
    assert refused.status_code == 403
    assert "This key may not push findings of account 222222222222 in us-east-1" in refused.json()["errors"][0]["reason"]
    assert push(to_eventbridge_event(raw_finding(region="us-west-2")), key=west_only).status_code == 202

    assert push(to_eventbridge_event(raw_finding(account_id=MEMBERS[0])), key=one_account).status_code == 403
    assert push(to_eventbridge_event(raw_finding(account_id=MEMBERS[1])), key=one_account).status_code == 202
    assert Finding.objects.count() == 2


def test_an_admin_scopes_a_new_key_on_the_ingest_keys_page(client_for):
    client = client_for("admin")

    page = client.get("/findings/ingest-keys/").content.decode()
    assert 'name="regions"' in page and 'name="accounts"' in page

    response = client.post(
        "/findings/ingest-keys/",
        {"name": "EU", "regions": ["eu-west-1"], "accounts": "222222222222, 333333333333"},
        follow=True,
    )

    key = IngestApiKey.objects.get(name="EU")
    assert (key.regions, key.accounts) == (["eu-west-1"], ["222222222222", "333333333333"])
    html = response.content.decode()
    assert "Regions: eu-west-1" in html and "Accounts: 222222222222, 333333333333" in html


def test_a_scope_with_a_malformed_account_id_is_refused_on_the_page(client_for):
    response = client_for("admin").post("/findings/ingest-keys/", {"name": "bad", "accounts": "12345, <b>x</b>"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "An AWS account id is exactly 12 digits; these are not: 12345, &lt;b&gt;x&lt;/b&gt;" in html
    assert not IngestApiKey.objects.filter(name="bad").exists()


def test_each_key_is_rate_limited_per_minute_with_429_and_retry_after(admin, members, settings):
    settings.GUARDWATCH_INGEST_RATE_PER_MINUTE = 2
    _k, busy = ingest_key_create(name="busy", actor=admin)
    _k, other = ingest_key_create(name="other", actor=admin)
    event = to_eventbridge_event(raw_finding())

    statuses = [push(event, key=busy).status_code for _ in range(3)]

    assert statuses[-1] == 429
    limited = push(event, key=busy)
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert "more than 2 requests this minute" in limited.json()["error"]
    assert push(event, key=other).status_code == 202  # the limit is per key


@pytest.mark.django_db(transaction=True)
def test_a_cache_outage_neither_fails_a_push_nor_loses_it(admin, members, settings, caplog):
    """Redis unreachable (a port nothing listens on): the rate limit and the confirmation marker are
    skipped with a warning; the push is stored and answered 202, and beat's sweep confirms it later."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:9/0"}}  # fmt: skip (Django reconnects on change)
    _k, secret = ingest_key_create(name="EventBridge", actor=admin)

    response = push(to_eventbridge_event(raw_finding()), key=secret)

    assert response.status_code == 202
    assert Finding.objects.filter(source="push").count() == 1
    assert "Ingest rate limit not applied" in caplog.text
    assert "Could not queue the confirmation" in caplog.text


def test_a_decoy_copying_a_real_findings_id_never_causes_a_write_back_to_it(
    estate_one_region, simulator, key, analyst, settings
):
    assert findings_sync_region(region=REGION).status == "succeeded"
    real = member_finding(estate_one_region)
    decoy = copy.deepcopy(real)
    fake_detector = "d" * 32
    decoy["AccountId"] = MEMBERS[1]
    decoy["Arn"] = f"arn:aws:guardduty:{REGION}:{MEMBERS[1]}:detector/{fake_detector}/finding/{real['Id']}"
    decoy["Service"]["DetectorId"] = fake_detector
    assert push(to_eventbridge_event(decoy), key=key).json()["new"] == 1
    stored_decoy = Finding.objects.get(arn=decoy["Arn"])

    finding_status_change(finding=stored_decoy, status="resolved", actor=analyst, reason="")
    result = writebacks_flush(now=timezone.now() + timedelta(seconds=1))

    assert (result.sent, result.waiting) == (0, 1)
    assert "Waiting for GuardDuty to confirm" in WriteBack.objects.get(finding=stored_decoy).error
    assert simulator.region_findings(REGION).get(real["Id"]).data["Service"]["Archived"] is False
    # GuardDuty answers for the real ARN, not the decoy's: the decoy is dropped with its write-back.
    later = timezone.now() + timedelta(minutes=settings.GUARDWATCH_INGEST_CONFIRM_GRACE_MINUTES + 1)
    assert findings_push_confirm(now=later).discarded == 1
    assert not WriteBack.objects.exists()
    assert writebacks_flush(now=later).sent == 0
    assert simulator.region_findings(REGION).get(real["Id"]).data["Service"]["Archived"] is False


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_push_queues_a_confirmation_and_the_celery_worker_lets_guardduty_win(
    simulator, celery_worker_process, admin
):
    from django.core.cache import cache

    from findings.push import CONFIRM_QUEUED_MARKER
    from tests.support.waiting import wait_for

    cache.delete(CONFIRM_QUEUED_MARKER)  # a sweep queued by an earlier test's push must not stand in for ours
    estate(simulator, [REGION], per_region=9)
    members_monitored([REGION])
    real = member_finding(simulated_findings(simulator, [REGION]))
    _key, secret = ingest_key_create(name="EventBridge", actor=admin)

    assert push(to_eventbridge_event(tampered(real)), key=secret).json()["new"] == 1

    stored = wait_for(lambda: Finding.objects.filter(arn=real["Arn"], source="pull").first(), timeout=30,
                      what="the worker's GetFindings confirmation")  # fmt: skip
    assert (stored.severity, stored.archived) == (real["Severity"], False)
