"""SLA escalation: before, at and after an open finding's SLA runs out, tell the next person up — once.

Steps, in order (timing from `findings.sla.sla_policy()`, set on the SLA page):
1. warning — at `warn_percent` % of the SLA the assignee is emailed;
2. breach — at the SLA the owning teams' destinations get a `finding_overdue` delivery;
3. manager — `manager_after_hours` after the breach the owning teams' Managers (every Manager when the
   teams have none) are emailed.

A step is taken at most once per finding: its `SlaEscalation` row (unique per finding and step) is the
claim, inserted with the finding row locked, so retries and two beat runs at once take it once. A
finding no longer open (Resolved, False positive, Accepted risk, Suppressed) or archived is not escalated.
Only steps that fell due within `LOOKBACK` (a day) are taken, in order when several did: switching escalation
on, or beat coming back after days, does not mail the backlog.
Each step is written to the finding's timeline.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts.models import TeamMembership
from accounts.teams import account_owners
from findings.models import OPEN_STATUSES, Finding, FindingEvent
from findings.sla import Sla, sla_policy
from guardwatch.core.queue import task_send_on_commit
from guardwatch.core.roles import Role
from notifications.events import FINDING_FIELDS, deliveries_enqueue, event_for_finding
from notifications.models import ESCALATION_ORDER, Delivery, EscalationStep, EventKind, SlaEscalation
from notifications.selectors import account_team_destinations

logger = logging.getLogger(__name__)

LOOKBACK = timedelta(hours=24)
BATCH = 500
NOTICE_TASK = "notifications.tasks.escalation_notify"
STEP_NUMBER = {step: n for n, step in enumerate(ESCALATION_ORDER, start=1)}


def step_offset(policy: Sla, band: str, step: str) -> timedelta:
    """How long after the finding's creation `step` falls due."""
    sla = timedelta(hours=policy.hours[band])
    if step == EscalationStep.WARNING:
        return sla * policy.warn_percent / 100
    if step == EscalationStep.BREACH:
        return sla
    return sla + timedelta(hours=policy.manager_after_hours)


def _due_findings(*, policy: Sla, band: str, step: str, now: datetime) -> list[Finding]:
    offset = step_offset(policy, band, step)
    # Steps that fell due within LOOKBACK: a run missed (a worker restart) costs nothing, and an older
    # backlog (escalation switched on, beat down for days) is not mailed all at once.
    taken = SlaEscalation.objects.filter(finding=OuterRef("pk"), step=step)
    rows = (
        Finding.objects.filter(
            severity_band=band, status__in=OPEN_STATUSES, archived=False,
            created_at__gt=now - offset - LOOKBACK, created_at__lte=now - offset,
        )
        .filter(~Exists(taken))
        .select_related("assignee")
        .only(*FINDING_FIELDS, "created_at", "status", "assignee__username", "assignee__email")
        .order_by("created_at", "id")
    )  # fmt: skip
    return list(rows[:BATCH])


def sla_escalations_run(*, now: datetime | None = None) -> int:
    """Beat: take every escalation step that fell due (step by step, in order); the number taken."""
    policy = sla_policy()
    if not policy.escalation_enabled:
        return 0
    now = now or timezone.now()
    taken = 0
    for step in ESCALATION_ORDER:
        for band in policy.hours:
            findings = _due_findings(policy=policy, band=band, step=step, now=now)
            if not findings:
                continue
            owners = account_owners(account_ids=[f.account_id for f in findings])
            targets = _targets_for(step=step, findings=findings, owners=owners)
            for finding in findings:
                due_at = finding.created_at + step_offset(policy, band, step)
                if _step_take(finding=finding, step=step, due_at=due_at, now=now, policy=policy,
                              teams=owners.get(finding.account_id, []), targets=targets):  # fmt: skip
                    taken += 1
    escalation_notices_requeue(now=now)
    return taken


