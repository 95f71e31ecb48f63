"""Outbound safety: secrets encrypted at rest; hosts resolving to metadata addresses refused at send time;
the request goes to the address that was checked, and ends at one overall deadline."""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
import time

import pytest
from django.test import override_settings

from notifications import services
from notifications.crypto import SecretsUnreadable, secrets_decrypt, secrets_encrypt
from notifications.models import Destination
from notifications.outbound import OutboundFailed, OutboundRefused, http_post, url_check
from tests.core.test_settings import ROOT, check_with

from .conftest import webhook_make

_real_getaddrinfo = socket.getaddrinfo


def fake_dns(monkeypatch, answers: dict[str, list[str]]) -> list[str]:
    """Names in `answers` resolve to the next address of their list (the last one repeats); others as usual.

    Returns the names looked up, in order, so a test can count the lookups.
    """
    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return _real_getaddrinfo(host, port, *args, **kwargs)
        asked.append(host)
        queue = answers[host]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_secrets_round_trip_and_survive_a_key_rotation_with_a_fallback(settings):
    token = secrets_encrypt({"api_token": "very-secret"})
    assert "very-secret" not in token
    settings.GUARDWATCH_SECRETS_KEY_FALLBACKS = [settings.GUARDWATCH_SECRETS_KEY]
    settings.GUARDWATCH_SECRETS_KEY = "a-new-secrets-key-" * 4
    assert secrets_decrypt(token) == {"api_token": "very-secret"}
    settings.GUARDWATCH_SECRETS_KEY_FALLBACKS = []
    with pytest.raises(SecretsUnreadable, match="GUARDWATCH_SECRETS_KEY_FALLBACKS"):
        secrets_decrypt(token)


def test_destination_secrets_do_not_depend_on_secret_key(settings):
    token = secrets_encrypt({"api_token": "very-secret"})
    settings.SECRET_KEY = "a-rotated-session-signing-key-" * 3  # sessions rotate; secrets stay readable
    settings.SECRET_KEY_FALLBACKS = []
    assert secrets_decrypt(token) == {"api_token": "very-secret"}


def legacy_token(settings, values: dict) -> str:
    """A token as earlier versions wrote it: under a key derived from SECRET_KEY."""
    import json

    from notifications.crypto import _fernet_for

    return _fernet_for(settings.SECRET_KEY, b"fernet-v1").encrypt(json.dumps(values).encode()).decode()


def only_current_key_reads(settings, token: str) -> dict:
    """Decrypt with GUARDWATCH_SECRETS_KEY alone (no fallbacks, no SECRET_KEY)."""
    with override_settings(SECRET_KEY="z" * 60, SECRET_KEY_FALLBACKS=[], GUARDWATCH_SECRETS_KEY_FALLBACKS=[]):
        return secrets_decrypt(token)


@pytest.mark.django_db
def test_secrets_stored_under_secret_key_still_work_and_move_to_the_secrets_key_when_read(settings, receiver):
    destination = webhook_make(receiver.url)
    old = legacy_token(settings, {"url": receiver.url, "signing_secret": "s3cret-signing-key-for-tests"})
    Destination.objects.filter(pk=destination.pk).update(secrets_encrypted=old)
    destination.refresh_from_db()

    delivery = services.destination_test(destination=destination, actor=None)

    assert delivery.status == "sent" and len(receiver.requests) == 1
    destination.refresh_from_db()
    assert destination.secrets_encrypted != old
    assert only_current_key_reads(settings, destination.secrets_encrypted)["url"] == receiver.url


@pytest.mark.django_db
def test_the_migration_re_encrypts_every_destination_under_the_secrets_key(settings):
    from django.apps import apps

    migration = importlib.import_module("notifications.migrations.0002_reencrypt_destination_secrets")
    readable = webhook_make("http://10.0.0.1/hook", name="old")
    current = webhook_make("http://10.0.0.2/hook", name="current")
    lost = webhook_make("http://10.0.0.3/hook", name="lost")
    Destination.objects.filter(pk=readable.pk).update(
        secrets_encrypted=legacy_token(settings, {"url": "http://10.0.0.1/hook", "signing_secret": "x" * 16})
    )
    unreadable = secrets_encrypt({"url": "x"}).replace("A", "B", 3)  # no key reads it
    Destination.objects.filter(pk=lost.pk).update(secrets_encrypted=unreadable)
    current_token = Destination.objects.get(pk=current.pk).secrets_encrypted

    migration.reencrypt_destination_secrets(apps, None)

    rows = {d.name: d.secrets_encrypted for d in Destination.objects.all()}
    assert only_current_key_reads(settings, rows["old"]) == {"url": "http://10.0.0.1/hook", "signing_secret": "x" * 16}
    assert rows["current"] == current_token  # already under the current key: untouched
    assert rows["lost"] == unreadable  # unreadable: kept for the Admin to re-enter, never blanked


