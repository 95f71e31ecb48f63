"""GuardDuty's REST-JSON wire protocol, driven entirely by botocore's service model.

Three jobs, each a walk over the model's shapes:
- routing: every operation's `http.method` + `http.requestUri` template becomes a regex;
- requests: uri/querystring/header/body members are read by their `locationName`, turned into
  the member-named dict boto3 users write (`{"AccountIds": [...]}`) and validated like the service
  does: required members, types, enums, lengths, ranges, patterns, plus the limits GuardDuty
  enforces without the model saying so (`EXTRA_LIMITS`, `EXTRA_PATTERNS`);
- responses: member-named dicts are checked against the output shape (`validate_output`) and
  written back with wire names (`encode_output`).

Kept in one module (~520 lines) on purpose: the three walks share the compiled shape plans and their
recursion, and each is only readable next to the others.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from .errors import BadRequest, invalid_parameter

# Limits GuardDuty enforces that botocore's model does not encode (shape name -> (min, max)).
# The model gives FindingIds 0..50; the service rejects an empty list.
EXTRA_LIMITS: dict[str, tuple[int | None, int | None]] = {
    "FindingIds": (1, 50),
    "AccountIds": (1, 50),
    "AccountDetails": (1, 50),
    "FindingTypes": (None, 50),
}
# Formats the model leaves to prose (shape name -> regex the whole value must match).
EXTRA_PATTERNS: dict[str, str] = {
    "AccountId": r"\d{12}",
    "Email": r"[^@\s]+@[^@\s]+",
    # CreateFilterRequest.Name: "Valid characters include period (.), underscore (_), dash (-), and
    # alphanumeric characters. A whitespace is considered to be an invalid character."
    "FilterName": r"[A-Za-z0-9_.\-]+",
}
_INT_RANGE = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


@functools.cache
def service_model(name: str = "guardduty") -> ServiceModel:
    """botocore's model of an AWS service (loaded once per process)."""
    return botocore.session.get_session().get_service_model(name)


def _label(name: str) -> str:
    """How a parameter is named in error messages: lowerCamel, as GuardDuty's messages do."""
    return name[:1].lower() + name[1:]


# --------------------------------------------------------------------------------------------
# Routing


@dataclass(frozen=True)
class Route:
    """One operation's method and compiled requestUri template."""

    operation: OperationModel
    method: str
    pattern: re.Pattern[str]
    literal_segments: int


class Router:
    """Finds the operation for an HTTP method and raw (still percent-encoded) path."""

    def __init__(self, model: ServiceModel):
        routes = []
        for name in model.operation_names:
            operation = model.operation_model(name)
            method = operation.http["method"].upper()
            template = operation.http["requestUri"].split("?", 1)[0]
            routes.append(Route(operation, method, self._compile(template), template.count("/") - template.count("{")))
        # More literal segments first, so a fixed path never loses to a template that also matches.
        self.routes = sorted(routes, key=lambda route: -route.literal_segments)

    @staticmethod
    def _compile(template: str) -> re.Pattern[str]:
        parts = []
        for piece in re.split(r"(\{[^}]+\})", template):
            if piece.startswith("{"):
                name = piece[1:-1]
                if name.endswith("+"):
                    parts.append(f"(?P<{name[:-1]}>.+)")
                else:
                    parts.append(f"(?P<{name}>[^/]+)")
            else:
                parts.append(re.escape(piece))
        return re.compile("^" + "".join(parts) + "/?$")

    def match(self, method: str, raw_path: str) -> tuple[OperationModel, dict[str, str]] | None:
        """The operation and its decoded path parameters, or None."""
        for route in self.routes:
            if route.method != method:
                continue
            found = route.pattern.match(raw_path)
            if found:
                return route.operation, {key: unquote(value) for key, value in found.groupdict().items()}
        return None


# --------------------------------------------------------------------------------------------
# Shape plans
#
# botocore builds new Shape objects on every `members` access, which makes walking a finding
# through the model slow (~1 ms). A Plan is the same information, compiled once per shape.


@dataclass(eq=False)
class PlanMember:
    """A structure member: its name, wire name, location and the plan of its shape."""

    name: str
    wire: str
    location: str | None
    plan: Plan


@dataclass(eq=False)
class Plan:
    """What the walks need to know about one shape."""

    name: str
    kind: str
    members: dict[str, PlanMember] = field(default_factory=dict)
    by_wire: dict[str, PlanMember] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    item: Plan | None = None
    key: Plan | None = None
    value: Plan | None = None
    enum: frozenset[str] = frozenset()
    low: float | None = None
    high: float | None = None
    pattern: re.Pattern[str] | None = None


