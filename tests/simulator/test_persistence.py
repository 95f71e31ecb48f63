"""SQLite persistence: a restarted simulator finds the world as it left it."""

import boto3

from gdsim import SimulatorServer, SimulatorState, credentials_for

from .world import ADMIN, MEMBER, REGION, START, list_all_finding_ids


def _client(server: SimulatorServer, account_id: str):
    return boto3.client("guardduty", endpoint_url=server.endpoint_url, region_name=REGION,
                        **credentials_for(account_id))


def test_members_findings_and_archive_state_survive_a_restart(tmp_path):
    path = tmp_path / "gdsim.sqlite3"
    first = SimulatorState(seed=3, persist_path=path, strict_responses=True, now=START)
    with SimulatorServer(first) as server:
        admin = _client(server, ADMIN)
        admin_detector = admin.create_detector(Enable=True)["DetectorId"]
        admin.create_members(DetectorId=admin_detector, AccountDetails=[{"AccountId": MEMBER,
                                                                         "Email": "m@example.com"}])
        admin.invite_members(DetectorId=admin_detector, AccountIds=[MEMBER])
        first.accept_invitation(MEMBER, REGION)
        ids = first.generate_findings(MEMBER, REGION, 5)
        admin.archive_findings(DetectorId=admin_detector, FindingIds=[ids[0]])
    first.close()

    second = SimulatorState(persist_path=path, strict_responses=True)
    with SimulatorServer(second) as server:
        admin = _client(server, ADMIN)
        members = admin.list_members(DetectorId=admin_detector)["Members"]
        assert [(m["AccountId"], m["RelationshipStatus"]) for m in members] == [(MEMBER, "Enabled")]
        assert sorted(list_all_finding_ids(admin, admin_detector)) == sorted(ids)
        finding = admin.get_findings(DetectorId=admin_detector, FindingIds=[ids[0]])["Findings"][0]
        assert finding["Service"]["Archived"] is True
    second.close()
    assert second.now() == START
    assert second.errors == []


def test_reset_clears_the_saved_state(tmp_path):
    path = tmp_path / "gdsim.sqlite3"
    first = SimulatorState(persist_path=path, now=START)
    first.ensure_detector(ADMIN, REGION)
    first.generate_findings(ADMIN, REGION, 2)
    first.save()
    first.reset()
    first.close()
    reopened = SimulatorState(persist_path=path)
    assert reopened.finding_count() == 0
    reopened.close()


def test_buckets_and_malware_protection_plans_survive_a_restart(tmp_path):
    path = tmp_path / "gdsim.sqlite3"
    first = SimulatorState(seed=3, persist_path=path, strict_responses=True, now=START)
    first.register_account(MEMBER, "m@example.com")
    first.accounts[MEMBER].s3_buckets["payroll-exports"] = {"region": REGION, "tags": {"data-class": "confidential"}}
    with SimulatorServer(first) as server:
        plan_id = _client(server, MEMBER).create_malware_protection_plan(
            Role=f"arn:aws:iam::{MEMBER}:role/GuardDutyS3MalwareProtection",
            ProtectedResource={"S3Bucket": {"BucketName": "payroll-exports"}},
        )["MalwareProtectionPlanId"]
    first.close()

    second = SimulatorState(persist_path=path, strict_responses=True)
    with SimulatorServer(second) as server:
        plan = _client(server, MEMBER).get_malware_protection_plan(MalwareProtectionPlanId=plan_id)
        tags = boto3.client("s3", endpoint_url=server.endpoint_url, region_name=REGION,
                            **credentials_for(MEMBER)).get_bucket_tagging(Bucket="payroll-exports")["TagSet"]  # fmt: skip
    second.close()
    assert (plan["ProtectedResource"]["S3Bucket"]["BucketName"], plan["Status"]) == ("payroll-exports", "ACTIVE")
    assert tags == [{"Key": "data-class", "Value": "confidential"}]


def test_investigations_and_their_records_survive_a_restart(tmp_path):
    path = tmp_path / "gdsim.sqlite3"
    first = SimulatorState(seed=3, persist_path=path, strict_responses=True, now=START)
    first.investigation_seconds = 0
    with SimulatorServer(first) as server:
        admin = _client(server, ADMIN)
        admin_detector = admin.create_detector(Enable=True)["DetectorId"]
        investigation_id = admin.create_investigation(
            DetectorId=admin_detector, TriggerPrompt="Analyze findings in my organization")["InvestigationId"]
        done = admin.get_investigation(DetectorId=admin_detector, InvestigationId=investigation_id)["Investigation"]
        assert done["Status"] == "COMPLETED"
    first.close()

    second = SimulatorState(persist_path=path, strict_responses=True)
    with SimulatorServer(second) as server:
        admin = _client(server, ADMIN)
        again = admin.get_investigation(DetectorId=admin_detector, InvestigationId=investigation_id)["Investigation"]
        assert (again["Status"], again["Summary"]) == ("COMPLETED", done["Summary"])
        records = admin.list_investigation_records(DetectorId=admin_detector, InvestigationId=investigation_id)
        assert records["Records"][0]["Type"] == "UPDATE"
    second.close()
    assert second.errors == []
