"""Where notifications go (destinations), which events go where (routing rules), and what was sent.

A `Delivery` is one message to one destination — a single event, an hourly digest, a test message
or a manual ticket — and is the queue row the Celery task works from: the sync only inserts these
rows, so a slow or failing destination never delays it or any other destination.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from guardwatch.core.logs import log_secrets_add
from notifications.crypto import secrets_decrypt, secrets_reencrypt


class EventKind(models.TextChoices):
    """What happened, as routing rules name it."""

    NEW_FINDING = "new_finding", "New finding"
    SEVERITY_RAISED = "severity_raised", "Severity raised"
    REPEAT_OCCURRENCE = "repeat_occurrence", "Repeat occurrence"
    FINDING_OVERDUE = "finding_overdue", "Finding overdue"
    COVERAGE_ALERT = "coverage_alert", "Coverage alert"
    SYNC_FAILING = "sync_failing", "Sync failing"


BANDS = ("low", "medium", "high", "critical")


class Destination(models.Model):
    """A place messages go: chat webhook, generic webhook, mailbox, Jira project or S3 prefix.

    `config` holds what may be shown (recipients, bucket, Jira project); `secrets_encrypted` holds
    URLs with tokens, HMAC secrets and API tokens, encrypted (see `crypto.py`) and never shown back:
    `secret_hints` keeps only a masked tail of each for the edit form.
    """

    class Kind(models.TextChoices):
        SLACK = "slack", "Slack incoming webhook"
        TEAMS = "teams", "Microsoft Teams webhook"
        WEBHOOK = "webhook", "Generic webhook (signed JSON)"
        EMAIL = "email", "Email"
        JIRA = "jira", "Jira Cloud issue"
        S3 = "s3", "S3 export (JSON Lines)"
        TICKET_WEBHOOK = "ticket_webhook", "Ticket webhook (signed JSON, two-way)"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    config = models.JSONField(default=dict, blank=True)
    secrets_encrypted = models.TextField(blank=True, default="")
    secret_hints = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def secrets(self) -> dict[str, str]:
        """The decrypted secrets (for sending only; never put them in a template).

        Secrets still under an old key (a fallback, or the SECRET_KEY-derived key of earlier versions)
        are re-encrypted under GUARDWATCH_SECRETS_KEY on the way, so the old key can be retired.
        """
        values = secrets_decrypt(self.secrets_encrypted)
        fresh = secrets_reencrypt(self.secrets_encrypted)
        if fresh is not None and self.pk is not None:
            # Conditional: an edit saved meanwhile wins over this re-encryption of the older value.
            Destination.objects.filter(pk=self.pk, secrets_encrypted=self.secrets_encrypted).update(
                secrets_encrypted=fresh
            )
            self.secrets_encrypted = fresh
        log_secrets_add(*values.values())  # scrubbed from any line this thread logs from now on
        return values


class RoutingRule(models.Model):
    """Which events go to one destination, filtered, and how often.

    Empty filters match everything. `throttle`: `none` sends every event; `window` sends at most one
    message per (rule, subject) per `throttle_minutes`; `digest` collects events and sends one message
    every `throttle_minutes` (the digest beat task).
    """

    class Throttle(models.TextChoices):
        NONE = "none", "Send every event"
        WINDOW = "window", "At most one message per finding per window"
        DIGEST = "digest", "One digest per window"

    class Target(models.TextChoices):
        DESTINATION = "destination", "The destination below"
        OWNING_TEAM = "owning_team", "The owning team's destinations"

    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    # With target "owning team" this is the fallback: where events go whose finding no team owns (or whose
    # owning teams have no enabled destination).
    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="rules")
    target = models.CharField(max_length=16, choices=Target.choices, default=Target.DESTINATION,
                              db_default=Target.DESTINATION)  # fmt: skip
    event_kinds = models.JSONField(default=list)
    min_band = models.CharField(max_length=8, blank=True, default="")
    # Comma-separated type prefixes, e.g. "Recon:,UnauthorizedAccess:IAMUser/".
    type_prefix = models.CharField(max_length=255, blank=True, default="")
    accounts = models.JSONField(default=list, blank=True)
    regions = models.JSONField(default=list, blank=True)
    # Repeat occurrences notify only once a finding's count reaches this (0: every repeat).
    min_count = models.PositiveIntegerField(default=0)
    throttle = models.CharField(max_length=8, choices=Throttle.choices, default=Throttle.NONE)
    throttle_minutes = models.PositiveIntegerField(default=60)
    last_digest_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def type_prefixes(self) -> list[str]:
        return [p.strip() for p in self.type_prefix.split(",") if p.strip()]

    def matches(self, event) -> bool:
        """Whether `event` (an `events.Event`) passes every filter of this rule. Pure, no queries."""
        if event.kind not in self.event_kinds:
            return False
        snap = event.snapshot
        band = snap.get("band")
        if self.min_band and band in BANDS and BANDS.index(band) < BANDS.index(self.min_band):
            return False
        prefixes = self.type_prefixes()
        if (
            prefixes
            and snap.get("type") is not None
            and not any(snap["type"].startswith(p) for p in prefixes)
        ):
            return False
        if self.accounts and snap.get("account") and snap["account"] not in self.accounts:
            return False
        if self.regions and snap.get("region") and snap["region"] not in self.regions:
            return False
        return not (event.kind == EventKind.REPEAT_OCCURRENCE and (snap.get("count") or 0) < self.min_count)


class Delivery(models.Model):
    """One message to one destination and its fate: tried with backoff until sent or dead."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (will retry)"
        DEAD = "dead", "Dead"

    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="deliveries")
    rule = models.ForeignKey(
        RoutingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    # An EventKind, or "digest", "test", "ticket".
    kind = models.CharField(max_length=32)
    # What the message is about: a finding ARN, "alert:<id>", "sync:<region>"; throttling keys on it.
    subject = models.CharField(max_length=512, blank=True, default="")
    event_key = models.CharField(max_length=600, blank=True, default="")
    finding = models.ForeignKey(
        "findings.Finding",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notification_deliveries",
    )
    # {"events": [snapshot, ...], "digest": bool, "test": bool}
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    # The receiver's answer, truncated; plain text rendered escaped.
    response_body = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["destination", "-created_at"], name="delivery_destination_idx"),
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx"),
            models.Index(fields=["rule", "subject", "-created_at"], name="delivery_throttle_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.destination_id} ({self.status})"

    @property
    def title(self) -> str:
        events = self.payload.get("events") or []
        if self.payload.get("digest"):
            return f"Digest of {len(events)} events"
        return events[0].get("title", "") if events else ""


class DigestEntry(models.Model):
    """An event held for a digest rule until the next digest collects it into one delivery."""

    rule = models.ForeignKey(RoutingRule, on_delete=models.CASCADE, related_name="digest_entries")
    kind = models.CharField(max_length=32)
    subject = models.CharField(max_length=512, blank=True, default="")
    snapshot = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    delivery = models.ForeignKey(Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["rule", "created_at"],
                name="digest_pending_idx",
                condition=models.Q(delivery__isnull=True),
            )
        ]
        verbose_name_plural = "digest entries"

    def __str__(self) -> str:
        return f"{self.kind} for rule {self.rule_id}"