_PLANS: dict[tuple[str, str], Plan] = {}
_PLANS_LOCK = threading.Lock()


def plan_for(shape: Shape, service: str) -> Plan:
    """The compiled plan of a shape (built once per process)."""
    cache_key = (service, shape.name)
    found = _PLANS.get(cache_key)
    if found is not None:
        return found
    with _PLANS_LOCK:
        return _build_plan(shape, service)


def _build_plan(shape: Shape, service: str) -> Plan:
    cache_key = (service, shape.name)
    if cache_key in _PLANS:
        return _PLANS[cache_key]
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if shape.type_name in ("list", "map", "string"):
        extra_low, extra_high = EXTRA_LIMITS.get(shape.name, (None, None)) if service == "guardduty" else (None, None)
        low = extra_low if extra_low is not None else low
        high = extra_high if extra_high is not None else high
    plan = Plan(name=shape.name, kind=shape.type_name, low=low, high=high,
                enum=frozenset(getattr(shape, "enum", None) or ()),
                pattern=_pattern(shape, service) if shape.type_name == "string" else None)
    # Stored before the children are built, so recursive shapes resolve to it.
    _PLANS[cache_key] = plan
    if shape.type_name == "structure":
        plan.required = tuple(shape.required_members)
        for name, member in shape.members.items():
            planned = PlanMember(name=name, wire=member.serialization.get("name", name),
                                 location=member.serialization.get("location"), plan=_build_plan(member, service))
            plan.members[name] = planned
            if planned.location is None:
                plan.by_wire[planned.wire] = planned
    elif shape.type_name == "list":
        plan.item = _build_plan(shape.member, service)
    elif shape.type_name == "map":
        plan.key = _build_plan(shape.key, service)
        plan.value = _build_plan(shape.value, service)
    return plan


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:  # a Java-only construct: the service checks it, we cannot
        return None


def _pattern(shape: Shape, service: str) -> re.Pattern[str] | None:
    if service == "guardduty" and shape.name in EXTRA_PATTERNS:
        return _compiled(EXTRA_PATTERNS[shape.name])
    model_pattern = shape.metadata.get("pattern")
    if model_pattern is None:
        return None
    return _compiled(model_pattern.removeprefix("^").removesuffix("$"))


# --------------------------------------------------------------------------------------------
# Requests


