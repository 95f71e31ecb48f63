"""Start the tests' identity providers on loopback ports: the OpenID Connect provider (node-oidc-provider,
installed by `make idp-deps`) and the SAML IdP (tests/idp/saml_idp.py). Each reads its users from a JSON
file the test may rewrite between sign-ins."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.waiting import wait_for

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules" / "oidc-provider"


@dataclass
class IdP:
    """A running identity provider: its base URL, and its users (rewritten with `set_users`)."""

    url: str
    users_file: Path
    process: subprocess.Popen

    def set_users(self, users: dict[str, dict]) -> None:
        self.users_file.write_text(json.dumps(users))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def _running(command: list[str], url: str, users_file: Path, probe: str) -> Iterator[IdP]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: process.poll() is not None or _answers(probe), timeout=30, what=f"the IdP at {url}")
        if process.poll() is not None:
            raise AssertionError(f"The IdP exited: {process.stderr.read().decode()[-2000:]}")
        yield IdP(url=url, users_file=users_file, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def oidc_provider(*, folder: Path, redirect_uri: str, client_id: str, client_secret: str,
                  users: dict[str, dict]) -> Iterator[IdP]:  # fmt: skip
    """node-oidc-provider with one confidential client redirecting to `redirect_uri`."""
    if not NODE_MODULES.exists():
        raise AssertionError("oidc-provider is not installed: run `make idp-deps` (npm ci in tests/idp).")
    node = shutil.which("node")
    if node is None:
        raise AssertionError("node is missing: the OpenID Connect test provider runs on node 20+.")
    port = free_port()
    users_file, config = folder / "oidc-users.json", folder / "oidc-config.json"
    users_file.write_text(json.dumps(users))
    config.write_text(json.dumps({"client_id": client_id, "client_secret": client_secret,
                                  "redirect_uri": redirect_uri, "users_file": str(users_file)}))  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with _running([node, str(HERE / "oidc.mjs"), str(port), str(config)], url, users_file,
                  f"{url}/.well-known/openid-configuration") as idp:  # fmt: skip
        yield idp


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "GuardWatch test IdP")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))  # fmt: skip
    key_file, cert_file = folder / "saml-idp.key", folder / "saml-idp.crt"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


@contextlib.contextmanager
def saml_idp(*, folder: Path, sp_entity_id: str, users: dict[str, dict]) -> Iterator[IdP]:
    """The SAML IdP, signing with a fresh key; its metadata at `<url>/metadata`."""
    port = free_port()
    key_file, cert_file = _self_signed(folder)
    users_file, config = folder / "saml-users.json", folder / "saml-config.json"
    users_file.write_text(json.dumps(users))
    url = f"http://127.0.0.1:{port}"
    config.write_text(json.dumps({"entity_id": f"{url}/metadata", "sp_entity_id": sp_entity_id,
                                  "key_file": str(key_file), "cert_file": str(cert_file),
                                  "users_file": str(users_file)}))  # fmt: skip
    with _running([sys.executable, str(HERE / "saml_idp.py"), str(port), str(config)], url, users_file,
                  f"{url}/metadata") as idp:  # fmt: skip
        yield idp
