"""Structured logs: who and what each line is about, as JSON in production, and never a secret.

Standard library logging only (no structlog): a context of fields bound for the duration of a request
or a Celery task (request id and user; task id, name, region and account), a filter that copies the
context onto every record, a JSON and a console formatter (GUARDWATCH_LOG_FORMAT), and redaction as
defence in depth: code must not log secrets, and what slips through anyway (a password in a URL, a
token in a query string or an Authorization header, a configured secret's value, a field named like
a secret) is scrubbed from the formatted line. See docs/operations.md, "Logs".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from django.utils.functional import empty

REDACTED = "[redacted]"
_MIN_KNOWN_SECRET = 6  # shorter configured values would scrub ordinary words
# Context fields, in the order a line shows them.
CONTEXT_FIELDS = ("request_id", "user_id", "username", "task_id", "task_name", "region", "account")

_context: ContextVar[Mapping[str, Any]] = ContextVar("guardwatch_log_context", default={})  # noqa: B039 (never mutated)
_request: ContextVar[Any] = ContextVar("guardwatch_log_request", default=None)
_runtime_secrets: ContextVar[frozenset[str]] = ContextVar("guardwatch_log_secrets", default=frozenset())


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields (None ones left out) to every line logged inside the block, in this thread or task."""
    token = log_context_bind(**fields)
    try:
        yield
    finally:
        _context.reset(token)


def log_context_bind(**fields: Any):
    """Bind fields until `log_context_reset(token)`; for code whose start and end are separate callbacks."""
    return _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


def log_context_reset(token) -> None:
    _context.reset(token)


def log_secrets_add(*values: str) -> None:
    """Secrets this thread has just read (a destination's decrypted URL and tokens): scrubbed from every line
    it logs from now on, wherever a library or an error message might echo them."""
    fresh = {value for value in values if isinstance(value, str) and len(value) >= _MIN_KNOWN_SECRET}
    if not fresh <= _runtime_secrets.get():
        _runtime_secrets.set(_runtime_secrets.get() | fresh)


def log_request_bind(request):
    """The request being served, so lines name its user once authentication has resolved it."""
    return _request.set(request)


def log_request_reset(token) -> None:
    _request.reset(token)


def _request_user(request) -> tuple[Any, str] | None:
    """The request's user if authentication already looked it up (never triggers a session or database read)."""
    user = getattr(request, "__dict__", {}).get("user")
    if user is None:
        return None
    wrapped = getattr(user, "_wrapped", user)  # Django's SimpleLazyObject until first used
    if wrapped is None or wrapped is empty:  # not looked up yet
        return None
    if not getattr(wrapped, "is_authenticated", False):
        return None
    return wrapped.pk, wrapped.get_username()


class ContextFilter(logging.Filter):
    """Copy the bound context onto each record (fields given in `extra=` win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        # Django's own request lines (4xx/5xx) are logged after the middleware is done, with the request.
        request = getattr(record, "request", None) or _request.get()
        if not hasattr(record, "request_id") and getattr(request, "request_id", None):
            record.request_id = request.request_id
        if request is not None and not hasattr(record, "user_id"):
            found = _request_user(request)
            if found is not None:
                record.user_id, record.username = found
        # Celery's own lines about a task ("received", "succeeded", "raised") carry it in their arguments.
        if record.name.startswith("celery.") and isinstance(record.args, Mapping):
            if "id" in record.args and not hasattr(record, "task_id"):
                record.task_id = record.args["id"]
            if "name" in record.args and not hasattr(record, "task_name"):
                record.task_name = record.args["name"]
        return True


# --- Redaction -------------------------------------------------------------------------------------

# Keys whose values are secrets wherever they appear (in `extra=`, in a logged mapping, as key=value text).
SECRET_KEY_PATTERN = re.compile(
    r"pass(?:word|wd)?|secret|token|authorization|cookie|session(?:id)?|api[_-]?key|signature|credential|"
    r"private[_-]?key|webhook[_-]?url|csrf",
    re.IGNORECASE,
)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s\"']*):(?P<password>[^@\s\"'/]+)@",
                              re.IGNORECASE)  # fmt: skip
# `name=value` / `"name": "value"` text whose name says secret (a token in a query string, a dict's repr).
_SECRET_PARAMETER = re.compile(
    r"(?P<key>[a-z0-9_-]*(?:token|secret|passw(?:or)?d|signature|api[_-]?key|sessionid)[\"']?\s*[=:]\s*[\"']?)"
    r"(?P<value>[^&\s\"',;}]+)",
    re.IGNORECASE,
)
_AUTH_SCHEME = re.compile(r"\b(?P<scheme>Bearer|Basic|Token|Digest)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
# Webhook URLs that are secrets in their path (whoever holds one can post to the channel).
_SECRET_PATH_URL = re.compile(
    r"(?P<prefix>https?://(?:hooks\.slack\.com|[a-z0-9.-]*\.webhook\.office\.com|[a-z0-9.-]*\.logic\.azure\.com"
    r"|discord(?:app)?\.com/api/webhooks)[^\s\"'?]*?/)(?P<rest>[^\s\"']+)",
    re.IGNORECASE,
)


def known_secrets() -> list[str]:
    """Values configured as secrets in this process: scrubbed wherever they appear in a line."""
    from django.conf import settings

    found: list[str] = []
    for name in ("SECRET_KEY", "GUARDWATCH_SECRETS_KEY"):
        found.append(getattr(settings, name, ""))
    for name in ("SECRET_KEY_FALLBACKS", "GUARDWATCH_SECRETS_KEY_FALLBACKS"):
        found.extend(str(value) for value in getattr(settings, name, []) or [])
    for database in getattr(settings, "DATABASES", {}).values():
        found.append(database.get("PASSWORD", ""))
    for url in (getattr(settings, "REDIS_URL", ""), getattr(settings, "CELERY_BROKER_URL", ""),
                getattr(settings, "CELERY_RESULT_BACKEND", "")):  # fmt: skip
        with contextlib.suppress(ValueError):
            found.append(urlsplit(url or "").password or "")
    for mailer in getattr(settings, "MAILERS", {}).values():
        found.append((mailer.get("OPTIONS") or {}).get("password", ""))
    for variable in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        found.append(os.environ.get(variable, ""))
    # Longest first, so a secret that contains another is scrubbed whole.
    return sorted({value for value in found if value and len(value) >= _MIN_KNOWN_SECRET}, key=len, reverse=True)


def redact_text(text: str, secrets: list[str] = ()) -> str:
    """`text` with URL passwords, secret-named parameters, Authorization values and known secrets scrubbed."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    text = _SECRET_PATH_URL.sub(lambda m: f"{m['prefix']}{REDACTED}", text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m['scheme']} {REDACTED}", text)
    return _SECRET_PARAMETER.sub(lambda m: f"{m['key']}{REDACTED}", text)


