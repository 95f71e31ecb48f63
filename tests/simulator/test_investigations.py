"""GuardDuty Investigation in the simulator: asynchronous status, records, quotas, who may call, validation.

Sources are quoted in gdsim/operations/investigations.py (botocore's guardduty model and the user guide page
"GuardDuty Investigation (Preview)").
"""

import botocore.exceptions
import pytest

from .world import ADMIN, MEMBER, REGION

SECONDS = 120


@pytest.fixture
def slow(state):
    """Investigations run SECONDS (the clock stays frozen until a test moves it)."""
    state.investigation_seconds = SECONDS
    return state


@pytest.fixture
def member_finding(state, enabled_member) -> str:
    """A finding of the enabled MEMBER in REGION."""
    return state.generate_findings(MEMBER, REGION, 1, finding_types=["Recon:EC2/PortProbeUnprotectedPort"])[0]


def _prompt(finding_id: str) -> str:
    return f"Investigate finding {finding_id} in account {MEMBER}"


def _error(excinfo) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def test_an_investigation_runs_until_its_time_has_passed_then_completes_with_a_summary(
        slow, gd_client, admin_detector, member_finding):
    admin = gd_client(ADMIN)
    investigation_id = admin.create_investigation(DetectorId=admin_detector,
                                                  TriggerPrompt=_prompt(member_finding))["InvestigationId"]

    running = admin.get_investigation(DetectorId=admin_detector, InvestigationId=investigation_id)["Investigation"]
    assert running["Status"] == "RUNNING"
    assert "Summary" not in running and "Scope" not in running
    assert admin.list_investigation_records(DetectorId=admin_detector, InvestigationId=investigation_id)["Records"] == []

    slow.advance_clock(SECONDS)
    done = admin.get_investigation(DetectorId=admin_detector, InvestigationId=investigation_id)["Investigation"]
    assert done["Status"] == "COMPLETED"
    assert done["Scope"] == {"InvestigationType": "FINDING", "FindingId": member_finding}
    assert done["Cloud"] == {"Provider": "AWS", "Region": REGION, "Account": MEMBER}
    assert "Recon:EC2/PortProbeUnprotectedPort" in done["Summary"]
    assert done["RiskLevel"] in {"Low", "Medium", "High", "Critical"}


def test_the_structured_summary_replaces_the_text_one(slow, gd_client, admin_detector, member_finding):
    admin = gd_client(ADMIN)
    investigation_id = admin.create_investigation(DetectorId=admin_detector,
                                                  TriggerPrompt=_prompt(member_finding))["InvestigationId"]
    slow.advance_clock(SECONDS)
    done = admin.get_investigation(DetectorId=admin_detector, InvestigationId=investigation_id,
                                   SummaryFormat="STRUCTURED")["Investigation"]
    assert "Summary" not in done
    assert done["SummaryData"]["FindingType"] == "Recon:EC2/PortProbeUnprotectedPort"


def test_records_page_oldest_first_and_filter_by_type(slow, gd_client, admin_detector, member_finding):
    admin = gd_client(ADMIN)
    investigation_id = admin.create_investigation(DetectorId=admin_detector,
                                                  TriggerPrompt=_prompt(member_finding))["InvestigationId"]
    slow.advance_clock(SECONDS)
    records, token, pages = [], None, 0
    while True:
        page = admin.list_investigation_records(DetectorId=admin_detector, InvestigationId=investigation_id,
                                                MaxResults=3, **({"NextToken": token} if token else {}))
        records += page["Records"]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert pages > 1
    assert [r["CreatedAt"] for r in records] == sorted(r["CreatedAt"] for r in records)
    assert records[0]["Type"] == "UPDATE" and records[-1]["Type"] == "METADATA"
    recommendations = admin.list_investigation_records(
        DetectorId=admin_detector, InvestigationId=investigation_id, RecordTypes=["OBSERVATION"])["Records"]
    assert {r["Type"] for r in recommendations} == {"OBSERVATION"}
    assert any(r["SupportingData"]["Observation"]["ObservationType"] == "RECOMMENDATION" for r in recommendations)


def test_an_unknown_finding_fails_the_investigation_with_an_error(slow, gd_client, admin_detector):
    admin = gd_client(ADMIN)
    investigation_id = admin.create_investigation(DetectorId=admin_detector,
                                                  TriggerPrompt=_prompt("0" * 32))["InvestigationId"]
    slow.advance_clock(SECONDS)
    failed = admin.get_investigation(DetectorId=admin_detector, InvestigationId=investigation_id)["Investigation"]
    assert failed["Status"] == "FAILED"
    assert "could not find finding" in failed["Error"]
    answer = admin.list_investigation_records(DetectorId=admin_detector, InvestigationId=investigation_id)
    assert answer["Records"] == [] and "NextToken" not in answer


def test_the_control_api_sets_the_run_time_and_a_failure(control, gd_client, admin_detector, member_finding):
    assert control("POST", "/_sim/investigations", {"seconds": 0, "failure": "Bedrock capacity"})[0] == 200
    admin = gd_client(ADMIN)
    investigation_id = admin.create_investigation(DetectorId=admin_detector,
                                                  TriggerPrompt=_prompt(member_finding))["InvestigationId"]
    failed = admin.get_investigation(DetectorId=admin_detector, InvestigationId=investigation_id)["Investigation"]
    assert (failed["Status"], failed["Error"]) == ("FAILED", "Bedrock capacity")
    assert control("GET", "/_sim/investigations")[1] == {"seconds": 0.0, "failure": "Bedrock capacity", "running": 0}
    assert control("POST", "/_sim/investigations", {"seconds": -1})[0] == 400


