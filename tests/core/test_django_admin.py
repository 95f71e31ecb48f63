"""The Django admin: not served in production unless asked for; it signs in through /login/ (throttled, MFA)."""

import os
import subprocess
import sys

import pytest

from tests.core.test_login_throttle import own_cache_keys  # noqa: F401 (autouse: this test's own throttle keys)
from tests.core.test_settings import ROOT

PASSWORD = "correct horse battery staple"
LOCKED = "Too many failed sign-ins for this user or from this address"
PRODUCTION = {
    "GUARDWATCH_ENV": "production", "SECRET_KEY": "x" * 60, "GUARDWATCH_SECRETS_KEY": "y" * 40,
    "ALLOWED_HOSTS": "gw.example.com", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/guardwatch_test",
    "REDIS_URL": "redis://127.0.0.1:6379/1", "DJANGO_SETTINGS_MODULE": "guardwatch.settings",
}  # fmt: skip


def admin_served(env: dict[str, str]) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GUARDWATCH_", "DATABASE_", "SECRET_", "REDIS_"))}
    code = ("import django; django.setup(); from django.urls import resolve, Resolver404\n"
            "try:\n    resolve('/django-admin/'); print('served')\nexcept Resolver404:\n    print('absent')")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=base | env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_production_does_not_serve_the_django_admin_unless_asked():
    assert admin_served(PRODUCTION) == "absent"
    assert admin_served(PRODUCTION | {"GUARDWATCH_DJANGO_ADMIN": "true"}) == "served"


@pytest.mark.django_db
def test_the_django_admin_signs_in_through_the_throttled_login_page(client, django_user_model, settings, monkeypatch):
    settings.GUARDWATCH_LOGIN_MAX_FAILURES = 3
    monkeypatch.setattr("guardwatch.core.login._clock", lambda: 1_800_000_000.0)  # no time passes
    django_user_model.objects.create_user("staff-member", password=PASSWORD, is_staff=True, is_superuser=True)
    admin_login = client.post("/django-admin/login/", {"username": "staff-member", "password": PASSWORD})
    assert admin_login.status_code == 302 and admin_login.url.startswith("/login/")  # no sign-in of its own
    assert "_auth_user_id" not in client.session
    for _ in range(3):
        client.post("/login/", {"username": "staff-member", "password": "wrong"})

    response = client.post("/login/?next=/django-admin/", {"username": "staff-member", "password": PASSWORD})

    assert response.status_code == 200 and LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session
