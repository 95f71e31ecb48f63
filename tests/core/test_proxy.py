"""Behind the TLS proxy: a real gunicorn takes https from X-Forwarded-Proto only from FORWARDED_ALLOW_IPS."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import time

import pytest
from django.db import connection as db_connection

from tests.core.test_settings import ROOT, check_with

PRODUCTION = {
    "GUARDWATCH_ENV": "production", "SECRET_KEY": "k3y-" + "Zq8!vR2#mW7@pL4$" * 4,
    "GUARDWATCH_SECRETS_KEY": "s3c-" + "Vb6^nT1&xK9*qJ3!" * 3, "ALLOWED_HOSTS": "gw.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/guardwatch_test", "REDIS_URL": "redis://127.0.0.1:6379/1",
}  # fmt: skip


def gunicorn_get(path: str, *, forwarded_allow_ips: str = "127.0.0.1",
                 mode: str = "production") -> tuple[http.client.HTTPResponse, str]:  # fmt: skip
    """GET `path` from 127.0.0.1 to a real gunicorn (with gunicorn.conf.py) in production or test mode.

    Test mode for pages that use static files: production's manifest exists only after collectstatic.
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GUARDWATCH_", "DATABASE_", "SECRET_", "REDIS_"))}
    db = db_connection.settings_dict  # this test session's database, which /healthz asks
    database_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    settings_env = PRODUCTION if mode == "production" else {"GUARDWATCH_ENV": "test", "REDIS_URL": PRODUCTION["REDIS_URL"]}
    env = base | settings_env | {"FORWARDED_ALLOW_IPS": forwarded_allow_ips, "DATABASE_URL": database_url}
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "gunicorn"), "guardwatch.wsgi:application",
                             "--bind", "127.0.0.1:0", "--workers", "1"], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        port = None
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and port is None:  # readiness: gunicorn logs its address
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", line)
            port = int(found.group(1)) if found else None
        assert port, "".join(lines)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        # X-Forwarded-Proto: https, so production's https redirect does not answer first.
        host = "gw.example.com" if mode == "production" else "127.0.0.1"
        connection.request("GET", path, headers={"Host": host, "X-Forwarded-Proto": "https"})
        response = connection.getresponse()
        return response, response.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def healthz_through_gunicorn(forwarded_allow_ips: str) -> http.client.HTTPResponse:
    """GET /healthz with `X-Forwarded-Proto: https` from 127.0.0.1."""
    return gunicorn_get("/healthz", forwarded_allow_ips=forwarded_allow_ips)[0]


@pytest.mark.django_db(transaction=True)  # gunicorn's own connection must see the database
def test_a_client_outside_forwarded_allow_ips_cannot_claim_https():
    response = healthz_through_gunicorn("10.9.9.9")
    assert response.status == 200
    assert response.getheader("Strict-Transport-Security") is None  # served as plain http


@pytest.mark.django_db(transaction=True)
def test_the_proxy_in_forwarded_allow_ips_makes_the_request_https():
    response = healthz_through_gunicorn("127.0.0.1")
    assert response.status == 200
    assert response.getheader("Strict-Transport-Security", "").startswith("max-age=")


def test_djangos_own_trust_of_the_header_is_refused():
    result = check_with(PRODUCTION | {"SECURE_PROXY_SSL_HEADER": "true"})
    assert result.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER=true is no longer supported" in result.stderr
