"""Shared fixtures: personas, a real Celery worker, and a real browser.

Personas (one per role, plus an outsider with no role) are the people the tests speak for:
`admin`, `analyst`, `manager`, `outsider`; `client_for("analyst")` is a signed-in Django client.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from guardwatch.core.roles import Role
from guardwatch.core.services import user_create

ROOT = Path(__file__).resolve().parent.parent
TEST_OUTPUT = ROOT / "test-output"
PASSWORD = "correct-horse-battery-staple"
CHROMIUM = os.environ.get("GUARDWATCH_CHROMIUM", "/usr/bin/chromium")

PERSONA_ROLES: dict[str, Role | None] = {
    "admin": Role.ADMIN,
    "analyst": Role.ANALYST,
    "manager": Role.MANAGER,
    "outsider": None,
}


@pytest.fixture(autouse=True)
def _findings_counts_fresh():
    """Each test starts from its own findings: counts the list kept for another test's rows (the cache
    is shared; tests store findings without the sync that would bump the data version) are dropped."""
    from guardwatch.core.data_version import data_version_bump

    data_version_bump(scope="findings")
    data_version_bump(scope="sla")  # an SLA policy another test saved (and rolled back) is not served from the cache


def persona_create(name: str):
    """A user named after the persona, holding its role (the outsider holds none)."""
    role = PERSONA_ROLES[name]
    if role is None:
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.create_user(username=name, password=PASSWORD)
        return user
    return user_create(username=name, role=role, password=PASSWORD, validate=False)


@pytest.fixture
def admin(db):
    """Alice-the-admin: manages member accounts and settings."""
    return persona_create("admin")


@pytest.fixture
def analyst(db):
    """A SOC analyst: triages findings."""
    return persona_create("analyst")


@pytest.fixture
def manager(db):
    """A manager: reads reports, changes nothing."""
    return persona_create("manager")


@pytest.fixture
def outsider(db):
    """Signed in, but holds no role."""
    return persona_create("outsider")


@pytest.fixture
def client_for(db) -> Callable[[str], Client]:
    """`client_for("analyst")`: a Django test client signed in as that persona (created on demand)."""
    from django.contrib.auth import get_user_model

    def make(name: str) -> Client:
        user = get_user_model().objects.filter(username=name).first() or persona_create(name)
        client = Client()
        client.force_login(user)
        return client

    return make


# --- A real Celery worker ---------------------------------------------------------------------


def _worker_env() -> dict[str, str]:
    """The worker process sees the same test database, Redis and queue as this test process."""
    db = connection.settings_dict
    env = dict(os.environ)
    env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory):
    """A local CA and a server certificate for localhost, hook.example.test and 127.0.0.1 (https receivers)."""
    from tests.support.tls import pki_make

    return pki_make(tmp_path_factory.mktemp("pki"))


def celery_worker_start(*, queues: list[str], hostname: str, env: dict[str, str], log_name: str) -> subprocess.Popen:
    """Start `celery worker` consuming exactly `queues` and return once it answers a ping (no sleeping)."""
    from guardwatch.celery import app

    TEST_OUTPUT.mkdir(exist_ok=True)
    log_path = TEST_OUTPUT / log_name
    with log_path.open("w") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "guardwatch", "worker",
                "--pool", "threads", "--concurrency", "4", "--loglevel", "INFO",
                "-Q", ",".join(queues), "--hostname", f"{hostname}@%h",
                "--without-gossip", "--without-mingle",
            ],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        # A readiness poll, not a sleep-to-pass: ping answers as soon as the worker consumes.
        replies = app.control.ping(timeout=0.5)
        if any(name.startswith(f"{hostname}@") for reply in replies for name in reply):
            return proc
    proc.kill()
    proc.wait()
    raise RuntimeError(f"The Celery worker did not start; see {log_path}:\n" + log_path.read_text()[-3000:])


def celery_worker_stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _worker_node(hostname: str) -> str:
    """The node name `celery_worker_start` gives a worker (`--hostname {hostname}@%h`; %h is the host name)."""
    import socket

    return f"{hostname}@{socket.gethostname()}"


@pytest.fixture(scope="session")
def celery_worker_session(django_db_setup, django_db_blocker, simulator_server, test_pki) -> Iterator[subprocess.Popen]:
    """A real `celery worker` process on the real Redis broker, started once for the session, on this session's
    queues (every kind, each named after the session's GUARDWATCH_CELERY_QUEUE, so concurrent runs never
    take each other's tasks). It consumes only while a test asks for `celery_worker_process`.

    The simulator starts first so the worker inherits its endpoint.
    """
    from guardwatch.core.queue import queue_names

    with django_db_blocker.unblock():
        env = _worker_env()
    env["GUARDWATCH_NOTIFY_CA_FILE"] = str(test_pki.ca_file)  # the worker trusts the https receivers too
    # As in the demo: "Accept on member's behalf" assumes this role (the simulator grants any role name).
    env.setdefault("GUARDWATCH_MEMBER_ROLE_NAME", "GuardWatchMember")
    # As in the demo: the role GuardDuty assumes in a member account to scan a bucket's objects (S3 malware fixes).
    env.setdefault("GUARDWATCH_S3_MALWARE_ROLE_NAME", "GuardDutyS3MalwareProtection")
    hostname = f"test-{os.getpid()}"
    proc = celery_worker_start(queues=queue_names(), hostname=hostname, env=env, log_name="celery-worker.log")
    node = _worker_node(hostname)
    _worker_consume(node, queue_names(), on=False)
    proc.node = node  # type: ignore[attr-defined]
    yield proc
    celery_worker_stop(proc)


def _worker_consume(node: str, queues: list[str], *, on: bool) -> None:
    """Make the worker start or stop consuming `queues`, and wait for its answer."""
    from guardwatch.celery import app

    for queue in queues:
        control = app.control.add_consumer if on else app.control.cancel_consumer
        replies = control(queue, destination=[node], reply=True, timeout=30)
        if not replies:
            raise RuntimeError(f"The Celery worker {node} did not answer {'add' if on else 'cancel'}_consumer({queue}).")


def _worker_quiesce(node: str, *, timeout: float = 60) -> None:
    """Drop the tasks the worker holds but has not started, and wait for the running ones to finish."""
    from guardwatch.celery import app

    inspect = app.control.inspect(destination=[node], timeout=10)
    held = [task["id"] for found in ((inspect.reserved() or {}), (inspect.scheduled() or {}))
            for tasks in found.values() for task in tasks for task in [task.get("request", task)]]  # fmt: skip
    if held:
        app.control.revoke(held, destination=[node], reply=True, timeout=10)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # a readiness poll: inspect answers as soon as the worker does
        active = inspect.active()
        if active is not None and not any(active.values()):
            return
    raise RuntimeError(f"The Celery worker {node} still runs tasks {timeout:.0f} s after its test ended.")


@pytest.fixture
def celery_worker_process(celery_worker_session, transactional_db) -> Iterator[subprocess.Popen]:
    """The session's real Celery worker, consuming for this test only.

    Its tests commit their data (`transactional_db`, which this sets up first and so tears down last), since
    the worker has its own database connection. Before the test, tasks that earlier tests queued (for rows flushed since) are purged; after
    it, the worker stops consuming, drops what it holds and finishes what it runs, before the database is
    flushed: a worker left consuming would take the tasks of later tests that never asked for it (their
    deliveries claimed behind their back, their flush deadlocked with its transactions).
    """
    from guardwatch.celery import app
    from guardwatch.core.queue import queue_names

    node, queues = celery_worker_session.node, queue_names()
    with app.connection_for_write() as conn:
        for queue in queues:
            conn.default_channel.queue_purge(queue)
    _worker_consume(node, queues, on=True)
    yield celery_worker_session
    _worker_consume(node, queues, on=False)
    _worker_quiesce(node)


# --- A real browser ---------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's report on the item so fixtures can tell a failure at teardown."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (Playwright's own browsers cannot be downloaded here)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps` (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
            ],
        )  # fmt: skip
        yield instance
        instance.close()


@pytest.fixture
def page(browser, request, live_server):
    """A fresh browser tab; a screenshot of it is saved under test-output/ when the test fails."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    console_errors: list[str] = []
    tab.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    tab.console_errors = console_errors
    yield tab
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        shots = TEST_OUTPUT / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(shots / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.fixture
def screenshot(page, request) -> Callable[[str], Path]:
    """Save a named screenshot of the current page under test-output/screenshots/."""

    def take(name: str) -> Path:
        shots = TEST_OUTPUT / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        path = shots / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def sign_in(page, transactional_db):
    """`sign_in("analyst")`: create the persona and sign in through the real login form."""

    def do(name: str):
        user = persona_create(name)
        page.goto("/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/")
        return user

    return do


# --- The GuardDuty simulator, as the product sees it -------------------------------------------

ADMIN_ACCOUNT = "111111111111"  # the access key in tests/testenv.py encodes this account


@pytest.fixture(scope="session")
def simulator_server():
    """One simulator HTTP server for the session (a real socket, so worker processes reach it too)."""
    from gdsim import SimulatorServer

    server = SimulatorServer(port=0)
    server.state.strict_responses = True
    server.start()
    # Child processes (the Celery worker) inherit this; the test process reads it through settings.
    os.environ["GUARDWATCH_AWS_ENDPOINT_URL"] = server.endpoint_url
    yield server
    server.stop()


@pytest.fixture
def simulator(simulator_server, settings):
    """The simulator with fresh state, and GuardWatch's AWS clients pointed at it for this test."""
    from guardwatch.aws import reset_clients

    # The clock too: a frozen past time left by the previous test made assume-role hand out
    # credentials that botocore found already expired.
    simulator_server.state.reset(clock=True)
    settings.GUARDWATCH_AWS_ENDPOINT_URL = simulator_server.endpoint_url
    reset_clients()
    yield simulator_server.state
    reset_clients()
