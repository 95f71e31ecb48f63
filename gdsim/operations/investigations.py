"""GuardDuty Investigation (preview): CreateInvestigation, GetInvestigation, ListInvestigations, ListInvestigationRecords.

Sources, quoted where a behaviour is modelled (botocore's guardduty service-2.json, the API reference pages
API_CreateInvestigation / API_GetInvestigation / API_ListInvestigationRecords / API_ListInvestigations, and
the user guide page "GuardDuty Investigation (Preview)",
https://docs.aws.amazon.com/guardduty/latest/ug/guardduty-investigation.html):

- Asynchronous: CreateInvestigation answers 202 with an id; the status is "RUNNING, COMPLETED, and FAILED"
  (Investigation.Status). The simulator keeps an investigation RUNNING for `state.investigation_seconds`
  (AWS gives no duration; the user guide: "in minutes"), then settles it when it is next read.
- "During the preview, you can initiate up to 10 investigations per account per day, with a total limit of
  100 investigations per account." The docs do not say whether "day" is a calendar day nor whether the limit
  is per Region; the simulator counts the last 24 hours and every Region of the account (the stricter reading).
  The documented errors of CreateInvestigation are BadRequestException, InternalServerErrorException and
  AccessDeniedException: a quota refusal is a BadRequestException (its message is the simulator's own; AWS
  publishes none).
- "Only the administrator account can create an investigation. Member accounts don't have permission to
  create investigations from their accounts." -> AccessDeniedException (403) for a member.
- "To use this operation, the AI_ANALYST feature must be enabled on your detector." The default is not
  documented; the simulator treats the feature as on unless the detector's features say DISABLED.
- Available only in "US East (N. Virginia), US East (Ohio), US West (Oregon), Canada (Central), Europe
  (Frankfurt), Europe (Ireland), Europe (London), Europe (Paris), Europe (Stockholm), and Asia Pacific
  (Tokyo)"; elsewhere the simulator answers BadRequestException (AWS documents no error for it).
- TriggerPrompt examples: "Investigate finding 1ab2c3d4e5f6a7b8c9d0e1f2a3b4c5d6 in account 123456789012",
  "Analyze findings in account with id 123456789012", "Analyze findings in my organization"; the user guide:
  finding analysis takes "the finding ID (32-character hexadecimal)", account analysis "the 12-digit AWS
  account ID", organization analysis "analyzes up to 100 accounts". The simulator reads the prompt that way.
- GetInvestigation: "GuardDuty returns the results, including the summary and the scope of the investigation,
  only when the investigation status is COMPLETED"; SummaryFormat STRING (default: Summary) or STRUCTURED
  (SummaryData). "An administrator account can retrieve any investigation within the organization. Member
  accounts can only retrieve investigations that belong to them." Unknown id -> ResourceNotFoundException.
- ListInvestigationRecords: "Records are returned only when the status is COMPLETED. If the status is RUNNING
  or FAILED, the response contains an empty list of records and no NextToken"; "in the order that GuardDuty
  created them, oldest first"; MaxResults "1 to 50. The default value is 20."
- ListInvestigations: filter by STATUS, RISK_LEVEL, CONFIDENCE, FINDING_ID, INVESTIGATION_TYPE with Equals /
  NotEquals ("An investigation that has no value for the attribute also matches" NotEquals); sort by
  START_TIME, END_TIME, STATUS, RISK_LEVEL, CONFIDENCE; MaxResults default 50. InvestigationType and FindingId
  are set "when the investigation completes".
- ClientToken is the "idempotency token for the create request": the same token from the same account and
  Region answers the same investigation (and is not counted again).
- Pricing: the preview pages name no price; nothing to model.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from ..errors import BadRequest, SimulatorError
from ..findings import paginate
from ..records import InvestigationRun, iso, parse_iso
from .registry import Context, handles

DAILY_LIMIT = 10
TOTAL_LIMIT = 100
ORGANIZATION_ACCOUNT_LIMIT = 100
REGIONS = frozenset({"us-east-1", "us-east-2", "us-west-2", "ca-central-1", "eu-central-1", "eu-west-1",
                     "eu-west-2", "eu-west-3", "eu-north-1", "ap-northeast-1"})
_FINDING_ID = re.compile(r"\b([0-9a-f]{32})\b")
_ACCOUNT_ID = re.compile(r"\b(\d{12})\b")
_RISK_ORDER = {"Info": 0, "Low": 1, "Medium": 2, "High": 3, "Critical": 4}
_CONFIDENCE_ORDER = {"Unknown": 0, "Low": 1, "Medium": 2, "High": 3}


def _access_denied(message: str) -> SimulatorError:
    return SimulatorError(message, status=403, code="AccessDeniedException", error_type="AccessDeniedException")


def _not_found(investigation_id: str) -> SimulatorError:
    return SimulatorError(f"The request is rejected because the investigation {investigation_id} does not exist.",
                          status=404, code="ResourceNotFoundException", error_type="ResourceNotFoundException")


def _available(context: Context) -> None:
    if context.region not in REGIONS:
        raise BadRequest(f"The request is rejected because GuardDuty Investigation is not available in {context.region}.")


def _runs_of(context: Context, account_id: str) -> list[InvestigationRun]:
    """Every investigation the account started, in every Region."""
    return [run for (owner, _region), scope in context.state.scopes.items() if owner == account_id
            for run in scope.investigations.values()]


@handles("CreateInvestigation")
def create_investigation(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Start an investigation (RUNNING); quotas, administrator-only and AI_ANALYST as the module docstring cites."""
    _available(context)
    detector = context.detector(params["DetectorId"])
    if context.state.administrator_of(context.account_id, context.region) is not None:
        raise _access_denied("The request is rejected because a member account cannot create an investigation; "
                             "only the administrator account can.")
    if detector.features.get("AI_ANALYST") == "DISABLED":
        raise BadRequest("The request is rejected because the AI_ANALYST feature is not enabled on the detector.")
    token = params.get("ClientToken") or ""
    scope = context.scope
    if token:
        for run in scope.investigations.values():
            if run.client_token == token:
                return {"InvestigationId": run.investigation_id}
    now = context.state.now()
    runs = _runs_of(context, context.account_id)
    if len(runs) >= TOTAL_LIMIT:
        raise BadRequest(f"The request is rejected because the account has reached the preview limit of {TOTAL_LIMIT} "
                         "investigations.")
    day_ago = now - timedelta(days=1)
    if sum(1 for run in runs if parse_iso(run.started_at) > day_ago) >= DAILY_LIMIT:
        raise BadRequest(f"The request is rejected because the account has reached the preview limit of {DAILY_LIMIT} "
                         "investigations per day.")
    run = InvestigationRun(
        investigation_id=str(uuid.UUID(int=context.state.rng.getrandbits(128), version=4)),
        prompt=params["TriggerPrompt"], triggered_by=context.account_id, region=context.region,
        started_at=iso(now), due=iso(now + timedelta(seconds=context.state.investigation_seconds)),
        client_token=token, forced_failure=context.state.investigation_failure)
    scope.investigations[run.investigation_id] = run
    return {"InvestigationId": run.investigation_id}


