"""An attack-sequence finding's details, read from its raw GuardDuty JSON: a pure function, no database.

GuardDuty Extended Threat Detection puts them in `Service.Detection.Sequence` (botocore guardduty model,
shapes Detection, Sequence, Signal, Actor, ResourceV2, NetworkEndpoint, Indicator): the signals it
correlated (findings or activities, each with first and last seen, count, the resources, actors and
endpoints it involved by id), the actors, resources and endpoints those ids name, and indicators, among
them the MITRE ATT&CK tactics (`ATTACK_TACTIC`: "the value will be one of the MITRE tactics", Security Hub
API reference, Indicator) and techniques (`ATTACK_TECHNIQUE`). Either key spelling is read (boto3's
PascalCase, EventBridge's camelCase), timestamps as ISO text or epoch seconds. Every string here comes
from the finding, so possibly from an attacker: templates escape it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from triage.detail import dig

# The model's maxima (Sequence.Signals 100, Actors/Resources/Endpoints/Indicators 400): read no more.
_SIGNALS_MAX = 100
_ITEMS_MAX = 400
FINDING_SIGNAL = "FINDING"
TACTIC, TECHNIQUE = "ATTACK_TACTIC", "ATTACK_TECHNIQUE"


@dataclass(frozen=True)
class SequenceSignal:
    """One signal on the timeline: what was seen, when, how often, by whom, against what."""

    uid: str
    type: str
    name: str
    description: str
    first_seen: datetime | None
    last_seen: datetime | None
    count: int | None
    severity: float | None
    apis: list[str]
    resources: list[str]
    actors: list[str]
    endpoints: list[str]
    indicators: list[str]

    @property
    def is_finding(self) -> bool:
        return self.type == FINDING_SIGNAL


@dataclass(frozen=True)
class AttackSequence:
    """What the sequence page shows (see the module docstring)."""

    uid: str
    description: str
    signals: list[SequenceSignal]
    actors: list[dict[str, str]]
    resources: list[dict[str, str]]
    endpoints: list[dict[str, str]]
    tactics: list[str]
    techniques: list[str]
    indicators: list[tuple[str, str]] = field(default_factory=list)  # (title or key, values) of the others

    @property
    def finding_uids(self) -> list[str]:
        """Uids of the signals that are findings (their ARN or id)."""
        return [signal.uid for signal in self.signals if signal.is_finding and signal.uid]


def _get(node: Any, name: str) -> Any:
    """A key in either spelling (PascalCase or camelCase)."""
    if not isinstance(node, dict):
        return None
    if name in node:
        return node[name]
    return node.get(name[:1].lower() + name[1:])


def _text(value: Any) -> str:
    if value is None or isinstance(value, (dict, list, bool)):
        return ""
    return str(value)


def _texts(value: Any) -> list[str]:
    return [text for text in (_text(item) for item in value[:_ITEMS_MAX]) if text] if isinstance(value, list) else []


def _dicts(value: Any, limit: int = _ITEMS_MAX) -> list[dict]:
    return [item for item in value[:limit] if isinstance(item, dict)] if isinstance(value, list) else []


def _moment(value: Any) -> datetime | None:
    """ISO-8601 text (stored JSON), a datetime (boto3's own) or epoch seconds (GuardDuty's JSON); else None."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _number(value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return kind(value)


def _indicator_values(indicators: list[dict], key: str) -> list[str]:
    values: list[str] = []
    for indicator in indicators:
        if _get(indicator, "Key") == key:
            values.extend(value for value in _texts(_get(indicator, "Values")) if value not in values)
    return values


def _actor(actor: dict) -> dict[str, str]:
    user = _get(actor, "User") or {}
    session = _get(actor, "Session") or {}
    process = _get(actor, "Process") or {}
    return {
        "id": _text(_get(actor, "Id")),
        "name": _text(_get(user, "Name")),
        "type": _text(_get(user, "Type")),
        "uid": _text(_get(user, "Uid")),
        "credential": _text(_get(user, "CredentialUid")),
        "account": _text(_get(_get(user, "Account"), "Uid")),
        "mfa": _text(_get(session, "MfaStatus")),
        "process": _text(_get(process, "Name") or _get(process, "Path")),
    }


def _resource(resource: dict) -> dict[str, str]:
    return {
        "uid": _text(_get(resource, "Uid")),
        "name": _text(_get(resource, "Name")),
        "type": _text(_get(resource, "ResourceType")),
        "account": _text(_get(resource, "AccountId")),
        "region": _text(_get(resource, "Region")),
        "service": _text(_get(resource, "Service")),
    }


