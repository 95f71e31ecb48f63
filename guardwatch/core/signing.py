"""Ed25519 signatures of evidence exports: the key from settings, canonical JSON bytes, sign and verify.

The private key is GUARDWATCH_EVIDENCE_SIGNING_KEY (PEM, PKCS#8); in the demo and tests it is made once under
GUARDWATCH_VAR_DIR. Production without a key has no evidence export: `signing_key()` says how to configure one.
The public key's fingerprint is the SHA-256 of its DER SubjectPublicKeyInfo, which
`openssl pkey -pubin -in key.pem -outform DER | sha256sum` prints too (docs/evidence.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "Ed25519"
DEMO_KEY_NAME = "evidence-signing-key.pem"


class SigningKeyError(ValueError):
    """The signing key is missing or is not an Ed25519 private key (the message says what to do)."""


def private_key_load(pem: bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM; anything else is refused with a clear reason."""
    try:
        key = serialization.load_pem_private_key(pem.strip() + b"\n", password=None)
    except (ValueError, TypeError) as error:
        raise SigningKeyError(
            f"not a PEM private key without a passphrase ({str(error)[:120]}); make one with "
            "`openssl genpkey -algorithm ed25519 -out evidence-signing-key.pem`."
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"a {type(key).__name__.removeprefix('_')} key, not Ed25519: evidence is signed with Ed25519.")
    return key


def public_key_load(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as error:
        raise SigningKeyError(f"not a PEM public key ({str(error)[:120]}).") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError("not an Ed25519 public key.")
    return key


def _demo_key_pem(var_dir: Path) -> bytes:
    """The demo's and tests' key, made once (written whole, then linked into place, so two processes agree)."""
    path = var_dir / DEMO_KEY_NAME
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        temporary = var_dir / f".{DEMO_KEY_NAME}.{os.getpid()}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        try:
            os.link(temporary, path)  # fails if another process made it first: theirs is the key
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_bytes()


def signing_key() -> Ed25519PrivateKey:
    """The configured private key (the demo's and tests' own one when none is configured there)."""
    from django.conf import settings

    if settings.GUARDWATCH_EVIDENCE_SIGNING_KEY:
        return private_key_load(settings.GUARDWATCH_EVIDENCE_SIGNING_KEY.encode())
    if settings.PRODUCTION:
        raise SigningKeyError(
            "Evidence export is off: no signing key. Set GUARDWATCH_EVIDENCE_SIGNING_KEY_FILE to an Ed25519 private "
            "key (`openssl genpkey -algorithm ed25519 -out evidence-signing-key.pem`) and restart the web and workers."
        )
    return private_key_load(_demo_key_pem(Path(settings.VAR_DIR)))


def signing_available() -> str:
    """"" when packs can be signed, else why not (the evidence page shows it instead of the form)."""
    try:
        signing_key()
    except SigningKeyError as error:
        return str(error)
    return ""


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def fingerprint(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """`SHA256:<hex>` of the public key's DER SubjectPublicKeyInfo."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "SHA256:" + hashlib.sha256(der).hexdigest()


def canonical_bytes(document: Any) -> bytes:
    """The bytes a signature covers: JSON with keys sorted, no whitespace, UTF-8 (non-ASCII written as is)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sign(data: bytes, key: Ed25519PrivateKey) -> str:
    """The base64 of the Ed25519 signature of `data`."""
    return base64.b64encode(key.sign(data)).decode()


def verify(data: bytes, signature_b64: str, public: Ed25519PublicKey) -> bool:
    """Whether `signature_b64` is `public`'s signature of exactly `data`."""
    try:
        public.verify(base64.b64decode(signature_b64, validate=True), data)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