def _visible(context: Context) -> list[InvestigationRun]:
    """An administrator sees the investigations it started here; a member, those about its own account."""
    administrator = context.state.administrator_of(context.account_id, context.region)
    if administrator is None:
        runs = list(context.scope.investigations.values())
    else:
        owner = context.state.scopes.get((administrator, context.region))
        runs = list(owner.investigations.values()) if owner else []
    for run in runs:
        _settle(context, run)
    if administrator is not None:  # the analysed account is known once the investigation has ended
        runs = [run for run in runs if run.account_id == context.account_id]
    return runs


def _run(context: Context, investigation_id: str) -> InvestigationRun:
    for run in _visible(context):
        if run.investigation_id == investigation_id:
            return run
    raise _not_found(investigation_id)


def _settle(context: Context, run: InvestigationRun) -> None:
    """End a RUNNING investigation whose time has come: COMPLETED with its result, or FAILED."""
    if run.status != "RUNNING" or parse_iso(run.due) > context.state.now():
        return
    run.ended_at = run.due
    if run.forced_failure:
        run.status, run.error = "FAILED", run.forced_failure
        return
    try:
        run.result = _analyse(context, run)
    except _Unanswerable as error:
        run.status, run.error = "FAILED", str(error)
        return
    run.status = "COMPLETED"


