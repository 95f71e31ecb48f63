"""Logs are structured (JSON in production), say who and what each line is about, and never hold a secret."""

import json
import os
import secrets
import socket
import subprocess
import sys

import pytest
from django.db import connection

from tests.core.test_settings import ROOT


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def logged(transactional_db):
    """Run tests/support/log_scenario.py with known secrets configured; its log lines, what it saw, the secrets."""
    token = lambda label: f"{label}-{secrets.token_urlsafe(12)}"  # noqa: E731
    known = {
        "SECRET_KEY": token("secret-key") * 3,
        "GUARDWATCH_SECRETS_KEY": token("secrets-key") * 2,
        "database password": token("db-pass"),
        "redis password": token("redis-pass"),
        "AWS_SECRET_ACCESS_KEY": token("aws-secret"),
    }
    given = {
        "password": token("admin-password"),
        "wrong_password": token("wrong-password"),
        "ingest_key": "gw_" + secrets.token_hex(4) + "_" + token("ingest"),
        "bearer": token("bearer"),
        "query_token": token("query-token"),
        "signing_secret": token("signing-secret"),
        "webhook_path_token": token("path-token"),
        "webhook_query_token": token("hook-query-token"),
    }
    port = unused_port()
    given["webhook_url"] = (f"http://127.0.0.1:{port}/hooks/{given['webhook_path_token']}"
                            f"?token={given['webhook_query_token']}")  # fmt: skip
    db = connection.settings_dict
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GUARDWATCH_", "DATABASE_", "SECRET_", "REDIS_"))}
    env = base | {
        "GUARDWATCH_ENV": "test", "GUARDWATCH_LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG",
        "GUARDWATCH_TRUSTED_PROXY_HOPS": "1", "GUARDWATCH_AWS_RETRY_MODE": "standard",
        "GUARDWATCH_AWS_ENDPOINT_URL": f"http://127.0.0.1:{unused_port()}",
        "SECRET_KEY": known["SECRET_KEY"], "GUARDWATCH_SECRETS_KEY": known["GUARDWATCH_SECRETS_KEY"],
        "DATABASE_URL": f"postgres://{db['USER']}:{known['database password']}@{db['HOST'] or '127.0.0.1'}:"
                        f"{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": f"redis://:{known['redis password']}@127.0.0.1:6379/{os.environ.get('REDIS_URL', '/1').rsplit('/', 1)[-1]}",
        "AWS_SECRET_ACCESS_KEY": known["AWS_SECRET_ACCESS_KEY"],
        "GUARDWATCH_CELERY_QUEUE": os.environ["GUARDWATCH_CELERY_QUEUE"],
    }  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "tests.support.log_scenario"], cwd=ROOT, env=env,
                            input=json.dumps(given), capture_output=True, text=True, timeout=240)  # fmt: skip
    (ROOT / "test-output").mkdir(exist_ok=True)
    (ROOT / "test-output" / "log-scenario.log").write_text(result.stderr)  # to read when a test below fails
    assert result.returncode == 0, result.stderr[-5000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    everything = result.stderr  # the log output (stdout carries what the scenario saw, the cookie among it)
    return lines, seen, known | given | {"session cookie": seen["session_cookie"]}, everything


def test_no_secret_appears_in_any_log_line(logged):
    lines, seen, known, everything = logged

    leaked = {name for name, value in known.items() if name != "webhook_url" and value in everything}
    assert leaked == set()
    assert known["webhook_url"] not in everything
    # The paths ran and logged (so the absence above means something).
    messages = [line["message"] for line in lines]
    assert any(m.startswith("Sign-in failed for 'admin'") for m in messages)
    assert any(m.startswith("Sign-in of 'admin'") for m in messages)
    assert sum(m.startswith("Ingest refused an invalid or revoked API key") for m in messages) == 2
    assert any(m.startswith("Delivery ") and "failed, attempt 1: Connection failed" in m for m in messages)
    assert any(m.startswith("Findings sync of us-east-1 failed") for m in messages)
    errors = [line for line in lines if line["logger"] == "django.request" and line["level"] == "ERROR"]
    assert len(errors) == 1 and "RuntimeError: cannot reach redis://:[redacted]@" in errors[0]["exception"]
    assert seen["error_status"] == 500 and seen["delivery_status"] == "failed"


def test_every_line_is_one_json_object_and_request_lines_name_the_request_and_user(logged):
    lines, seen, _known, _everything = logged
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)

    requests = [line for line in lines if line["logger"] in {"guardwatch.request", "django.request"}]
    assert len(requests) >= 8 and all(line.get("request_id") for line in requests)
    # The trusted proxy's id is kept and echoed; each line of that request carries it.
    assert seen["login_request_id"] == "proxy-given-id-0001"
    sign_in = next(line for line in lines if line["message"].startswith("Sign-in of 'admin'"))
    assert sign_in["request_id"] == "proxy-given-id-0001"
    page = next(line for line in requests if line.get("path") == "/findings/")
    assert (page["username"], page["status"]) == ("admin", 200)
    assert isinstance(page["user_id"], int)
    anonymous_failure = next(line for line in lines if line["message"].startswith("Sign-in failed"))
    assert "user_id" not in anonymous_failure


def test_task_lines_name_the_task_and_its_region(logged):
    lines, _seen, _known, _everything = logged

    failed = next(line for line in lines if line["message"].startswith("Findings sync of us-east-1 failed"))
    assert failed["task_name"] == "findings.tasks.findings_sync_region"
    assert failed["task_id"] and failed["region"] == "us-east-1"
