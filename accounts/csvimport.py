"""The GuardDuty console's member CSV (`Account ID,Email`), parsed into lines a person can check.

Pure: bytes in, a `CsvPreview` out, no database. Accepted: an optional header line, a UTF-8 BOM,
CRLF or LF line ends, spaces around values, blank lines. Every other line is valid or invalid with
the reason: bad id, bad email, duplicate in the file, or already a member.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

MAX_BYTES = 1024 * 1024
MAX_ROWS = 5000
EMAIL_MAX = 64
_ACCOUNT_ID = re.compile(r"[0-9]{12}")  # not \d: that also matches Arabic-Indic and other digits
_email_validator = EmailValidator()


@dataclass(frozen=True, slots=True)
class CsvLine:
    """One non-blank line of the file: its number (1-based, as an editor shows it), values, and verdict."""

    line: int
    account_id: str
    email: str
    error: str = ""

    @property
    def valid(self) -> bool:
        return not self.error


@dataclass(frozen=True, slots=True)
class CsvPreview:
    """Every line of the file, or one `problem` that stops the whole file (too big, not text, …)."""

    lines: tuple[CsvLine, ...] = ()
    problem: str = ""

    @property
    def valid_lines(self) -> list[CsvLine]:
        return [line for line in self.lines if line.valid]

    @property
    def invalid_lines(self) -> list[CsvLine]:
        return [line for line in self.lines if not line.valid]


_CONSOLE_ACCOUNT_ID = re.compile(r"([0-9]{4})[- ]([0-9]{4})[- ]([0-9]{4})")


def account_id_normalize(value: str) -> str:
    """An account id as the AWS console shows it, `4444-5555-6666` (or with spaces), as its 12 digits;
    anything else unchanged, for `account_id_problem` to judge."""
    value = value.strip()
    found = _CONSOLE_ACCOUNT_ID.fullmatch(value)
    return "".join(found.groups()) if found else value


_CONSOLE_ACCOUNT_ID_IN_TEXT = re.compile(r"(?<![0-9])([0-9]{4})[- ]([0-9]{4})[- ]([0-9]{4})(?![0-9])")


def account_ids_normalize_text(text: str) -> str:
    """Every console-formatted id (`4444-5555-6666`, `4444 5555 6666`) in a list typed by hand as its 12 digits."""
    return _CONSOLE_ACCOUNT_ID_IN_TEXT.sub(r"\1\2\3", text or "")


def account_id_problem(value: str) -> str:
    """Why `value` is not an AWS account id, or ""."""
    if not value:
        return "The account id is missing."
    if not _ACCOUNT_ID.fullmatch(value):
        return f"“{value[:40]}” is not an account id: it must be exactly 12 digits."
    return ""


def email_problem(value: str) -> str:
    """Why `value` is not an email GuardDuty accepts (valid, at most 64 characters), or ""."""
    if not value:
        return "The email is missing."
    if len(value) > EMAIL_MAX:
        return f"The email is {len(value)} characters long; GuardDuty accepts at most {EMAIL_MAX}."
    try:
        _email_validator(value)
    except ValidationError:
        return f"“{value[:80]}” is not a valid email address."
    return ""


def _is_header(cells: list[str]) -> bool:
    normalised = [re.sub(r"[\s_]+", "", cell).lower() for cell in cells]
    return len(normalised) >= 2 and normalised[0] in {"accountid", "account"} and normalised[1] in {"email", "emailaddress"}


def parse_member_csv(
    data: bytes, *, existing: Collection[str] = (), max_bytes: int = MAX_BYTES, max_rows: int = MAX_ROWS
) -> CsvPreview:
    """Check every line of an uploaded member CSV; `existing` are account ids already known here."""
    if len(data) > max_bytes:
        return CsvPreview(problem=f"The file is {len(data):,} bytes; the limit is {max_bytes:,} bytes.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return CsvPreview(problem="The file is not UTF-8 text. Save it as CSV (UTF-8) and upload it again.")
    if "\x00" in text:
        return CsvPreview(problem="The file contains NUL bytes: it is not a CSV file.")
    lines: list[CsvLine] = []
    seen: dict[str, int] = {}
    rows = 0
    first = True
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    try:
        for cells in reader:
            number = reader.line_num
            cells = [cell.strip() for cell in cells]
            if not any(cells):
                continue
            if first:
                first = False
                if _is_header(cells):
                    continue
            rows += 1
            if rows > max_rows:
                return CsvPreview(
                    problem=f"The file has more than {max_rows:,} accounts; split it into files of at most {max_rows:,}."
                )
            account_id = account_id_normalize(cells[0])
            email = cells[1] if len(cells) > 1 else ""
            error = account_id_problem(account_id)
            if not error and len([c for c in cells[2:] if c]):
                error = "The line has more than two values (expected: account id, email)."
            if not error:
                error = email_problem(email)
            if not error and account_id in seen:
                error = f"Duplicate in the file: account {account_id} is already on line {seen[account_id]}."
            if not error and account_id in existing:
                error = f"Account {account_id} is already a member account in GuardWatch."
            if not error:
                seen[account_id] = number
            lines.append(CsvLine(line=number, account_id=account_id[:64], email=email[:256], error=error))
    except csv.Error as problem:
        return CsvPreview(problem=f"The file is not valid CSV (line {reader.line_num}): {problem}.")
    if not lines:
        return CsvPreview(problem="The file has no account lines.")
    return CsvPreview(lines=tuple(lines))
