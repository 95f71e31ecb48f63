"""Ingest over real HTTP, through the production WSGI server (gunicorn), with chunked bodies.

EventBridge, or a proxy in front of GuardWatch, may send a body with `Transfer-Encoding: chunked` and no
Content-Length. Django's test client cannot send one, and Django's development server (the `live_server`
fixture) hands the application an empty stream for it (it bounds the input by Content-Length), so this
runs gunicorn, as the web container does, against the test database.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys

import pytest

from accounts.models import MONITORED, MemberAccount, Membership
from findings.models import Finding
from findings.services import ingest_key_create
from gdsim.catalogue import to_eventbridge_event
from tests.conftest import ROOT, TEST_OUTPUT, _worker_env
from tests.support.waiting import wait_for

from .factories import MEMBER, raw_finding, raw_findings

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/ingest/eventbridge/"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False


@pytest.fixture
def gunicorn():
    """`gunicorn guardwatch.wsgi` (the Dockerfile's command) on a free port; yields the port."""
    TEST_OUTPUT.mkdir(exist_ok=True)
    port = _free_port()
    log = (TEST_OUTPUT / "gunicorn-ingest.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "guardwatch.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--access-logfile", "-"],
        cwd=ROOT, env=_worker_env(), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: server.poll() is not None or _answers(port), timeout=30, what="gunicorn to answer /healthz")
        assert server.poll() is None, (TEST_OUTPUT / "gunicorn-ingest.log").read_text()[-3000:]
        yield port
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


@pytest.fixture
def key(admin):
    account = MemberAccount.objects.create(account_id=MEMBER, email="root+member@example.com")
    Membership.objects.create(account=account, region="us-east-1", relationship_status=MONITORED)
    _key, secret = ingest_key_create(name="EventBridge us-east-1", actor=admin)
    return secret


def post_chunked(port: int, key: str, pieces: list[bytes]) -> tuple[int, dict, dict]:
    """POST `pieces` as chunks (http.client sends Transfer-Encoding: chunked, no Content-Length)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(
        "POST", URL, body=iter(pieces),
        headers={"Content-Type": "application/json", "X-GuardWatch-Key": key},
    )  # fmt: skip
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    return response.status, body, dict(response.getheaders())


def test_a_chunked_push_without_content_length_is_stored(gunicorn, key):
    events = [to_eventbridge_event(f) for f in raw_findings(5)]
    body = json.dumps(events).encode()
    pieces = [body[start : start + 1000] for start in range(0, len(body), 1000)]

    status, answer, _headers = post_chunked(gunicorn, key, pieces)

    assert status == 202, answer
    assert answer == {"received": 5, "new": 5, "updated": 0, "unchanged": 0}
    assert Finding.objects.count() == 5


def test_an_oversized_chunked_push_is_413_and_nothing_stored(gunicorn, key):
    event = to_eventbridge_event(raw_finding())
    event["detail"]["description"] = "x" * (2 * 1024 * 1024)  # 2 MiB, over the 1 MiB limit
    body = json.dumps(event).encode()
    pieces = [body[start : start + 65536] for start in range(0, len(body), 65536)]

    status, answer, _headers = post_chunked(gunicorn, key, pieces)

    assert status == 413
    assert answer["error"] == "Body is larger than 1048576 bytes."
    assert Finding.objects.count() == 0
