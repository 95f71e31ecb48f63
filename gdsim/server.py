"""The simulator's HTTP face: a WSGI app speaking GuardDuty, STS and Organizations, and a server.

One endpoint serves everything, told apart the way AWS endpoints would be:
- `/_sim/...`: the JSON control API (control.py);
- an `X-Amz-Target: AWSOrganizationsV20161128.*` header: Organizations (json-1.1);
- a form-encoded POST to `/` (or a credential scope for `sts`): STS (query protocol);
- anything else: GuardDuty (rest-json), routed by botocore's requestUri templates.

`SimulatorServer` runs the app on a threaded wsgiref server with HTTP/1.1 keep-alive, in a
background thread (tests, bench) or in the foreground (`serve`, behind `python -m gdsim`).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC
from email.utils import format_datetime
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from . import control, ec2, organizations, s3, sts
from .auth import parse_caller
from .errors import (
    AccessDenied,
    InternalServerError,
    NotImplementedOperation,
    SimulatorError,
    UnknownOperation,
)
from .live import LiveTicker
from .operations import HANDLERS, Context
from .protocol import (
    OutputValidationError,
    Router,
    encode_output,
    parse_request,
    service_model,
    validate_output,
)
from .state import SimulatorState

logger = logging.getLogger("gdsim")
Response = tuple[int, list[tuple[str, str]], bytes]
_STATUS_TEXT = {200: "OK", 204: "No Content", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
                429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented",
                503: "Service Unavailable"}


@dataclass
class Request:
    """The parts of an HTTP request the simulator reads."""

    method: str
    raw_path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> Request:
        """Read a WSGI environ (the whole body is consumed, which keep-alive relies on)."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        return cls(method=environ["REQUEST_METHOD"].upper(), raw_path=raw.split("?", 1)[0],
                   query=parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
                   headers=headers, body=body)


def _json_error(error: SimulatorError, *, message_key: str = "message") -> Response:
    body = json.dumps({message_key: error.message, "__type": error.type}).encode()
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", error.code),
               ("x-amzn-RequestId", str(uuid.uuid4()))]
    return error.status, headers, body