class _Unanswerable(Exception):
    """The prompt names nothing GuardDuty can investigate (the simulator fails the investigation)."""


def _analyse(context: Context, run: InvestigationRun) -> dict[str, Any]:
    """The result of an investigation, read from the prompt (see the module docstring) and the findings now."""
    state = context.state
    visible = state.visible_accounts(run.triggered_by, run.region)
    finding_match = _FINDING_ID.search(run.prompt.lower())
    account_match = _ACCOUNT_ID.search(run.prompt)
    store = state.region_findings(run.region)
    if finding_match:
        stored = store.get(finding_match.group(1))
        if stored is None or stored.account_id not in visible:
            raise _Unanswerable(f"GuardDuty could not find finding {finding_match.group(1)} in the accounts "
                                "this administrator manages in this Region.")
        run.kind, run.finding_id, run.account_id = "FINDING", stored.id, stored.account_id
        return _finding_result(context, run, stored.data)
    if account_match and "organization" not in run.prompt.lower():
        account_id = account_match.group(1)
        if account_id not in visible:
            raise _Unanswerable(f"GuardDuty could not analyze account {account_id}: it is not this administrator's "
                                "account or one of its members in this Region.")
        run.kind, run.account_id = "ACCOUNT", account_id
        return _accounts_result(context, run, [account_id])
    if "organization" in run.prompt.lower():
        run.kind, run.account_id = "ORGANIZATION", run.triggered_by
        return _accounts_result(context, run, sorted(visible)[:ORGANIZATION_ACCOUNT_LIMIT])
    raise _Unanswerable("GuardDuty could not tell what to investigate from the prompt: name a finding ID, an "
                        "account ID or your organization.")


def _risk(severity: float) -> str:
    """GuardDuty's severity bands (Critical 9-10, High 7-8.9, Medium 4-6.9, Low 1-3.9) as a risk level."""
    if severity >= 9:
        return "Critical"
    if severity >= 7:
        return "High"
    if severity >= 4:
        return "Medium"
    return "Low"


def _record(run: InvestigationRun, number: int, kind: str, title: str, narrative: str = "",
            supporting: dict[str, Any] | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"RecordId": f"{run.investigation_id[:8]}-{number:04d}", "Type": kind, "Title": title,
                              "CreatedAt": iso(parse_iso(run.started_at) + timedelta(seconds=number))}
    if narrative:
        record["Narrative"] = narrative
    if supporting:
        record["SupportingData"] = supporting
    return record


def _remote_ip(data: dict[str, Any]) -> str:
    action = (data.get("Service") or {}).get("Action") or {}
    for key in ("AwsApiCallAction", "NetworkConnectionAction", "PortProbeAction", "KubernetesApiCallAction"):
        detail = action.get(key) or {}
        address = (detail.get("RemoteIpDetails") or {}).get("IpAddressV4")
        if address:
            return address
        for probe in detail.get("PortProbeDetails") or []:
            address = (probe.get("RemoteIpDetails") or {}).get("IpAddressV4")
            if address:
                return address
    return ""


