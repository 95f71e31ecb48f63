"""Core writes: the audit log and user accounts with a role."""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.db import models, transaction

from .models import AuditEntry
from .roles import Role

SYSTEM_ACTOR = "system"


def audit_record(
    *,
    actor,
    verb: str,
    target: models.Model | tuple[str, str, str] | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one audit entry. `actor` is a user, or None/a string for system work (beat, ingest).

    `target` is a model instance or a `(type, id, label)` triple for things that are not rows.
    """
    user = actor if getattr(actor, "is_authenticated", False) else None
    actor_name = user.get_username() if user else (actor if isinstance(actor, str) and actor else SYSTEM_ACTOR)
    target_type = target_id = target_label = ""
    if isinstance(target, models.Model):
        target_type = target._meta.label_lower
        target_id = str(target.pk)
        target_label = str(target)[:255]
    elif target is not None:
        target_type, target_id, target_label = (str(part) for part in target)
    return AuditEntry.objects.create(
        actor=user,
        actor_name=actor_name[:150],
        verb=verb,
        target_type=target_type[:64],
        target_id=target_id[:128],
        target_label=target_label[:255],
        details=details or {},
    )


@transaction.atomic
def user_create(*, username: str, role: Role, password: str, email: str = "", actor=None, validate: bool = True):
    """Create a user holding exactly one role; password checked by Django's validators."""
    User = get_user_model()
    if User.objects.filter(username__iexact=username).exists():
        raise ValueError(f"A user named {username!r} already exists.")
    user = User(username=username, email=email)
    if validate:
        validate_password(password, user)
    user.set_password(password)
    user.save()
    user.groups.set([Group.objects.get(name=Role(role).value)])
    audit_record(actor=actor, verb="user.create", target=user, details={"role": Role(role).value})
    return user


@transaction.atomic
def user_set_role(*, user, role: Role, actor=None) -> None:
    """Replace the user's role."""
    user.groups.set([Group.objects.get(name=Role(role).value)])
    audit_record(actor=actor, verb="user.set_role", target=user, details={"role": Role(role).value})
