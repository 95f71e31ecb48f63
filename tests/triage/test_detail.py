"""The finding detail page: what the finding says, safely rendered, and the link to the console."""

from __future__ import annotations

import random
import re

import pytest

from findings.models import Finding
from tests.findings.factories import raw_finding
from tests.triage.support import store

pytestmark = pytest.mark.django_db

# Types whose attacker-controlled strings are user agents, domains and process command lines.
HOSTILE_TYPES = (
    "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",  # API call, user agent
    "Backdoor:EC2/C&CActivity.B!DNS",  # DNS request, domain
    "CryptoCurrency:Runtime/BitcoinTool.B",  # runtime process, command line
    "Discovery:Kubernetes/SuccessfulAnonymousAccess",  # Kubernetes API call, user agent
)


@pytest.fixture
def hostile_findings():
    from gdsim.catalogue import FINDING_TYPES

    rng = random.Random(3)
    types = [t for t in HOSTILE_TYPES if t in FINDING_TYPES]
    assert len(types) >= 3
    raws = [plant(raw_finding(rng, finding_type=t, hostile=True)) for t in types]
    return store(raws)


SCRIPT = "<script>alert(1)</script>"
JS = "javascript:alert(1)"


def plant(raw: dict) -> dict:
    """Make sure each attacker-controlled field carries a payload (the catalogue picks them at random)."""
    service = raw["Service"]
    action = service.get("Action") or {}
    if "AwsApiCallAction" in action:
        action["AwsApiCallAction"]["UserAgent"] = SCRIPT
        action["AwsApiCallAction"].setdefault("DomainDetails", {})["Domain"] = JS
    if "KubernetesApiCallAction" in action:
        action["KubernetesApiCallAction"]["UserAgent"] = SCRIPT
        action["KubernetesApiCallAction"]["RequestUri"] = JS
    if "DnsRequestAction" in action:
        action["DnsRequestAction"]["Domain"] = JS
    runtime = service.get("RuntimeDetails")
    if runtime:
        runtime.setdefault("Process", {})["Name"] = SCRIPT
        runtime.setdefault("Context", {})["CommandLineExample"] = f"/bin/sh -c '{SCRIPT}' {JS}"
    raw["Title"] = f"{SCRIPT} {raw['Title']}"
    return raw


def assert_escaped(html: str) -> None:
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x onerror" not in html
    assert "<svg onload" not in html
    assert not re.search(r"""href\s*=\s*["']?\s*javascript:""", html, re.I)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_hostile_strings_come_out_escaped_on_the_list(client_for, hostile_findings):
    html = client_for("analyst").get("/findings/?size=200").content.decode()
    assert_escaped(html)


def test_hostile_user_agents_domains_and_command_lines_come_out_escaped_on_the_detail_page(
    client_for, hostile_findings
):
    client = client_for("analyst")
    for finding in hostile_findings:
        assert SCRIPT in str(finding.raw)
        html = client.get(f"/findings/{finding.pk}/").content.decode()
        assert_escaped(html)


def test_the_detail_page_explains_the_type_and_shows_the_actor(client_for):
    finding = store([raw_finding(random.Random(5), finding_type="Recon:EC2/PortProbeUnprotectedPort")])[0]
    html = client_for("manager").get(f"/findings/{finding.pk}/").content.decode()
    assert "reconnaissance before an attack" in html
    assert finding.remote_ip in html
    assert "PortProbeDetails" in html
    assert "<details><summary>Raw finding (JSON)</summary>" in html
    assert "<svg" in html and "style=" not in html


@pytest.mark.parametrize(
    ("finding_type", "explained"),
    [
        ("PenTest:IAMUser/KaliLinux", "penetration testing"),  # GuardDuty spells it PenTest
        ("Object:S3/MaliciousFile", "malicious object"),  # Malware Protection for S3
    ],
)
def test_threat_purposes_are_explained_as_guardduty_spells_them(client_for, finding_type, explained):
    finding = store([raw_finding(random.Random(5), finding_type=finding_type)])[0]
    assert finding.threat_purpose == finding_type.split(":")[0]
    assert explained in client_for("manager").get(f"/findings/{finding.pk}/").content.decode()


def test_the_console_link_points_at_the_finding_in_its_region(client_for):
    finding = store([raw_finding(random.Random(6), region="eu-west-1")])[0]
    html = client_for("analyst").get(f"/findings/{finding.pk}/").content.decode()
    expected = f"https://eu-west-1.console.aws.amazon.com/guardduty/home?region=eu-west-1#/findings?fId={finding.finding_id}"
    assert f'href="{expected.replace("&", "&amp;")}"' in html


def test_no_console_link_for_a_region_that_is_not_a_region_name(client_for):
    finding = store([raw_finding(random.Random(7))])[0]
    Finding.objects.filter(pk=finding.pk).update(region="us-east-1.attacker.example.com/x")
    html = client_for("analyst").get(f"/findings/{finding.pk}/").content.decode()
    assert "console.aws.amazon.com" not in html


def test_an_unknown_finding_is_a_404(client_for):
    assert client_for("analyst").get("/findings/999999/").status_code == 404
