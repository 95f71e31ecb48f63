"""A local Jira Cloud stand-in: the REST API v3 calls GuardWatch makes, modelled as Atlassian documents them.

`python -m gdsim.jira --port 8443 --cert server.pem --key server.key` serves it alone (the demo, or a person
trying the two-way tickets); tests start `JiraStandIn(...).start(tls=context)` in a thread. Standard library
only, like the rest of the simulator: it imports nothing of the product and no Django.

What it models (each with its documentation source next to the code):
- Basic auth with an Atlassian account email and an API token; anything else is 401.
- POST /rest/api/3/issue; GET /rest/api/3/issue/{key}?fields=status.
- GET /rest/api/3/search/jql (the enhanced search that replaced /rest/api/3/search) with `jql`, `fields`,
  `expand=changelog`, `maxResults` and `nextPageToken`; the JQL it understands is what GuardWatch sends:
  `labels = "x"`, `key = K`, `key in (K1, K2)`. A key that does not exist makes the query invalid (400).
- GET / POST /rest/api/3/issue/{key}/transitions; POST /rest/api/3/issue/{key}/comment (ADF body).
- Status categories `new`, `indeterminate`, `done` (the keys a status's `statusCategory` carries).
- Rate limiting: 429 with Retry-After (seconds).
- Admin webhooks with a secret: `jira:issue_updated` bodies, signed `X-Hub-Signature: sha256=<hex>`.

Beside the API, for the demo: `/browse/<KEY>` (where Jira's issue links point) is a small page showing the
issue with a button per transition, so a person can close the ticket "in Jira" by hand. It needs no login
(it stands for a person already signed in to Jira) and is not part of Jira's REST API.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import html
import ipaddress
import itertools
import json
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

# https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-workflow-status-categories/ :
# every status belongs to one of three categories, keyed "new" (To Do), "indeterminate" (In Progress), "done".
STATUSES = {
    "To Do": {"id": "10000", "name": "To Do", "statusCategory": {"id": 2, "key": "new", "name": "To Do"}},
    "In Progress": {
        "id": "3",
        "name": "In Progress",
        "statusCategory": {"id": 4, "key": "indeterminate", "name": "In Progress"},
    },  # fmt: skip
    "Done": {"id": "10001", "name": "Done", "statusCategory": {"id": 3, "key": "done", "name": "Done"}},
}
# A team-managed project's default workflow: every status reachable from every other ("global" transitions).
TRANSITIONS = [("11", "To Do"), ("21", "In Progress"), ("31", "Done")]
# https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-get :
# maxResults defaults to 50. "The greatest number of items returned per page is achieved when requesting id or
# key only" (up to 5000); with other fields Jira may return fewer than asked: the stand-in caps those at 100,
# so a client that ignores nextPageToken is caught.
SEARCH_DEFAULT, SEARCH_KEYS_ONLY_MAX, SEARCH_FIELDS_MAX = 50, 5000, 100
JQL_LABEL = re.compile(r'labels\s*=\s*"([^"]+)"')
JQL_KEY = re.compile(r"key\s*=\s*([A-Z][A-Z0-9_]*-[0-9]+)")
JQL_KEYS = re.compile(r"key\s+in\s*\(([^)]*)\)")


def hub_signature(secret: str, body: bytes) -> str:
    """What Jira puts in X-Hub-Signature for an admin webhook registered with a secret.

    https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks : HMAC-SHA256 of the
    raw body under the webhook's secret, sent as `sha256=<hex>` (the WebSub `method=signature` format).
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _error(status: int, *messages: str, errors: dict | None = None) -> tuple[int, dict, Any]:
    # Jira's error collection: {"errorMessages": [...], "errors": {field: message}}.
    return status, {}, {"errorMessages": list(messages), "errors": errors or {}}


@dataclass
class Issue:
    id: str
    key: str
    fields: dict[str, Any]
    status: str = "To Do"
    comments: list[dict[str, Any]] = field(default_factory=list)
    histories: list[dict[str, Any]] = field(default_factory=list)
    transitions_allowed: bool = True


