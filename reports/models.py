"""Scheduled reports: a person's subscription to a weekly or monthly PDF, and each period's run of it.

A run is claimed by its unique (subscription, period) row, so two beats, a late beat or a catch-up after
downtime never make two of them; its PDF is kept in the row (the archive page serves it) for
GUARDWATCH_SCHEDULED_REPORTS_KEEP_DAYS.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models


class ReportSubscription(models.Model):
    """A Manager's or Admin's standing order: the report for a scope, every week or month, to these addresses."""

    class Cadence(models.TextChoices):
        WEEKLY = "weekly", "Weekly"
        MONTHLY = "monthly", "Monthly (on the 1st)"

    class ScopeKind(models.TextChoices):
        ORGANISATION = "organisation", "Every account I can see"
        TEAM = "team", "A team"
        OU = "ou", "An Organizations OU"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_subscriptions"
    )
    cadence = models.CharField(max_length=8, choices=Cadence.choices)
    weekday = models.PositiveSmallIntegerField(default=0)  # Monday 0 … Sunday 6 (weekly only)
    hour = models.PositiveSmallIntegerField(default=7)  # UTC
    scope_kind = models.CharField(max_length=16, choices=ScopeKind.choices, default=ScopeKind.ORGANISATION)
    # The team is kept by id and name: a deleted team's subscription fails with a reason instead of widening.
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team_name = models.CharField(max_length=100, blank=True)
    organizational_unit = models.CharField(max_length=68, blank=True)
    extra_recipients = models.JSONField(default=list, blank=True)  # besides the owner's own address
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["owner_id", "pk"]

    def __str__(self) -> str:
        return f"{self.get_cadence_display()} report for {self.scope_label} ({self.owner})"

    @property
    def scope_label(self) -> str:
        if self.scope_kind == self.ScopeKind.TEAM:
            return f"team {self.team_name}"
        if self.scope_kind == self.ScopeKind.OU:
            return f"OU {self.organizational_unit}"
        return "the organisation"

    @property
    def schedule_label(self) -> str:
        if self.cadence == self.Cadence.WEEKLY:
            return f"every {WEEKDAYS[self.weekday]} at {self.hour:02d}:00 UTC"
        return f"on the 1st of every month at {self.hour:02d}:00 UTC"


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class ReportRun(models.Model):
    """One period's report of a subscription: claimed, rendered, sent, or failed with why (and when it retries)."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        WORKING = "working", "Being rendered or sent"
        RETRYING = "retrying", "Failed; will retry"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed; gave up"

    subscription = models.ForeignKey(ReportSubscription, on_delete=models.CASCADE, related_name="runs")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    due_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    pdf = models.BinaryField(null=True, blank=True)
    rendered_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True)  # the headline figures the mail's text repeats
    recipients = models.JSONField(default=list, blank=True)  # whom it was sent to
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-period_start", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "period_start"], name="report_run_one_per_period")
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="report_run_due_idx")]

    def __str__(self) -> str:
        return f"{self.subscription_id} {self.period_start:%Y-%m-%d} {self.state}"

    @property
    def filename(self) -> str:
        last_day = self.period_end - timedelta(days=1)
        return f"guardwatch-report-{self.period_start:%Y%m%d}-{last_day:%Y%m%d}.pdf"
