"""Core writes: the audit log and user accounts with a role."""

import logging
import secrets
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils import timezone

from guardwatch.core.db.bulk import rows_insert
from guardwatch.core.models import Alert, AuditEntry, SsoGroupMapping
from guardwatch.core.roles import Role
from guardwatch.core.selectors import people
from guardwatch.core.signals import alert_raised

SYSTEM_ACTOR = "system"
logger = logging.getLogger(__name__)


def actor_name(actor) -> str:
    """Who acted, as a name: a user's username, or a string naming system work (beat, ingest), or "system"."""
    if getattr(actor, "is_authenticated", False):
        return actor.get_username()
    return actor if isinstance(actor, str) and actor else SYSTEM_ACTOR


def actor_user(actor):
    """The user who acted, or None for system work."""
    return actor if getattr(actor, "is_authenticated", False) else None


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
    entry = _audit_entry(actor=actor, verb=verb, target=target, details=details)
    entry.save(force_insert=True)
    return entry


def audit_record_many(*, actor, verb: str, entries: Iterable[tuple[models.Model | tuple[str, str, str] | None, dict]]) -> int:
    """Append one audit entry per `(target, details)`, written in batches: what a sync that sees 50,000 members
    change at once records without 50,000 INSERTs (a column an array on Postgres). Returns how many."""
    columns: dict[str, list] = {"target_type": [], "target_id": [], "target_label": [], "details": []}
    for target, details in entries:
        for name, value in zip(columns, (*_target_parts(target), details or {}), strict=True):
            columns[name].append(value)
    user = actor_user(actor)
    return rows_insert(
        model=AuditEntry, varying=columns, batch_size=2000,
        fixed={"actor_id": user.pk if user else None, "actor_name": actor_name(actor)[:150], "verb": verb,
               "created_at": timezone.now()},
    )  # fmt: skip


def _target_parts(target) -> tuple[str, str, str]:
    """(type, id, label) of an audit entry's or an alert's target, cut to their columns: a model instance, a
    `(type, id, label)` triple, or nothing."""
    if isinstance(target, models.Model):
        return target._meta.label_lower[:64], str(target.pk)[:128], str(target)[:255]
    if target is not None:
        target_type, target_id, target_label = (str(part) for part in target)
        return target_type[:64], target_id[:128], target_label[:255]
    return "", "", ""