def test_a_host_name_resolving_to_the_metadata_address_is_refused(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80))])  # fmt: skip
    with pytest.raises(OutboundRefused, match="link-local"):
        url_check("http://innocent.example.com/hook")


def test_loopback_is_refused_unless_the_setting_allows_it(settings, monkeypatch):
    settings.GUARDWATCH_NOTIFY_ALLOW_LOOPBACK = False
    with pytest.raises(OutboundRefused, match="loopback"):
        url_check("http://127.0.0.1:8080/hook")
    fake_dns(monkeypatch, {"relay.example.test": ["127.0.0.1"]})
    with pytest.raises(OutboundRefused, match="resolves to a loopback address"):
        url_check("http://relay.example.test:8080/hook")


def test_production_refuses_loopback_destinations_by_default():
    code = "import django; django.setup(); from django.conf import settings; print(settings.GUARDWATCH_NOTIFY_ALLOW_LOOPBACK)"
    env = {
        "GUARDWATCH_ENV": "production", "SECRET_KEY": "x" * 60, "ALLOWED_HOSTS": "gw.example.com",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/guardwatch_test", "REDIS_URL": "redis://127.0.0.1:6379/1",
        "GUARDWATCH_SECRETS_KEY": "y" * 60, "DJANGO_SETTINGS_MODULE": "guardwatch.settings",
    }  # fmt: skip
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GUARDWATCH_", "DATABASE_", "SECRET_", "REDIS_"))}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=base | env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert check_with({"GUARDWATCH_ENV": "test"}).returncode == 0


@pytest.mark.django_db
def test_a_slow_drip_receiver_cannot_hold_a_test_message_past_the_deadline(receiver_factory, fast_notify):
    """Each byte comes within the per-read timeout; the whole answer would take ~20 s. The deadline is 1 s."""
    receiver = receiver_factory(drip=0.25)
    destination = webhook_make(receiver.url)

    started = time.monotonic()
    delivery = services.destination_test(destination=destination, actor=None)
    elapsed = time.monotonic() - started

    assert delivery.status == "failed"
    assert "Timed out after 1 s" in delivery.error
    assert elapsed < 3


@pytest.mark.django_db
def test_the_request_goes_to_the_address_that_was_checked_without_asking_dns_again(receiver, monkeypatch):
    """DNS rebinding: the name first answers a harmless address, then the metadata address."""
    asked = fake_dns(monkeypatch, {"hook.example.test": ["127.0.0.1", "169.254.169.254"]})

    answer = http_post(url=f"http://hook.example.test:{receiver.port}/hook", body=b"{}", headers={}, timeout=2)

    assert answer.status == 200
    assert asked == ["hook.example.test"]
    assert receiver.requests[0].headers["host"] == f"hook.example.test:{receiver.port}"


@pytest.mark.django_db
def test_https_to_the_checked_address_still_verifies_the_certificate_for_the_host_name(
    tls_receiver_factory, monkeypatch
):
    receiver = tls_receiver_factory()
    fake_dns(monkeypatch, {"hook.example.test": ["127.0.0.1"], "other.example.test": ["127.0.0.1"]})

    answer = http_post(url=f"https://hook.example.test:{receiver.port}/hook", body=b"{}", headers={}, timeout=2)
    assert answer.status == 200
    assert receiver.requests[0].headers["host"] == f"hook.example.test:{receiver.port}"

    with pytest.raises(OutboundFailed, match="TLS failed"):  # same address, a name the certificate lacks
        http_post(url=f"https://other.example.test:{receiver.port}/hook", body=b"{}", headers={}, timeout=2)


def test_credentials_in_the_url_are_refused():
    with pytest.raises(OutboundRefused, match="credentials"):
        url_check("https://user:pass@example.com/hook", resolve=False)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://[fd00:ec2::254]/latest/meta-data/", "metadata address"),
        ("http://100.100.100.200/latest/meta-data/", "metadata address"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
        ("http://[2002:a9fe:a9fe::1]/", "link-local"),  # 6to4 wrapping of 169.254.169.254
        ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),  # NAT64 wrapping of 169.254.169.254
    ],
)
def test_metadata_addresses_outside_link_local_and_wrapped_ipv4_are_refused(url, reason):
    with pytest.raises(OutboundRefused, match=reason):
        url_check(url, resolve=False)


def test_a_private_address_stays_allowed_for_self_hosted_receivers():
    url_check("http://10.1.2.3:8080/hook", resolve=False)
    url_check("http://[2002:0a01:0203::1]/hook", resolve=False)  # 6to4 of 10.1.2.3
