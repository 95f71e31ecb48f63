"""API token writes: create (the secret returned once), revoke, authenticate, record use, rate-limit.

Only a SHA-256 of each secret is kept, found by a short public prefix, as ingest keys are. A service
token gets a user of its own, holding the token's role and unable to sign in (no usable password), so the
API acts as that user through the same services and selectors as a person.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from guardwatch.core.keys import key_hash, key_matches, key_new, key_prefix
from guardwatch.core.models import ApiToken
from guardwatch.core.rates import minute_rate_take
from guardwatch.core.roles import ROLE_PERMISSIONS, Role, role_of
from guardwatch.core.services import audit_record

TOKEN_PREFIX = "gwt_"  # noqa: S105 - the public start of every token, not a secret
# Reads with a token go to the audit log at most this often per token; every write goes there.
READ_RECORD_EVERY = timedelta(hours=1)
_RANK = {Role.MANAGER: 0, Role.ANALYST: 1, Role.ADMIN: 2}


def roles_grantable(*, user, kind: str) -> list[Role]:
    """The roles `user` may give a token of `kind`: their own role or a lower one (service tokens: Admins only)."""
    own = role_of(user)
    if own is None or (kind == ApiToken.Kind.SERVICE and own is not Role.ADMIN):
        return []
    return [role for role in (Role.ADMIN, Role.ANALYST, Role.MANAGER) if _RANK[role] <= _RANK[own]]


def _service_user(*, name: str, prefix: str, role: Role):
    """The user a service token acts as: named after the token, holding its role, never able to sign in."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "token"
    user = get_user_model()(username=f"svc-{slug}-{prefix}")
    user.set_unusable_password()
    user.save()
    user.groups.set([Group.objects.get(name=role.value)])
    return user


@transaction.atomic
def api_token_create(*, name: str, kind: str, role: str, days: int | None, actor) -> tuple[ApiToken, str]:
    """A new API token; the full secret is returned once and only its hash is kept.

    A personal token acts as `actor` with `role` (theirs or lower); a service token (Admins only) as a new
    service user holding `role`. `days` until it expires: at least 1, at most GUARDWATCH_API_TOKEN_MAX_DAYS.
    """
    errors = {}
    name = name.strip()
    if not name:
        errors["name"] = "Give the token a name (what uses it)."
    if kind not in ApiToken.Kind.values:
        errors["kind"] = "Choose a personal or a service token."
    days = settings.GUARDWATCH_API_TOKEN_DEFAULT_DAYS if days is None else days
    if not 1 <= days <= settings.GUARDWATCH_API_TOKEN_MAX_DAYS:
        errors["days"] = f"A token lasts from 1 to {settings.GUARDWATCH_API_TOKEN_MAX_DAYS} days."
    if errors:
        raise ValidationError(errors)
    if not (grantable := roles_grantable(user=actor, kind=kind)):
        raise PermissionDenied("Only Admins create service tokens.")
    if role not in {r.value for r in grantable}:
        raise ValidationError({"role": f"Choose one of: {', '.join(r.value for r in grantable)}."})
    prefix, secret = key_new(TOKEN_PREFIX)
    user = actor if kind == ApiToken.Kind.PERSONAL else _service_user(name=name, prefix=prefix, role=Role(role))
    token = ApiToken.objects.create(
        name=name[:100], kind=kind, user=user, role=role, prefix=prefix, secret_hash=key_hash(secret),
        created_by=actor, expires_at=timezone.now() + timedelta(days=days),
    )  # fmt: skip
    audit_record(actor=actor, verb="api_token.create", target=token,
                 details={"prefix": prefix, "kind": kind, "role": role, "acts_as": user.get_username(),
                          "expires_at": token.expires_at.isoformat()})  # fmt: skip
    return token, secret


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor) -> None:
    """Refuse the token from now on (kept for the record); a service token's user is deactivated with it."""
    if token.revoked_at is not None:
        return
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    if token.kind == ApiToken.Kind.SERVICE:
        type(token.user).objects.filter(pk=token.user_id).update(is_active=False)
    audit_record(actor=actor, verb="api_token.revoke", target=token, details={"prefix": token.prefix})


def api_token_authenticate(*, presented: str, now: datetime | None = None) -> ApiToken | None:
    """The usable token matching `presented` (compared in constant time), its user active; else None."""
    presented = presented.strip()
    prefix = key_prefix(presented, TOKEN_PREFIX)
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first() if prefix else None
    if not key_matches(presented, token.secret_hash if token else None):
        return None
    if not token.usable_at(now or timezone.now()) or not token.user.is_active:
        return None
    return token


def api_token_allows(*, token: ApiToken, permission: str) -> bool:
    """Whether the token may use `permission`: its role grants it and so does its user's (role lowered since)."""
    return permission in ROLE_PERMISSIONS[Role(token.role)] and token.user.has_perm(f"core.{permission}")


def api_token_use_record(*, token: ApiToken, method: str, path: str, status: int, now: datetime | None = None) -> None:
    """Note a request made with `token`: `last_used_at` (one write a minute at most) and the audit log.

    Every write (any method but GET/HEAD/OPTIONS) is recorded; reads at most once an hour per token.
    """
    now = now or timezone.now()
    # The token as authentication read it says whether either write is due; the conditional UPDATEs
    # keep concurrent requests from writing twice.
    if token.last_used_at is None or token.last_used_at < now - timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(minutes=1))
        ).update(last_used_at=now)
    write = method not in ("GET", "HEAD", "OPTIONS")
    if not write:
        if token.use_recorded_at is not None and token.use_recorded_at >= now - READ_RECORD_EVERY:
            return
        due = ApiToken.objects.filter(pk=token.pk).filter(
            Q(use_recorded_at__isnull=True) | Q(use_recorded_at__lt=now - READ_RECORD_EVERY)
        )
        if not due.update(use_recorded_at=now):
            return
    audit_record(actor=token.user, verb="api_token.use", target=token,
                 details={"prefix": token.prefix, "method": method, "path": path[:500], "status": status})  # fmt: skip


def api_rate_take(*, token: ApiToken, now: datetime | None = None) -> int:
    """Count one request against the token's current minute; 0 to go on, else the seconds for `Retry-After`.

    GUARDWATCH_API_RATE_PER_MINUTE = 0 turns the limit off.
    """
    return minute_rate_take(label="API", name=f"api-rate:{token.prefix}", limit=settings.GUARDWATCH_API_RATE_PER_MINUTE, now=now)
