"""What a list filter and a GuardDuty suppression rule's criteria mean, in words (pure functions).

People read "severity at least 7 and below 9; type starts with Recon:EC2/", not a query string or the
FindingCriteria JSON GuardDuty stores.
"""

from __future__ import annotations

from findings import attack
from findings.models import TriageStatus
from triage.filters import ANY_SEQUENCE, STATUS_CHOICES, FindingFilters

# FindingCriteria's attribute names (GuardDuty's "Finding criteria" attributes) as people say them.
CRITERIA_FIELDS = {
    "severity": "severity",
    "type": "type",
    "accountId": "account",
    "region": "region",
    "resource.resourceType": "resource type",
    "service.action.actionType": "action",
    "service.archived": "archived",
    "id": "finding id",
}
ACTION_TYPES = {
    "NETWORK_CONNECTION": "network connection",
    "PORT_PROBE": "port probe",
    "AWS_API_CALL": "API call",
    "DNS_REQUEST": "DNS request",
    "KUBERNETES_API_CALL": "Kubernetes API call",
    "RDS_LOGIN_ATTEMPT": "RDS login",
}
# Condition operators, both spellings GuardDuty accepts (botocore's Condition shape).
_COMPARISONS = {
    "GreaterThanOrEqual": "at least", "Gte": "at least",
    "GreaterThan": "above", "Gt": "above",
    "LessThanOrEqual": "at most", "Lte": "at most",
    "LessThan": "below", "Lt": "below",
}  # fmt: skip
_OPERATORS = ["Eq", "Equals", "Neq", "NotEquals", "Matches", "NotMatches", "GreaterThanOrEqual", "Gte",
              "GreaterThan", "Gt", "LessThanOrEqual", "Lte", "LessThan", "Lt"]  # fmt: skip


def _one_of(values: list) -> str:
    shown = [str(v) for v in values]
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " or " + shown[-1]


def _value(field: str, value) -> str:
    return ACTION_TYPES.get(value, str(value)) if field == "service.action.actionType" else str(value)


def _match_words(pattern: str, *, negate: bool = False) -> str:
    """GuardDuty's `Matches` wildcards as a phrase: `Recon:*` starts with, `*Tor*` contains."""
    verbs = ("does not contain", "does not start with", "does not end with", "does not match") if negate else (
        "contains", "starts with", "ends with", "matches")  # fmt: skip
    if pattern.startswith("*") and pattern.endswith("*") and len(pattern) > 1:
        return f"{verbs[0]} {pattern[1:-1]}"
    if pattern.endswith("*"):
        return f"{verbs[1]} {pattern[:-1]}"
    if pattern.startswith("*"):
        return f"{verbs[2]} {pattern[1:]}"
    return f"{verbs[3]} {pattern}"


def criteria_words(criteria: dict) -> list[str]:
    """Each condition of a FindingCriteria ({"Criterion": {...}}) as one phrase, e.g. "severity at least 7"."""
    phrases = []
    # A stored criterion comes back from jsonb with its keys reordered: read them in a fixed order.
    fields = list(CRITERIA_FIELDS)
    criterion = (criteria or {}).get("Criterion", {})
    for field in sorted(criterion, key=lambda f: (fields.index(f) if f in fields else len(fields), f)):
        name = CRITERIA_FIELDS.get(field, field)
        parts = []
        condition = criterion[field] or {}
        for operator in sorted(condition, key=lambda o: (_OPERATORS.index(o) if o in _OPERATORS else len(_OPERATORS), o)):
            operand = condition[operator]
            values = operand if isinstance(operand, list) else [operand]
            values = [_value(field, v) for v in values]
            if operator in _COMPARISONS:
                parts.append(f"{_COMPARISONS[operator]} {_one_of(values)}")
            elif operator in ("Eq", "Equals"):
                parts.append(("is " if len(values) == 1 else "is one of ") + _one_of(values))
            elif operator in ("Neq", "NotEquals"):
                parts.append(("is not " if len(values) == 1 else "is none of ") + _one_of(values))
            elif operator == "Matches":
                parts.append(" or ".join(_match_words(v) for v in values))
            elif operator == "NotMatches":
                parts.append(" and ".join(_match_words(v, negate=True) for v in values))
            else:
                parts.append(f"{operator} {_one_of(values)}")
        phrases.append(f"{name} {' and '.join(parts)}")
    return phrases