def test_ten_investigations_a_day_then_bad_request_and_a_day_later_again(slow, gd_client, admin_detector,
                                                                           member_finding):
    admin = gd_client(ADMIN)
    for _ in range(10):
        admin.create_investigation(DetectorId=admin_detector, TriggerPrompt=_prompt(member_finding))
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        admin.create_investigation(DetectorId=admin_detector, TriggerPrompt=_prompt(member_finding))
    code, message = _error(excinfo)
    assert code == "BadRequestException" and "10 investigations per day" in message
    slow.advance_clock(24 * 3600 + 1)
    assert admin.create_investigation(DetectorId=admin_detector, TriggerPrompt=_prompt(member_finding))


def test_a_hundred_investigations_in_all_then_bad_request(slow, gd_client, admin_detector, member_finding):
    admin = gd_client(ADMIN)
    for _day in range(10):
        for _ in range(10):
            admin.create_investigation(DetectorId=admin_detector, TriggerPrompt=_prompt(member_finding))
        slow.advance_clock(24 * 3600 + 1)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        admin.create_investigation(DetectorId=admin_detector, TriggerPrompt=_prompt(member_finding))
    assert "limit of 100 investigations" in _error(excinfo)[1]


def test_the_same_client_token_answers_the_same_investigation_without_counting_twice(
        slow, gd_client, admin_detector, member_finding):
    admin = gd_client(ADMIN)
    first = admin.create_investigation(DetectorId=admin_detector, TriggerPrompt=_prompt(member_finding),
                                       ClientToken="click-1")["InvestigationId"]
    again = admin.create_investigation(DetectorId=admin_detector, TriggerPrompt=_prompt(member_finding),
                                       ClientToken="click-1")["InvestigationId"]
    assert first == again
    assert len(admin.list_investigations(DetectorId=admin_detector)["Investigations"]) == 1


def test_a_member_may_not_create_an_investigation_but_reads_those_about_itself(
        slow, gd_client, admin_detector, enabled_member, member_finding):
    admin, member = gd_client(ADMIN), gd_client(MEMBER)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        member.create_investigation(DetectorId=enabled_member, TriggerPrompt=_prompt(member_finding))
    assert _error(excinfo)[0] == "AccessDeniedException"
    investigation_id = admin.create_investigation(DetectorId=admin_detector,
                                                  TriggerPrompt=_prompt(member_finding))["InvestigationId"]
    slow.advance_clock(SECONDS)
    assert member.get_investigation(DetectorId=enabled_member,
                                    InvestigationId=investigation_id)["Investigation"]["Status"] == "COMPLETED"


def test_an_unknown_investigation_is_not_found(gd_client, admin_detector):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        gd_client(ADMIN).get_investigation(DetectorId=admin_detector, InvestigationId="abc-123")
    assert _error(excinfo)[0] == "ResourceNotFoundException"


def test_a_region_without_guardduty_investigation_refuses(gd_client):
    admin = gd_client(ADMIN, "sa-east-1")
    detector = admin.create_detector(Enable=True)["DetectorId"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        admin.create_investigation(DetectorId=detector, TriggerPrompt="Analyze findings in my organization")
    assert "not available in sa-east-1" in _error(excinfo)[1]


def test_the_ai_analyst_feature_off_refuses(state, gd_client, admin_detector):
    state.scope(ADMIN, REGION).detector.features["AI_ANALYST"] = "DISABLED"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        gd_client(ADMIN).create_investigation(DetectorId=admin_detector, TriggerPrompt="Analyze findings in my organization")
    assert "AI_ANALYST" in _error(excinfo)[1]


def test_a_prompt_over_the_model_maximum_is_refused(gd_client, admin_detector):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        gd_client(ADMIN, validate=False).create_investigation(DetectorId=admin_detector, TriggerPrompt="x" * 2049)
    assert _error(excinfo)[0] == "BadRequestException"


def test_list_investigations_filters_by_status_and_finding(slow, gd_client, admin_detector, member_finding):
    admin = gd_client(ADMIN)
    done = admin.create_investigation(DetectorId=admin_detector, TriggerPrompt=_prompt(member_finding))["InvestigationId"]
    slow.advance_clock(SECONDS)
    admin.create_investigation(DetectorId=admin_detector, TriggerPrompt=f"Analyze findings in account with id {MEMBER}")
    completed = admin.list_investigations(DetectorId=admin_detector, FilterCriteria={"Criterion": {
        "STATUS": {"Equals": ["COMPLETED"]}, "FINDING_ID": {"Equals": [member_finding]}}})["Investigations"]
    assert [i["InvestigationId"] for i in completed] == [done]
    assert completed[0]["InvestigationType"] == "FINDING"
    running = admin.list_investigations(DetectorId=admin_detector, FilterCriteria={"Criterion": {
        "STATUS": {"NotEquals": ["COMPLETED"]}}})["Investigations"]
    assert [i["Status"] for i in running] == ["RUNNING"]
