"""Core models: the permission catalogue and the audit log."""

from django.conf import settings
from django.db import models

from guardwatch.core.roles import Role


class GuardWatchPermission(models.Model):
    """Holds GuardWatch's custom permissions; no table, only `Meta.permissions`.

    Roles are groups of these permissions (see `roles.py`), so a check names what a person may do
    (`core.manage_members`), never which group they are in.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_members", "See member accounts and their status"),
            ("manage_members", "Add, invite, and change member accounts"),
            ("view_findings", "See findings"),
            ("triage_findings", "Change finding status, assign, comment, suppress"),
            ("view_sync", "See sync status and start a sync"),
            ("view_reports", "See coverage and findings reports"),
            ("manage_settings", "Change GuardWatch settings, API keys, and integrations"),
            ("view_audit", "Read the audit log"),
            ("approve_suppression", "Approve suppression rules that hide many findings"),
            ("export_evidence", "Generate and download signed evidence exports for auditors"),
        ]

    def __str__(self) -> str:
        return "GuardWatch permissions"


class AuditEntry(models.Model):
    """One mutating action: who did what to which object, with details. Append-only."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    # Kept even if the user is deleted later, and for system actors (beat, ingest) that have no user.
    actor_name = models.CharField(max_length=150)
    verb = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=128, blank=True)
    target_label = models.CharField(max_length=255, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id", "-created_at"], name="audit_target_idx"),
            models.Index(fields=["actor_name", "-created_at"], name="audit_actor_idx"),
        ]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.verb} {self.target_label}"


class Alert(models.Model):
    """Something the security team must look at (a coverage gap), shown until someone acknowledges it.

    `dedupe_key` names the condition (`membership:<account>:<region>:Resigned`): while an alert with
    that key is open, raising it again only counts another sighting instead of alerting twice.
    """

    class Severity(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    kind = models.CharField(max_length=64, db_index=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.MEDIUM)
    title = models.CharField(max_length=255)
    message = models.TextField(blank=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=128, blank=True)
    target_label = models.CharField(max_length=255, blank=True)
    dedupe_key = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)
    occurrences = models.PositiveIntegerField(default=1)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"], condition=models.Q(acknowledged_at__isnull=True), name="alert_one_open_per_key"
            )
        ]
        indexes = [models.Index(fields=["acknowledged_at", "-created_at"], name="alert_open_idx")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        """Not yet acknowledged."""
        return self.acknowledged_at is None


class ApiToken(models.Model):
    """A key for the REST API (/api/v1/). Only a SHA-256 of the secret is stored; the secret is shown once.

    A personal token acts as its owner, with the owner's role or a lower one chosen at creation. A service
    token acts as a user of its own (`user`, made for it, who cannot sign in) holding the chosen role, so
    whatever scopes what a user sees (roles today, teams later) scopes the token the same way.
    """

    class Kind(models.TextChoices):
        PERSONAL = "personal", "Personal"
        SERVICE = "service", "Service"

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Who the API sees: the owner for a personal token, the token's own service user for a service token.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    role = models.CharField(max_length=16)  # a roles.Role value: what the token may do, at most the user's role
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    # When a read with the token was last written to the audit log (reads are recorded at most hourly).
    use_recorded_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} (gwt_{self.prefix}…)"

    def usable_at(self, moment) -> bool:
        """Neither revoked nor expired at `moment`."""
        return self.revoked_at is None and self.expires_at > moment


class SsoGroupMapping(models.Model):
    """An identity provider's group and the role its members get at single sign-on (Admins edit these).

    At each sign-in the user's groups are read from the IdP; the highest role any of them maps to is
    theirs, and a user none of whose groups is mapped is refused (and loses their role). A row may also name
    a team (its members are put in it) and say "team-scoped" (they see only their teams' accounts); see
    docs/sso.md. The team is kept by name because teams live in `accounts`, above this app: accounts
    applies it (`guardwatch.core.scope.sso_teams_hooks_set`) and renames or clears it with the team.
    """

    group = models.CharField(max_length=255, unique=True, help_text="The group's name or id, as the IdP sends it.")
    role = models.CharField(max_length=16, choices=[(role.value, role.value) for role in Role])
    team = models.CharField(max_length=100, blank=True, default="", db_default="")  # a Team's name, or none
    scoped = models.BooleanField(default=False, db_default=False)  # members see only their teams' accounts
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group"]

    def __str__(self) -> str:
        return f"{self.group} → {self.role}"
