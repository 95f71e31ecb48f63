"""The /_sim/ control API, as a Celery worker or the demo drives the simulator from another process."""

from .world import ADMIN, MEMBER, REGION, list_all_finding_ids


def test_health_reports_the_clock_and_totals(control):
    status, body = control("GET", "/_sim/health")
    assert status == 200
    assert body == {"status": "ok", "now": "2025-06-01T12:00:00.000Z", "accounts": 0, "findings": 0, "errors": 0}


def test_clock_advances_and_can_be_set(control):
    assert control("POST", "/_sim/clock", {"advance_seconds": 90})[1] == {"now": "2025-06-01T12:01:30.000Z"}
    assert control("POST", "/_sim/clock", {"set": "2025-07-01T00:00:00Z"})[1] == {"now": "2025-07-01T00:00:00.000Z"}


def test_registered_email_drives_email_verification(control, gd_client, admin_detector):
    control("POST", "/_sim/accounts", {"accounts": [{"account_id": MEMBER, "email": "root@example.com"}]})
    admin = gd_client(ADMIN)
    admin.create_members(DetectorId=admin_detector, AccountDetails=[{"AccountId": MEMBER, "Email": "x@example.com"}])
    admin.invite_members(DetectorId=admin_detector, AccountIds=[MEMBER])
    member = admin.get_members(DetectorId=admin_detector, AccountIds=[MEMBER])["Members"][0]
    assert member["RelationshipStatus"] == "EmailVerificationFailed"


def test_member_accepts_and_resigns_through_the_control_api(control, gd_client, admin_detector):
    admin = gd_client(ADMIN)
    admin.create_members(DetectorId=admin_detector, AccountDetails=[{"AccountId": MEMBER, "Email": "m@example.com"}])
    admin.invite_members(DetectorId=admin_detector, AccountIds=[MEMBER])
    status, body = control("POST", "/_sim/invitations/accept", {"account_id": MEMBER, "region": REGION})
    assert (status, body) == (200, {"relationship_status": "Enabled"})
    status, body = control("POST", "/_sim/members/resign", {"account_id": MEMBER, "region": REGION})
    assert (status, body) == (200, {"relationship_status": "Resigned"})
    assert list_all_finding_ids(admin, admin_detector) == []


def test_findings_are_generated_and_repeated_on_request(control, gd_client, admin_detector):
    status, body = control("POST", "/_sim/findings", {"account_id": ADMIN, "region": REGION, "count": 3,
                                                      "finding_types": ["Recon:EC2/PortProbeUnprotectedPort"]})
    assert status == 200 and len(body["finding_ids"]) == 3
    assert sorted(list_all_finding_ids(gd_client(ADMIN), admin_detector)) == sorted(body["finding_ids"])
    control("POST", "/_sim/clock", {"advance_seconds": 60})
    status, repeated = control("POST", "/_sim/findings/repeat", {"region": REGION, "finding_id": body["finding_ids"][0]})
    assert repeated["count"] > 1 and repeated["updated_at"] == "2025-06-01T12:01:00.000Z"


def test_faults_are_set_read_and_cleared(control, gd_client, admin_detector):
    control("POST", "/_sim/faults", {"seed": 1, "rules": [{"kind": "throttle", "operation": "ListDetectors"}]})
    assert control("GET", "/_sim/faults")[1]["rules"][0]["operation"] == "ListDetectors"
    client = gd_client(ADMIN)
    try:
        client.list_detectors()
        throttled = False
    except client.exceptions.ClientError:
        throttled = True
    assert throttled
    control("DELETE", "/_sim/faults")
    assert client.list_detectors()["DetectorIds"] == [admin_detector]


def test_call_counts_are_read_and_reset(control, gd_client, admin_detector):
    gd_client(ADMIN).list_detectors()
    counts = control("GET", "/_sim/calls")[1]
    assert counts["by_operation"]["ListDetectors"] == 1
    assert {"operation": "ListDetectors", "account": ADMIN, "region": REGION, "count": 1} in \
        counts["by_operation_account_region"]
    assert control("DELETE", "/_sim/calls")[1]["total"] == 0


def test_reset_forgets_everything(control, state, admin_detector):
    state.member_account_limit = 1
    control("POST", "/_sim/reset")
    assert state.detector_id(ADMIN, REGION) is None
    assert state.member_account_limit == 50_000  # GuardDuty's limit, restored for the next test


def test_demo_scenario_is_seeded_on_request(control, state):
    status, summary = control("POST", "/_sim/scenario", {"name": "demo", "seed": 5})
    assert status == 200
    assert summary["findings"] == state.finding_count() > 1000


def test_a_bad_control_request_is_a_400_with_the_reason(control):
    status, body = control("POST", "/_sim/findings", {"region": REGION})
    assert status == 400 and "account_id" in body["error"]


def test_an_unknown_control_endpoint_is_a_404(control):
    assert control("GET", "/_sim/nothing-here")[0] == 404


def test_reset_keeps_the_clock_unless_asked_to_let_it_run_at_real_time(simulator):
    from datetime import UTC, datetime, timedelta

    state = simulator.state
    state.set_clock(datetime(2020, 1, 1, tzinfo=UTC))
    state.reset()
    assert state.now() == datetime(2020, 1, 1, tzinfo=UTC)  # scenarios are built at the time set before them
    state.reset(clock=True)
    assert not state.clock_frozen
    assert abs(state.now() - datetime.now(UTC)) < timedelta(seconds=5)