def _targets_for(*, step: str, findings: Sequence[Finding], owners: dict) -> dict:
    """What a batch's step needs, read once: team destinations (breach) or managers' addresses (manager)."""
    if step == EscalationStep.BREACH:
        return {"destinations": account_team_destinations(account_ids=[f.account_id for f in findings])}
    if step == EscalationStep.MANAGER:
        team_ids = {team.pk for teams in owners.values() for team in teams}
        managers = (
            TeamMembership.objects.filter(
                team_id__in=team_ids, user__is_active=True, user__groups__name=Role.MANAGER.value
            )
            .exclude(user__email="")
            .values_list("team_id", "user__email")
        )
        by_team: dict[int, set[str]] = {}
        for team_id, email in managers:
            by_team.setdefault(team_id, set()).add(email)
        everyone = set(
            get_user_model().objects.filter(is_active=True, groups__name=Role.MANAGER.value)
            .exclude(email="").values_list("email", flat=True)
        )  # fmt: skip
        return {"managers": by_team, "all_managers": everyone}
    return {}


def _step_take(*, finding: Finding, step: str, due_at: datetime, now: datetime, policy: Sla, teams: list,
               targets: dict) -> bool:  # fmt: skip
    """Claim and take one step for one finding; False if it was taken already or the finding closed meanwhile."""
    with transaction.atomic():
        # The finding's row lock: a second run waits here until this one commits (then its insert conflicts).
        still_open = Finding.objects.select_for_update().filter(
            pk=finding.pk, status__in=OPEN_STATUSES, archived=False
        )
        if not list(still_open.values_list("pk", flat=True)):
            return False
        try:
            with transaction.atomic():
                escalation = SlaEscalation.objects.create(
                    finding=finding, step=step, due_at=due_at, created_at=now
                )
        except IntegrityError:  # taken by another run (it held the finding's lock until it committed)
            return False
        hours = policy.hours[finding.severity_band]
        title = " ".join((finding.title or finding.type).split())
        if step == EscalationStep.WARNING:
            text = _warn(escalation, finding, policy=policy, hours=hours, title=title)
        elif step == EscalationStep.BREACH:
            text = _breach(escalation, finding, targets=targets, teams=teams, now=now, due_at=due_at)
        else:
            text = _manager(escalation, finding, targets=targets, teams=teams, policy=policy, title=title)
        FindingEvent.objects.create(
            finding=finding, kind=FindingEvent.Kind.ESCALATION, created_at=now,
            body=f"SLA escalation {STEP_NUMBER[step]}/3 ({EscalationStep(step).label.lower()}): {text}",
            details={"step": step, "due_at": due_at.isoformat(), "recipients": escalation.recipients},
        )  # fmt: skip
    return True


def _mail(escalation: SlaEscalation, *, recipients: Sequence[str], subject: str, body: str) -> None:
    escalation.recipients, escalation.subject, escalation.body = sorted(set(recipients)), subject[:255], body
    escalation.save(update_fields=["recipients", "subject", "body"])
    if escalation.recipients:
        task_send_on_commit(NOTICE_TASK, escalation.pk)


def _link(finding: Finding) -> str:
    from notifications.events import public_url

    return public_url(f"/findings/{finding.pk}/")


def _warn(escalation, finding, *, policy: Sla, hours: int, title: str) -> str:
    assignee = finding.assignee
    if assignee is None or not assignee.email:
        who = "nobody is assigned" if assignee is None else f"{assignee.get_username()} has no email address"
        _mail(escalation, recipients=[], subject="", body="")
        return f"{policy.warn_percent} % of the {hours} h SLA has passed; {who}, so no one was warned."
    due = timezone.localtime(finding.created_at + timedelta(hours=hours))
    _mail(escalation, recipients=[assignee.email],
          subject=f"GuardWatch SLA: {policy.warn_percent} % used on [{finding.severity_band.upper()}] {title}",
          body=f"{title}\n\nThis finding is assigned to you and is due by {due:%Y-%m-%d %H:%M %Z} "
               f"({hours} h SLA for {finding.severity_band}).\nAccount {finding.account_id}, region "
               f"{finding.region}.\n{_link(finding)}\n")  # fmt: skip
    return f"{policy.warn_percent} % of the {hours} h SLA has passed; warned the assignee {assignee.get_username()}."