def redact_value(key: str, value: Any, secrets: list[str] = ()) -> Any:
    """A field's value for the line: scrubbed whole if its key names a secret, its text scrubbed otherwise."""
    if SECRET_KEY_PATTERN.search(key):
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k): redact_value(str(k), v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [redact_value("", v, secrets) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(str(value), secrets)


# --- Formatters ------------------------------------------------------------------------------------

# LogRecord's own attributes: anything else on a record came from `extra=` or the context.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
# Extras never written: the request object Django's loggers attach (its repr holds the query string).
_DROPPED_EXTRAS = frozenset({"request", "server_time"})


class _RedactingFormatter(logging.Formatter):
    """Shared by both formats: the message and extras, each scrubbed, with the known secrets read once."""

    _secrets: list[str] | None = None

    def secrets(self) -> list[str]:
        if self._secrets is None:
            try:
                self._secrets = known_secrets()
            except Exception:  # settings not configured yet (a line logged while they load): scrub by pattern
                return []
        return self._secrets

    def fields(self, record: logging.LogRecord) -> tuple[str, dict[str, Any], str]:
        secrets = self.secrets()
        if runtime := _runtime_secrets.get():
            secrets = sorted({*secrets, *runtime}, key=len, reverse=True)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        extras = {
            key: redact_value(key, value, secrets)
            for key, value in vars(record).items()
            if key not in _RECORD_ATTRIBUTES and key not in _DROPPED_EXTRAS and not key.startswith("_")
            and not (key == "data" and record.name.startswith("celery."))  # Celery's copy of the arguments
        }
        error = ""
        if record.exc_info:
            error = self.formatException(record.exc_info)
        elif record.exc_text:
            error = record.exc_text
        if record.stack_info:
            error = (error + "\n" + self.formatStack(record.stack_info)).strip()
        return redact_text(message, secrets), extras, redact_text(error, secrets)


class JsonFormatter(_RedactingFormatter):
    """One JSON object per line: time, level, logger, message, the context fields, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        message, extras, error = self.fields(record)
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        for key in CONTEXT_FIELDS:
            if key in extras:
                line[key] = extras.pop(key)
        line.update(sorted(extras.items()))
        if error:
            line["exception"] = error
        return json.dumps(line, default=str, ensure_ascii=False)


class ConsoleFormatter(_RedactingFormatter):
    """Readable lines for the demo and tests: `time LEVEL logger message key=value ...`."""

    def format(self, record: logging.LogRecord) -> str:
        message, extras, error = self.fields(record)
        ordered = [(key, extras.pop(key)) for key in CONTEXT_FIELDS if key in extras] + sorted(extras.items())
        context = " ".join(f"{key}={value}" for key, value in ordered)
        when = dt.datetime.fromtimestamp(record.created, dt.UTC).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
        line = f"{when} {record.levelname} {record.name} {message}" + (f" [{context}]" if context else "")
        return f"{line}\n{error}" if error else line


def logging_config(*, log_format: str, level: str) -> dict:
    """The LOGGING dictConfig for the format (json | console): everything through one redacting handler."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "guardwatch.core.logs.ContextFilter"}},
        "formatters": {
            "json": {"()": "guardwatch.core.logs.JsonFormatter"},
            "console": {"()": "guardwatch.core.logs.ConsoleFormatter"},
        },
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["context"]},
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "botocore": {"level": "WARNING"},
            "urllib3": {"level": "WARNING"},
            # Django's own request loggers go to the root handler only (its default adds mail_admins and
            # a console handler of its own, which would print each error twice and unformatted).
            "django": {"handlers": ["default"], "level": level, "propagate": False},
            "django.server": {"handlers": ["default"], "level": level, "propagate": False},
        },
    }
