"""The three roles and what each may do. The only place role membership meets permissions."""

from enum import StrEnum

from django.contrib.auth.models import Group, Permission
from django.db import transaction


class Role(StrEnum):
    """A person's role in the security team; each is a Django group of the same name."""

    ADMIN = "Admin"
    ANALYST = "Analyst"
    MANAGER = "Manager"


READ = {"view_members", "view_findings", "view_reports"}
ROLE_PERMISSIONS: dict[Role, set[str]] = {
    Role.ADMIN: READ | {"manage_members", "triage_findings", "view_sync", "manage_settings", "view_audit",
                  "approve_suppression", "export_evidence"},
    Role.ANALYST: READ | {"triage_findings", "view_sync"},
    # Managers answer auditors: they may generate and download the signed evidence packs (Analysts may not).
    Role.MANAGER: READ | {"export_evidence"},
}


def roles_install(*, using: str = "default") -> None:
    """Create or correct the role groups so each has exactly its permissions (idempotent)."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions

    create_permissions(apps.get_app_config("core"), verbosity=0, using=using)
    with transaction.atomic(using=using):
        for role, codenames in ROLE_PERMISSIONS.items():
            group, _ = Group.objects.using(using).get_or_create(name=role.value)
            perms = Permission.objects.using(using).filter(content_type__app_label="core", codename__in=codenames)
            group.permissions.set(perms)


def role_of(user) -> Role | None:
    """The highest role the user holds, for display."""
    if not user.is_authenticated:
        return None
    names = getattr(user, "group_names", None)  # guardwatch.core.access.access_load's, when it ran
    if names is None:
        names = {g.name for g in user.groups.all()}
    for role in (Role.ADMIN, Role.ANALYST, Role.MANAGER):
        if role.value in names:
            return role
    return None
