"""The JSON control API under `/_sim/`, for drivers in other processes (Celery workers, the demo).

Every endpoint maps onto a `SimulatorState` method. Bodies and answers are JSON objects;
a bad request answers 400 `{"error": "..."}`. Endpoints:

    GET    /_sim/health                 {"status": "ok"|"degraded"|"error", "now", "accounts", "findings", "errors",
                                         "live"?: {"status", "running", "ticks", "failures", "last_error", ...}}
    POST   /_sim/reset                  {"seed"?}
    POST   /_sim/scenario               {"name": "demo", "seed"?}                 -> scenario summary
    GET    /_sim/clock                  -> {"now"}
    POST   /_sim/clock                  {"advance_seconds"} | {"set": ISO-8601, "frozen"?: true} -> {"now"}
    GET    /_sim/accounts               -> {"accounts": [...], "management_account_id", "delegated_admins"}
    POST   /_sim/accounts               {"accounts": [{"account_id", "email"?, "name"?, "organization"?}]}
    POST   /_sim/organization           {"management_account_id", "accounts"?: [ids]}
    POST   /_sim/detectors              {"account_id", "region", "features"?: {NAME: STATUS}} -> {"detector_id"}
    POST   /_sim/invitations/accept     {"account_id", "region", "administrator_id"?} -> {"relationship_status"}
    GET    /_sim/invitations/verification  -> {"seconds", "verifying"}
    POST   /_sim/invitations/verification  {"seconds"} -> {"seconds", "verifying"}  (email verification delay)
    GET    /_sim/investigations        -> {"seconds", "failure", "running"}
    POST   /_sim/investigations        {"seconds"?, "failure"?} -> the same  (investigation run time; "failure": new
                                         investigations end FAILED with that error, "" for none)
    POST   /_sim/members/resign         {"account_id", "region"} -> {"relationship_status"}
    GET    /_sim/findings?account_id=&region=   -> {"findings": [boto3-spelled findings]}
    POST   /_sim/findings               {"account_id", "region", "count"?, "finding_types"?, "spread_days"?,
                                         "sample"?} -> {"finding_ids": [...]}
    POST   /_sim/findings/repeat        {"region", "finding_id"} -> {"finding_id", "count", "updated_at"}
    POST   /_sim/paging                 {"tokens": "snapshot"|"offset"} -> {"tokens"}  (how ListFindings NextTokens page)
    GET    /_sim/faults                 -> {"seed", "rules": [...]}
    POST   /_sim/faults                 {"rules": [{"kind", "rate"?, "operation"?, "region"?, "account"?,
                                         "status"?, "latency_ms"?, "page"?, "repeat"?, "times"?}], "seed"?}
    DELETE /_sim/faults
    GET    /_sim/calls                  -> {"total", "by_operation", "by_operation_account_region"}
    DELETE /_sim/calls
    GET    /_sim/errors                 -> {"errors": [...]};   DELETE clears them
    GET    /_sim/outbox                 -> {"emails": [...]}   (invitation emails "sent")
    POST   /_sim/tick                   -> {"new": [...], "repeated": [...], "accepted": [...]}
    POST   /_sim/save
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .records import iso

if TYPE_CHECKING:
    from .server import Request
    from .state import SimulatorState

Endpoint = Callable[["SimulatorState", dict[str, Any]], dict[str, Any]]
_ROUTES: dict[tuple[str, str], Endpoint] = {}


class ControlError(Exception):
    """A control request that cannot be carried out (answered 400)."""


def route(method: str, path: str) -> Callable[[Endpoint], Endpoint]:
    """Register a control endpoint."""
    def register(function: Endpoint) -> Endpoint:
        _ROUTES[(method, path)] = function
        return function
    return register


def handle(state: SimulatorState, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
    """Answer one control request."""
    endpoint = _ROUTES.get((request.method, request.raw_path.rstrip("/")))
    if endpoint is None:
        return _answer(404, {"error": f"no control endpoint {request.method} {request.raw_path}"})
    try:
        payload = json.loads(request.body) if request.body.strip() else {}
        if not isinstance(payload, dict):
            raise ControlError("the body must be a JSON object")
        payload.update({key: values[0] for key, values in request.query.items()})
        state.settle_invitations()
        result = endpoint(state, payload)
        state.autosave()
    except (ControlError, KeyError, ValueError, TypeError) as error:
        return _answer(400, {"error": f"{type(error).__name__}: {error}"})
    return _answer(200, result)


def _answer(status: int, body: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "application/json")], json.dumps(body, default=_json_default).encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


@route("GET", "/_sim/health")
def health(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Liveness and a few totals; in live mode, the ticker's state under "live".

    "status" is the ticker's: "degraded" while live ticks fail, "error" once its thread has ended,
    with the last error under "live"; "ok" otherwise. The answer is 200 either way: the server
    itself is up and serving.
    """
    answer = {"status": "ok", "now": iso(state.now()), "accounts": len(state.accounts),
              "findings": state.finding_count(), "errors": len(state.errors)}
    if state.live is not None:
        live = state.live.status()
        answer["status"] = live["status"]
        answer["live"] = live
    return answer


