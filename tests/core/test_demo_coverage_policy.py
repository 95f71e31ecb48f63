"""Issue 19's done-when, in a browser against `make demo`'s three processes (simulator, Celery worker, web).

An Admin sets "all enabled regions, Runtime (with automated agent management) + S3 + AI Protection" for the ml
team's OU, sees the deviations with their causes, previews and applies the fix, and sees compliance reach 100 %.
The drift evaluation and the fix run in the demo's real worker, through boto3, against the simulator. Then the
simulator emits CloudTrail's StopMonitoringMembers by a member account's principal to the demo's ingest endpoint
(as EventBridge would), and the alert, naming who and where and linking to the account, is on the Alerts page
within 5 seconds.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest

from gdsim import member_accounts
from gdsim.scenarios import organizational_unit
from tests.core import test_demo
from tests.core.test_demo import count, demo_running
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.browser]

OU = organizational_unit("ml")
ML = [a["account_id"] for a in member_accounts() if a["name"].startswith("ml-")]
STOPPED = ML[2]  # ml-dev: Disabled in the demo's four regions, so the fix starts monitoring it
demo_env = test_demo.demo_env  # the same fixture: the demo's environment without the test session's wiring
# The OU's accounts, and their protection plans, as the first sync records them (OU is a constant of the scenario).
IN_OU = (
    f"select count(*) from accounts_memberaccount where organizational_unit = '{OU}' and in_organization = 1"  # noqa: S608
)
OU_PLANS = (
    "select count(*) from accounts_memberprotection p join accounts_membership m on m.id = p.membership_id "  # noqa: S608
    f"join accounts_memberaccount a on a.id = m.account_id where a.organizational_unit = '{OU}'"
)
MALLORY = f"arn:aws:sts::{ML[0]}:assumed-role/OrganizationAccountAccessRole/mallory"


def test_admin_makes_an_ou_comply_with_all_enabled_regions_and_sees_a_member_stop_monitoring_alerted(
    demo_env, tmp_path, browser
):
    with demo_running(demo_env, tmp_path) as (port, sim_port, db):
        # The first sync (in the worker): the OU read from Organizations, the regions enabled for the administrator,
        # and the ml accounts' protection plans in the four regions they are members of.
        wait_for(lambda: count(db, IN_OU) == 4 and count(db, OU_PLANS) == 16
                 and count(db, "select count(*) from accounts_regionstate where account_enabled = 1") == 17,
                 timeout=120, what="the ml OU, the enabled regions and the OU's protection plans")  # fmt: skip

        context = browser.new_context(base_url=f"http://127.0.0.1:{port}")
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.goto("/login/")
        page.locator("input[name=username]").fill("admin")
        page.locator("input[name=password]").fill("admin-demo-pass")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"http://127.0.0.1:{port}/")

        # The policy: the OU offered from Organizations, every enabled region (regions left empty), the plans.
        page.goto("/accounts/policies/")
        page.get_by_role("link", name="New policy").click()
        assert OU in page.locator("datalist#known-ous").inner_html()
        page.get_by_label("Name").fill("ML workloads")
        page.get_by_label("Scope").select_option(label="Organizations OU")
        page.get_by_label("OU id or tag").fill(OU)
        plans = page.get_by_role("group", name="Protection plans")
        for plan in ("S3", "Runtime", "AI"):
            plans.get_by_label(plan, exact=True).check()
        agents = page.get_by_role("group", name="Runtime agent management")
        for agent in ("Amazon EKS", "AWS Fargate (ECS)", "Amazon EC2"):
            agents.get_by_label(f"Automated agent for {agent}").check()
        page.get_by_role("button", name="Save policy").click()
        row = page.locator("tr", has_text="ML workloads")
        assert "All enabled" in row.inner_text() and OU in row.inner_text()

        # The deviations with their causes, evaluated by the worker.
        page.goto("/accounts/drift/")
        page.get_by_role("button", name="Evaluate now").click()

        def deviations() -> int:
            page.goto("/accounts/drift/")
            found = re.search(
                r"Deviations \(([\d,]+)\)", page.locator("h2", has_text="Deviations").inner_text()
            )
            return int(found.group(1).replace(",", "")) if found else 0

        wait_for(deviations, timeout=60, what="the drift evaluation's deviations")
        table = page.locator("#deviations").inner_text()
        assert "The administrator stopped monitoring it (Disabled)." in table  # ml-dev in the four regions
        assert "Not a member in this region (never added, or deleted)." in table  # the 13 regions added later
        compliance = page.locator("#compliance tbody tr").last.inner_text()
        assert "100.0 %" not in compliance

        # The preview: the exact calls, how many, the paid plans; then the fix, run by the worker.
        page.locator("input[data-select-all=deviation]").check()
        page.get_by_role("button", name="Preview the fix for the selected deviations").click()
        calls = page.locator("#fix-calls").inner_text()
        assert "CreateMembers then UpdateMemberDetectors" in calls  # organisation accounts, no invitation
        assert "StartMonitoringMembers then UpdateMemberDetectors" in calls
        assert "AI_PROTECTION" in calls and "EC2_AGENT_MANAGEMENT" in calls
        assert int(page.locator("#fix-summary [data-calls]").get_attribute("data-calls")) > 0
        assert "AI" in page.locator("#paid-plans").inner_text()
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Confirm and fix").click()
        page.wait_for_url(re.compile(r".*/accounts/operations/\d+/$"))

        def compliant() -> bool:
            page.goto("/accounts/drift/")
            today = page.locator("#compliance tbody tr").last.inner_text()
            return "100.0 %" in today and deviations() == 0

        wait_for(compliant, timeout=120, what="compliance at 100 % after the fix's re-check")
        # Every operation of the fix succeeded (the last re-check can land before the last status is saved).
        wait_for(lambda: count(db, "select count(*) from accounts_memberoperation where status = 'succeeded'")
                 == count(db, "select count(*) from accounts_memberoperation") > 0,
                 timeout=30, what="every operation of the fix to succeed")  # fmt: skip

        # The tamper alarm: CloudTrail's record of a member principal stopping monitoring, pushed by the simulator.
        page.goto("/alerts/")
        stop = {"event_name": "StopMonitoringMembers", "account_id": "111111111111", "region": "eu-west-1",
                "principal_arn": MALLORY, "request_parameters": {"DetectorId": "d", "AccountIds": [STOPPED]}}  # fmt: skip
        urllib.request.urlopen(
            urllib.request.Request(  # noqa: S310 (the local simulator)
                f"http://127.0.0.1:{sim_port}/_sim/cloudtrail",
                data=json.dumps(stop).encode(),
                method="POST",
                headers={"Content-Type": "application/json"},
            ),
            timeout=10,
        ).read()
        emitted = time.monotonic()
        alert = page.locator("tr[data-alert-kind='accounts.tamper']", has_text="StopMonitoringMembers")

        def alerted() -> bool:
            page.reload()
            return alert.count() > 0

        wait_for(alerted, timeout=5, what="the StopMonitoringMembers alert on the Alerts page")
        assert time.monotonic() - emitted <= 5
        text = alert.first.inner_text()
        assert "mallory" in text and "eu-west-1" in text, text
        assert alert.first.get_by_role("link").first.get_attribute("href") == f"/accounts/{STOPPED}/"
        context.close()