def _breach(escalation, finding, *, targets: dict, teams: list, now: datetime, due_at: datetime) -> str:
    pairs = targets["destinations"].get(finding.account_id, [])
    destinations: dict[int, tuple] = {}
    for team, destination in pairs:
        destinations.setdefault(destination.pk, (destination, []))[1].append(team.name)
    if not destinations:
        owners = ", ".join(t.name for t in teams)
        why = (
            f"its owning teams ({owners}) have no enabled destination"
            if teams
            else "no team owns its account"
        )
        return f"the SLA ran out; {why}, so no team was notified (overdue routing rules still apply)."
    event = event_for_finding(kind=EventKind.FINDING_OVERDUE, finding=finding,
                              extra={"due_at": due_at.isoformat(), "escalation": "breach"})  # fmt: skip
    deliveries = Delivery.objects.bulk_create([
        Delivery(destination=destination, kind=EventKind.FINDING_OVERDUE, subject=finding.arn[:512],
                 event_key=f"escalation:breach:{finding.arn}:{destination.pk}"[:600], finding=finding, created_at=now,
                 payload={"events": [event.snapshot], "digest": False, "test": False, "teams": names,
                          "escalation": "breach"})
        for destination, names in destinations.values()
    ])  # fmt: skip
    deliveries_enqueue(deliveries=deliveries)
    names = ", ".join(sorted(d.name for d, _ in destinations.values()))
    return f"the SLA ran out; notified the owning team's destinations: {names}."


def _manager(escalation, finding, *, targets: dict, teams: list, policy: Sla, title: str) -> str:
    team_managers = set().union(*(targets["managers"].get(t.pk, set()) for t in teams)) if teams else set()
    recipients = team_managers or targets["all_managers"]
    whose = "the owning team's managers" if team_managers else "every Manager (the owning teams have none)"
    if not recipients:
        _mail(escalation, recipients=[], subject="", body="")
        return f"{policy.manager_after_hours} h past the SLA; no Manager has an email address, so no one was told."
    _mail(escalation, recipients=sorted(recipients),
          subject=f"GuardWatch SLA breached {policy.manager_after_hours} h ago: [{finding.severity_band.upper()}] {title}",
          body=f"{title}\n\nStill open {policy.manager_after_hours} h after its SLA ran out "
               f"(status {finding.get_status_display()}, assignee "
               f"{finding.assignee.get_username() if finding.assignee else 'nobody'}).\nAccount {finding.account_id}, "
               f"region {finding.region}.\n{_link(finding)}\n")  # fmt: skip
    return f"{policy.manager_after_hours} h past the SLA; emailed {whose}: {len(recipients)} people."


# --- Emails to people ------------------------------------------------------------------------------


def escalation_notify(*, escalation_id: int, now: datetime | None = None) -> str | None:
    """Email one step's recipients (claimed by a conditional UPDATE, so a duplicate task sends nothing).

    Returns "sent", "failed" (the claim is released so the next run's requeue tries again) or None.
    """
    now = now or timezone.now()
    row = SlaEscalation.objects.filter(pk=escalation_id, notified_at__isnull=True).exclude(recipients=[])
    if not row.filter(attempts__lt=settings.GUARDWATCH_NOTIFY_MAX_ATTEMPTS).update(notified_at=now):
        return None
    escalation = SlaEscalation.objects.get(pk=escalation_id)
    try:
        sent = EmailMessage(subject=escalation.subject, body=escalation.body, from_email=settings.DEFAULT_FROM_EMAIL,
                            to=escalation.recipients).send()  # fmt: skip
        error = "" if sent else "The mail backend sent nothing."
    except OSError as exc:  # SMTP errors are OSErrors
        error = f"Mail not sent: {exc}"
    if error:
        logger.warning("SLA escalation %s: %s", escalation_id, error)
        SlaEscalation.objects.filter(pk=escalation_id).update(notified_at=None, error=error[:2000],
                                                             attempts=escalation.attempts + 1)  # fmt: skip
        return "failed"
    SlaEscalation.objects.filter(pk=escalation_id).update(error="", attempts=escalation.attempts + 1)
    return "sent"


def escalation_notices_requeue(*, now: datetime) -> int:
    """Emails not sent two minutes after their step (a lost task, a failed attempt) are queued again."""
    ids = list(
        SlaEscalation.objects.filter(
            Q(notified_at__isnull=True), created_at__lte=now - timedelta(minutes=2),
            attempts__lt=settings.GUARDWATCH_NOTIFY_MAX_ATTEMPTS,
        ).exclude(recipients=[]).values_list("id", flat=True)[:BATCH]
    )  # fmt: skip
    for pk in ids:
        task_send_on_commit(NOTICE_TASK, pk)
    return len(ids)
