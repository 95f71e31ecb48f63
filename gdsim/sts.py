"""A minimal STS (query protocol): AssumeRole into another account and GetCallerIdentity.

Credentials from AssumeRole carry the role's account id in their access key id, so every later
call signed with them acts as that account, as with real cross-account roles.
"""

from __future__ import annotations

import re
import secrets
import string
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from .records import iso

if TYPE_CHECKING:
    from .state import SimulatorState

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]{1,64})")
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")
# botocore sts model, AssumeRoleRequest.SourceIdentity: min 2, max 256, pattern [\w+=,.@-]*; "You cannot use a
# value that begins with the text aws:". IAM User Guide, "Monitor and control actions taken with assumed roles":
# the value "persists when a role is used to assume another role" and "cannot be changed during the role session".
_SOURCE_IDENTITY = re.compile(r"[\w+=,.@-]{2,256}", re.ASCII)


class StsError(Exception):
    """An STS error response (query protocol XML)."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _element(name: str, value: str) -> str:
    return f"<{name}>{escape(value)}</{name}>"


def _response(action: str, result: str) -> bytes:
    return (f'<{action}Response xmlns="{NAMESPACE}"><{action}Result>{result}</{action}Result>'
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            f"</{action}Response>").encode()


def error_body(error: StsError) -> bytes:
    """The XML body of an STS error."""
    kind = "Sender" if error.status < 500 else "Receiver"
    return (f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>{kind}</Type>{_element("Code", error.code)}'
            f'{_element("Message", error.message)}</Error><RequestId>{uuid.uuid4()}</RequestId>'
            "</ErrorResponse>").encode()


def handle(state: SimulatorState, access_key_id: str | None, form: dict[str, str]) -> bytes:
    """Answer one STS action for an authenticated caller; raises StsError."""
    account = state.account_for_access_key(access_key_id) if access_key_id else None
    if account is None:
        raise StsError("InvalidClientTokenId", "The security token included in the request is invalid.", 403)
    action = form.get("Action", "")
    if action == "AssumeRole":
        return _assume_role(state, form, state.sessions.get(access_key_id or ""))
    if action == "GetCallerIdentity":
        session = state.sessions.get(access_key_id or "")
        arn = session["arn"] if session else f"arn:aws:iam::{account}:user/simulator"
        user_id = session["user_id"] if session else f"AIDA{account}SIM"
        return _response("GetCallerIdentity", _element("Arn", arn) + _element("UserId", user_id)
                         + _element("Account", account))
    raise StsError("InvalidAction", f"The action {action or '(none)'} is not valid for this endpoint.")


def _source_identity(form: dict[str, str], caller: dict | None) -> str:
    """The new session's source identity: the one asked for, or the caller session's (which it may not change)."""
    asked = form.get("SourceIdentity")
    inherited = (caller or {}).get("source_identity", "")
    if asked is None:
        return inherited
    if not _SOURCE_IDENTITY.fullmatch(asked) or asked.lower().startswith("aws:"):
        raise StsError("ValidationError", f"1 validation error detected: Value '{asked}' at 'sourceIdentity' failed "
                       "to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")
    if inherited and asked != inherited:
        raise StsError("AccessDenied", "The source identity of a role session cannot be changed in a chained role "
                       f"session (it is {inherited}).", 403)
    return asked


def _assume_role(state: SimulatorState, form: dict[str, str], caller: dict | None = None) -> bytes:
    role_arn, session_name = form.get("RoleArn", ""), form.get("RoleSessionName", "")
    found = _ROLE_ARN.fullmatch(role_arn)
    if not found:
        raise StsError("ValidationError", f"1 validation error detected: Value '{role_arn}' at 'roleArn' failed to "
                       "satisfy constraint: Member must be a valid IAM role ARN")
    if not _SESSION_NAME.fullmatch(session_name):
        raise StsError("ValidationError", f"1 validation error detected: Value '{session_name}' at "
                       "'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression "
                       "pattern: [\\w+=,.@-]*")
    try:
        duration = int(form.get("DurationSeconds", "3600"))
    except ValueError:
        duration = -1
    if not 900 <= duration <= 43200:
        raise StsError("ValidationError", "The requested DurationSeconds exceeds the allowed range of 900 to 43200.")
    source_identity = _source_identity(form, caller)
    account, role_name = found.groups()
    suffix = "".join(secrets.choice(string.ascii_uppercase) for _ in range(4))
    access_key_id = f"ASIA{account}{suffix}"
    role_id = f"AROA{account}{suffix}"
    assumed_arn = f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"
    with state.lock:
        state.sessions[access_key_id] = {"account": account, "arn": assumed_arn,
                                         "user_id": f"{role_id}:{session_name}", "source_identity": source_identity}
        if source_identity:
            state.source_identities.append((role_arn, source_identity))
        expiration = iso(state.now() + timedelta(seconds=duration))
    credentials = (_element("AccessKeyId", access_key_id)
                   + _element("SecretAccessKey", secrets.token_urlsafe(30))
                   + _element("SessionToken", secrets.token_urlsafe(96))
                   + _element("Expiration", expiration))
    user = _element("Arn", assumed_arn) + _element("AssumedRoleId", f"{role_id}:{session_name}")
    identity = _element("SourceIdentity", source_identity) if source_identity else ""
    return _response("AssumeRole", f"<Credentials>{credentials}</Credentials><AssumedRoleUser>{user}</AssumedRoleUser>"
                     + identity)
