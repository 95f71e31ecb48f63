"""Check a boto3-shaped dict against a shape of botocore's service model.

botocore validates requests, never responses, so nothing else tells us whether the simulator's
output could really come from AWS. `shape_errors` walks a value alongside a shape and lists every
departure: unknown or missing members, wrong types, enum values, length and pattern limits.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Any

import botocore.session
from botocore.model import Shape


@functools.cache
def service_model(service: str = "guardduty"):
    """botocore's model of `service` (loaded once per test session)."""
    return botocore.session.get_session().get_service_model(service)


def output_shape(name: str, service: str = "guardduty") -> Shape:
    """A named shape of the service model, e.g. `output_shape("Finding")`."""
    return service_model(service).shape_for(name)


def shape_errors(value: Any, shape: Shape, path: str = "") -> list[str]:
    """Every way `value` departs from `shape`, as `path: problem` strings (empty when valid)."""
    errors: list[str] = []
    _check(value, shape, path or shape.name, errors)
    return errors


def location_name(shape: Shape, member: str) -> str:
    """The JSON key GuardDuty uses for `member` of structure `shape`."""
    return shape.members[member].serialization.get("name", member)


def _check(value: Any, shape: Shape, path: str, errors: list[str]) -> None:
    kind = shape.type_name
    limits = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected object, got {type(value).__name__}")
            return
        for member in shape.required_members:
            if member not in value:
                errors.append(f"{path}: missing required member {member}")
        for key, item in value.items():
            member_shape = shape.members.get(key)
            if member_shape is None:
                errors.append(f"{path}: unknown member {key}")
            else:
                _check(item, member_shape, f"{path}.{key}", errors)
    elif kind == "list":
        if not isinstance(value, list):
            errors.append(f"{path}: expected list, got {type(value).__name__}")
            return
        _check_length(len(value), limits, path, errors)
        for index, item in enumerate(value):
            _check(item, shape.member, f"{path}[{index}]", errors)
    elif kind == "map":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected map, got {type(value).__name__}")
            return
        for key, item in value.items():
            _check(key, shape.key, f"{path}<key>", errors)
            _check(item, shape.value, f"{path}[{key!r}]", errors)
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(f"{path}: expected string, got {type(value).__name__}")
            return
        _check_length(len(value), limits, path, errors)
        if shape.enum and value not in shape.enum:
            errors.append(f"{path}: {value!r} not in enum {shape.enum}")
        pattern = limits.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            errors.append(f"{path}: {value!r} does not match {pattern}")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"{path}: expected integer, got {type(value).__name__}")
            return
        _check_range(value, limits, path, errors)
    elif kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(f"{path}: expected number, got {type(value).__name__}")
            return
        _check_range(value, limits, path, errors)
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{path}: expected boolean, got {type(value).__name__}")
    elif kind == "timestamp":
        # boto3 parses timestamps into aware datetimes.
        if not isinstance(value, datetime) or value.tzinfo is None:
            errors.append(f"{path}: expected aware datetime, got {value!r}")
    elif kind == "blob":
        if not isinstance(value, bytes | bytearray):
            errors.append(f"{path}: expected bytes, got {type(value).__name__}")
    else:  # pragma: no cover - botocore has no other shape types
        errors.append(f"{path}: unsupported shape type {kind}")


def _check_length(length: int, limits: dict, path: str, errors: list[str]) -> None:
    if "min" in limits and length < limits["min"]:
        errors.append(f"{path}: length {length} below minimum {limits['min']}")
    if "max" in limits and length > limits["max"]:
        errors.append(f"{path}: length {length} above maximum {limits['max']}")


def _check_range(number: float, limits: dict, path: str, errors: list[str]) -> None:
    if "min" in limits and number < limits["min"]:
        errors.append(f"{path}: {number} below minimum {limits['min']}")
    if "max" in limits and number > limits["max"]:
        errors.append(f"{path}: {number} above maximum {limits['max']}")


def camel_case_by_model(value: Any, shape: Shape) -> Any:
    """`value` (boto3 spelling) re-keyed by the model's `locationName`s: the reference for
    `to_camel_case`. Timestamps are left as they are."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {
            location_name(shape, key): camel_case_by_model(item, shape.members[key])
            for key, item in value.items()
        }
    if kind == "list" and isinstance(value, list):
        return [camel_case_by_model(item, shape.member) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: camel_case_by_model(item, shape.value) for key, item in value.items()}
    return value
