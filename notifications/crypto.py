"""Destination secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) under GUARDWATCH_SECRETS_KEY.

A key of its own, not SECRET_KEY: SECRET_KEY signs sessions and reset links and is rotated for its
own reasons; a leak of either should not give away the other. Keys are derived with HKDF from
GUARDWATCH_SECRETS_KEY, then GUARDWATCH_SECRETS_KEY_FALLBACKS (a rotation: old keys listed there
still decrypt), then — for secrets stored before this key existed — SECRET_KEY and
SECRET_KEY_FALLBACKS as the earlier versions derived them. A secret read under anything but the
current key is re-encrypted under it (`secrets_reencrypt`; `Destination.secrets` does it on read,
and migration 0002 does it for every destination once), so old keys can be dropped afterwards.
Uses the `cryptography` package.
"""

from __future__ import annotations

import base64
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_SALT = b"notifications.destination-secrets"


class SecretsUnreadable(Exception):
    """The stored secrets cannot be decrypted (GUARDWATCH_SECRETS_KEY changed without a fallback)."""


def _fernet_for(key: str, info: bytes) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=info).derive(key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def _current() -> Fernet:
    return _fernet_for(settings.GUARDWATCH_SECRETS_KEY, b"fernet-v2")


def _box() -> MultiFernet:
    """The current key first (it encrypts), then every key that may still decrypt."""
    keys = [_current()]
    keys += [_fernet_for(key, b"fernet-v2") for key in settings.GUARDWATCH_SECRETS_KEY_FALLBACKS]
    # Secrets written before GUARDWATCH_SECRETS_KEY existed were under a key derived from SECRET_KEY.
    keys += [_fernet_for(key, b"fernet-v1") for key in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]]
    return MultiFernet(keys)


def secrets_encrypt(values: dict[str, str]) -> str:
    """The secrets as one Fernet token (text), under the current key."""
    return _current().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def secrets_decrypt(token: str) -> dict[str, str]:
    """The secrets back; {} for no token."""
    if not token:
        return {}
    try:
        return json.loads(_box().decrypt(token.encode()))
    except InvalidToken:
        raise SecretsUnreadable(
            "The destination's secrets cannot be decrypted: GUARDWATCH_SECRETS_KEY changed without "
            "its old value in GUARDWATCH_SECRETS_KEY_FALLBACKS. Re-enter them."
        ) from None


def secrets_reencrypt(token: str) -> str | None:
    """The token re-encrypted under the current key, or None when it already is (or is empty).

    Raises SecretsUnreadable when no known key decrypts it.
    """
    if not token:
        return None
    try:
        _current().decrypt(token.encode())
        return None
    except InvalidToken:
        pass
    try:
        return _box().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretsUnreadable("The destination's secrets cannot be decrypted with any configured key.") from None


def secret_mask(value: str) -> str:
    """What the UI may show of a secret: its last four characters."""
    if not value:
        return ""
    return "…" + value[-4:] if len(value) > 8 else "…"
