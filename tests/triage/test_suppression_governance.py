"""Suppression governance (issue 20.1): owner, review date, expiry, second-Admin approval, the 90-day
preview, hit counts and GuardDuty filters GuardWatch did not create."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from findings.models import Finding, FindingEvent
from findings.sync import findings_sync_region
from guardwatch.core.models import Alert
from guardwatch.core.roles import Role
from guardwatch.core.services import user_create
from tests.findings.factories import NOW, raw_finding
from tests.findings.simulated import ADMIN, estate
from tests.triage.support import store
from triage.governance import (
    suppression_filter_adopt,
    suppression_filters_import,
    suppression_hits_count,
    suppression_reviews_due,
    suppression_rules_expire,
)
from triage.models import ImportedFilter, SuppressionHit, SuppressionRule, WriteBack
from triage.services import TriageError
from triage.suppression import suppression_rule_approve, suppression_rule_create, suppression_rule_plan

pytestmark = pytest.mark.django_db
REGION = "us-east-1"
PROBE = "Recon:EC2/PortProbeUnprotectedPort"
ACCOUNT = "222222222222"


@pytest.fixture
def second_admin(db):
    return user_create(username="bob-admin", role=Role.ADMIN, password="correct-horse-battery-staple", validate=False)


@pytest.fixture
def synced(simulator, settings):
    settings.GUARDWATCH_AWS_REGIONS = [REGION]
    estate(simulator, [REGION], per_region=24)
    findings_sync_region(region=REGION)
    return simulator


def filter_in(simulator, name: str):
    return simulator.scope(ADMIN, REGION).filters.get(name)


def _stored(count: int, *, finding_type: str = PROBE, days_ago: int = 0, archived: bool = False,
            account: str = ACCOUNT, **extra):  # fmt: skip
    rng = random.Random(f"{count}-{finding_type}-{days_ago}-{archived}-{account}")
    raws = []
    for index in range(count):
        raw = raw_finding(rng, finding_type=finding_type, account_id=account,
                          now=NOW - timedelta(days=days_ago, minutes=index))  # fmt: skip
        raw["Service"]["Archived"] = archived
        raw.update(extra)
        raws.append(raw)
    return store(raws)


# --- Approval -------------------------------------------------------------------------------------------------


def test_a_rule_hiding_a_whole_finding_type_waits_for_a_second_admin(synced, admin, second_admin):
    rule = suppression_rule_create(name="no-probes", reason="Scanner", query=f"type_prefix={PROBE}", actor=admin)

    assert rule.status == "pending"
    assert filter_in(synced, "no-probes") is None
    with pytest.raises(TriageError, match="another Admin must approve it"):
        suppression_rule_approve(rule=rule, actor=admin)
    suppression_rule_approve(rule=rule, actor=second_admin)
    assert filter_in(synced, "no-probes").criteria == {"Criterion": {"type": {"Matches": [f"{PROBE}*"]}}}


def test_a_narrow_rule_under_the_threshold_is_pushed_at_once(synced, analyst):
    rule = suppression_rule_create(
        name="one-account-probes", reason="Scanner", query=f"type_prefix={PROBE}&account={ACCOUNT}", actor=analyst
    )
    assert rule.status == "active" and filter_in(synced, "one-account-probes").action == "ARCHIVE"


def test_the_threshold_counts_what_the_rule_would_have_hidden_over_90_days(db, settings, analyst):
    settings.GUARDWATCH_AWS_REGIONS = [REGION]
    settings.GUARDWATCH_SUPPRESSION_APPROVAL_THRESHOLD = 5
    _stored(4, finding_type=PROBE)
    _stored(20, finding_type=PROBE, days_ago=120)  # outside the window: not counted
    _stored(3, finding_type="Backdoor:EC2/DenialOfService.Tcp")  # keeps the rule from matching everything
    query = f"type_prefix={PROBE}&account={ACCOUNT}"

    assert suppression_rule_plan(name="probes", reason="x", query=query, actor=analyst).approval_reasons == []
    _stored(2, finding_type=PROBE, days_ago=30)
    reasons = suppression_rule_plan(name="probes", reason="x", query=query, actor=analyst).approval_reasons
    assert reasons == ["it would have hidden 6 findings over the last 90 days, more than 5"]


def test_with_approval_set_to_always_every_rule_waits(synced, settings, admin):
    settings.GUARDWATCH_SUPPRESSION_APPROVAL = "always"
    rule = suppression_rule_create(
        name="tiny", reason="x", query=f"band=critical&account={ACCOUNT}", actor=admin
    )
    assert rule.status == "pending" and filter_in(synced, "tiny") is None


def test_a_rule_has_an_owner_a_review_date_and_an_optional_expiry(synced, analyst, admin):
    rule = suppression_rule_create(name="narrow", reason="x", query=f"band=critical&account={ACCOUNT}", actor=analyst)
    assert rule.owner == analyst
    assert rule.review_at == timezone.localdate() + timedelta(days=90)
    assert rule.expires_at is None
    with pytest.raises(TriageError, match="expiry must be in the future"):
        suppression_rule_create(name="late", reason="x", query=f"band=critical&account={ACCOUNT}", actor=analyst,
                                expires_at=timezone.now() - timedelta(hours=1))  # fmt: skip
    owned = suppression_rule_create(name="owned", reason="x", query=f"band=high&account={ACCOUNT}", actor=analyst,
                                    owner=admin, review_at=timezone.localdate() + timedelta(days=7))  # fmt: skip
    assert (owned.owner, owned.review_at) == (admin, timezone.localdate() + timedelta(days=7))


# --- Preview ----------------------------------------------------------------------------------------------------


def test_the_preview_counts_by_severity_and_type_and_flags_attack_sequence_signals(db, settings, analyst):
    settings.GUARDWATCH_AWS_REGIONS = [REGION]
    _stored(3, finding_type="AttackSequence:S3/CompromisedData")
    _stored(2, finding_type="Recon:IAMUser/MaliciousIPCaller",
            AssociatedAttackSequenceArn="arn:aws:guardduty:us-east-1:111111111111:detector/d/finding/seq")  # fmt: skip
    _stored(4, finding_type=PROBE)
    _stored(5, finding_type=PROBE, days_ago=100)
    _stored(2, finding_type="Backdoor:EC2/DenialOfService.Tcp", account="333333333333")

    preview = suppression_rule_plan(name="acct", reason="x", query=f"account={ACCOUNT}", actor=analyst).preview

    stored = Finding.objects.filter(account_id=ACCOUNT, updated_at__gte=timezone.now() - timedelta(days=90))
    assert preview.total == stored.count() == 9
    assert dict(preview.by_band) == {band: stored.filter(severity_band=band).count()
                                     for band in ("critical", "high", "medium", "low")}  # fmt: skip
    assert dict(preview.by_type) == {"AttackSequence:S3/CompromisedData": 3, "Recon:IAMUser/MaliciousIPCaller": 2, PROBE: 4}
    assert preview.attack_sequences == 5


def test_the_confirmation_page_shows_the_preview_and_why_it_waits(synced, client_for):
    page = client_for("analyst").post(
        "/findings/suppression/new/", {"name": "no-probes", "reason": "Scanner", "query": f"type_prefix={PROBE}"}
    ).content.decode()
    assert 'data-testid="suppression-preview"' in page
    assert "It hides a whole finding type in every account." in page
    assert "Ask a second Admin to approve" in page


# --- Expiry and review ---------------------------------------------------------------------------------------


@pytest.fixture
def expiring(synced, analyst):
    rule = suppression_rule_create(name="until-patch", reason="Patch pending",
                                   query=f"band=high&account={ACCOUNT}", actor=analyst,
                                   expires_at=timezone.now() + timedelta(days=1))  # fmt: skip
    suppressed = list(Finding.objects.filter(status="suppressed").values_list("pk", flat=True))
    assert suppressed and filter_in(synced, "until-patch") is not None
    return rule, suppressed


def test_an_expired_rule_leaves_guardduty_and_its_findings_reopen(expiring, synced, settings):
    settings.GUARDWATCH_SUPPRESSION_REOPEN_ON_EXPIRY = True
    rule, suppressed = expiring
    assert suppression_rules_expire(now=timezone.now() + timedelta(days=2)) == ["until-patch"]

    rule.refresh_from_db()
    assert rule.status == "expired" and filter_in(synced, "until-patch") is None
    assert set(Finding.objects.filter(pk__in=suppressed).values_list("status", flat=True)) == {"new"}
    assert FindingEvent.objects.filter(finding_id__in=suppressed, body="Suppression rule until-patch expired.").count() == len(suppressed)
    assert WriteBack.objects.filter(finding_id__in=suppressed, operation="unarchive").count() == len(suppressed)
    assert suppression_rules_expire(now=timezone.now() + timedelta(days=2)) == []  # once


def test_with_reopen_off_an_expired_rules_findings_stay_suppressed(expiring, synced, settings):
    settings.GUARDWATCH_SUPPRESSION_REOPEN_ON_EXPIRY = False
    rule, suppressed = expiring
    suppression_rules_expire(now=timezone.now() + timedelta(days=2))
    assert SuppressionRule.objects.get(pk=rule.pk).status == "expired"
    assert filter_in(synced, "until-patch") is None
    assert set(Finding.objects.filter(pk__in=suppressed).values_list("status", flat=True)) == {"suppressed"}
    assert not WriteBack.objects.filter(operation="unarchive").exists()


def test_a_passed_review_date_alerts_once_naming_the_owner_and_keeps_the_rule(synced, analyst):
    rule = suppression_rule_create(name="narrow", reason="x", query=f"band=critical&account={ACCOUNT}", actor=analyst)
    later = rule.review_at + timedelta(days=1)
    assert suppression_reviews_due(today=rule.review_at - timedelta(days=1)) == []
    assert suppression_reviews_due(today=later) == ["narrow"]
    assert suppression_reviews_due(today=later) == []  # once per review date
    alert = Alert.objects.get(kind="suppression.review_due")
    assert "narrow" in alert.title and "owner: analyst" in alert.title
    assert SuppressionRule.objects.get().status == "active" and filter_in(synced, "narrow") is not None


# --- Hit counts ---------------------------------------------------------------------------------------------------


def test_hits_are_the_archived_matching_findings_per_day_and_the_list_draws_them(db, settings, analyst, client_for):
    settings.GUARDWATCH_AWS_REGIONS = [REGION]
    _stored(3, finding_type="Backdoor:EC2/DenialOfService.Tcp")
    rule = SuppressionRule.objects.create(
        name="probes", reason="x", query=f"type_prefix={PROBE}&account={ACCOUNT}", regions=[REGION],
        criteria={"Criterion": {"type": {"Matches": [f"{PROBE}*"]}}}, review_at=timezone.localdate() + timedelta(days=9),
    )  # fmt: skip
    SuppressionRule.objects.filter(pk=rule.pk).update(created_at=NOW - timedelta(days=5))
    _stored(2, archived=True, days_ago=1)
    _stored(3, archived=True, days_ago=2)
    _stored(4, archived=False, days_ago=2)  # not archived: not hidden
    _stored(6, archived=True, days_ago=8)  # before the rule

    assert suppression_hits_count() == 1
    assert suppression_hits_count() == 1  # idempotent
    hits = {hit.day: hit.count for hit in SuppressionHit.objects.filter(rule=rule)}
    assert hits == {(NOW - timedelta(days=1)).date(): 2, (NOW - timedelta(days=2)).date(): 3}
    page = client_for("analyst").get("/findings/suppression/").content.decode()
    assert 'aria-label="5 findings suppressed over the last 30 days"' in page
    assert page.count('class="hit-bar"') == 2


# --- GuardDuty filters GuardWatch did not create ----------------------------------------------------------------


def _console_filters(simulator):
    from guardwatch.aws import guardduty

    client = guardduty(REGION)
    detector = simulator.detector_id(ADMIN, REGION)
    client.create_filter(DetectorId=detector, Name="console-noise", Rank=2, Action="ARCHIVE",
                         Description="Added in the console",
                         FindingCriteria={"Criterion": {"accountId": {"Eq": [ACCOUNT]}, "severity": {"Lt": 4}}})
    client.create_filter(DetectorId=detector, Name="a-saved-view", Rank=1, Action="NOOP",
                         FindingCriteria={"Criterion": {"severity": {"Gte": 7}}})  # fmt: skip


def test_guardduty_filters_guardwatch_did_not_create_are_listed_read_only_in_rank_order(synced, analyst, client_for):
    suppression_rule_create(name="ours", reason="x", query=f"band=critical&account={ACCOUNT}", actor=analyst)
    _console_filters(synced)

    assert suppression_filters_import() == 2
    assert list(ImportedFilter.objects.values_list("name", "rank", "action")) == [
        ("a-saved-view", 1, "NOOP"), ("console-noise", 2, "ARCHIVE")
    ]
    page = client_for("analyst").get("/findings/suppression/").content.decode()
    assert page.index('data-imported="a-saved-view"') < page.index('data-imported="console-noise"')
    assert "account is 222222222222" in page
    assert "Adopt" not in page  # an Analyst only reads them


def test_an_admin_adopts_a_console_filter_keeping_its_name_and_rank(synced, admin, client_for):
    _console_filters(synced)
    suppression_filters_import()
    imported = ImportedFilter.objects.get(name="console-noise")
    review = (timezone.localdate() + timedelta(days=30)).isoformat()

    client_for("admin").post(f"/findings/suppression/imported/{imported.pk}/adopt/",
                             {"reason": "Sandbox account noise", "review_at": review})  # fmt: skip

    rule = SuppressionRule.objects.get(name="console-noise")
    assert (rule.origin, rule.status, rule.rank, rule.regions) == ("adopted", "active", 2, [REGION])
    assert (rule.owner.username, rule.review_at.isoformat(), rule.reason) == ("admin", review, "Sandbox account noise")
    assert filter_in(synced, "console-noise").criteria == rule.criteria  # GuardDuty untouched
    assert not ImportedFilter.objects.filter(name="console-noise").exists()
    assert suppression_filters_import() == 1  # now GuardWatch's own
    with pytest.raises(TriageError, match="hides nothing"):
        suppression_filter_adopt(imported=ImportedFilter.objects.get(), reason="x", actor=admin)


def test_the_owner_records_a_review_and_another_analyst_cannot(synced, analyst, client_for):
    from guardwatch.core.services import user_create as create

    rule = suppression_rule_create(name="narrow", reason="x", query=f"band=critical&account={ACCOUNT}", actor=analyst)
    create(username="other-analyst", role=Role.ANALYST, password="correct-horse-battery-staple", validate=False)
    later = (timezone.localdate() + timedelta(days=200)).isoformat()
    client_for("analyst").post(f"/findings/suppression/{rule.pk}/review/", {"review_at": later})
    assert SuppressionRule.objects.get().review_at.isoformat() == later
    from triage.governance import suppression_rule_review

    with pytest.raises(TriageError, match="owner or an Admin"):
        suppression_rule_review(rule=rule, review_at=timezone.localdate() + timedelta(days=5),
                                actor=type(analyst).objects.get(username="other-analyst"))  # fmt: skip
