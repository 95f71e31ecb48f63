"""Scheduled reports: subscriptions (writes), the beat's claims of due periods, and a run's delivery.

The beat (`scheduled_reports_tick`, every few minutes) inserts one `ReportRun` per subscription and due
period; the unique (subscription, period) row is the claim, so two beats at once, a late beat or a
catch-up after downtime make each period's run once. It then dispatches due runs: a conditional UPDATE
moves a run's `next_attempt_at` past the dispatch grace, and only the beat whose UPDATE did so queues
its delivery. The worker claims the run with a conditional UPDATE (pending or retrying → working),
renders the PDF once (kept in the row), sends it once (`sent_at`), and on failure records why and
retries with exponential backoff, up to GUARDWATCH_SCHEDULED_REPORTS_MAX_ATTEMPTS.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import MemberAccount, Team
from accounts.teams import team_account_ids
from guardwatch.core.queue import task_send_on_commit
from guardwatch.core.roles import Role, role_of
from guardwatch.core.scope import scope_for
from guardwatch.core.services import audit_record
from reports.models import ReportRun, ReportSubscription
from reports.schedule import due_periods
from reports.scheduled_figures import scheduled_report_compute, scheduled_report_pdf

logger = logging.getLogger(__name__)

State = ReportRun.State
DELIVER_TASK = "reports.tasks.scheduled_report_deliver"
DISPATCH_GRACE = timedelta(minutes=15)  # a queued delivery no worker took in this long is queued again
STALE_WORK = timedelta(minutes=30)  # a run "working" this long lost its worker: claimable again
MAX_EXTRA_RECIPIENTS = 10
OU_PATTERN = re.compile(r"^ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}$")  # Organizations' OU id pattern


class RunRefused(Exception):
    """A run that can never succeed as configured (its owner lost the role, its team was deleted): not retried."""


# --- Subscriptions ---------------------------------------------------------------------------------


def may_subscribe(user) -> bool:
    """Managers and Admins subscribe to scheduled reports (Analysts read the pages)."""
    return bool(user.is_active) and role_of(user) in (Role.ADMIN, Role.MANAGER)


def may_add_recipients(user) -> bool:
    """Only an Admin may send a report to addresses other than their own (the PDF holds the scope's findings)."""
    return role_of(user) == Role.ADMIN


def extra_recipients_parse(raw: str) -> tuple[list[str], list[str]]:
    """Addresses from a comma- or line-separated list (deduplicated, lower-cased domain) and the errors."""
    found, errors = [], []
    for item in re.split(r"[,\s;]+", raw.strip()):
        if not item:
            continue
        try:
            validate_email(item)
        except ValidationError:
            errors.append(f"“{item[:100]}” is not an email address.")
            continue
        local, _, domain = item.rpartition("@")
        address = f"{local}@{domain.lower()}"
        if address not in found:
            found.append(address)
    if len(found) > MAX_EXTRA_RECIPIENTS:
        errors.append(f"At most {MAX_EXTRA_RECIPIENTS} extra addresses; {len(found)} were given.")
    return found, errors


def subscription_save(*, owner, data: dict, actor) -> ReportSubscription:
    """Create a subscription for `owner` from a valid form's cleaned data; audited."""
    team: Team | None = data.get("team")
    with transaction.atomic():
        subscription = ReportSubscription.objects.create(
            owner=owner,
            cadence=data["cadence"],
            weekday=data.get("weekday") or 0,
            hour=data["hour"],
            scope_kind=data["scope_kind"],
            team=team,
            team_name=team.name if team else "",
            organizational_unit=data.get("organizational_unit") or "",
            extra_recipients=data.get("extra_recipients") or [],
        )
        audit_record(actor=actor, verb="report_subscription.create", target=subscription,
                     details={"schedule": subscription.schedule_label, "scope": subscription.scope_label,
                              "extra_recipients": subscription.extra_recipients})  # fmt: skip
    return subscription


def subscription_delete(*, subscription: ReportSubscription, actor) -> None:
    """Stop a subscription; its archived runs go with it. Audited."""
    with transaction.atomic():
        audit_record(actor=actor, verb="report_subscription.delete", target=subscription,
                     details={"schedule": subscription.schedule_label, "scope": subscription.scope_label})  # fmt: skip
        subscription.delete()


# --- What a run covers and whom it goes to -----------------------------------------------------------


def run_scope(subscription: ReportSubscription) -> frozenset[str] | None:
    """The accounts the report covers: the chosen team or OU (or everything), within its owner's own scope.

    Re-read at every run: a manager made team-scoped later gets only their teams' accounts from then on.
    """
    owner = subscription.owner
    if not may_subscribe(owner):
        raise RunRefused(
            f"{owner.get_username()} is no longer an active Manager or Admin; delete this subscription."
        )
    chosen: frozenset[str] | None = None
    if subscription.scope_kind == ReportSubscription.ScopeKind.TEAM:
        if subscription.team is None:
            raise RunRefused(
                f"The team {subscription.team_name!r} was deleted; subscribe again with another scope."
            )
        chosen = team_account_ids(teams=[subscription.team])
    elif subscription.scope_kind == ReportSubscription.ScopeKind.OU:
        chosen = frozenset(MemberAccount.objects.filter(organizational_unit=subscription.organizational_unit)
                           .values_list("account_id", flat=True))  # fmt: skip
    allowed = scope_for(owner)
    if allowed is None:
        return chosen
    return allowed if chosen is None else chosen & allowed


def run_scope_label(subscription: ReportSubscription) -> str:
    """What the report says it covers: the chosen scope, and that it stops at a team-scoped owner's teams."""
    owner = subscription.owner
    if scope_for(owner) is None:
        return subscription.scope_label
    if subscription.scope_kind == ReportSubscription.ScopeKind.ORGANISATION:
        return f"the accounts of {owner.get_username()}'s teams"
    return f"{subscription.scope_label}, within {owner.get_username()}'s teams"


def run_recipients(subscription: ReportSubscription) -> list[str]:
    """The owner's address, and the extra ones while the owner is an Admin."""
    owner = subscription.owner
    found = [owner.email] if owner.email else []
    if may_add_recipients(owner):
        found += [address for address in subscription.extra_recipients if address not in found]
    if not found:
        raise RunRefused(
            f"{owner.get_username()} has no email address and the subscription no other recipient."
        )
    return found


# --- The beat: claim due periods, dispatch due runs ---------------------------------------------------


def scheduled_runs_claim(*, now: datetime) -> int:
    """Insert the run of every due period not yet claimed (each at most once, whoever else is claiming)."""
    wanted = []
    for subscription in ReportSubscription.objects.all():
        for due in due_periods(cadence=subscription.cadence, weekday=subscription.weekday, hour=subscription.hour,
                               since=subscription.created_at, now=now):  # fmt: skip
            wanted.append(ReportRun(subscription=subscription, period_start=due.start, period_end=due.end,
                                    due_at=due.due_at, next_attempt_at=due.due_at))  # fmt: skip
    if not wanted:
        return 0
    existing = set(
        ReportRun.objects.filter(period_start__gte=min(r.period_start for r in wanted),
                                 subscription_id__in={r.subscription_id for r in wanted})
        .values_list("subscription_id", "period_start")
    )  # fmt: skip
    missing = [r for r in wanted if (r.subscription_id, r.period_start) not in existing]
    # ON CONFLICT DO NOTHING: a concurrent beat that inserted the same period first wins; nothing is doubled.
    ReportRun.objects.bulk_create(missing, ignore_conflicts=True)
    return len(missing)


def _due_q(now: datetime) -> Q:
    return Q(state__in=(State.PENDING, State.RETRYING), next_attempt_at__lte=now) | Q(
        state=State.WORKING, claimed_at__lt=now - STALE_WORK
    )


def scheduled_runs_dispatch(*, now: datetime) -> list[int]:
    """Queue the delivery of each due run; a conditional UPDATE per run means one beat queues it, once per grace."""
    queued = []
    for pk in ReportRun.objects.filter(_due_q(now)).order_by("next_attempt_at").values_list("pk", flat=True):
        if ReportRun.objects.filter(_due_q(now), pk=pk).update(next_attempt_at=now + DISPATCH_GRACE):
            task_send_on_commit(DELIVER_TASK, pk)
            queued.append(pk)
    return queued


def scheduled_pdfs_expire(*, now: datetime) -> int:
    """Drop the PDFs older than GUARDWATCH_SCHEDULED_REPORTS_KEEP_DAYS (the run row stays: it is the claim)."""
    cutoff = now - timedelta(days=settings.GUARDWATCH_SCHEDULED_REPORTS_KEEP_DAYS)
    return ReportRun.objects.filter(created_at__lt=cutoff, pdf__isnull=False).update(pdf=None)


def scheduled_reports_tick(*, now: datetime | None = None) -> dict[str, int]:
    """The beat's work: claim due periods (catching up missed ones), dispatch due runs, expire old PDFs."""
    now = now or timezone.now()
    with transaction.atomic():
        claimed = scheduled_runs_claim(now=now)
        queued = scheduled_runs_dispatch(now=now)
    return {"claimed": claimed, "queued": len(queued), "expired": scheduled_pdfs_expire(now=now)}


# --- The worker: render once, send once ----------------------------------------------------------------


def _claim(run_id: int, now: datetime) -> bool:
    claimable = Q(state__in=(State.PENDING, State.RETRYING)) | Q(
        state=State.WORKING, claimed_at__lt=now - STALE_WORK
    )
    return bool(ReportRun.objects.filter(claimable, pk=run_id)
                .update(state=State.WORKING, claimed_at=now, attempts=F("attempts") + 1))  # fmt: skip


def _fail(run: ReportRun, reason: str, *, now: datetime, final: bool) -> str:
    final = final or run.attempts >= settings.GUARDWATCH_SCHEDULED_REPORTS_MAX_ATTEMPTS
    wait = timedelta(
        seconds=settings.GUARDWATCH_SCHEDULED_REPORTS_RETRY_BASE_SECONDS * 2 ** (run.attempts - 1)
    )
    state = State.FAILED if final else State.RETRYING
    ReportRun.objects.filter(pk=run.pk).update(state=state, error=reason[:1000], next_attempt_at=now + wait)
    logger.warning("Scheduled report run %s failed (attempt %s): %s", run.pk, run.attempts, reason)
    return state


def _error_text(error: Exception) -> str:
    return f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"[:300]


def _subject(run: ReportRun, report_title: str) -> str:
    return f"GuardWatch {report_title}, {run.period_start:%Y-%m-%d} to {run.period_end - timedelta(days=1):%Y-%m-%d}"


def _summary(report) -> dict:
    return {"title": report.title, "scope": report.scope_label, "period": report.period.label,
            "coverage_percent": report.coverage.percent, "new": report.findings.new_total,
            "resolved": report.findings.closed_total, "sla_breaches": report.breaches_total}  # fmt: skip


def _body(run: ReportRun) -> str:
    summary = run.summary
    archive = reverse("reports:scheduled_archive", args=[run.subscription_id])
    where = (
        f"{settings.GUARDWATCH_PUBLIC_URL.rstrip('/')}{archive}"
        if settings.GUARDWATCH_PUBLIC_URL
        else archive
    )
    return (
        f"{summary['title']} for {summary['scope']}, {summary['period']} (UTC).\n\n"
        f"Coverage: {summary['coverage_percent']} % of account × region pairs monitored.\n"
        f"New findings: {summary['new']}; resolved: {summary['resolved']}; SLA breaches: {summary['sla_breaches']}.\n\n"
        f"The full report is attached as a PDF. Past reports: {where}\n"
    )


def scheduled_report_deliver(*, run_id: int, now: datetime | None = None) -> str:
    """Render (once) and email (once) one run; its state after. Safe to run twice or concurrently."""
    now = now or timezone.now()
    if not _claim(run_id, now):
        return "skipped"
    run = ReportRun.objects.select_related("subscription__owner", "subscription__team").get(pk=run_id)
    subscription = run.subscription
    title = "Weekly report" if subscription.cadence == ReportSubscription.Cadence.WEEKLY else "Monthly report"
    try:
        scope = run_scope(subscription)
        recipients = run_recipients(subscription)
    except RunRefused as refused:
        return _fail(run, str(refused), now=now, final=True)
    if run.pdf is None:
        try:
            report = scheduled_report_compute(title=title, scope_label=run_scope_label(subscription),
                                              start=run.period_start, end=run.period_end, scope=scope, now=now)  # fmt: skip
            pdf = scheduled_report_pdf(report=report, user=subscription.owner)
        except Exception as error:  # noqa: BLE001 - any failure is kept on the run, shown, and retried
            logger.exception("Rendering scheduled report run %s failed", run.pk)
            return _fail(run, f"Rendering failed: {_error_text(error)}", now=now, final=False)
        run.pdf, run.summary = pdf, _summary(report)
        ReportRun.objects.filter(pk=run.pk).update(pdf=pdf, rendered_at=now, summary=run.summary)
    message = EmailMessage(subject=_subject(run, f"{title.lower()}: {subscription.scope_label}")[:200],
                           body=_body(run),
                           from_email=settings.DEFAULT_FROM_EMAIL, to=recipients)  # fmt: skip
    message.attach(run.filename, bytes(run.pdf), "application/pdf")
    try:
        sent = message.send()
    except OSError as error:  # SMTP errors are OSErrors
        return _fail(run, f"Sending failed: {_error_text(error)}", now=now, final=False)
    if not sent:
        return _fail(run, "Sending failed: the mail backend sent nothing.", now=now, final=False)
    ReportRun.objects.filter(pk=run.pk).update(state=State.SENT, sent_at=timezone.now(), error="",
                                               recipients=recipients)  # fmt: skip
    return State.SENT
