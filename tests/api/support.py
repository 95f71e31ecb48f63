"""Helpers for the API tests: tokens made the way the tokens page makes them, and clients that send them."""

from __future__ import annotations

from django.test import Client

from api.services import api_token_create
from guardwatch.core.roles import role_of


def token_of(user, *, kind: str = "personal", role: str | None = None, days: int = 30, name: str = "tests") -> str:
    """A new token's secret: `user`'s personal token (their role unless `role`), or a service token they make."""
    return api_token_create(name=name, kind=kind, role=role or role_of(user).value, days=days, actor=user)[1]


def api_client(secret: str) -> Client:
    """A client that sends only the token: no session, no CSRF token."""
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {secret}")
