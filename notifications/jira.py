"""Jira Cloud REST API v3 beyond creating issues (`senders.send_jira`): issue statuses, transitions, comments.

The gateway for the two-way tickets: it returns plain dataclasses and raises `JiraError` (with Jira's
Retry-After when it throttled) instead of handing back raw answers. Every call goes through
`outbound.py` (vetted https URL, one deadline, no redirects) with the destination's Basic credential.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from notifications.models import Destination
from notifications.outbound import HttpAnswer, OutboundFailed, OutboundRefused, http_get, http_post

# Keys per status search: `key in (…)` with the status field and the changelog. Jira documents maxResults
# (default 50) and may return fewer per page when fields are asked for; the walk follows nextPageToken.
STATUS_BATCH = 100
STATUS_CATEGORIES = ("new", "indeterminate", "done")


class JiraError(Exception):
    """A Jira call failed; `retry_after` seconds when Jira said how long to wait (429)."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status, self.retry_after = status, retry_after


@dataclass(frozen=True)
class IssueStatus:
    """Where one issue stands: its status, the status's category key and who moved it there last."""

    key: str
    name: str
    category: str
    changed_by: str = ""


def _base(destination: Destination) -> str:
    base = destination.config.get("base_url", "").rstrip("/")
    if not base.startswith("https://"):
        raise JiraError("Jira is reached over https:// only: edit the destination's site.")
    return base


def jira_headers(destination: Destination) -> dict[str, str]:
    """Basic auth with the account email and API token (Atlassian's basic auth for REST APIs)."""
    secrets = destination.secrets()
    pair = f"{destination.config.get('email', '')}:{secrets.get('api_token', '')}"
    return {
        "Authorization": "Basic " + base64.b64encode(pair.encode()).decode(),
        "Accept": "application/json",
    }


def _checked(answer: HttpAnswer, what: str) -> HttpAnswer:
    if answer.ok:
        return answer
    if answer.status == 429:
        raise JiraError(f"Jira is rate limiting {what}; retry after {answer.retry_after or 'a while'} s.",
                        status=429, retry_after=answer.retry_after)  # fmt: skip
    raise JiraError(
        f"Jira answered HTTP {answer.status} to {what}: {answer.body[:300]}", status=answer.status
    )


def _call(method: str, url: str, headers: dict[str, str], what: str, document: Any = None) -> HttpAnswer:
    try:
        if method == "GET":
            return _checked(http_get(url=url, headers=headers), what)
        body = json.dumps(document, separators=(",", ":")).encode()
        return _checked(
            http_post(url=url, body=body, headers={"Content-Type": "application/json", **headers}), what
        )
    except (OutboundFailed, OutboundRefused) as error:
        raise JiraError(f"Could not reach Jira for {what}: {error}") from None


