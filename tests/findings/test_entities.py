"""What each finding is about: the entities `findings.entities.finding_entities` reads, in either key spelling,
and the `FindingEntity` rows the upsert keeps in step with the stored finding."""

from __future__ import annotations

import copy
import random
from datetime import timedelta

import pytest
from django.db import connection

from findings.entities import finding_entities
from findings.entity_backfill import entities_backfill
from findings.models import Finding, FindingEntity
from findings.parsing import parse_finding
from findings.services import findings_retention_purge
from findings.upsert import findings_upsert
from gdsim.catalogue import FINDING_TYPES, to_camel_case

from .factories import NOW, parsed, raw_finding, repeated

BASE = raw_finding(random.Random(4), finding_type="Recon:EC2/PortProbeUnprotectedPort")


def _with(resource: dict | None = None, action: dict | None = None, sequence: dict | None = None) -> dict:
    """A real finding whose Resource / Service.Action / Detection.Sequence are replaced by the given blocks."""
    raw = copy.deepcopy(BASE)
    raw["Resource"] = {"ResourceType": "Other", **(resource or {})}
    raw["Service"].pop("Action", None)
    if action:
        raw["Service"]["Action"] = action
    if sequence:
        raw["Service"]["Detection"] = {"Sequence": sequence}
    return raw


def _remote(ip: str) -> dict:
    return {"RemoteIpDetails": {"IpAddressV4": ip}}


CASES = {
    "an API caller's IP and its access key, principal and user": (
        _with({"AccessKeyDetails": {"AccessKeyId": "AKIAEXAMPLEKEY000001", "PrincipalId": "AIDAEXAMPLEPRINCIPAL1",
                                    "UserName": "alice.admin", "UserType": "IAMUser"}},
              {"ActionType": "AWS_API_CALL", "AwsApiCallAction": {"Api": "ListBuckets", **_remote("198.51.100.7")}}),
        {("access_key", "AKIAEXAMPLEKEY000001"), ("principal", "AIDAEXAMPLEPRINCIPAL1"), ("user", "alice.admin"),
         ("ip", "198.51.100.7")},
    ),
    "an instance and the peer of its network connection": (
        _with({"InstanceDetails": {"InstanceId": "i-0123456789abcdef0"}},
              {"ActionType": "NETWORK_CONNECTION", "NetworkConnectionAction": _remote("203.0.113.9")}),
        {("instance", "i-0123456789abcdef0"), ("ip", "203.0.113.9")},
    ),
    "every prober of a port probe, IPv6 written canonically": (
        _with({"InstanceDetails": {"InstanceId": "i-0aaaaaaaaaaaaaaa1"}},
              {"ActionType": "PORT_PROBE", "PortProbeAction": {"PortProbeDetails": [
                  _remote("198.51.100.1"), {"RemoteIpDetails": {"IpAddressV6": "2001:DB8:0:0::1"}}]}}),
        {("instance", "i-0aaaaaaaaaaaaaaa1"), ("ip", "198.51.100.1"), ("ip", "2001:db8::1")},
    ),
    "every bucket of an S3 finding": (
        _with({"S3BucketDetails": [{"Name": "payroll-exports"}, {"Name": "logs.example.com"}]}),
        {("bucket", "payroll-exports"), ("bucket", "logs.example.com")},
    ),
    "an EKS cluster and the caller of its Kubernetes API": (
        _with({"EksClusterDetails": {"Name": "prod-eks"}},
              {"ActionType": "KUBERNETES_API_CALL", "KubernetesApiCallAction": _remote("198.51.100.44")}),
        {("eks_cluster", "prod-eks"), ("ip", "198.51.100.44")},
    ),
    "an ECS cluster and its task's containers": (
        _with({"EcsClusterDetails": {"Name": "web", "TaskDetails": {"Containers": [{"Name": "nginx"}]}},
               "ContainerDetails": {"Id": "c0ffee", "Name": "app"}}),
        {("ecs_cluster", "web"), ("container", "c0ffee"), ("container", "nginx")},
    ),
    "a queried domain, lowercased without its root dot": (
        _with(action={"ActionType": "DNS_REQUEST", "DnsRequestAction": {"Domain": "Pool.Miner.Example."}}),
        {("domain", "pool.miner.example")},
    ),
    "an attack sequence's actors, resources and endpoints": (
        _with(sequence={
            "Actors": [{"Id": "a", "User": {"Name": "ci-deployer", "Uid": "AROAEXAMPLEROLE00001:s",
                                            "CredentialUid": "ASIAEXAMPLEKEY000002"}}],
            "Resources": [{"Uid": "i-0bbbbbbbbbbbbbbb2", "ResourceType": "EC2_INSTANCE"},
                          {"Uid": "arn:aws:s3:::loot", "Name": "loot", "ResourceType": "S3_BUCKET"}],
            "Endpoints": [{"Id": "e", "Ip": "203.0.113.200", "Domain": "c2.example"}],
        }),
        {("user", "ci-deployer"), ("principal", "AROAEXAMPLEROLE00001:s"), ("access_key", "ASIAEXAMPLEKEY000002"),
         ("instance", "i-0bbbbbbbbbbbbbbb2"), ("bucket", "loot"), ("ip", "203.0.113.200"), ("domain", "c2.example")},
    ),
}


@pytest.mark.parametrize("spelling", ["boto3 PascalCase", "GuardDuty JSON camelCase"])
@pytest.mark.parametrize("case", list(CASES))
def test_each_kind_of_entity_is_read_from_either_spelling(case, spelling):
    raw, expected = CASES[case]
    if spelling.startswith("GuardDuty"):
        raw = to_camel_case(raw)
    assert set(finding_entities(raw)) == expected
    assert set(parse_finding(raw).entities) == expected


