"""SLA escalation: the assignee before the breach, the owning team at it, a manager after it — each once —
and the SLA page Admins set it on."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection

from accounts.models import Team, TeamMembership
from findings.models import Finding, FindingEvent, SlaPolicy
from findings.sla import sla_due, sla_hours, sla_policy, sla_policy_save
from findings.upsert import findings_upsert
from guardwatch.core.roles import Role
from guardwatch.core.services import user_create
from notifications.escalation import escalation_notify, sla_escalations_run
from notifications.models import Delivery, SlaEscalation
from notifications.owners import team_routing_save
from notifications.services import delivery_attempt

from .conftest import parsed_finding, webhook_make

ACCOUNT = "222222222222"
HIGH = "Backdoor:EC2/C&CActivity.B!DNS"  # severity 8: the High band, 24 h by default


def person(name: str, role: Role, email: str = ""):
    return user_create(username=name, role=role, password="x" * 20, email=email, validate=False)


def stored(**kwargs) -> Finding:
    parsed = parsed_finding(**kwargs)
    findings_upsert(findings=[parsed], source="pull")
    return Finding.objects.get(arn=parsed.arn)


@pytest.fixture
def owned(fast_notify, receiver_factory):
    """A High finding assigned to Ana, owned by team Payments (webhook destination, manager Max); Mia is
    a Manager outside the team."""
    hook = receiver_factory()
    team = Team.objects.create(name="Payments", account_ids=[ACCOUNT])
    team_routing_save(team=team, destinations=[webhook_make(hook.url, name="Payments hook")], digest_enabled=False,
                      digest_hour=8, digest_min_band="medium", actor=None)  # fmt: skip
    ana = person("ana", Role.ANALYST, "ana@example.com")
    TeamMembership.objects.create(team=team, user=person("max", Role.MANAGER, "max@example.com"))
    person("mia", Role.MANAGER, "mia@example.com")
    finding = stored(account=ACCOUNT)
    Finding.objects.filter(pk=finding.pk).update(assignee=ana)
    finding.refresh_from_db()
    return {"finding": finding, "hook": hook, "team": team}


def at(finding: Finding, hours: float):
    return finding.created_at + timedelta(hours=hours)


def mails_sent() -> list:
    for escalation in SlaEscalation.objects.order_by("id"):
        escalation_notify(escalation_id=escalation.pk)
    return list(mail.outbox)


def escalation_timeline(finding: Finding) -> list[str]:
    rows = FindingEvent.objects.filter(finding=finding, kind=FindingEvent.Kind.ESCALATION).order_by(
        "created_at", "id"
    )
    return [row.details["step"] for row in rows]


@pytest.mark.django_db
def test_escalation_warns_the_assignee_then_the_owning_team_then_its_manager(owned):
    finding, hook = owned["finding"], owned["hook"]

    assert sla_escalations_run(now=at(finding, 17.9)) == 0  # before 75 % of 24 h
    assert sla_escalations_run(now=at(finding, 18.1)) == 1
    [warning] = mails_sent()
    assert warning.to == ["ana@example.com"] and "75 % used" in warning.subject

    assert sla_escalations_run(now=at(finding, 24.1)) == 1
    [delivery] = Delivery.objects.filter(finding=finding)
    assert delivery.destination.name == "Payments hook" and delivery.kind == "finding_overdue"
    delivery_attempt(delivery_id=delivery.pk)
    assert hook.wait_for(1)[0].json()["data"]["escalation"] == "breach"

    assert sla_escalations_run(now=at(finding, 47.9)) == 0  # the manager step waits 24 h past the breach
    assert sla_escalations_run(now=at(finding, 48.1)) == 1
    manager_mail = mails_sent()[-1]
    assert manager_mail.to == ["max@example.com"]  # the team's manager, not every Manager

    assert escalation_timeline(finding) == ["warning", "breach", "manager"]
    assert sla_escalations_run(now=at(finding, 48.2)) == 0 and len(mails_sent()) == 2  # each step once


def manager_after_one_hour():
    sla_policy_save(hours={"critical": 4, "high": 24, "medium": 168, "low": 720}, warn_percent=75,
                    manager_after_hours=1, escalation_enabled=True, actor=None)  # fmt: skip


@pytest.mark.django_db
def test_steps_that_fell_due_together_are_taken_in_order(owned):
    manager_after_one_hour()
    finding = owned["finding"]
    assert sla_escalations_run(now=at(finding, 25.5)) == 3  # warning at 18 h, breach at 24 h, manager at 25 h
    assert escalation_timeline(finding) == ["warning", "breach", "manager"]


@pytest.mark.django_db
def test_steps_missed_by_more_than_a_day_are_skipped_not_mailed_late(owned):
    finding = owned["finding"]
    assert sla_escalations_run(now=at(finding, 48.5)) == 1  # the warning (18 h) and breach (24 h) are too old
    assert escalation_timeline(finding) == ["manager"]


@pytest.mark.django_db
def test_a_resolved_finding_is_not_escalated(owned):
    finding = owned["finding"]
    Finding.objects.filter(pk=finding.pk).update(status="resolved")
    assert sla_escalations_run(now=at(finding, 48.5)) == 0
    assert not SlaEscalation.objects.exists() and not mail.outbox


@pytest.mark.django_db
def test_an_unassigned_finding_says_so_in_its_timeline_and_every_manager_hears_when_the_team_has_none(
    fast_notify,
):
    manager_after_one_hour()
    person("mia", Role.MANAGER, "mia@example.com")
    finding = stored(account="999999999999")  # no team owns it
    assert sla_escalations_run(now=at(finding, 25.5)) == 3
    bodies = list(
        FindingEvent.objects.filter(finding=finding, kind="escalation").values_list("body", flat=True)
    )
    assert "nobody is assigned" in bodies[0]
    assert "no team owns its account" in bodies[1]
    assert "every Manager" in bodies[2]
    assert [m.to for m in mails_sent()] == [["mia@example.com"]]


@pytest.mark.django_db
def test_escalation_can_be_switched_off(owned, admin):
    sla_policy_save(hours={"critical": 4, "high": 24, "medium": 168, "low": 720}, warn_percent=75,
                    manager_after_hours=24, escalation_enabled=False, actor=admin)  # fmt: skip
    assert sla_escalations_run(now=at(owned["finding"], 48.5)) == 0


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_take_each_step_once(owned):
    manager_after_one_hour()
    finding = owned["finding"]
    start = threading.Barrier(2)
    results: list[int] = []

    def run():
        try:
            start.wait(timeout=10)
            results.append(sla_escalations_run(now=at(finding, 25.5)))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(results) == 3  # three steps between the two runs, none twice
    assert SlaEscalation.objects.count() == 3
    assert escalation_timeline(finding) == ["warning", "breach", "manager"]
    assert Delivery.objects.filter(finding=finding).count() == 1


@pytest.mark.django_db
def test_a_failed_email_is_tried_again_and_a_duplicate_task_sends_nothing(owned, settings):
    finding = owned["finding"]
    sla_escalations_run(now=at(finding, 18.1))
    escalation = SlaEscalation.objects.get()
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                                    "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 1}}}  # fmt: skip
    assert escalation_notify(escalation_id=escalation.pk) == "failed"
    escalation.refresh_from_db()
    assert escalation.notified_at is None and escalation.error.startswith("Mail not sent")
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    assert escalation_notify(escalation_id=escalation.pk) == "sent"
    assert escalation_notify(escalation_id=escalation.pk) is None
    assert len(mail.outbox) == 1


# --- The SLA page -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_sla_defaults_are_high_one_day_medium_seven_low_thirty():
    policy = sla_policy()
    assert (policy.hours["high"], policy.hours["medium"], policy.hours["low"]) == (24, 7 * 24, 30 * 24)
    assert (policy.warn_percent, policy.manager_after_hours, policy.saved) == (75, 24, False)


@pytest.mark.django_db
def test_an_admin_changes_the_sla_and_the_finding_is_due_sooner(client_for, fast_notify):
    finding = stored(account=ACCOUNT)
    client = client_for("admin")
    answer = client.post("/findings/sla/", {"critical_hours": "2", "high_hours": "8", "medium_hours": "72",
                                            "low_hours": "240", "escalation_enabled": "on", "warn_percent": "50",
                                            "manager_after_hours": "4"})  # fmt: skip
    assert answer.status_code == 302
    assert sla_hours() == {"critical": 2, "high": 8, "medium": 72, "low": 240}
    assert sla_due(finding) == finding.created_at + timedelta(hours=8)
    page = client.get("/findings/sla/").content.decode()
    assert 'value="8"' in page and "Not saved yet" not in page
    assert sla_escalations_run(now=at(finding, 4.1)) == 1  # the warning at 50 % of 8 h


@pytest.mark.django_db
def test_bad_sla_values_are_refused_and_nothing_is_saved(client_for, admin):
    answer = client_for("admin").post("/findings/sla/", {"critical_hours": "0", "high_hours": "abc",
                                                        "medium_hours": "72", "low_hours": "240",
                                                        "warn_percent": "100", "manager_after_hours": "4"})  # fmt: skip
    page = answer.content.decode()
    assert answer.status_code == 200 and "Enter a whole number." in page
    with pytest.raises(ValidationError) as refused:
        sla_policy_save(hours={"critical": 4, "high": 24, "medium": 168}, warn_percent=0, manager_after_hours=24,
                        escalation_enabled=True, actor=admin)  # fmt: skip
    assert "Give hours for every band" in str(refused.value) and "from 1 to 99 %" in str(refused.value)
    assert not SlaPolicy.objects.exists()


@pytest.mark.django_db
def test_only_admins_edit_the_sla(client_for):
    assert client_for("analyst").get("/findings/sla/").status_code == 403
    assert client_for("manager").post("/findings/sla/", {"high_hours": "1"}).status_code == 403
    assert not SlaPolicy.objects.exists()


@pytest.mark.django_db
def test_a_backlog_older_than_the_last_step_and_a_day_is_left_alone(owned):
    assert sla_escalations_run(now=at(owned["finding"], 48 + 24 + 1)) == 0


@pytest.mark.django_db
def test_the_finding_page_timeline_shows_each_escalation(owned, client_for):
    finding = owned["finding"]
    sla_escalations_run(now=at(finding, 24.1))
    page = client_for("admin").get(f"/findings/{finding.pk}/").content.decode()
    assert (
        "SLA escalation 1/3 (assignee warned): 75 % of the 24 h SLA has passed; warned the assignee ana."
        in page
    )
    assert "SLA escalation 2/3 (owning team notified): the SLA ran out; notified the owning team" in page
