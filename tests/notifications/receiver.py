"""A real HTTP receiver for notification tests: http.server on 127.0.0.1:0 in a thread, recording requests."""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class Receiver:
    """Answers every POST with `status`/`answer`; `hang=True` holds the request until the test ends.

    `drip=seconds`: the answer's status line comes at once, then its headers and body one byte every
    `drip` seconds (a slow-drip receiver: no single read stalls, the whole answer takes long).
    `tls=SSLContext`: serve https with that server context (see `tls.py`).

    `respond(received) -> (status, body) | None`, when given, answers every request (GET too) instead;
    None holds that request like `hang` (a receiver that acted but whose answer never arrives).
    """

    def __init__(self, *, status: int = 200, answer: bytes = b'{"ok": true}', hang: bool = False,
                 respond: Callable[[Received], tuple[int, bytes] | None] | None = None,
                 drip: float | None = None, tls: ssl.SSLContext | None = None):  # fmt: skip
        self.status, self.answer, self.hang, self.respond = status, answer, hang, respond
        self.drip, self.tls = drip, tls
        self.requests: list[Received] = []
        self.arrived = threading.Condition()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self, method: str):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received = Received(method, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver.arrived:
                    receiver.requests.append(received)
                    receiver.arrived.notify_all()
                if receiver.respond is not None:
                    answer = receiver.respond(received)
                else:
                    answer = None if receiver.hang else (receiver.status, receiver.answer)
                if answer is None:
                    receiver.release.wait(timeout=30)  # the client times out long before this
                    return
                status, payload = answer
                if receiver.drip is not None:
                    self._drip(status, payload)
                    return
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _drip(self, status: int, payload: bytes):
                head = f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
                self.wfile.write(f"HTTP/1.1 {status} OK\r\n".encode())
                self.wfile.flush()
                for byte in head.encode() + payload:
                    if receiver.release.wait(receiver.drip):  # the test ended
                        return
                    try:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    except OSError:  # the client gave up
                        return

            def do_POST(self):  # noqa: N802
                self._handle("POST")

            def do_GET(self):  # noqa: N802
                self._handle("GET")

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 20) -> list[Received]:
        """Readiness polling with a deadline: block until `count` requests arrived."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout=timeout)
        return list(self.requests)


class FakeJira:
    """A Jira Cloud stand-in behind a `Receiver`: creates issues and finds them by label.

    POST /rest/api/3/issue makes `<project>-<n>` and keeps its labels; GET /rest/api/3/search/jql
    answers `labels = "<label>"` queries. `slow_creates`: that many creates succeed but their answer
    never comes (the client times out, as after a Jira hiccup). `failing_creates`: that many creates
    answer 503 without making anything. `search_status`: what the search answers instead of 200.
    """

    def __init__(self, *, slow_creates: int = 0, failing_creates: int = 0, search_status: int = 200):
        self.slow_creates, self.failing_creates, self.search_status = (
            slow_creates,
            failing_creates,
            search_status,
        )
        self.issues: list[dict] = []
        self.lock = threading.Lock()

    def respond(self, received: Received) -> tuple[int, bytes] | None:
        path = urlsplit(received.path)
        if received.method == "POST" and path.path == "/rest/api/3/issue":
            return self._create(received.json()["fields"])
        if received.method == "GET" and path.path == "/rest/api/3/search/jql":
            if self.search_status != 200:
                return self.search_status, b'{"errorMessages": ["Search is down"]}'
            label = re.fullmatch(r'labels = "([^"]+)"', parse_qs(path.query)["jql"][0]).group(1)
            found = [
                {"id": issue["id"], "key": issue["key"]} for issue in self.issues if label in issue["labels"]
            ]
            return 200, json.dumps({"issues": found[:1], "isLast": True}).encode()
        return 404, b'{"errorMessages": ["No such resource"]}'

    def _create(self, fields: dict) -> tuple[int, bytes] | None:
        with self.lock:
            if self.failing_creates:
                self.failing_creates -= 1
                return 503, b'{"errorMessages": ["Service unavailable"]}'
            issue = {"id": str(10000 + len(self.issues)), "key": f"{fields['project']['key']}-{len(self.issues) + 1}",
                     "labels": fields.get("labels", []), "fields": fields}  # fmt: skip
            self.issues.append(issue)
            if self.slow_creates:
                self.slow_creates -= 1
                return None
        return 201, json.dumps({"id": issue["id"], "key": issue["key"]}).encode()