def _document(answer: HttpAnswer, what: str) -> dict[str, Any]:
    try:
        document = json.loads(answer.body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise JiraError(f"Jira answered something other than a JSON object to {what}.", status=answer.status)
    return document


def _status_of(issue: dict[str, Any]) -> IssueStatus | None:
    key = issue.get("key")
    status = (issue.get("fields") or {}).get("status") or {}
    category = (status.get("statusCategory") or {}).get("key", "")
    if not isinstance(key, str) or category not in STATUS_CATEGORIES:
        return None
    changed_by = ""
    for history in (issue.get("changelog") or {}).get("histories") or []:  # newest first
        if any(item.get("field") == "status" for item in history.get("items") or []):
            changed_by = str((history.get("author") or {}).get("displayName", ""))[:150]
            break
    return IssueStatus(
        key=key, name=str(status.get("name", ""))[:100], category=category, changed_by=changed_by
    )


def issue_statuses(destination: Destination, keys: list[str]) -> dict[str, IssueStatus | None]:
    """The status of each key, by one JQL search per STATUS_BATCH keys (None: the issue is gone).

    A key that names no issue (deleted, moved) makes Jira reject the whole query (400); the batch is then
    asked issue by issue (GET /rest/api/3/issue/{key}?fields=status), so one deleted issue does not stop
    the others from being followed.
    """
    base, headers = _base(destination), jira_headers(destination)
    found: dict[str, IssueStatus | None] = {}
    for start in range(0, len(keys), STATUS_BATCH):
        batch = keys[start : start + STATUS_BATCH]
        try:
            found.update(_search_statuses(base, headers, batch))
        except JiraError as error:
            if error.status != 400:
                raise
            for key in batch:
                found[key] = _issue_status(base, headers, key)
    return found


def _search_statuses(base: str, headers: dict[str, str], keys: list[str]) -> dict[str, IssueStatus | None]:
    found: dict[str, IssueStatus | None] = dict.fromkeys(keys)
    params = {"jql": f"key in ({', '.join(keys)})", "fields": "status", "expand": "changelog",
              "maxResults": str(len(keys))}  # fmt: skip
    for _page in range(len(keys) + 1):  # each page holds at least one issue: bounded
        document = _document(_call("GET", f"{base}/rest/api/3/search/jql?{urlencode(params)}", headers,
                                   "the issue status search"), "the issue status search")  # fmt: skip
        for issue in document.get("issues") or []:
            status = _status_of(issue) if isinstance(issue, dict) else None
            if status is not None and status.key in found:
                found[status.key] = status
        token = document.get("nextPageToken")
        if document.get("isLast", True) or not token:
            break
        params["nextPageToken"] = str(token)
    return found


def _issue_status(base: str, headers: dict[str, str], key: str) -> IssueStatus | None:
    url = f"{base}/rest/api/3/issue/{quote(key)}?fields=status&expand=changelog"
    try:
        answer = _call("GET", url, headers, f"issue {key}")
    except JiraError as error:
        if error.status == 404:
            return None
        raise
    return _status_of(_document(answer, f"issue {key}"))


def _adf(text: str) -> dict[str, Any]:
    lines = [line for line in text.splitlines() if line.strip()] or [text]
    return {"type": "doc", "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": line}]} for line in lines]}  # fmt: skip


def issue_comment(destination: Destination, key: str, text: str) -> None:
    """POST /rest/api/3/issue/{key}/comment with an Atlassian Document Format body."""
    _call("POST", f"{_base(destination)}/rest/api/3/issue/{quote(key)}/comment", jira_headers(destination),
          f"a comment on {key}", {"body": _adf(text)})  # fmt: skip


def issue_move(destination: Destination, key: str, *, category: str, transition: str, note: str) -> str:
    """Move the issue into `category` (done, or back to new), else comment `note`; says which it did.

    `transition`: the destination's configured transition (its id or its name, case-insensitive); blank
    picks the first transition Jira offers whose target status is in `category`. When Jira offers none
    that fits (the workflow or the account's permissions forbid it), the note is left as a comment.
    """
    base, headers = _base(destination), jira_headers(destination)
    url = f"{base}/rest/api/3/issue/{quote(key)}/transitions"
    offered = _document(_call("GET", url, headers, f"the transitions of {key}"), f"the transitions of {key}")
    choices = [t for t in offered.get("transitions") or [] if isinstance(t, dict)]
    wanted = transition.strip().lower()
    if wanted:
        fitting = [
            t for t in choices if wanted in (str(t.get("id", "")).lower(), str(t.get("name", "")).lower())
        ]
    else:
        targets = ("new", "indeterminate") if category != "done" else ("done",)
        fitting = [t for t in choices
                   if ((t.get("to") or {}).get("statusCategory") or {}).get("key") in targets]  # fmt: skip
        fitting.sort(key=lambda t: targets.index(t["to"]["statusCategory"]["key"]))
    if not fitting:
        issue_comment(destination, key, note)
        return f"No transition to {category} allowed on {key}; commented instead."
    chosen = fitting[0]
    _call(
        "POST",
        url,
        headers,
        f"transition {chosen.get('name')} of {key}",
        {"transition": {"id": str(chosen.get("id"))}},
    )
    issue_comment(destination, key, note)
    return f"Moved {key} with transition “{chosen.get('name')}”."