class JiraStandIn:
    """The state and the answers; `handle()` is pure request → response, the server around it is a thread.

    `accounts`: email → API token accepted. `throttle(n)`: the next n requests answer 429. `slow_creates`: that
    many creates succeed but their answer never comes (the client times out, as after a Jira hiccup).
    """

    def __init__(self, *, accounts: dict[str, str] | None = None, retry_after: int = 1):
        self.accounts = accounts if accounts is not None else {"bot@example.com": "tok-123456789"}
        self.retry_after = retry_after
        self.issues: dict[str, Issue] = {}
        self.requests: list[tuple[str, str]] = []
        self.throttled = 0
        self.slow_creates = 0
        # Jira may return fewer issues per page than asked when fields are requested: this many at most.
        self.fields_page_max = SEARCH_FIELDS_MAX
        # Tests of concurrent clients: each search waits (up to half a second) at this barrier for the others.
        self.search_gate: threading.Barrier | None = None
        self.lock = threading.RLock()
        self._ids = itertools.count(10000)
        self._numbers: dict[str, itertools.count] = {}
        self.server: ThreadingHTTPServer | None = None
        self.release = threading.Event()

    # --- What a person does in Jira (tests and the demo) ------------------------------------------------------

    def transition(self, key: str, status: str, *, by: str = "Dana Jira") -> Issue:
        """Move an issue to `status` as a person would in Jira, recording the change in its changelog."""
        with self.lock:
            issue = self.issues[key]
            before, issue.status = issue.status, status
            # https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-changelog-get :
            # each history has an author and items {field, fromString, toString}.
            issue.histories.append({"id": str(next(self._ids)), "author": {"displayName": by},
                                    "created": time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime()),
                                    "items": [{"field": "status", "fromString": before, "toString": status}]})  # fmt: skip
            return issue

    def close(self, key: str, *, by: str = "Dana Jira") -> Issue:
        return self.transition(key, "Done", by=by)

    def issue_updated_event(self, key: str) -> dict[str, Any]:
        """The body of the `jira:issue_updated` webhook Jira sends after the issue's last change.

        https://developer.atlassian.com/cloud/jira/platform/webhooks/#example-callback-for-an-issue-related-event
        """
        with self.lock:
            issue = self.issues[key]
            last = issue.histories[-1] if issue.histories else {"author": {"displayName": ""}, "items": []}
            return {"timestamp": int(time.time() * 1000), "webhookEvent": "jira:issue_updated",
                    "issue_event_type_name": "issue_generic", "user": last["author"],
                    "issue": {"id": issue.id, "key": issue.key, "fields": {"status": STATUSES[issue.status]}},
                    "changelog": {"id": last.get("id", ""), "items": last["items"]}}  # fmt: skip

    def throttle(self, count: int) -> None:
        with self.lock:
            self.throttled = count

    # --- The API ------------------------------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict, Any] | None:
        """(status, extra headers, JSON document or None) for one request; None: never answer."""
        parts = urlsplit(raw_path)
        path, query = parts.path, parse_qs(parts.query)
        with self.lock:
            self.requests.append((method, raw_path))
            # https://developer.atlassian.com/cloud/jira/platform/rate-limiting/ : over the limit, Jira answers
            # 429 with Retry-After (seconds to wait) and the client should wait that long before retrying.
            if self.throttled:
                self.throttled -= 1
                status, _, document = _error(429, "Rate limit exceeded.")
                return status, {"Retry-After": str(self.retry_after)}, document
        if path == "/_standin/health":
            return 200, {}, {"ok": True}
        if path.startswith("/browse/"):
            return self._browse(method, path, body)
        # https://developer.atlassian.com/cloud/jira/platform/basic-auth-for-rest-apis/ : Basic auth with the
        # account's email and an API token; a wrong pair is 401.
        if not self._authenticated(headers.get("authorization", "")):
            return _error(401, "Client must be authenticated to access this resource.")
        issue_path = re.fullmatch(r"/rest/api/3/issue/([^/]+)(/transitions|/comment)?", path)
        if method == "POST" and path == "/rest/api/3/issue":
            return self._create(body)
        if method == "GET" and path == "/rest/api/3/search/jql":
            return self._search(query)
        if issue_path:
            key, tail = unquote(issue_path.group(1)), issue_path.group(2)
            with self.lock:
                issue = self.issues.get(key)
            if issue is None:
                # https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-get
                return _error(404, "Issue does not exist or you do not have permission to see it.")
            if method == "GET" and tail is None:
                return 200, {}, self._issue_document(issue, query.get("fields", ["*all"])[0].split(","), [])
            if tail == "/transitions" and method == "GET":
                return 200, {}, {"transitions": self._transitions(issue)}
            if tail == "/transitions" and method == "POST":
                return self._transition_post(issue, body, headers)
            if tail == "/comment" and method == "POST":
                return self._comment(issue, body)
        return _error(404, "No such resource.")

    def _authenticated(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme != "Basic":
            return False
        try:
            email, _, token = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return bool(token) and hmac.compare_digest(self.accounts.get(email, ""), token)

    def _json(self, body: bytes) -> Any:
        try:
            return json.loads(body)
        except ValueError:
            return None

    def _create(self, body: bytes) -> tuple[int, dict, Any] | None:
        # https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-post :
        # 201 {"id", "key", "self"}; a missing required field is 400 with its message under "errors".
        document = self._json(body)
        fields = document.get("fields") if isinstance(document, dict) else None
        if not isinstance(fields, dict):
            return _error(400, "Request body is not a valid issue.")
        problems = {}
        if not (fields.get("project") or {}).get("key"):
            problems["project"] = "Specify a valid project ID or key"
        if not fields.get("summary"):
            problems["summary"] = "You must specify a summary of the issue."
        if not (fields.get("issuetype") or {}).get("name"):
            problems["issuetype"] = "Specify an issue type"
        description = fields.get("description")
        if description is not None and (
            not isinstance(description, dict) or description.get("type") != "doc"
        ):
            problems["description"] = (
                "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
            )
        if problems:
            return _error(400, errors=problems)
        with self.lock:
            project = fields["project"]["key"]
            number = next(self._numbers.setdefault(project, itertools.count(1)))
            issue = Issue(id=str(next(self._ids)), key=f"{project}-{number}", fields=fields)
            self.issues[issue.key] = issue
            if self.slow_creates:
                self.slow_creates -= 1
                return None
        return 201, {}, {"id": issue.id, "key": issue.key, "self": f"/rest/api/3/issue/{issue.id}"}

    def _issue_document(self, issue: Issue, fields: list[str], expand: list[str]) -> dict[str, Any]:
        shown: dict[str, Any] = {}
        every = "*all" in fields or "*navigable" in fields
        if every or "status" in fields:
            shown["status"] = STATUSES[issue.status]
        if every or "labels" in fields:
            shown["labels"] = list(issue.fields.get("labels") or [])
        if every or "summary" in fields:
            shown["summary"] = issue.fields.get("summary", "")
        document = {"id": issue.id, "key": issue.key, "fields": shown}
        if "changelog" in expand:
            # Newest first, as Jira pages the changelog inside a search result.
            histories = list(reversed(issue.histories))
            document["changelog"] = {"startAt": 0, "maxResults": len(histories), "total": len(histories),
                                     "histories": histories}  # fmt: skip
        return document

    def _search(self, query: dict[str, list[str]]) -> tuple[int, dict, Any]:
        jql = query.get("jql", [""])[0]
        fields = [f for f in query.get("fields", ["id"])[0].split(",") if f]
        expand = query.get("expand", [""])[0].split(",")
        try:
            wanted = int(query.get("maxResults", [SEARCH_DEFAULT])[0])
        except ValueError:
            return _error(400, "maxResults must be a number.")
        if self.search_gate is not None:
            with contextlib.suppress(threading.BrokenBarrierError):
                self.search_gate.wait(timeout=0.5)
        cap = (
            SEARCH_KEYS_ONLY_MAX if set(fields) <= {"id", "key"} and not any(expand) else self.fields_page_max
        )
        size = max(1, min(wanted, cap))
        with self.lock:
            if match := JQL_LABEL.fullmatch(jql.strip()):
                found = [i for i in self.issues.values() if match.group(1) in (i.fields.get("labels") or [])]
            elif (match := JQL_KEYS.fullmatch(jql.strip())) or (match := JQL_KEY.fullmatch(jql.strip())):
                keys = [k.strip().strip('"') for k in match.group(1).split(",") if k.strip()]
                missing = [k for k in keys if k not in self.issues]
                if missing:
                    # Jira validates the query strictly: a key that names no issue makes it invalid.
                    return _error(
                        400, *(f"An issue with key '{k}' does not exist for field 'key'." for k in missing)
                    )
                found = [self.issues[k] for k in dict.fromkeys(keys)]
            else:
                return _error(400, f"The stand-in does not understand this JQL: {jql}")
            start = int(query.get("nextPageToken", ["0"])[0] or 0)
            page = found[start : start + size]
            documents = [self._issue_document(i, fields, expand) for i in page]
        answer: dict[str, Any] = {"issues": documents, "isLast": start + size >= len(found)}
        if not answer["isLast"]:
            answer["nextPageToken"] = str(start + size)
        return 200, {}, answer

    def _transitions(self, issue: Issue) -> list[dict[str, Any]]:
        # https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-transitions-get :
        # the transitions the user may perform on the issue in its current status; none when the workflow
        # (or a permission) allows none.
        if not issue.transitions_allowed:
            return []
        return [{"id": tid, "name": name, "to": STATUSES[name], "isAvailable": True}
                for tid, name in TRANSITIONS if name != issue.status]  # fmt: skip

    def _transition_post(self, issue: Issue, body: bytes, headers: dict[str, str]) -> tuple[int, dict, Any]:
        # https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-transitions-post :
        # {"transition": {"id": "31"}}; 204 on success, 400 when the transition is not valid for the issue.
        document = self._json(body)
        wanted = (
            str(((document or {}).get("transition") or {}).get("id", ""))
            if isinstance(document, dict)
            else ""
        )
        allowed = {t["id"]: t["to"]["name"] for t in self._transitions(issue)}
        if wanted not in allowed:
            return _error(400, f"Transition id '{wanted}' is not valid for this issue.")
        email = base64.b64decode(headers["authorization"].partition(" ")[2]).decode().partition(":")[0]
        self.transition(issue.key, allowed[wanted], by=email)
        return 204, {}, None

    def _comment(self, issue: Issue, body: bytes) -> tuple[int, dict, Any]:
        # https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-comments/#api-rest-api-3-issue-issueidorkey-comment-post :
        # the body is an Atlassian Document Format document; 201 with the comment.
        document = self._json(body)
        adf = document.get("body") if isinstance(document, dict) else None
        if not isinstance(adf, dict) or adf.get("type") != "doc":
            return _error(400, "Comment body is not valid.")
        with self.lock:
            comment = {"id": str(next(self._ids)), "body": adf}
            issue.comments.append(comment)
        return 201, {}, comment

    # --- The issue page a person uses (demo) ---------------------------------------------------------------------

    def _browse(self, method: str, path: str, body: bytes) -> tuple[int, dict, Any]:
        """GET /browse/KEY: the issue and its transitions; POST /browse/KEY/transition: move it, as a person."""
        match = re.fullmatch(r"/browse/([A-Z][A-Z0-9_]*-[0-9]+)(/transition)?", path)
        with self.lock:
            issue = self.issues.get(match.group(1)) if match else None
        if issue is None:
            return 404, {"Content-Type": "text/plain"}, "No such issue."
        if method == "POST" and match.group(2):
            wanted = parse_qs(body.decode("utf-8", "replace")).get("id", [""])[0]
            allowed = {t["id"]: t["to"]["name"] for t in self._transitions(issue)}
            if wanted in allowed:
                self.transition(issue.key, allowed[wanted], by="Demo Person")
            return 303, {"Location": f"/browse/{quote(issue.key)}"}, ""
        buttons = "".join(
            f'<form method="post" action="/browse/{quote(issue.key)}/transition"><input type="hidden" name="id" '
            f'value="{html.escape(t["id"])}"><button type="submit">{html.escape(t["name"])}</button></form>'
            for t in self._transitions(issue)
        )
        page = (f"<!doctype html><title>{html.escape(issue.key)}</title><h1>{html.escape(issue.key)}: "
                f"{html.escape(str(issue.fields.get('summary', '')))}</h1><p>Status: <strong data-testid=\"status\">"
                f"{html.escape(issue.status)}</strong></p>{buttons}<p>Local Jira stand-in (gdsim.jira)</p>")  # fmt: skip
        return 200, {"Content-Type": "text/html; charset=utf-8"}, page

    # --- The server ---------------------------------------------------------------------------------------------

    def start(
        self, *, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> JiraStandIn:
        """Serve in a daemon thread; `url` is the site's base URL."""
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = stand_in.handle(method, self.path, headers, body)
                if answer is None:
                    stand_in.release.wait(timeout=30)  # the client times out long before this
                    return
                status, extra, document = answer
                if isinstance(document, str):  # the demo's issue page (text/html or text/plain)
                    payload = document.encode()
                else:
                    payload = b"" if document is None else json.dumps(document).encode()
                self.send_response(status)
                for name, value in {
                    "Content-Type": "application/json",
                    **extra,
                }.items():  # extra may override
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self):  # noqa: N802
                self._answer("GET")

            def do_POST(self):  # noqa: N802
                self._answer("POST")

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.scheme = "https" if tls is not None else "http"
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def self_signed_write(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (the demo's https Jira): (cert file, key file).

    Give the cert file to GuardWatch as GUARDWATCH_NOTIFY_CA_FILE: it is its own trust anchor.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Jira stand-in")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = folder / "jira-standin.pem", folder / "jira-standin.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    key_file.chmod(0o600)
    return cert_file, key_file


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="gdsim.jira", description="Run the local Jira Cloud stand-in.")
    p.add_argument("--port", type=int, default=8443)
    p.add_argument("--cert", help="PEM certificate chain (Jira destinations need https://)")
    p.add_argument("--key", help="PEM private key for --cert")
    p.add_argument("--email", default="bot@example.com")
    p.add_argument("--token", default="tok-123456789")
    args = p.parse_args(argv)
    tls = None
    if args.cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.cert, args.key)
    stand_in = JiraStandIn(accounts={args.email: args.token}).start(port=args.port, tls=tls)
    print(f"Jira stand-in on {stand_in.url} (account {args.email})", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