class SimulatorApp:
    """The WSGI application over one SimulatorState."""

    def __init__(self, state: SimulatorState):
        self.state = state
        self.router = Router(service_model("guardduty"))

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        request = Request.from_environ(environ)
        try:
            if request.raw_path.startswith("/_sim/"):
                status, headers, body = control.handle(self.state, request)
            elif request.headers.get("x-amz-target", "").startswith(organizations.TARGET_PREFIX):
                status, headers, body = self._organizations(request)
            elif self._is_ec2(request):
                status, headers, body = self._ec2(request)
            elif self._is_s3(request):
                status, headers, body = self._s3(request)
            elif self._is_sts(request):
                status, headers, body = self._sts(request)
            else:
                status, headers, body = self._guardduty(request)
        except Exception:  # a simulator bug: answer 500 and keep the trace for the test suite
            self._record_error(f"{request.method} {request.raw_path}\n{traceback.format_exc()}")
            status, headers, body = _json_error(InternalServerError("Internal server error"))
        headers.append(("Content-Length", str(len(body))))
        # Every AWS response carries an HTTP `Date` (RFC 9110 section 6.6.1: an origin server with a clock
        # must send it), which clients may take as the service's "now" (GuardWatch's sync does: see
        # findings/sync.py). It is the simulator's clock, not the host's: wsgiref would otherwise add
        # the host's time, which disagrees with every timestamp of a simulator whose clock was set.
        headers.append(("Date", format_datetime(self.state.now().astimezone(UTC), usegmt=True)))
        start_response(f"{status} {_STATUS_TEXT.get(status, 'Status')}", headers)
        return [body]

    def _record_error(self, text: str) -> None:
        self.state.errors.append(text)
        logger.error("simulator error: %s", text)

    @staticmethod
    def _is_ec2(request: Request) -> bool:
        caller = parse_caller(request.headers.get("authorization"), request.headers.get("host"))
        return caller is not None and caller.service == "ec2"

    def _ec2(self, request: Request) -> Response:
        caller = parse_caller(request.headers.get("authorization"), request.headers.get("host"))
        form = {key: values[0] for key, values in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        account = self.state.account_for_access_key(caller.access_key_id) if caller else None
        self.state.call_counts.record(f"ec2:{form.get('Action', 'Unknown')}", account, caller.region if caller else None)
        headers = [("Content-Type", "text/xml;charset=UTF-8")]
        try:
            return 200, headers, ec2.handle(self.state, account, form)
        except ec2.Ec2Error as error:
            return error.status, headers, ec2.error_body(error)

    @staticmethod
    def _is_s3(request: Request) -> bool:
        caller = parse_caller(request.headers.get("authorization"), request.headers.get("host"))
        return caller is not None and caller.service == "s3"

    def _s3(self, request: Request) -> Response:
        caller = parse_caller(request.headers.get("authorization"), request.headers.get("host"))
        account = self.state.account_for_access_key(caller.access_key_id) if caller else None
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", uuid.uuid4().hex[:16].upper())]
        try:
            with self.state.lock:
                operation, body = s3.handle(self.state, account, request.method, request.raw_path, request.query)
        except s3.S3Error as error:
            self.state.call_counts.record("s3:error", account, caller.region if caller else None)
            return error.status, headers, s3.error_body(error)
        self.state.call_counts.record(f"s3:{operation}", account, caller.region if caller else None)
        return 200, headers, body

    @staticmethod
    def _is_sts(request: Request) -> bool:
        caller = parse_caller(request.headers.get("authorization"), request.headers.get("host"))
        if caller is not None and caller.service == "sts":
            return True
        return (request.method == "POST" and request.raw_path in ("", "/")
                and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"))

    # ---------------------------------------------------------------------------------------
    # GuardDuty

    def _guardduty(self, request: Request) -> Response:
        state = self.state
        caller = parse_caller(request.headers.get("authorization"), request.headers.get("host"))
        matched = self.router.match(request.method, request.raw_path)
        operation_name = matched[0].name if matched else "Unknown"
        account = state.account_for_access_key(caller.access_key_id) if caller else None
        region = caller.region if caller else None
        state.call_counts.record(operation_name, account, region)
        try:
            if caller is None:
                raise AccessDenied("Missing Authentication Token", code="MissingAuthenticationTokenException",
                                   error_type="MissingAuthenticationTokenException")
            if account is None:
                raise AccessDenied("The security token included in the request is invalid.")
            if matched is None:
                raise UnknownOperation(f"No GuardDuty operation is {request.method} {request.raw_path}.")
            operation, path_params = matched
            delay, fault = state.faults.decide(operation_name, account, region)
            if delay:
                time.sleep(delay)
            if fault is not None:
                raise fault
            handler = HANDLERS.get(operation_name)
            if handler is None:
                raise NotImplementedOperation(f"The GuardWatch simulator does not implement {operation_name}.")
            params = parse_request(operation, path_params, request.query, request.headers, request.body)
            with state.lock:
                state.settle_invitations()  # what GuardDuty would show now: verifications that ended meanwhile
                result = handler(Context(state, account, region, operation_name), params)
                self._check_output(operation_name, result)
                if state.after_call is not None:
                    state.after_call(operation_name, params, result)
                body = encode_output(operation, result)
                state.autosave()
            # CloudTrail records the call; EventBridge delivers write calls to the configured target.
            state.event_target.record_call(operation=operation_name, account_id=account, region=region, params=params,
                                           moment=state.now(), session=state.sessions.get(caller.access_key_id))  # fmt: skip
        except SimulatorError as error:
            return _json_error(error)
        headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", str(uuid.uuid4()))]
        return operation.http.get("responseCode", 200), headers, body

    def _check_output(self, operation_name: str, result: dict[str, Any], service: str = "guardduty") -> None:
        if not self.state.strict_responses:
            return
        try:
            validate_output(operation_name, result, service=service)
        except OutputValidationError as error:
            self._record_error(str(error))
            raise InternalServerError(f"Strict mode: {error}") from None

    # ---------------------------------------------------------------------------------------
    # STS and Organizations

    def _sts(self, request: Request) -> Response:
        caller = parse_caller(request.headers.get("authorization"), request.headers.get("host"))
        form = {key: values[0] for key, values in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        account = self.state.account_for_access_key(caller.access_key_id) if caller else None
        self.state.call_counts.record(f"sts:{form.get('Action', 'Unknown')}", account, caller.region if caller else None)
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", str(uuid.uuid4()))]
        try:
            return 200, headers, sts.handle(self.state, caller.access_key_id if caller else None, form)
        except sts.StsError as error:
            return error.status, headers, sts.error_body(error)

    def _organizations(self, request: Request) -> Response:
        caller = parse_caller(request.headers.get("authorization"), request.headers.get("host"))
        operation_name = request.headers["x-amz-target"][len(organizations.TARGET_PREFIX):]
        account = self.state.account_for_access_key(caller.access_key_id) if caller else None
        self.state.call_counts.record(f"organizations:{operation_name}", account, caller.region if caller else None)
        model = service_model("organizations")
        try:
            if account is None:
                raise AccessDenied("The security token included in the request is invalid.")
            if operation_name not in model.operation_names:
                raise UnknownOperation(f"No Organizations operation is named {operation_name}.")
            operation = model.operation_model(operation_name)
            params = parse_request(operation, {}, {}, {}, request.body)
            with self.state.lock:
                result = organizations.handle(self.state, account, operation_name, params)
                self._check_output(operation_name, result, service="organizations")
            body = encode_output(operation, result)
        except SimulatorError as error:
            status, headers, body = _json_error(error, message_key="Message")
            return status, [("Content-Type", "application/x-amz-json-1.1"), *headers[1:]], body
        return 200, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", str(uuid.uuid4()))], body


def make_wsgi_app(state: SimulatorState) -> SimulatorApp:
    """The WSGI application serving `state`."""
    return SimulatorApp(state)


# -------------------------------------------------------------------------------------------
# HTTP server


class _KeepAliveServerHandler(ServerHandler):
    http_version = "1.1"


class _RequestHandler(WSGIRequestHandler):
    """wsgiref's handler, made to keep connections open (boto3 reuses them) and to stay quiet."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, keep-alive calls stall ~40 ms.
    disable_nagle_algorithm = True

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection:
            self.handle_one_request()

    def handle_one_request(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
        environ = self.get_environ()
        environ["RAW_URI"] = self.path
        handler = _KeepAliveServerHandler(self.rfile, self.wfile, self.get_stderr(), environ, multithread=True)
        handler.request_handler = self
        handler.run(self.server.get_app())

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        logger.debug("%s " + format, self.address_string(), *args)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class SimulatorServer:
    """The simulator on a local port: `SimulatorServer().start()`, then `.endpoint_url`, `.stop()`."""

    def __init__(self, state: SimulatorState | None = None, host: str = "127.0.0.1", port: int = 0):
        self.state = state if state is not None else SimulatorState()
        self._server = _ThreadingWSGIServer((host, port), _RequestHandler)
        self._server.set_app(make_wsgi_app(self.state))
        self.host = host
        self.port = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        """What boto3's `endpoint_url` should be."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> SimulatorServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                                        name=f"gdsim-{self.port}", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until stop() (or an interrupt)."""
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop serving, close the socket and save the state if it is persisted."""
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.close()

    def close(self) -> None:
        """Close the socket and save the state (after serve_forever has returned)."""
        self._server.server_close()
        self.state.save()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(*, port: int = 4566, host: str = "127.0.0.1", scenario: str | None = None, seed: int = 0,
          persist: str | Path | None = None, live: bool = False, tick_seconds: float = 10.0,
          strict: bool = False, email_verification_seconds: float = 5.0,
          log: Callable[[str], None] = print) -> None:
    """Run the simulator in the foreground until interrupted (what `python -m gdsim` calls).

    A persisted state that already holds data is kept as it is; the scenario only seeds an empty one.
    With `live`, a background thread runs one live tick every `tick_seconds` (see live.py). An invited
    member's email verification takes `email_verification_seconds` (relationships.invite_members).
    """
    state = SimulatorState(seed=seed, persist_path=persist, strict_responses=strict,
                           email_verification_seconds=email_verification_seconds)
    if scenario and not state.scopes:
        summary = state.seed_scenario(scenario, seed)
        state.save()
        log(f"Seeded scenario {scenario!r} (seed {seed}): {json.dumps(summary)}")
    server = SimulatorServer(state, host=host, port=port)
    ticker = None
    if live:
        # A failing tick is logged and recorded (GET /_sim/health, /_sim/errors); the ticks go on.
        ticker = state.live = LiveTicker(state, tick_seconds=tick_seconds, log=log).start()
    log(f"GuardDuty simulator listening on {server.endpoint_url} (control API: {server.endpoint_url}/_sim/health)")
    if threading.current_thread() is threading.main_thread():
        # `docker stop` sends SIGTERM: stop as on Ctrl-C, so the state is saved.
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if ticker is not None:
            ticker.stop()
        server.close()
        state.close()
