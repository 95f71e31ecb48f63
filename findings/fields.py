"""A JSON document kept as the text it was written as: `Finding.raw`.

`jsonb` made Postgres re-parse and re-encode every finding's 2–3 KB of JSON on each write, which
was the single largest cost of the findings upsert (more than all the indexes but one). Nothing
queries inside `raw` (filters use the extracted columns), so it is stored as text, compressed with
lz4 on Postgres, validated and cleaned on the way in by `json_text`, and parsed when read.

`json_text` encodes with orjson, ~5x faster than the standard library's encoder on a finding (17 vs
84 µs for 2.5 kB: a fifth of the pull sync's CPU per finding went to `json.dumps`), and falls back to
`json.dumps` for what orjson refuses (lone surrogates, integers beyond 64 bits, non-string keys,
nesting deeper than 254), so every value encodes as it did before.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from django.core.exceptions import ValidationError
from django.db import models

_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()  # botocore hands nested timestamp members over as datetimes
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class JSONText(str):
    """JSON text `json_text` already made (off the critical path, e.g. by the sync's parse-ahead thread).

    `json_text` returns it unchanged, so it is stored as is instead of being encoded again.
    """

    __slots__ = ()


def json_text(value: Any) -> str:
    """`value` as compact JSON text any database stores: NUL escapes and lone surrogates replaced."""
    if isinstance(value, JSONText):
        return value
    try:
        # Dates and times go through `_json_default` too (their isoformat), as with json.dumps. orjson
        # writes only valid UTF-8: no lone surrogate can be left in its text.
        text = orjson.dumps(value, default=_json_default, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()
    except orjson.JSONEncodeError:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                text = text.encode("utf-8", "replace").decode("utf-8")
    if "\\u0000" in text:
        text = _NUL_ESCAPE.sub(r"\1\\ufffd", text)
    return text


class JSONTextField(models.TextField):
    """A JSON value (a dict for `Finding.raw`) stored as text and decoded when loaded."""

    description = "JSON stored as text"

    def from_db_value(self, value, expression, connection):
        return None if value is None else json.loads(value)

    def to_python(self, value):
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as error:
                raise ValidationError(f"Not valid JSON: {error}") from None
        return value

    def get_prep_value(self, value):
        return None if value is None else json_text(value)

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))
