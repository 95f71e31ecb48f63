"""`make demo`'s three steps, run as a user runs them: SQLite, the simulator, a real worker, the web.

The demo must go through the same gateways and Celery tasks as production, so this test does not
look inside: it starts the commands in their own processes, with nothing of the test environment
but the interpreter, and checks what a person would see — the dashboard answering, the demo logins
working, and the seeded organisation's members and findings arriving through the first sync.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gdsim import member_accounts
from tests.support.waiting import wait_for

pytestmark = pytest.mark.worker

ROOT = Path(__file__).resolve().parents[2]
# The test session's own wiring (Postgres, Redis, its queue, its simulator) must not leak into the demo.
TEST_ONLY = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "GUARDWATCH_CELERY_QUEUE",
             "GUARDWATCH_AWS_ENDPOINT_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def demo_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TEST_ONLY and not k.startswith("AWS_")}
    env.update(GUARDWATCH_ENV="demo", GUARDWATCH_VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    return env


METRICS_TOKEN = "demo-test-metrics-token-0123456789abcdef"


@contextmanager
def demo_running(env: dict[str, str], tmp_path: Path, *, banner_timeout: float = 120) -> Iterator[tuple[int, int, Path]]:
    """`make demo`'s steps (migrate, demo users, `manage.py demo`) on free ports, until its banner is out.

    Yields (web port, simulator port, the demo's SQLite file); stops the demo (SIGTERM) when the block ends.
    """
    assert manage(env, "migrate", "--no-input", "-v", "0").returncode == 0
    assert manage(env, "demo_users").returncode == 0
    port, sim_port = free_port(), free_port()
    out = tmp_path / "demo.out"
    with out.open("w") as log:
        demo = subprocess.Popen([sys.executable, "manage.py", "demo", "--port", str(port), "--sim-port", str(sim_port)],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for(lambda: "GuardWatch demo is running" in out.read_text() or demo.poll(),
                 timeout=banner_timeout, what="the demo banner")  # fmt: skip
        assert demo.poll() is None, out.read_text()
        yield port, sim_port, tmp_path / "var" / "demo.sqlite3"
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=60)


def scrape_metrics(base: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    request = urllib.request.Request(f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (the local demo)
        return {family.name: family for family in text_string_to_metric_families(answer.read().decode())}


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip


def count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as connection:
        try:
            return connection.execute(sql).fetchone()[0]
        except sqlite3.OperationalError:  # the worker holds the write lock for a moment
            return 0


def sign_in(base: str, username: str, password: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = opener.open(f"{base}/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
    request = urllib.request.Request(f"{base}/login/", data=data.encode(), headers={"Referer": f"{base}/login/"})
    opener.open(request, timeout=10)
    return opener


def test_demo_migrates_sqlite_seeds_and_serves_a_dashboard_filled_by_the_worker(demo_env, tmp_path):
    migrate = manage(demo_env, "migrate", "--no-input", "-v", "0")
    assert migrate.returncode == 0, migrate.stderr
    assert "WARNINGS" not in migrate.stderr + migrate.stdout  # what `make demo` prints first
    users = manage(demo_env, "demo_users")
    assert users.returncode == 0, users.stderr
    assert "analyst / analyst-demo-pass" in users.stdout

    port, sim_port = free_port(), free_port()
    log = (tmp_path / "demo.out").open("w")
    # Prometheus metrics on, as an operator would turn them on (issue 23's "scrape a running demo").
    demo_env.update(GUARDWATCH_METRICS="true", GUARDWATCH_METRICS_TOKEN=METRICS_TOKEN)
    demo = subprocess.Popen([sys.executable, "manage.py", "demo", "--port", str(port), "--sim-port", str(sim_port)],
                            cwd=ROOT, env=demo_env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    db = tmp_path / "var" / "demo.sqlite3"
    try:
        wait_for(lambda: "GuardWatch demo is running" in (tmp_path / "demo.out").read_text() or demo.poll(),
                 timeout=90, what="the demo banner")  # fmt: skip
        assert demo.poll() is None, (tmp_path / "demo.out").read_text()
        banner = (tmp_path / "demo.out").read_text()
        assert base in banner and "Manager  manager / manager-demo-pass" in banner
        assert "WARNING" not in banner  # e.g. kombu's "No hostname was supplied" for the broker URL
        # The simulator stands for CloudTrail + EventBridge: pointed at the demo's ingest URL with a key.
        with urllib.request.urlopen(f"http://127.0.0.1:{sim_port}/_sim/eventbridge", timeout=10) as answer:
            assert json.loads(answer.read())["url"] == f"{base}/ingest/eventbridge/"
        stop = {"event_name": "StopMonitoringMembers", "account_id": "111111111111", "region": "us-east-1",
                "principal_arn": "arn:aws:sts::222222222222:assumed-role/Admin/mallory",
                "request_parameters": {"DetectorId": "d", "AccountIds": ["222222222222"]}}  # fmt: skip
        urllib.request.urlopen(urllib.request.Request(  # noqa: S310 (the local simulator)
            f"http://127.0.0.1:{sim_port}/_sim/cloudtrail", data=json.dumps(stop).encode(), method="POST",
            headers={"Content-Type": "application/json"}), timeout=10).read()
        wait_for(lambda: count(db, "select count(*) from core_alert where kind = 'accounts.tamper'"), timeout=10,
                 what="the tamper alert from the simulator's CloudTrail event")  # fmt: skip

        # The first sync runs in the worker, through boto3, against the simulator's seeded organisation.
        wait_for(lambda: count(db, "select count(*) from accounts_membership where relationship_status='Enabled'"),
                 timeout=90, what="member statuses synced from the simulator")  # fmt: skip
        wait_for(lambda: count(db, "select count(*) from findings_finding") > 100, timeout=90,
                 what="findings synced from the simulator")  # fmt: skip
        wait_for(lambda: count(db, "select count(*) from accounts_memberprotection"), timeout=60,
                 what="protection plans read after the member sync")  # fmt: skip
        # /metrics of the running demo, parsed as Prometheus parses it: the sync's series are there and filled.
        families = scrape_metrics(base)
        assert {"guardwatch_sync_last_success_timestamp_seconds", "guardwatch_findings_ingested",
                "guardwatch_members", "guardwatch_http_request_duration_seconds"} <= set(families)
        assert any(sample.value > 0 for sample in families["guardwatch_sync_last_success_timestamp_seconds"].samples)

        analyst = sign_in(base, "analyst", "analyst-demo-pass")
        newest = count(db, "select id from findings_finding where archived = 0 order by last_seen desc, id desc limit 1")
        findings_page = analyst.open(f"{base}/findings/?sort=-last_seen", timeout=30).read().decode()
        assert f'href="/findings/{newest}/"' in findings_page
        manager = sign_in(base, "manager", "manager-demo-pass")
        coverage = manager.open(f"{base}/accounts/coverage/", timeout=30).read().decode()
        assert "Resigned" in coverage
        # Issue 16.4: the demo's administrator is the organization's delegated administrator; the Organization
        # page (read by the worker into its snapshot) offers the organization accounts, not the management account.
        admin = sign_in(base, "admin", "admin-demo-pass")
        organization = wait_for(
            lambda: (page := admin.open(f"{base}/accounts/organization/", timeout=30).read().decode())
            and 'data-polling="off"' in page and page,
            timeout=60, what="the Organization page's snapshot",
        )  # fmt: skip
        regions = organization.split("<h2>Configuration per region</h2>")[1].split("</table>")[0]
        assert "None: added by hand" in regions and "does not treat" not in regions
        offered = organization.split('aria-label="Organization accounts"')[1].split("</table>")[0]
        assert 'name="account"' in offered and 'value="100000000001"' not in offered
        assert 'data-unavailable="100000000001"' in organization
        # The demo analyst's past month of triage, seeded once the first findings sync is in, so the
        # findings report has resolutions and response times to show.
        wait_for(lambda: count(db, "select count(*) from findings_findingevent where kind = 'status'"), timeout=90,
                 what="the demo's triage history")  # fmt: skip
        closed = count(db, "select count(*) from findings_finding where status in ('resolved', 'false_positive')")
        assert closed > 0
        report = wait_for(
            lambda: (page := manager.open(f"{base}/findings/report/?period=30", timeout=30).read().decode())
            and re.search(r'data-testid="resolved-total">([1-9][\d,]*)<', page),
            timeout=180, what="resolutions in the 30-day report",  # the worker computes it; slow under load
        )  # fmt: skip
        assert report
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=60)
    # Stopping the demo stops what it started: nothing listens on its ports any more (SO_REUSEADDR
    # lets the bind ignore connections lingering in TIME_WAIT, but not a live listener).
    for used in (port, sim_port):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", used))


@pytest.mark.browser
def test_demo_with_sso_signs_in_through_its_idp_with_the_role_the_group_mapping_gives(demo_env, tmp_path, browser):
    """`make demo SSO=1`: the demo's OpenID Connect IdP; pat (team-payments) is an Analyst, kim (no mapped
    group) is refused."""
    assert manage(demo_env, "migrate", "--no-input", "-v", "0").returncode == 0
    port, sim_port, idp_port = free_port(), free_port(), free_port()
    log = (tmp_path / "demo.out").open("w")
    demo = subprocess.Popen([sys.executable, "manage.py", "demo", "--port", str(port), "--sim-port", str(sim_port),
                             "--sso", "--idp-port", str(idp_port)],
                            cwd=ROOT, env=demo_env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for(lambda: "GuardWatch demo is running" in (tmp_path / "demo.out").read_text() or demo.poll(),
                 timeout=120, what="the demo banner")  # fmt: skip
        banner = (tmp_path / "demo.out").read_text()
        assert demo.poll() is None, banner
        assert "pat      groups team-payments, everyone -> Analyst" in banner
        db = tmp_path / "var" / "demo.sqlite3"  # pat's pages below need the first sync's accounts and findings
        payments = tuple(a["account_id"] for a in member_accounts() if a["name"].startswith("payments-"))
        wait_for(lambda: count(db, "select count(*) from findings_finding where substr(account_id, 1, 3) "
                               "in ('201', '202', '203', '204')")  # payments-prod … payments-sandbox
                 and count(db, "select count(*) from accounts_memberaccount where display_name = 'web-prod'"),
                 timeout=120, what="the payments accounts' findings and the web-prod account")  # fmt: skip
        seen, pat_pages = {}, {}
        for login in ("pat", "kim"):
            context = browser.new_context(base_url=f"http://127.0.0.1:{port}")
            context.set_default_timeout(30_000)
            page = context.new_page()
            page.goto("/login/")
            page.get_by_role("button", name="Sign in with the demo IdP").click()
            page.locator("input[name=login]").fill(login)
            page.locator("input[name=password]").fill("any")
            page.get_by_role("button", name="Sign-in").click()
            page.get_by_role("button", name="Continue").click()
            page.wait_for_url(f"http://127.0.0.1:{port}/**")
            seen[login] = (page.locator("h1").first.inner_text(), page.get_by_test_id("whoami").all_inner_texts())
            if login == "pat":  # team-payments: team payments, scoped — only the payments-* accounts
                page.goto("/accounts/")
                pat_pages["accounts"] = page.content()
                page.goto("/findings/")
                page.get_by_role("link", name="All findings").click()
                pat_pages["findings"] = page.content()
            context.close()
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=60)
    assert seen == {"pat": ("Dashboard", ["pat Analyst"]), "kim": ("No access to GuardWatch", [])}
    assert "payments-prod" in pat_pages["accounts"] and "web-prod" not in pat_pages["accounts"]
    shown = set(re.findall(r"\b\d{12}\b", pat_pages["findings"]))
    assert shown and shown <= set(payments), shown
    for used in (port, sim_port, idp_port):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", used))