class TicketLink(models.Model):
    """A ticket (Jira issue, or a generic ticket webhook's ticket) tracking a finding.

    Created automatically by a rule or from the finding page. Its status flows back (`tickets.py`: Jira
    polling and webhooks, signed callbacks): `status_category` is Jira's status category key (`new`,
    `indeterminate`, `done`), the last one GuardWatch saw. With a destination's `ticket_scope` set to
    `sequence`, every finding of one attack sequence links to the same ticket (`sequence_arn`).
    """

    finding = models.ForeignKey(
        "findings.Finding", null=True, blank=True, on_delete=models.CASCADE, related_name="ticket_links"
    )
    # Kept as text too: a link outlives a finding purged by retention in exports and the audit trail.
    finding_arn = models.CharField(max_length=512, blank=True, default="")
    destination = models.ForeignKey(
        Destination, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    delivery = models.ForeignKey(Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    key = models.CharField(max_length=64)
    url = models.URLField(max_length=500)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    status_name = models.CharField(max_length=100, blank=True, default="", db_default="")
    status_category = models.CharField(max_length=16, blank=True, default="", db_default="")
    # The poll's checkpoint: links checked longest ago are polled first, so a large backlog rotates.
    status_checked_at = models.DateTimeField(null=True, blank=True)
    sequence_arn = models.CharField(max_length=512, blank=True, default="", db_default="")

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["destination", "status_checked_at"], name="ticketlink_poll_idx")]

    def __str__(self) -> str:
        return self.key

    @property
    def done(self) -> bool:
        return self.status_category == "done"

class TeamRouting(models.Model):
    """A team's notification settings: its destinations (for rules targeting the owning team, and SLA
    breaches) and its daily digest of new and updated findings it owns."""

    team = models.OneToOneField("accounts.Team", on_delete=models.CASCADE, related_name="routing")
    destinations = models.ManyToManyField(Destination, blank=True, related_name="team_routings")
    digest_enabled = models.BooleanField(default=False, db_default=False)
    digest_hour = models.PositiveSmallIntegerField(default=8, db_default=8)  # 0-23, in TIME_ZONE
    digest_min_band = models.CharField(max_length=8, default="medium", db_default="medium")
    # The end of the last digest's window: a claim by conditional UPDATE makes one digest per day.
    digest_last_sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"routing of team {self.team_id}"


class EscalationStep(models.TextChoices):
    """The SLA escalation steps, in order."""

    WARNING = "warning", "Assignee warned"
    BREACH = "breach", "Owning team notified"
    MANAGER = "manager", "Manager notified"


ESCALATION_ORDER = (EscalationStep.WARNING, EscalationStep.BREACH, EscalationStep.MANAGER)


class SlaEscalation(models.Model):
    """One escalation step taken for one finding: the unique row is the claim, so a step happens once.

    People (the assignee, managers) are emailed from `recipients` by a task that claims `notified_at`;
    team destinations get ordinary `Delivery` rows.
    """

    finding = models.ForeignKey("findings.Finding", on_delete=models.CASCADE, related_name="sla_escalations")
    step = models.CharField(max_length=16, choices=EscalationStep.choices)
    due_at = models.DateTimeField()  # when the step fell due (warning point, breach, breach + delay)
    created_at = models.DateTimeField(default=timezone.now)
    recipients = models.JSONField(default=list, blank=True)  # email addresses (warning, manager steps)
    subject = models.CharField(max_length=255, blank=True, default="")
    body = models.TextField(blank=True, default="")
    notified_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["finding", "step"], name="sla_escalation_once")]

    def __str__(self) -> str:
        return f"{self.step} for finding {self.finding_id}"
