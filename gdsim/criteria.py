"""GuardDuty `FindingCriteria` and `SortCriteria`, evaluated against stored findings.

Criterion keys are the camelCase dotted paths GuardDuty documents (`severity`, `updatedAt`,
`service.archived`, `resource.instanceDetails.instanceId` ...). The common ones read indexed
attributes of a stored finding; any other path is walked through the finding itself, matching
each segment case-insensitively, fanning out over lists, and looking inside the JSON string of
`Service.AdditionalInfo.Value` (where `threatListName` and `sample` live).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .errors import invalid_parameter
from .records import epoch_ms

if TYPE_CHECKING:
    from .findings import StoredFinding

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")

# Criterion keys answered from a stored finding's indexed attributes.
FAST_FIELDS: dict[str, Callable[[StoredFinding], Any]] = {
    "accountId": lambda finding: finding.account_id,
    "region": lambda finding: finding.region,
    "id": lambda finding: finding.id,
    "type": lambda finding: finding.type,
    "severity": lambda finding: finding.severity,
    "updatedAt": lambda finding: finding.updated_ms,
    "createdAt": lambda finding: finding.created_ms,
    "service.archived": lambda finding: finding.archived,
    "resource.resourceType": lambda finding: finding.resource_type,
}

_EQUALITY = ("Eq", "Equals")
_INEQUALITY = ("Neq", "NotEquals")
_BOUNDS = {
    "Gt": "gt", "GreaterThan": "gt",
    "Gte": "gte", "GreaterThanOrEqual": "gte",
    "Lt": "lt", "LessThan": "lt",
    "Lte": "lte", "LessThanOrEqual": "lte",
}


def field_values(finding: StoredFinding, path: str) -> list[Any]:
    """Every value at a criterion path of a finding (empty when absent)."""
    fast = FAST_FIELDS.get(path)
    if fast is not None:
        value = fast(finding)
        return [] if value is None else [value]
    return list(_walk(finding.data, path.split(".")))


def _walk(node: Any, segments: list[str]) -> Iterable[Any]:
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, segments)
        return
    if not segments:
        if node is not None:
            yield node
        return
    if isinstance(node, str) and node.startswith("{"):
        try:
            node = json.loads(node)
        except ValueError:
            return
    if not isinstance(node, dict):
        return
    wanted = segments[0].lower()
    for key, value in node.items():
        if key.lower() == wanted:
            yield from _walk(value, segments[1:])
            return
    # AdditionalInfo keeps its details in a JSON string under "Value".
    if isinstance(node.get("Value"), str):
        yield from _walk(node["Value"], segments)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        if _ISO.match(value):
            return epoch_ms(value)
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _equals(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return str(value).lower() == wanted.lower()
    if isinstance(value, int | float):
        try:
            return float(wanted) == value
        except ValueError:
            return False
    return str(value) == wanted


MAX_CONDITION_VALUES = 50


class Criteria:
    """A compiled FindingCriteria: `matches(finding)` plus the updatedAt window it implies."""

    def __init__(self, finding_criteria: dict[str, Any] | None):
        criterion = (finding_criteria or {}).get("Criterion") or {}
        self.key = json.dumps(criterion, sort_keys=True)
        self.tests: list[Callable[[StoredFinding], bool]] = []
        self.updated_low: int | None = None
        self.updated_high: int | None = None
        for path, condition in sorted(criterion.items()):
            self._compile(path, condition)

    def _compile(self, path: str, condition: dict[str, Any]) -> None:
        if not condition:
            raise invalid_parameter(f"findingCriteria.criterion.{path}", "A condition needs at least one operator.")
        for operator, operand in condition.items():
            # botocore's guardduty model, Condition.Eq / Neq / Equals / NotEquals: "Max values: 50" (a
            # maximum botocore itself does not check; GuardDuty refuses more).
            if operator in (*_EQUALITY, *_INEQUALITY) and len(operand) > MAX_CONDITION_VALUES:
                raise invalid_parameter(
                    f"findingCriteria.criterion.{path}.{operator}",
                    f"A condition takes at most {MAX_CONDITION_VALUES} values; {len(operand)} were given.",
                )
            if operator in _EQUALITY:
                self.tests.append(_any_equal(path, list(operand)))
            elif operator in _INEQUALITY:
                self.tests.append(_none_equal(path, list(operand)))
            elif operator in _BOUNDS:
                self.tests.append(_bound(path, _BOUNDS[operator], operand))
                if path == "updatedAt":
                    self._narrow_updated(_BOUNDS[operator], operand)
            elif operator in ("Matches", "NotMatches"):
                self.tests.append(_matches(path, list(operand), negate=operator == "NotMatches"))

    def _narrow_updated(self, kind: str, bound: int) -> None:
        if kind in ("gt", "gte"):
            low = bound + 1 if kind == "gt" else bound
            self.updated_low = low if self.updated_low is None else max(self.updated_low, low)
        else:
            high = bound - 1 if kind == "lt" else bound
            self.updated_high = high if self.updated_high is None else min(self.updated_high, high)

    def matches(self, finding: StoredFinding) -> bool:
        """Whether the finding meets every condition."""
        return all(test(finding) for test in self.tests)


def _any_equal(path: str, wanted: list[str]) -> Callable[[StoredFinding], bool]:
    def test(finding: StoredFinding) -> bool:
        return any(_equals(value, item) for value in field_values(finding, path) for item in wanted)
    return test


def _none_equal(path: str, unwanted: list[str]) -> Callable[[StoredFinding], bool]:
    def test(finding: StoredFinding) -> bool:
        return not any(_equals(value, item) for value in field_values(finding, path) for item in unwanted)
    return test


def _bound(path: str, kind: str, bound: float) -> Callable[[StoredFinding], bool]:
    compare: Callable[[float], bool] = {
        "gt": lambda number: number > bound,
        "gte": lambda number: number >= bound,
        "lt": lambda number: number < bound,
        "lte": lambda number: number <= bound,
    }[kind]

    def test(finding: StoredFinding) -> bool:
        for value in field_values(finding, path):
            number = _number(value)
            if number is not None and compare(number):
                return True
        return False
    return test


def _matches(path: str, patterns: list[str], *, negate: bool) -> Callable[[StoredFinding], bool]:
    def test(finding: StoredFinding) -> bool:
        hit = any(fnmatch.fnmatchcase(str(value), pattern)
                  for value in field_values(finding, path) for pattern in patterns)
        return hit != negate
    return test


def sort_key(attribute: str) -> Callable[[StoredFinding], tuple]:
    """A key ordering findings by a criterion path; findings without the field sort last."""
    def key(finding: StoredFinding) -> tuple:
        values = field_values(finding, attribute)
        if not values:
            return (1, 0, "")
        value = values[0]
        number = _number(value) if not isinstance(value, str) or _ISO.match(value) else None
        return (0, number, "") if number is not None else (0, 0, str(value))
    return key