def test_hostile_values_are_skipped_not_refused():
    raw = _with({"AccessKeyDetails": {"AccessKeyId": "A" * 300, "UserName": "nul\x00byte"},
                 "S3BucketDetails": "not a list", "InstanceDetails": {"InstanceId": 42}},
                {"ActionType": "NETWORK_CONNECTION", "NetworkConnectionAction": _remote("not-an-ip")})
    assert finding_entities(raw) == ()


@pytest.mark.parametrize("finding_type", sorted(FINDING_TYPES))
def test_every_catalogue_type_names_the_same_entities_in_both_spellings(finding_type):
    raw = raw_finding(random.Random(9), finding_type=finding_type)
    assert finding_entities(raw) == finding_entities(to_camel_case(raw))


# --- Kept in step with the stored finding ----------------------------------------------------------------


def _rows(finding_id: int) -> set[tuple[str, str]]:
    return set(FindingEntity.objects.filter(finding_id=finding_id).values_list("kind", "value"))


@pytest.mark.django_db
def test_a_stored_finding_has_its_entities_with_its_account_region_and_times():
    raw = raw_finding(random.Random(5), finding_type="Discovery:IAMUser/AnomalousBehavior")
    findings_upsert(findings=[parsed(raw)], source="pull")
    finding = Finding.objects.get(arn=raw["Arn"])
    assert _rows(finding.pk) == set(finding_entities(raw)) != set()
    row = FindingEntity.objects.filter(finding=finding).first()
    assert (row.account_id, row.region, row.first_seen, row.last_seen) == (
        finding.account_id, finding.region, finding.first_seen, finding.last_seen)


@pytest.mark.django_db
def test_a_newer_version_replaces_the_entities_and_an_older_one_does_not():
    raw = _with({"InstanceDetails": {"InstanceId": "i-0ccccccccccccccc3"}},
                {"ActionType": "NETWORK_CONNECTION", "NetworkConnectionAction": _remote("198.51.100.1")})
    findings_upsert(findings=[parsed(raw)], source="pull")
    finding = Finding.objects.get(arn=raw["Arn"])
    newer = repeated(raw, minutes=30)
    newer["Service"]["Action"]["NetworkConnectionAction"]["RemoteIpDetails"]["IpAddressV4"] = "198.51.100.2"
    findings_upsert(findings=[parsed(newer)], source="pull")
    assert _rows(finding.pk) == {("instance", "i-0ccccccccccccccc3"), ("ip", "198.51.100.2")}
    finding.refresh_from_db()
    kept = FindingEntity.objects.get(finding=finding, kind="instance")
    assert kept.last_seen == finding.last_seen  # the times follow the version
    findings_upsert(findings=[parsed(raw)], source="pull")  # the older version again: ignored
    assert _rows(finding.pk) == {("instance", "i-0ccccccccccccccc3"), ("ip", "198.51.100.2")}


@pytest.mark.django_db
def test_the_portable_write_path_keeps_entities_in_step_too(monkeypatch):
    from findings import upsert

    monkeypatch.setattr(upsert, "_upsert_postgres", upsert._upsert_portable)
    raw = _with({"InstanceDetails": {"InstanceId": "i-0ddddddddddddddd4"}})
    findings_upsert(findings=[parsed(raw)], source="pull")
    newer = repeated(raw, minutes=5)
    newer["Resource"]["InstanceDetails"]["InstanceId"] = "i-0eeeeeeeeeeeeeee5"
    findings_upsert(findings=[parsed(newer)], source="pull")
    assert _rows(Finding.objects.get(arn=raw["Arn"]).pk) == {("instance", "i-0eeeeeeeeeeeeeee5")}


@pytest.mark.django_db
def test_retention_deletes_a_finding_with_its_entities(settings):
    settings.GUARDWATCH_FINDINGS_RETENTION_DAYS = 30
    old = raw_finding(random.Random(6), now=NOW - timedelta(days=400))
    findings_upsert(findings=[parsed(old)], source="pull")
    finding_id = Finding.objects.get(arn=old["Arn"]).pk
    assert _rows(finding_id)
    assert findings_retention_purge(now=NOW) == 1
    assert not FindingEntity.objects.filter(finding_id=finding_id).exists()


@pytest.mark.django_db(transaction=True)
def test_the_backfill_fills_findings_stored_without_entities_and_can_run_again():
    raws = [raw_finding(random.Random(n), finding_type=t) for n, t in enumerate(
        ("Recon:EC2/PortProbeUnprotectedPort", "Discovery:IAMUser/AnomalousBehavior"))]
    findings_upsert(findings=[parsed(r) for r in raws], source="pull")
    expected = set(FindingEntity.objects.values_list("finding_id", "kind", "value"))
    FindingEntity.objects.all().delete()  # as stored before 0017
    written = entities_backfill(connection=connection)
    assert set(FindingEntity.objects.values_list("finding_id", "kind", "value")) == expected
    assert written == len(expected)
    assert entities_backfill(connection=connection) == 0


@pytest.mark.django_db(transaction=True)
def test_the_backfill_command_reports_what_it_wrote():
    from io import StringIO

    from django.core.management import call_command

    findings_upsert(findings=[parsed(raw_finding(random.Random(3)))], source="pull")
    rows = FindingEntity.objects.count()
    FindingEntity.objects.all().delete()
    out = StringIO()
    call_command("findings_entities_backfill", stdout=out)
    assert out.getvalue().strip() == f"{rows:,} entity rows written."
    assert FindingEntity.objects.count() == rows
