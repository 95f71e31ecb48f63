"""Destination secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from SECRET_KEY.

Keys come from SECRET_KEY and then SECRET_KEY_FALLBACKS, so secrets written before a key rotation
still decrypt while the old key is listed as a fallback. Uses the `cryptography` package.
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
    """The stored secrets cannot be decrypted (SECRET_KEY changed without a fallback)."""


def _fernet_for(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=b"fernet-v1").derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def _box() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet_for(key) for key in keys])


def secrets_encrypt(values: dict[str, str]) -> str:
    """The secrets as one Fernet token (text)."""
    return _box().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def secrets_decrypt(token: str) -> dict[str, str]:
    """The secrets back; {} for no token."""
    if not token:
        return {}
    try:
        return json.loads(_box().decrypt(token.encode()))
    except InvalidToken:
        raise SecretsUnreadable(
            "The destination's secrets cannot be decrypted: SECRET_KEY changed. Re-enter them."
        ) from None


def secret_mask(value: str) -> str:
    """What the UI may show of a secret: its last four characters."""
    if not value:
        return ""
    return "…" + value[-4:] if len(value) > 8 else "…"
