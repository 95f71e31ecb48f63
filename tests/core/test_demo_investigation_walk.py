"""Issue 18's done-when, in a browser against `make demo`'s three processes (simulator, Celery worker, web).

The demo analyst opens the Critical IAM attack sequence of payments-prod (us-east-1), follows one of its signals
to the finding and from there to its access key's page, which shows the key's findings in two accounts and at
least three regions over 120 days or more; then, back on the signal's finding, starts a GuardDuty investigation
and — once the demo's worker has polled the simulated investigation to its end — reads the report in the
finding's timeline. The simulator's investigations are shortened to two seconds through its control API.
"""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import datetime, timedelta

import pytest

from gdsim import member_accounts
from tests.core import test_demo
from tests.core.test_demo import count, demo_running
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.browser]

PAYMENTS_PROD = member_accounts()[0]["account_id"]
SEQUENCE = "AttackSequence:IAM/CompromisedCredentials"
demo_env = test_demo.demo_env  # the same fixture: the demo's environment without the test session's wiring
SEQUENCE_STORED = (
    f"select count(*) from findings_finding where type = '{SEQUENCE}' and account_id = '{PAYMENTS_PROD}' "  # noqa: S608
    "and region = 'us-east-1'"
)
# Its signals, findings of the same account and region that name it (AssociatedAttackSequenceArn).
SIGNALS_STORED = (
    "select count(*) from findings_finding where attack_sequence_arn in "  # noqa: S608
    f"(select arn from findings_finding where type = '{SEQUENCE}' and account_id = '{PAYMENTS_PROD}')"
)


def test_an_analyst_walks_from_a_critical_attack_sequence_to_its_access_key_and_a_guardduty_investigation(
    demo_env, tmp_path, browser
):
    with demo_running(demo_env, tmp_path) as (port, sim_port, db):
        wait_for(lambda: count(db, SEQUENCE_STORED) == 1, timeout=180, what="the first sync's IAM attack sequence")
        wait_for(lambda: count(db, SIGNALS_STORED) >= 2, timeout=180, what="the IAM attack sequence's signals")
        # GuardDuty's investigations take minutes; the simulator's control API makes the demo's take two seconds.
        answer = urllib.request.urlopen(
            urllib.request.Request(  # noqa: S310 (the local simulator)
                f"http://127.0.0.1:{sim_port}/_sim/investigations",
                data=json.dumps({"seconds": 2}).encode(),
                method="POST",
                headers={"Content-Type": "application/json"},
            ),
            timeout=10,
        ).read()
        assert json.loads(answer)["seconds"] == 2

        context = browser.new_context(base_url=f"http://127.0.0.1:{port}")
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.goto("/login/")
        page.locator("input[name=username]").fill("analyst")
        page.locator("input[name=password]").fill("analyst-demo-pass")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"http://127.0.0.1:{port}/")

        # The findings list filtered to Critical attack sequences of payments-prod in us-east-1.
        page.goto(f"/findings/?type_prefix=AttackSequence:&band=critical&account={PAYMENTS_PROD}&region=us-east-1")
        page.locator("tr[data-finding]", has_text=SEQUENCE).get_by_role("link").first.click()
        page.wait_for_url(re.compile(r".*/findings/\d+/$"))
        page.get_by_test_id("sequence-link").get_by_role("link", name=re.compile("signals in time order")).click()
        page.wait_for_url(re.compile(r".*/findings/\d+/sequence/$"))
        assert "Critical" in page.locator(".finding-head").inner_text()

        # A signal of its timeline, then the signal's access key (the sequence's actor).
        signal_link = page.get_by_test_id("sequence-timeline").get_by_test_id("signal-finding").first
        signal_type = signal_link.inner_text().strip()
        signal_link.click()
        page.wait_for_url(re.compile(r".*/findings/\d+/$"))
        signal_url = page.url
        page.get_by_test_id("entities").get_by_role("link", name=re.compile("^Access key")).first.click()
        page.wait_for_url(re.compile(r".*/findings/entity/access_key/\?v=AKIA\w+$"))

        def summary() -> tuple[int, int, timedelta]:
            page.reload()
            accounts = page.get_by_test_id("entity-accounts").locator(".mono").count()
            regions = page.get_by_test_id("entity-regions").locator(".mono").count()
            first = datetime.fromisoformat(page.get_by_test_id("entity-first-seen").get_attribute("datetime"))
            last = datetime.fromisoformat(page.get_by_test_id("entity-last-seen").get_attribute("datetime"))
            return accounts, regions, last - first

        # Every region's sync may not be in yet: read the page again, as a person would, until it is.
        wait_for(
            lambda: (found := summary())[0] == 2 and found[1] >= 3 and found[2] >= timedelta(days=120) and found,
            timeout=120, what="the access key's findings in two accounts, three regions, over 120 days")  # fmt: skip
        assert PAYMENTS_PROD in page.get_by_test_id("entity-accounts").inner_text()

        # Back on the signal's finding: a GuardDuty investigation, polled by the worker, its report in the timeline.
        page.goto(signal_url)
        panel = page.get_by_test_id("investigation-panel")
        # A form POST answered by a redirect: reloading before that navigation ends detaches the page.
        with page.expect_navigation():
            panel.get_by_role("button", name="Investigate with GuardDuty").click()
        report = page.get_by_test_id("timeline").get_by_test_id("investigation-report")

        def reported() -> bool:
            page.reload()
            return report.count() > 0

        wait_for(reported, timeout=120, what="the GuardDuty investigation's report in the finding's timeline")
        assert signal_type in report.first.inner_text()
        context.close()