@route("GET", "/_sim/eventbridge")
def eventbridge_target(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Where CloudTrail's events of GuardDuty write calls go, and how many were delivered or lost."""
    return state.event_target.describe()


@route("POST", "/_sim/eventbridge")
def set_eventbridge_target(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """{"url": ..., "headers": {...}}: an EventBridge API destination stand-in; an empty url stops delivery."""
    url = payload.get("url") or ""
    if url and not url.startswith(("http://", "https://")):
        raise ControlError("url must be an http(s) URL.")
    state.event_target.configure(url, payload.get("headers") or {})
    return state.event_target.describe()


@route("POST", "/_sim/cloudtrail")
def emit_cloudtrail(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Emit one CloudTrail event as if `principal_arn` had made the call (someone working outside GuardWatch):
    {"event_name", "account_id", "region", "principal_arn", "request_parameters", "source_ip"}."""
    from .cloudtrail import cloudtrail_event

    for name in ("event_name", "account_id", "region"):
        if not payload.get(name):
            raise ControlError(f"{name} is required.")
    event = cloudtrail_event(
        event_name=payload["event_name"], account_id=payload["account_id"], region=payload["region"],
        moment=state.now(), request_parameters=payload.get("request_parameters") or {},
        principal_arn=payload.get("principal_arn", ""), source_ip=payload.get("source_ip", "198.51.100.7"),
    )  # fmt: skip
    state.event_target.emit(event)
    return {"emitted": event["id"], **state.event_target.describe()}


@route("POST", "/_sim/reset")
def reset(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Forget everything."""
    state.reset(seed=payload.get("seed"))
    return {"status": "reset"}


@route("POST", "/_sim/scenario")
def scenario(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Reset and seed a named scenario."""
    return state.seed_scenario(payload.get("name", "demo"), payload.get("seed"))


@route("GET", "/_sim/clock")
def clock(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """The simulator's time."""
    return {"now": iso(state.now())}


@route("POST", "/_sim/clock")
def move_clock(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Advance or set the time."""
    if "set" in payload:
        state.set_clock(datetime.fromisoformat(payload["set"].replace("Z", "+00:00")),
                        frozen=payload.get("frozen", True))
    elif "advance_seconds" in payload:
        state.advance_clock(float(payload["advance_seconds"]))
    else:
        raise ControlError("give 'set' or 'advance_seconds'")
    return {"now": iso(state.now())}


@route("GET", "/_sim/accounts")
def accounts(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Registered accounts and the organization."""
    return {"accounts": [asdict(account) for account in sorted(state.accounts.values(),
                                                                 key=lambda account: account.account_id)],
            "management_account_id": state.management_account_id,
            "delegated_admins": dict(state.delegated_admins)}


@route("POST", "/_sim/accounts")
def register_accounts(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Register accounts with their root emails (and organization membership)."""
    for account in payload["accounts"]:
        state.register_account(account["account_id"], account.get("email"), name=account.get("name"),
                               organization=bool(account.get("organization", False)))
    return accounts(state, {})


@route("POST", "/_sim/organization")
def organization(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Create the organization."""
    state.set_organization(payload["management_account_id"], payload.get("accounts", []))
    return accounts(state, {})


@route("POST", "/_sim/detectors")
def detectors(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Ensure an account has a detector in a region."""
    return {"detector_id": state.ensure_detector(payload["account_id"], payload["region"],
                                                 features=payload.get("features"))}


@route("POST", "/_sim/invitations/accept")
def accept(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Accept an invitation on a member's behalf."""
    state.accept_invitation(payload["account_id"], payload["region"], payload.get("administrator_id"))
    administrator = state.administrator_of(payload["account_id"], payload["region"])
    return {"relationship_status": state.member_status(administrator, payload["account_id"], payload["region"])}


@route("GET", "/_sim/invitations/verification")
def verification(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """How long email verification takes, and how many are under way."""
    return {"seconds": state.email_verification_seconds, "verifying": len(state.verifying)}


@route("POST", "/_sim/invitations/verification")
def set_verification(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Set how long email verification takes for invitations sent from now on (0 to 86400 seconds)."""
    seconds = float(payload["seconds"])
    if not 0 <= seconds <= 86400:
        raise ControlError("'seconds' must be between 0 and 86400")
    state.email_verification_seconds = seconds
    return verification(state, {})


@route("GET", "/_sim/investigations")
def investigations(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """How long a GuardDuty investigation runs, the failure new ones end with, and how many are RUNNING."""
    running = sum(1 for scope in state.scopes.values() for run in scope.investigations.values()
                  if run.status == "RUNNING")
    return {"seconds": state.investigation_seconds, "failure": state.investigation_failure, "running": running}


@route("POST", "/_sim/investigations")
def set_investigations(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Set the run time (0 to 86400 seconds) and/or the failure of investigations created from now on."""
    if "seconds" in payload:
        seconds = float(payload["seconds"])
        if not 0 <= seconds <= 86400:
            raise ControlError("'seconds' must be between 0 and 86400")
        state.investigation_seconds = seconds
    if "failure" in payload:
        state.investigation_failure = str(payload["failure"])[:2048]
    return investigations(state, {})


@route("POST", "/_sim/members/resign")
def resign(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """A member disassociates itself from its administrator (which then lists it Resigned)."""
    administrator = state.administrator_of(payload["account_id"], payload["region"])
    state.resign(payload["account_id"], payload["region"])
    return {"relationship_status": state.member_status(administrator, payload["account_id"], payload["region"])
            if administrator else None}


@route("GET", "/_sim/findings")
def list_findings(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """An account's own findings in a region."""
    return {"findings": state.findings_of(payload["account_id"], payload["region"])}


@route("POST", "/_sim/findings")
def generate(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Generate findings for an account in a region."""
    spread = timedelta(days=float(payload["spread_days"])) if payload.get("spread_days") else None
    ids = state.generate_findings(payload["account_id"], payload["region"], int(payload.get("count", 1)),
                                  finding_types=payload.get("finding_types"), spread=spread,
                                  sample=bool(payload.get("sample", False)))
    return {"finding_ids": ids}


@route("POST", "/_sim/findings/repeat")
def repeat(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """A repeat occurrence of a finding."""
    finding = state.repeat_finding(payload["region"], payload["finding_id"])
    return {"finding_id": finding["Id"], "count": finding["Service"]["Count"], "updated_at": finding["UpdatedAt"]}


@route("POST", "/_sim/paging")
def paging(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Choose how ListFindings NextTokens page: a cached snapshot (default) or offsets (see findings.py)."""
    tokens = payload.get("tokens")
    if tokens not in ("snapshot", "offset"):
        raise ControlError("'tokens' must be 'snapshot' or 'offset'")
    state.listing_tokens = tokens
    return {"tokens": tokens}


@route("GET", "/_sim/faults")
def faults(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Active fault rules."""
    return state.faults.describe()


@route("POST", "/_sim/faults")
def set_faults(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Replace the fault rules."""
    state.faults.configure(payload.get("rules", []), seed=payload.get("seed"))
    return state.faults.describe()


@route("DELETE", "/_sim/faults")
def clear_faults(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Remove every fault rule."""
    state.faults.clear()
    return state.faults.describe()


@route("GET", "/_sim/calls")
def calls(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Request counts."""
    return state.call_counts.snapshot()


@route("DELETE", "/_sim/calls")
def reset_calls(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Start counting from zero."""
    state.call_counts.reset()
    return state.call_counts.snapshot()


@route("GET", "/_sim/errors")
def errors(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Internal errors and strict-mode response violations recorded so far."""
    return {"errors": list(state.errors)}


@route("DELETE", "/_sim/errors")
def clear_errors(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Forget recorded errors."""
    state.errors.clear()
    return {"errors": []}


@route("GET", "/_sim/outbox")
def outbox(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Invitation emails GuardDuty would have sent."""
    return {"emails": list(state.outbox)}


@route("POST", "/_sim/tick")
def tick(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """One live-scenario step."""
    return state.tick()


@route("POST", "/_sim/save")
def save(state: SimulatorState, payload: dict[str, Any]) -> dict[str, Any]:
    """Persist now."""
    state.save()
    return {"status": "saved" if state.persistence else "not persisted"}
