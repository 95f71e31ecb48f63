"""Core models: the permission catalogue and the audit log."""

from django.conf import settings
from django.db import models


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
