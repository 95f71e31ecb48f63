"""Secrets GuardWatch hands out once and keeps only hashed (ingest keys, API tokens): `<start><prefix>_<secret>`.

The short public prefix finds the row; the SHA-256 of the whole string is compared in constant time, and a
string with no row is compared against a dummy hash, so a wrong prefix takes as long as a wrong secret.
"""

import hashlib
import hmac
import secrets

PREFIX_LENGTH = 8


def key_hash(presented: str) -> str:
    """The SHA-256 kept instead of the secret."""
    return hashlib.sha256(presented.encode("utf-8", "replace")).hexdigest()


def key_new(start: str) -> tuple[str, str]:
    """A new `(prefix, secret)`: 8 hex characters to find it by, 32 random bytes behind them."""
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    return prefix, f"{start}{prefix}_{secrets.token_urlsafe(32)}"


def key_prefix(presented: str, start: str) -> str | None:
    """The public prefix of a well-formed `presented` key, else None."""
    well_formed = (
        presented.startswith(start)
        and len(presented) > len(start) + PREFIX_LENGTH + 1
        and presented[len(start) + PREFIX_LENGTH] == "_"
    )
    return presented[len(start) : len(start) + PREFIX_LENGTH] if well_formed else None


_DUMMY_HASH = key_hash("not-a-key")


def key_matches(presented: str, stored_hash: str | None) -> bool:
    """Whether `presented` hashes to `stored_hash`, in constant time (None: no row, compared all the same)."""
    return hmac.compare_digest(key_hash(presented), stored_hash or _DUMMY_HASH) and stored_hash is not None