def _finding_result(context: Context, run: InvestigationRun, data: dict[str, Any]) -> dict[str, Any]:
    severity = float(data.get("Severity") or 0)
    finding_type = str(data.get("Type") or "")
    resource_type = str((data.get("Resource") or {}).get("ResourceType") or "resource")
    risk = _risk(severity)
    store = context.state.region_findings(run.region)
    related = sorted(stored.id for stored in store.by_id.values()
                     if stored.account_id == run.account_id and stored.id != run.finding_id
                     and stored.resource_type == data.get("Resource", {}).get("ResourceType"))[:50]
    address = _remote_ip(data)
    records = [
        _record(run, 1, "UPDATE", "Investigation requested", run.prompt),
        _record(run, 2, "FETCH", f"Retrieved finding {run.finding_id}", "",
                {"Fetch": {"FetchType": "FINDINGS", "Query": {"FindingId": run.finding_id, "AccountId": run.account_id},
                           "Result": {"ItemIds": [run.finding_id], "TotalCount": 1}}}),
        _record(run, 3, "OBSERVATION", f"{finding_type} on a {resource_type}",
                f"Severity {severity:g} finding in account {run.account_id} ({run.region}).",
                {"Observation": {"ObservationType": "FINDING_DETAIL", "FindingDetail": {
                    "FindingId": run.finding_id, "FindingType": finding_type, "Severity": f"{severity:g}",
                    "AccountId": run.account_id, "Region": run.region}}}),
        _record(run, 4, "FETCH", f"Retrieved the documentation of {finding_type}", "",
                {"Fetch": {"FetchType": "FINDING_TYPE_DOCUMENTATION", "Query": {"FindingType": finding_type}}}),
        _record(run, 5, "FETCH", f"Retrieved {len(related)} related findings on the same kind of resource", "",
                {"Fetch": {"FetchType": "FINDINGS", "Query": {"AccountId": run.account_id},
                           "Result": {"ItemIds": related, "TotalCount": len(related)}}}),
    ]
    indicators = []
    if address:
        indicators = [{"Value": address, "Type": "IP"}]
        records.append(_record(run, 6, "FETCH", f"Checked the reputation of {address}", "",
                               {"Fetch": {"FetchType": "REPUTATION",
                                          "Query": {"Indicator": address, "IndicatorType": "IP"},
                                          "Result": {"Verdict": "THREAT" if severity >= 7 else "NEUTRAL"}}}))
    assessment = (f"The {finding_type} activity on this {resource_type} is consistent with the finding type; "
                  f"{len(related)} other finding(s) on {resource_type} resources in the account corroborate it."
                  if related else
                  f"The {finding_type} activity on this {resource_type} is isolated: no other finding on such "
                  "resources in the account.")
    records.append(_record(run, 7, "ANALYSIS", "Threat assessment", assessment,
                           {"Analysis": {"AnalysisType": "THREAT_ASSESSMENT", "ThreatAssessment": {
                               "ThreatConfidence": "HIGH" if related else "MEDIUM",
                               "Classification": risk, "Assessment": assessment}, "Indicators": indicators}}))
    recommendations = [
        {"Title": f"Contain the affected {resource_type}", "Rationale": f"Severity {severity:g} {risk} risk.",
         "Category": "FURTHER_INVESTIGATION", "Priority": "IMMEDIATE" if severity >= 7 else "SHORT_TERM",
         "CliCommands": [f"aws guardduty get-findings --detector-id <detector-id> --finding-ids {run.finding_id} "
                         f"--region {run.region}"]},
        {"Title": "Review CloudTrail activity of the principal", "Rationale": "Confirm whether the activity was expected.",
         "Category": "MONITORING", "Priority": "SHORT_TERM", "CliCommands": []},
    ]
    records.append(_record(run, 8, "OBSERVATION", "Recommended actions", "",
                           {"Observation": {"ObservationType": "RECOMMENDATION", "Recommendations": recommendations}}))
    records.append(_record(run, 9, "UPDATE", "Investigation completed"))
    records.append(_record(run, 10, "METADATA", "Investigation metadata", "",
                           {"Metadata": {"TotalTimeMilliseconds": int(context.state.investigation_seconds * 1000)}}))
    summary = (f"{risk} risk: {finding_type} in account {run.account_id} ({run.region}). {assessment} "
               f"Recommended next steps: {recommendations[0]['Title']}; {recommendations[1]['Title']}.")
    return {"Title": f"{finding_type} in {run.account_id}", "RiskLevel": risk,
            "Risk": f"{risk} risk from {finding_type}", "Confidence": "High" if related else "Medium",
            "Summary": summary, "Recommendations": recommendations, "Records": records,
            "FindingType": finding_type}