def _endpoint(endpoint: dict) -> dict[str, str]:
    location = _get(endpoint, "Location") or {}
    system = _get(endpoint, "AutonomousSystem") or {}
    place = ", ".join(text for text in (_text(_get(location, "City")), _text(_get(location, "Country"))) if text)
    asn = _text(_get(system, "Number"))
    return {
        "id": _text(_get(endpoint, "Id")),
        "address": _text(_get(endpoint, "Ip")) or _text(_get(endpoint, "Domain")),
        "port": _text(_get(endpoint, "Port")),
        "place": place,
        "network": " ".join(text for text in (f"AS{asn}" if asn else "", _text(_get(system, "Name"))) if text),
        "direction": _text(_get(_get(endpoint, "Connection"), "Direction")),
    }


def _label(names: dict[str, str], ids: list[str]) -> list[str]:
    """Ids as the sequence names them (an actor's user name, a resource's name), else the id itself."""
    return [names.get(item) or item for item in ids]


def attack_sequence(raw: Any) -> AttackSequence | None:
    """The sequence in a finding's raw JSON, or None when it has none (not an attack-sequence finding)."""
    sequence = dig(raw, "Service", "Detection", "Sequence")
    if not isinstance(sequence, dict):
        return None
    actors = [_actor(item) for item in _dicts(_get(sequence, "Actors"))]
    resources = [_resource(item) for item in _dicts(_get(sequence, "Resources"))]
    endpoints = [_endpoint(item) for item in _dicts(_get(sequence, "Endpoints"))]
    actor_names = {actor["id"]: actor["name"] for actor in actors if actor["id"] and actor["name"]}
    resource_names = {item["uid"]: item["name"] for item in resources if item["uid"] and item["name"]}
    endpoint_names = {item["id"]: item["address"] for item in endpoints if item["id"] and item["address"]}
    signals = []
    for signal in _dicts(_get(sequence, "Signals"), _SIGNALS_MAX):
        apis = [_text(_get(_get(activity, "Api"), "Operation")) for activity in _dicts(_get(signal, "Activities"))]
        signals.append(SequenceSignal(
            uid=_text(_get(signal, "Uid")),
            type=_text(_get(signal, "Type")),
            name=_text(_get(signal, "Name")),
            description=_text(_get(signal, "Description")),
            first_seen=_moment(_get(signal, "FirstSeenAt")),
            last_seen=_moment(_get(signal, "LastSeenAt")),
            count=_number(_get(signal, "Count"), int),
            severity=_number(_get(signal, "Severity"), float),
            apis=[api for api in apis if api],
            resources=_label(resource_names, _texts(_get(signal, "ResourceUids"))),
            actors=_label(actor_names, _texts(_get(signal, "ActorIds"))),
            endpoints=_label(endpoint_names, _texts(_get(signal, "EndpointIds"))),
            indicators=[f"{_text(_get(item, 'Title')) or _text(_get(item, 'Key'))}: {', '.join(_texts(_get(item, 'Values')))}"
                        for item in _dicts(_get(signal, "SignalIndicators"))],
        ))
    # The timeline in time order; a signal without a first-seen time goes last, in the order GuardDuty gave.
    far = datetime.max.replace(tzinfo=UTC)
    signals.sort(key=lambda signal: (signal.first_seen or far, signal.last_seen or far))
    indicators = _dicts(_get(sequence, "SequenceIndicators"))
    others = [(_text(_get(item, "Title")) or _text(_get(item, "Key")), ", ".join(_texts(_get(item, "Values"))))
              for item in indicators if _get(item, "Key") not in (TACTIC, TECHNIQUE)]
    return AttackSequence(
        uid=_text(_get(sequence, "Uid")),
        description=_text(_get(sequence, "Description")),
        signals=signals,
        actors=actors,
        resources=resources,
        endpoints=endpoints,
        tactics=_indicator_values(indicators, TACTIC),
        techniques=_indicator_values(indicators, TECHNIQUE),
        indicators=others,
    )


def finding_api(raw: Any) -> str:
    """The API a stored finding saw called (Service.Action.AwsApiCallAction.Api, or the Kubernetes verb and
    URI), for a FINDING signal's row: the signal itself names only the finding's type."""
    api = dig(raw, "Service", "Action", "AwsApiCallAction", "Api")
    if api:
        return _text(api)
    kubernetes = dig(raw, "Service", "Action", "KubernetesApiCallAction")
    return " ".join(text for text in (_text(_get(kubernetes, "Verb")), _text(_get(kubernetes, "RequestUri"))) if text)