def _number(value: float) -> str:
    return f"{value:g}"


def filter_words(filters: FindingFilters) -> list[str]:
    """The findings list's filter as phrases, e.g. ["severity high or critical", "status open"]."""
    return [phrase for _param, phrase in filter_phrases(filters)]


def filter_phrases(filters: FindingFilters) -> list[tuple[str, str]]:
    """Each active filter as (its query parameter, its phrase): what the list shows as removable chips."""
    statuses = dict(STATUS_CHOICES)
    phrases = []
    if filters.q:
        phrases.append(("q", f"text contains “{filters.q}”"))
    if filters.bands:
        phrases.append(("band", f"severity {_one_of(filters.bands)}"))
    if filters.sev_min is not None:
        phrases.append(("sev_min", f"severity at least {_number(filters.sev_min)}"))
    if filters.sev_max is not None:
        phrases.append(("sev_max", f"severity at most {_number(filters.sev_max)}"))
    for param, label, value in (
        ("type_prefix", "type starts with", filters.type_prefix),
        ("type_contains", "type contains", filters.type_contains),
        ("purpose", "threat purpose is", filters.purpose),
        ("resource_type", "resource type is", filters.resource_type),
        ("resource_id", "resource id is", filters.resource_id),
        ("action_type", "action is", ACTION_TYPES.get(filters.action_type, filters.action_type)),
        ("remote_ip", "remote IP is", filters.remote_ip),
        ("remote_country", "remote country is", filters.remote_country),
    ):
        if value:
            phrases.append((param, f"{label} {value}"))
    if filters.tactic:
        tactic = attack.TACTICS_BY_ID[filters.tactic]
        phrases.append(("tactic", f"ATT&CK tactic is {tactic.id} {tactic.name}"))
    if filters.technique:
        technique = attack.technique(filters.technique)
        name = f" {technique.name}" if technique else ""
        phrases.append(("technique", f"ATT&CK technique is {filters.technique}{name}"))
    if filters.accounts:
        phrases.append(
            ("account", f"account {'is' if len(filters.accounts) == 1 else 'is one of'} {_one_of(filters.accounts)}")
        )
    if filters.regions:
        phrases.append(
            ("region", f"region {'is' if len(filters.regions) == 1 else 'is one of'} {_one_of(filters.regions)}")
        )
    if filters.statuses:
        labels = [statuses.get(s, dict(TriageStatus.choices).get(s, s)).split(" (")[0].lower() for s in filters.statuses]
        phrases.append(("status", f"status {_one_of(labels)}"))
    if filters.assignee:
        who = {"me": "you", "none": "nobody"}.get(filters.assignee, filters.assignee)
        phrases.append(("assignee", f"assigned to {who}"))
    if filters.archived is not None:
        phrases.append(("archived", "archived" if filters.archived else "not archived"))
    if filters.sample is not None:
        phrases.append(("sample", "sample findings" if filters.sample else "not sample findings"))
    if filters.overdue:
        phrases.append(("overdue", "overdue"))
    if filters.sequence:
        phrases.append(("sequence", "in any attack sequence" if filters.sequence == ANY_SEQUENCE
                        else f"in attack sequence {filters.sequence.rsplit('/', 1)[-1]}"))
    for param, label in (
        ("first_seen_from", "first seen from"),
        ("first_seen_to", "first seen up to"),
        ("last_seen_from", "last seen from"),
        ("last_seen_to", "last seen up to"),
    ):
        value = getattr(filters, param)
        if value:
            phrases.append((param, f"{label} {value:%Y-%m-%d}"))
    return phrases