def _accounts_result(context: Context, run: InvestigationRun, accounts: list[str]) -> dict[str, Any]:
    store = context.state.region_findings(run.region)
    findings = [stored for stored in store.by_id.values() if stored.account_id in accounts]
    top = max((stored.severity for stored in findings), default=0.0)
    risk = _risk(top) if findings else "Info"
    detector_id = context.state.detector_id(run.triggered_by, run.region) or ""
    what = f"account {accounts[0]}" if run.kind == "ACCOUNT" else f"{len(accounts)} accounts of the organization"
    recommendations = [{"Title": "Triage the highest-severity findings first",
                        "Rationale": f"{len(findings)} findings, highest severity {top:g}.",
                        "Category": "FURTHER_INVESTIGATION", "Priority": "SHORT_TERM", "CliCommands": []}]
    records = [
        _record(run, 1, "UPDATE", "Investigation requested", run.prompt),
        _record(run, 2, "FETCH", f"Retrieved the findings of {what}", "",
                {"Fetch": {"FetchType": "FINDINGS", "Result": {"ItemIds": sorted(s.id for s in findings)[:50],
                                                              "TotalCount": len(findings)}}}),
        _record(run, 3, "OBSERVATION", f"Overview of {what}", "",
                {"Observation": {"ObservationType": "ACCOUNT_OVERVIEW", "AccountOverview": {
                    "AccountId": accounts[0] if run.kind == "ACCOUNT" else run.triggered_by, "Region": run.region,
                    "DetectorId": detector_id, "TotalFindings": len(findings),
                    "AffectedAccountCount": len({s.account_id for s in findings})}}}),
        _record(run, 4, "OBSERVATION", "Recommended actions", "",
                {"Observation": {"ObservationType": "RECOMMENDATION", "Recommendations": recommendations}}),
        _record(run, 5, "UPDATE", "Investigation completed"),
    ]
    summary = f"{risk} risk: {len(findings)} findings in {what} ({run.region}), highest severity {top:g}."
    return {"Title": f"Threat posture of {what}", "RiskLevel": risk, "Risk": f"{risk} risk across {what}",
            "Confidence": "Medium", "Summary": summary, "Recommendations": recommendations, "Records": records,
            "Accounts": accounts}


def _investigation_view(run: InvestigationRun, summary_format: str) -> dict[str, Any]:
    view: dict[str, Any] = {
        "InvestigationId": run.investigation_id, "Status": run.status, "TriggerPrompt": run.prompt,
        "TriggeredBy": run.triggered_by,
        "Metadata": {"Version": "preview", "Product": {"Name": "GuardDuty", "Feature": "AI_ANALYST"}},
        "StartTime": parse_iso(run.started_at),
    }
    if run.ended_at:
        view["EndTime"] = parse_iso(run.ended_at)
    if run.status == "FAILED":
        view["Error"] = run.error
    if run.status != "COMPLETED":
        return view
    result = run.result
    view.update({"Cloud": {"Provider": "AWS", "Region": run.region, "Account": run.account_id},
                 "RiskLevel": result["RiskLevel"], "Risk": result["Risk"], "Confidence": result["Confidence"]})
    scope: dict[str, Any] = {"InvestigationType": run.kind}
    if run.kind == "FINDING":
        scope["FindingId"] = run.finding_id
    elif run.kind == "ACCOUNT":
        scope["AccountId"] = run.account_id
    else:
        scope["AdminAccountId"] = run.triggered_by
    if run.kind != "FINDING":
        scope["QueryTimeWindow"] = {"StartTime": parse_iso(run.started_at) - timedelta(days=90),
                                    "EndTime": parse_iso(run.started_at)}
    view["Scope"] = scope
    if summary_format == "STRUCTURED":
        data: dict[str, Any] = {"KeyObservations": {"Title": result["Title"], "Narrative": result["Summary"]}}
        if run.kind == "FINDING":
            data["FindingType"] = result["FindingType"]
        else:
            data["Recommendations"] = result["Recommendations"]
        view["SummaryData"] = data
    else:
        view["Summary"] = result["Summary"]
    return view


