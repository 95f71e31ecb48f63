"""Readers for one member of an untrusted finding: typed, bounded, cleaned, or a `FindingParseError` naming it.

Shared by the finding parser (`findings.parsing`) and its resource extractors (`findings.resources`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# Column bounds. Longer values are cut (titles, names) or rejected (identifiers, where a cut
# value would silently merge two findings).
TITLE_MAX_LENGTH = 1_000
DESCRIPTION_MAX_LENGTH = 4_000
TYPE_MAX_LENGTH = 100  # botocore's FindingType shape: 1..100
ARN_MAX_LENGTH = 300  # finding ARNs are ~130 characters; DetectorId alone may be up to 300
ID_MAX_LENGTH = 300  # Id and DetectorId
RESOURCE_ID_MAX_LENGTH = 255  # bucket names 63, instance ids 19, container ids 64, function names 64
NAME_MAX_LENGTH = 255  # resource names, country names, ASN organisations, type name parts
SHORT_TEXT_MAX_LENGTH = 64  # region, partition, resource type, action type, country code, ASN
_EMPTY: dict = {}  # shared stand-in for an absent object; never mutated


class FindingParseError(ValueError):
    """The input is not a GuardDuty finding GuardWatch can store; `reason` says which field and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- field readers -------------------------------------------------------------------------------------


def _preview(value: Any) -> str:
    """A short, escaped rendering of a bad value for an error message (it may be hostile)."""
    if (
        value is not None
        and type(value) not in (str, bool, float)
        and not (type(value) is int and -(10**18) < value < 10**18)
    ):
        return f"a {type(value).__name__}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _clean(text: str, limit: int) -> str:
    if len(text) > limit:
        text = text[:limit]
    if not text.isascii():
        # Lone surrogates (valid in JSON, invalid in UTF-8) would make the database driver fail.
        text = text.encode("utf-8", "replace").decode("utf-8")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text


def _text(value: Any, limit: int, *path: str) -> str | None:
    """An optional string member, bounded; numbers are accepted and spelled as text.

    `path` names the member for the error message; it is joined only when there is an error.
    """
    if value is None:
        return None
    if type(value) is str:
        return _clean(value, limit)
    if (type(value) is int and -(10**18) < value < 10**18) or type(value) is float:
        return _clean(str(value), limit)
    raise FindingParseError(f"{'.'.join(path)} must be a string, got {type(value).__name__}")


def _identifier(value: Any, path: str) -> str:
    """An identifier: never cut, since a cut identifier could merge two findings."""
    if type(value) is not str or not value:
        raise FindingParseError(f"{path} must be a non-empty string")
    if len(value) > ID_MAX_LENGTH or not value.isascii() or not value.isprintable():
        raise FindingParseError(f"{path} is not a valid identifier: {_preview(value)}")
    return value


def _timestamp(value: Any, path: str) -> datetime:
    """An aware UTC datetime from an ISO-8601 string (naive times are taken as UTC)."""
    if type(value) is str:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise FindingParseError(f"{path} is not an ISO-8601 timestamp: {_preview(value)}") from None
    elif isinstance(value, datetime):
        moment = value
    else:
        raise FindingParseError(f"{path} must be an ISO-8601 timestamp string, got {type(value).__name__}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    if moment.tzinfo is UTC:
        return moment
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise FindingParseError(f"{path} is out of range: {_preview(value)}") from None


def _object(container: dict, key: str, *parents: str) -> dict:
    """An optional object member; `parents` name where it sits, for the error message."""
    value = container.get(key)
    if value is None:
        return _EMPTY
    if type(value) is not dict:
        raise FindingParseError(f"{'.'.join((*parents, key))} must be an object")
    return value


def _first(container: dict, key: str, *parents: str) -> dict:
    """The first object of a list member (GuardDuty puts the affected one first)."""
    value = container.get(key)
    if value is None:
        return _EMPTY
    if type(value) is not list:
        raise FindingParseError(f"{'.'.join((*parents, key))} must be a list")
    if not value:
        return _EMPTY
    if type(value[0]) is not dict:
        raise FindingParseError(f"{'.'.join((*parents, key))}[0] must be an object")
    return value[0]