def _audit_entry(*, actor, verb: str, target, details: dict[str, Any] | None) -> AuditEntry:
    target_type, target_id, target_label = _target_parts(target)
    return AuditEntry(
        actor=actor_user(actor),
        actor_name=actor_name(actor)[:150],
        verb=verb,
        target_type=target_type,
        target_id=target_id,
        target_label=target_label,
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


@transaction.atomic
def user_roles_revoke(*, user, actor=None) -> None:
    """Take every role from `user` (single sign-on found none of their groups mapped): they see nothing."""
    if not user.groups.exists():
        return
    user.groups.clear()
    audit_record(actor=actor, verb="user.roles_revoked", target=user)


@transaction.atomic
def sso_mapping_save(*, group: str, role: Role, actor, team: str = "", scoped: bool = False) -> SsoGroupMapping:
    """Map an IdP group to a role, optionally a team (by name) and team-scoping (a group already mapped gets
    the new ones); applied at each sign-in."""
    group = group.strip()
    if not group:
        raise ValueError("Enter the group's name or id, as the identity provider sends it.")
    mapping, created = SsoGroupMapping.objects.update_or_create(
        group=group, defaults={"role": Role(role).value, "team": team, "scoped": scoped}
    )
    audit_record(actor=actor, verb="sso.mapping_create" if created else "sso.mapping_change", target=mapping,
                 details={"group": group, "role": mapping.role, "team": team, "scoped": scoped})  # fmt: skip
    return mapping


@transaction.atomic
def sso_mapping_delete(*, mapping: SsoGroupMapping, actor) -> None:
    """Remove a mapping: its group's members lose that role at their next sign-in."""
    audit_record(actor=actor, verb="sso.mapping_delete", target=mapping,
                 details={"group": mapping.group, "role": mapping.role})  # fmt: skip
    mapping.delete()


class UserChangeRefused(Exception):
    """A change to a user that would lock the team out: `message` says why (shown as is)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _last_active_admin(user) -> bool:
    others = people().filter(is_active=True, groups__name=Role.ADMIN.value).exclude(pk=user.pk)
    return user.groups.filter(name=Role.ADMIN.value).exists() and not others.exists()


@transaction.atomic
def user_role_change(*, user, role: Role, actor) -> None:
    """Give `user` the one role `role`; the last active Admin keeps Admin (or nobody could manage the team)."""
    role = Role(role)
    if role is not Role.ADMIN and _last_active_admin(user):
        raise UserChangeRefused(f"{user.get_username()} is the last active Admin: make someone else Admin first.")
    user_set_role(user=user, role=role, actor=actor)


@transaction.atomic
def user_active_set(*, user, active: bool, actor) -> None:
    """Deactivate (they are signed out at their next request and cannot sign in) or reactivate `user`."""
    if not active:
        if actor_user(actor) is not None and actor_user(actor).pk == user.pk:
            raise UserChangeRefused("You cannot deactivate yourself: ask another Admin.")
        if _last_active_admin(user):
            raise UserChangeRefused(f"{user.get_username()} is the last active Admin: make someone else Admin first.")
    if user.is_active == active:
        return
    user.is_active = active
    user.save(update_fields=["is_active"])
    audit_record(actor=actor, verb="user.activate" if active else "user.deactivate", target=user)


@transaction.atomic
def user_password_reset(*, user, actor) -> str:
    """A new random password for `user` (returned once, to hand over); their other sessions end."""
    password = secrets.token_urlsafe(12)
    user.set_password(password)  # changes the session auth hash: every signed-in session of theirs ends
    user.save(update_fields=["password"])
    audit_record(actor=actor, verb="user.password_reset", target=user)
    return password


def alert_raise(
    *,
    kind: str,
    title: str,
    message: str = "",
    target: models.Model | tuple[str, str, str] | None = None,
    dedupe_key: str,
    severity: str = Alert.Severity.MEDIUM,
) -> tuple[Alert, bool]:
    """Open an alert, or count another sighting of the open alert with the same `dedupe_key`.

    Returns `(alert, created)`. A new alert is handed to `signals.alert_raised` once the
    surrounding transaction commits, so a rolled-back sync notifies no one. A sighting takes the
    latest title and message: one alert per condition can grow (a member resigned in one more region).
    """
    target_type, target_id, target_label = _target_parts(target)
    now = timezone.now()
    seen = Alert.objects.filter(dedupe_key=dedupe_key, acknowledged_at__isnull=True)
    if seen.update(last_seen_at=now, occurrences=F("occurrences") + 1, title=title[:255], message=message,
                   target_label=target_label):  # fmt: skip
        return seen.get(), False
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                kind=kind[:64],
                severity=severity,
                title=title[:255],
                message=message,
                target_type=target_type,
                target_id=target_id,
                target_label=target_label,
                dedupe_key=dedupe_key[:255],
            )
    except IntegrityError:  # raised concurrently by another worker: that one notifies
        return seen.get(), False
    transaction.on_commit(lambda: _alert_notify(alert))
    return alert, True


def _alert_notify(alert: Alert) -> None:
    """Hand a new alert to every receiver; one failing integration must not break the sync that raised it."""
    for receiver, outcome in alert_raised.send_robust(sender=Alert, alert=alert):
        if isinstance(outcome, Exception):
            logger.error("alert_raised receiver %r failed for alert %s: %r", receiver, alert.pk, outcome,
                         exc_info=outcome)  # fmt: skip


def alert_acknowledge(*, alert: Alert, actor) -> bool:
    """Close an open alert (audited); False if it was already acknowledged."""
    now = timezone.now()
    changed = Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=now, acknowledged_by=actor if getattr(actor, "is_authenticated", False) else None
    )
    if changed:
        alert.acknowledged_at = now
        audit_record(actor=actor, verb="alert.acknowledge", target=alert, details={"kind": alert.kind})
    return bool(changed)