def parse_request(operation: OperationModel, path_params: dict[str, str], query: dict[str, list[str]],
                  headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The request as boto3 callers spell it (member names), validated like GuardDuty does.

    Raises BadRequest naming the offending parameter.
    """
    if operation.input_shape is None:
        return {}
    plan = plan_for(operation.input_shape, operation.service_model.service_name)
    payload: Any = {}
    if body.strip():
        try:
            payload = json.loads(body)
        except ValueError:
            raise BadRequest("The request is rejected because the request body could not be parsed as JSON.") from None
    if not isinstance(payload, dict):
        raise BadRequest("The request is rejected because the request body must be a JSON object.")
    params: dict[str, Any] = {}
    for name, member in plan.members.items():
        label = _label(member.wire)
        if member.location == "uri":
            if member.wire in path_params:
                params[name] = _from_text(member.plan, path_params[member.wire], label)
        elif member.location == "querystring":
            if member.wire in query:
                values = query[member.wire]
                if member.plan.kind == "list":
                    params[name] = _decode(member.plan, values, label)
                else:
                    params[name] = _from_text(member.plan, values[0], label)
        elif member.location == "header":
            if member.wire.lower() in headers:
                params[name] = _from_text(member.plan, headers[member.wire.lower()], label)
        elif member.location is None and payload.get(member.wire) is not None:
            params[name] = _decode(member.plan, payload[member.wire], label)
    _require(plan, params, "")
    return params


def _require(plan: Plan, value: dict, path: str) -> None:
    for required in plan.required:
        if value.get(required) is None:
            label = _join(path, plan.members[required].wire)
            raise BadRequest(f"The request is rejected because the required parameter {label} is missing.")


def _join(path: str, wire: str) -> str:
    return f"{path}.{wire}" if path else _label(wire)


def _from_text(plan: Plan, text: str, path: str) -> Any:
    """A uri/querystring/header value, converted to the member's type and validated."""
    kind = plan.kind
    if kind in ("integer", "long"):
        try:
            value: Any = int(text)
        except ValueError:
            raise invalid_parameter(path, "The value must be an integer.") from None
    elif kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise invalid_parameter(path, "The value must be true or false.")
        value = text.lower() == "true"
    elif kind in ("double", "float"):
        try:
            value = float(text)
        except ValueError:
            raise invalid_parameter(path, "The value must be a number.") from None
    else:
        value = text
    return _decode(plan, value, path)


def _decode(plan: Plan, value: Any, path: str) -> Any:
    """A JSON value turned into its member-named Python form, raising BadRequest when invalid."""
    kind = plan.kind
    if kind == "structure":
        if not isinstance(value, dict):
            raise invalid_parameter(path, "The value must be an object.")
        result = {}
        for wire, item in value.items():
            member = plan.by_wire.get(wire)
            if member is not None and item is not None:
                result[member.name] = _decode(member.plan, item, _join(path, wire))
        _require(plan, result, path)
        return result
    if kind == "list":
        if not isinstance(value, list):
            raise invalid_parameter(path, "The value must be an array.")
        _check_size(plan, len(value), path, "array")
        return [_decode(plan.item, item, path) for item in value]
    if kind == "map":
        if not isinstance(value, dict):
            raise invalid_parameter(path, "The value must be an object.")
        _check_size(plan, len(value), path, "map")
        return {_decode(plan.key, key, path): _decode(plan.value, item, f"{path}.{key}") for key, item in value.items()}
    if kind == "string":
        if not isinstance(value, str):
            raise invalid_parameter(path, "The value must be a string.")
        _check_string(plan, value, path)
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid_parameter(path, "The value must be an integer.")
        low, high = _INT_RANGE[kind]
        if not low <= value <= high:
            bits = 32 if kind == "integer" else 64
            raise invalid_parameter(path, f"The value {value} is out of range for a {bits}-bit integer.")
        _check_range(plan, value, path)
        return value
    if kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid_parameter(path, "The value must be a number.")
        _check_range(plan, value, path)
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise invalid_parameter(path, "The value must be true or false.")
        return value
    if kind == "timestamp":
        return _decode_timestamp(value, path)
    if kind == "blob":
        try:
            return base64.b64decode(value, validate=True)
        except (ValueError, TypeError):
            raise invalid_parameter(path, "The value must be base64.") from None
    return value


def _decode_timestamp(value: Any, path: str) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    raise invalid_parameter(path, "The value must be a timestamp.")


def _check_size(plan: Plan, size: int, path: str, what: str) -> None:
    if plan.high is not None and size > plan.high:
        raise BadRequest(f"The request failed because the length provided for the {path} {what} was {size}. "
                         f"Max allowed length is {plan.high}.")
    if plan.low is not None and size < plan.low:
        raise BadRequest(f"The request failed because the length provided for the {path} {what} was {size}. "
                         f"Min allowed length is {plan.low}.")


def _check_string(plan: Plan, value: str, path: str) -> None:
    low, high = plan.low, plan.high
    if (low is not None and len(value) < low) or (high is not None and len(value) > high):
        bounds = f"between {low or 0} and {high}" if high is not None else f"at least {low}"
        raise invalid_parameter(path, f"Its length must be {bounds} characters.")
    if plan.enum and value not in plan.enum:
        raise invalid_parameter(path, f"Valid values are: {', '.join(sorted(plan.enum))}.")
    if plan.pattern is not None and not plan.pattern.fullmatch(value):
        raise invalid_parameter(path, "It does not match the required format.")


def _check_range(plan: Plan, value: float, path: str) -> None:
    if plan.high is not None and value > plan.high:
        raise invalid_parameter(path, f"The value {value} is greater than the maximum of {plan.high}.")
    if plan.low is not None and value < plan.low:
        raise invalid_parameter(path, f"The value {value} is less than the minimum of {plan.low}.")


# --------------------------------------------------------------------------------------------
# Responses


class Wired:
    """A value already encoded for the wire (e.g. a cached finding), with its member-named form.

    `member` is what validation looks at; `text` is spliced into the response body as-is.
    """

    __slots__ = ("member", "text")

    def __init__(self, member: Any, text: str):
        self.member = member
        self.text = text


class OutputValidationError(AssertionError):
    """A response that does not fit the operation's output shape."""

    def __init__(self, operation_name: str, problems: list[str]):
        super().__init__(f"{operation_name} response does not fit its output shape: " + "; ".join(problems))
        self.problems = problems


# Top-level members the model marks required that AWS documents as absent from some answers:
# (operation, member) -> where AWS says so. Their absence is not reported.
DOCUMENTED_ABSENT: dict[tuple[str, str], str] = {
    ("GetAdministratorAccount", "Administrator"): (
        "https://docs.aws.amazon.com/guardduty/latest/APIReference/API_GetAdministratorAccount.html and the "
        "operation's documentation in botocore's guardduty service-2.json: run by the administrator account or by "
        "an individual account, it 'will return success (HTTP 200) but no content.'"),
}


def validate_output(operation_name: str, body: dict, *, service: str = "guardduty") -> None:
    """Check a response (member names, as boto3 returns it) against the output shape.

    Types, required members, enums, string lengths and list maximums; unknown members are
    reported too, since a misspelt key is silently dropped by botocore. Raises
    OutputValidationError listing every problem.
    """
    shape = service_model(service).operation_model(operation_name).output_shape
    problems: list[str] = []
    body = {key: value for key, value in body.items() if key != "ResponseMetadata"}
    if shape is not None:
        _check_output(plan_for(shape, service), body, operation_name, problems)
        excused = {f"{operation_name}.{member}: required member missing"
                   for (operation, member) in DOCUMENTED_ABSENT if operation == operation_name}
        problems = [problem for problem in problems if problem not in excused]
    elif body:
        problems.append(f"{operation_name}: expected an empty body")
    if problems:
        raise OutputValidationError(operation_name, problems)


def _check_output(plan: Plan, value: Any, path: str, problems: list[str]) -> None:
    if isinstance(value, Wired):
        value = value.member
    kind = plan.kind
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a structure, got {type(value).__name__}")
            return
        for required in plan.required:
            if value.get(required) is None:
                problems.append(f"{path}.{required}: required member missing")
        for key, item in value.items():
            member = plan.members.get(key)
            if member is None:
                problems.append(f"{path}.{key}: not a member of {plan.name}")
            elif item is not None:
                _check_output(member.plan, item, f"{path}.{key}", problems)
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        if plan.high is not None and len(value) > plan.high:
            problems.append(f"{path}: {len(value)} items, more than the maximum {plan.high}")
        for index, item in enumerate(value):
            _check_output(plan.item, item, f"{path}[{index}]", problems)
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a map, got {type(value).__name__}")
            return
        for key, item in value.items():
            _check_output(plan.key, key, f"{path}<key>", problems)
            _check_output(plan.value, item, f"{path}[{key!r}]", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: expected a string, got {type(value).__name__}")
            return
        if plan.enum and value not in plan.enum:
            problems.append(f"{path}: {value!r} is not one of {sorted(plan.enum)}")
        if (plan.low is not None and len(value) < plan.low) or (plan.high is not None and len(value) > plan.high):
            problems.append(f"{path}: length {len(value)} outside {plan.low}..{plan.high}")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{path}: expected an integer, got {type(value).__name__}")
    elif kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{path}: expected a number, got {type(value).__name__}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: expected a boolean, got {type(value).__name__}")
    elif kind == "timestamp" and (not isinstance(value, datetime | int | float) or isinstance(value, bool)):
        problems.append(f"{path}: expected a timestamp, got {type(value).__name__}")


def to_wire(plan: Plan, value: Any, wired: list[str] | None = None) -> Any:
    """A member-named value in wire spelling; Wired values become placeholders into `wired`."""
    if isinstance(value, Wired):
        if wired is None:
            return json.loads(value.text)
        wired.append(value.text)
        return f"\x00wired{len(wired) - 1}\x00"
    kind = plan.kind
    if kind == "structure":
        result = {}
        for key, item in value.items():
            member = plan.members.get(key)
            if member is not None and item is not None and member.location is None:
                result[member.wire] = to_wire(member.plan, item, wired)
        return result
    if kind == "list":
        return [to_wire(plan.item, item, wired) for item in value]
    if kind == "map":
        return {key: to_wire(plan.value, item, wired) for key, item in value.items()}
    if kind == "timestamp":
        return round(value.timestamp(), 3) if isinstance(value, datetime) else value
    if kind == "blob":
        return base64.b64encode(value).decode()
    return value


_PLACEHOLDER = re.compile(r'"\\u0000wired(\d+)\\u0000"')


def encode_output(operation: OperationModel, body: dict) -> bytes:
    """The JSON response body for a member-named result."""
    shape = operation.output_shape
    if shape is None:
        return b"{}"
    wired: list[str] = []
    plan = plan_for(shape, operation.service_model.service_name)
    text = json.dumps(to_wire(plan, body, wired), separators=(",", ":"))
    if wired:
        text = _PLACEHOLDER.sub(lambda found: wired[int(found.group(1))], text)
    return text.encode()


def encode_value(shape_name: str, value: Any, *, service: str = "guardduty") -> str:
    """One value of a named shape as wire JSON text (used to cache findings)."""
    plan = plan_for(service_model(service).shape_for(shape_name), service)
    return json.dumps(to_wire(plan, value), separators=(",", ":"))
