"""EventBridge pushes findings to POST /ingest/eventbridge/ with an API key."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from findings.models import Finding, FindingOccurrence, IngestApiKey
from findings.services import ingest_key_create, ingest_key_revoke
from gdsim.catalogue import to_eventbridge_event

from .factories import MEMBER, raw_finding, raw_findings, repeated

pytestmark = pytest.mark.django_db

URL = "/ingest/eventbridge/"


@pytest.fixture(autouse=True)
def member():
    """The factories' findings belong to member 222222222222, monitored in us-east-1."""
    from accounts.models import MONITORED, MemberAccount, Membership

    account = MemberAccount.objects.create(account_id=MEMBER, email="root+member@example.com")
    Membership.objects.create(account=account, region="us-east-1", relationship_status=MONITORED)


@pytest.fixture
def api_key(admin):
    _key, secret = ingest_key_create(name="EventBridge us-east-1", actor=admin)
    return secret


def push(body, *, key=None, header="X-GuardWatch-Key", content_type="application/json"):
    headers = {}
    if key is not None:
        headers = {header: key} if header != "Authorization" else {"Authorization": f"Bearer {key}"}
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return Client().post(URL, data=data, content_type=content_type, headers=headers)


def test_the_ingest_url_is_the_documented_one():
    assert reverse("ingest_eventbridge") == URL


def test_eventbridge_pushes_one_finding_and_gets_202(api_key):
    finding = raw_finding()

    response = push(to_eventbridge_event(finding), key=api_key)

    assert response.status_code == 202
    assert response.json() == {"received": 1, "new": 1, "updated": 0, "unchanged": 0}
    stored = Finding.objects.get(arn=finding["Arn"])
    assert stored.source == "push"
    assert stored.count == finding["Service"]["Count"]


def test_a_push_is_noted_on_its_regions_sync_state(api_key):
    from findings.models import SyncState

    response = push([to_eventbridge_event(f) for f in raw_findings(3)], key=api_key)

    assert response.status_code == 202
    state = SyncState.objects.get(region="us-east-1")
    assert state.last_push_at is not None and state.pushed_findings == 3


def test_a_batch_array_of_events_is_stored_together(api_key):
    events = [to_eventbridge_event(f) for f in raw_findings(30)]

    response = push(events, key=api_key)

    assert response.status_code == 202
    assert response.json()["new"] == 30
    assert Finding.objects.count() == 30


def test_the_key_may_come_as_a_bearer_token(api_key):
    response = push(to_eventbridge_event(raw_finding()), key=api_key, header="Authorization")

    assert response.status_code == 202


def test_no_key_is_401_with_a_reason_and_nothing_stored():
    response = push(to_eventbridge_event(raw_finding()))

    assert response.status_code == 401
    assert "X-GuardWatch-Key" in response.json()["error"]
    assert Finding.objects.count() == 0


def test_a_wrong_key_is_401(api_key):
    forged = api_key[:-4] + ("AAAA" if not api_key.endswith("AAAA") else "BBBB")

    response = push(to_eventbridge_event(raw_finding()), key=forged)

    assert response.status_code == 401
    assert Finding.objects.count() == 0


def test_a_revoked_key_is_refused(admin, api_key):
    ingest_key_revoke(key=IngestApiKey.objects.get(), actor=admin)

    response = push(to_eventbridge_event(raw_finding()), key=api_key)

    assert response.status_code == 401
    assert response.json()["error"] == "Invalid or revoked API key."


def test_the_key_is_stored_only_as_a_hash(api_key):
    key = IngestApiKey.objects.get()
    assert api_key not in {key.secret_hash, key.prefix, key.name}
    assert len(key.secret_hash) == 64
    assert api_key.startswith(f"gw_{key.prefix}_")


def test_using_a_key_records_when_it_was_last_used(api_key):
    push(to_eventbridge_event(raw_finding()), key=api_key)

    assert IngestApiKey.objects.get().last_used_at is not None


def test_a_batch_with_one_invalid_event_is_rejected_whole_with_per_index_reasons(api_key):
    events = [to_eventbridge_event(f) for f in raw_findings(3)]
    events[1]["source"] = "aws.securityhub"
    events[2]["detail"]["accountId"] = "12345678"  # 8 digits

    response = push(events, key=api_key)

    assert response.status_code == 400
    body = response.json()
    assert [e["index"] for e in body["errors"]] == [1, 2]
    assert "source" in body["errors"][0]["reason"]
    assert "accountId" in body["errors"][1]["reason"]
    assert Finding.objects.count() == 0


def test_wrong_detail_type_is_rejected(api_key):
    event = to_eventbridge_event(raw_finding())
    event["detail-type"] = "GuardDuty Malware Protection Object Scan Result"

    response = push(event, key=api_key)

    assert response.status_code == 400
    assert "detail-type" in response.json()["errors"][0]["reason"]


def test_malformed_json_is_400(api_key):
    response = push(b"{not json", key=api_key)

    assert response.status_code == 400
    assert response.json()["error"] == "Body is not valid JSON."


def test_a_body_that_is_not_json_content_is_415(api_key):
    response = push(b"a=1", key=api_key, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415


def test_an_oversized_body_is_413_and_nothing_stored(api_key, settings):
    settings.GUARDWATCH_INGEST_MAX_BYTES = 2048
    event = to_eventbridge_event(raw_finding())
    event["detail"]["description"] = "x" * 4096

    response = push(event, key=api_key)

    assert response.status_code == 413
    assert "2048 bytes" in response.json()["error"]
    assert Finding.objects.count() == 0


def test_too_many_events_in_one_request_is_413(api_key, settings):
    settings.GUARDWATCH_INGEST_MAX_EVENTS = 5
    events = [to_eventbridge_event(f) for f in raw_findings(6)]

    response = push(events, key=api_key)

    assert response.status_code == 413
    assert Finding.objects.count() == 0


def test_an_older_push_never_overwrites_a_newer_finding(api_key):
    first = raw_finding()
    later = repeated(first)
    push(to_eventbridge_event(later), key=api_key)

    response = push(to_eventbridge_event(first), key=api_key)

    assert response.json() == {"received": 1, "new": 0, "updated": 0, "unchanged": 1}
    assert Finding.objects.get().count == later["Service"]["Count"]
    assert FindingOccurrence.objects.count() == 1


def test_a_newer_push_updates_and_records_an_occurrence(api_key):
    first = raw_finding()
    push(to_eventbridge_event(first), key=api_key)

    response = push(to_eventbridge_event(repeated(first)), key=api_key)

    assert response.json()["updated"] == 1
    assert FindingOccurrence.objects.count() == 2


def test_get_is_not_allowed(api_key):
    response = Client().get(URL, headers={"X-GuardWatch-Key": api_key})

    assert response.status_code == 405


def test_push_and_pull_spellings_store_the_same_fields(api_key):
    """The camelCase event and the PascalCase GetFindings answer normalise to the same row."""
    from findings.parsing import parse_finding
    from findings.upsert import findings_upsert

    finding = raw_finding()
    push(to_eventbridge_event(finding), key=api_key)
    pushed = Finding.objects.values().get()
    Finding.objects.all().delete()
    findings_upsert(findings=[parse_finding(finding)], source="pull")
    pulled = Finding.objects.values().get()

    ignore = {"id", "raw", "source", "first_synced_at", "last_synced_at"}
    assert {k: v for k, v in pushed.items() if k not in ignore} == {k: v for k, v in pulled.items() if k not in ignore}