@handles("GetInvestigation")
def get_investigation(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """One investigation: its status, and its results once COMPLETED."""
    _available(context)
    context.detector(params["DetectorId"])
    run = _run(context, params["InvestigationId"])
    return {"Investigation": _investigation_view(run, params.get("SummaryFormat", "STRING"))}


@handles("ListInvestigationRecords")
def list_investigation_records(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The reasoning steps of a COMPLETED investigation, oldest first, 20 a page by default."""
    _available(context)
    context.detector(params["DetectorId"])
    run = _run(context, params["InvestigationId"])
    answer: dict[str, Any] = {"InvestigationId": run.investigation_id, "Status": run.status, "Records": []}
    if run.status != "COMPLETED":
        return answer
    types = set(params.get("RecordTypes") or ())
    records = [record for record in run.result["Records"] if not types or record["Type"] in types]
    page, token = paginate(records, params.get("MaxResults"), params.get("NextToken"), default=20,
                           scope=f"records:{run.investigation_id}:{','.join(sorted(types))}")
    answer["Records"] = [{**record, "CreatedAt": parse_iso(record["CreatedAt"])} for record in page]
    if token:
        answer["NextToken"] = token
    return answer


def _attribute(run: InvestigationRun, key: str) -> str | None:
    result = run.result if run.status == "COMPLETED" else {}
    return {"STATUS": run.status, "RISK_LEVEL": result.get("RiskLevel"), "CONFIDENCE": result.get("Confidence"),
            "FINDING_ID": run.finding_id or None, "INVESTIGATION_TYPE": run.kind or None}[key]


def _matches(run: InvestigationRun, criterion: dict[str, Any]) -> bool:
    for key, condition in criterion.items():
        if not condition.get("Equals") and not condition.get("NotEquals"):
            raise BadRequest("The request is rejected because a filter condition must name Equals or NotEquals values.")
        value = _attribute(run, key)
        if condition.get("Equals") and value not in condition["Equals"]:
            return False
        if condition.get("NotEquals") and value is not None and value in condition["NotEquals"]:
            return False
    return True


def _sort_key(run: InvestigationRun, attribute: str) -> tuple:
    result = run.result if run.status == "COMPLETED" else {}
    return {
        "START_TIME": (run.started_at,),
        "END_TIME": (run.ended_at or "",),
        "STATUS": (run.status,),
        "RISK_LEVEL": (_RISK_ORDER.get(result.get("RiskLevel", ""), -1),),
        "CONFIDENCE": (_CONFIDENCE_ORDER.get(result.get("Confidence", ""), -1),),
    }[attribute] + (run.started_at, run.investigation_id)


@handles("ListInvestigations")
def list_investigations(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Investigations filtered and sorted as asked (newest first when no sort is given: AWS does not say)."""
    _available(context)
    context.detector(params["DetectorId"])
    criterion = (params.get("FilterCriteria") or {}).get("Criterion") or {}
    runs = [run for run in _visible(context) if _matches(run, criterion)]
    sort = params.get("SortCriteria") or {}
    attribute = sort.get("AttributeName", "START_TIME")
    descending = sort.get("OrderBy", "DESC" if not sort else "ASC") == "DESC"
    runs.sort(key=lambda run: _sort_key(run, attribute), reverse=descending)
    page, token = paginate(runs, params.get("MaxResults"), params.get("NextToken"), default=50, scope="investigations")
    summaries = []
    for run in page:
        summary: dict[str, Any] = {"InvestigationId": run.investigation_id, "Status": run.status,
                                   "TriggerPrompt": run.prompt, "AccountId": run.triggered_by,
                                   "StartTime": parse_iso(run.started_at)}
        if run.ended_at:
            summary["EndTime"] = parse_iso(run.ended_at)
        if run.status == "COMPLETED":
            summary.update({"RiskLevel": run.result["RiskLevel"], "Confidence": run.result["Confidence"],
                            "Title": run.result["Title"], "InvestigationType": run.kind})
            if run.kind == "FINDING":
                summary["FindingId"] = run.finding_id
            if run.kind == "ORGANIZATION":
                summary["AdminAccountId"] = run.triggered_by
        summaries.append(summary)
    answer: dict[str, Any] = {"Investigations": summaries}
    if token:
        answer["NextToken"] = token
    return answer
