"""Outbound safety: secrets encrypted at rest; hosts resolving to metadata addresses refused at send time."""

from __future__ import annotations

import socket

import pytest

from notifications.crypto import SecretsUnreadable, secrets_decrypt, secrets_encrypt
from notifications.outbound import OutboundRefused, url_check


def test_secrets_round_trip_and_survive_a_key_rotation_with_a_fallback(settings):
    token = secrets_encrypt({"api_token": "very-secret"})
    assert "very-secret" not in token
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" * 4
    assert secrets_decrypt(token) == {"api_token": "very-secret"}
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(SecretsUnreadable):
        secrets_decrypt(token)


def test_a_host_name_resolving_to_the_metadata_address_is_refused(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80))])  # fmt: skip
    with pytest.raises(OutboundRefused, match="link-local"):
        url_check("http://innocent.example.com/hook")


def test_loopback_can_be_refused_by_setting(settings):
    settings.GUARDWATCH_NOTIFY_BLOCK_LOOPBACK = True
    with pytest.raises(OutboundRefused, match="loopback"):
        url_check("http://127.0.0.1:8080/hook")


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
