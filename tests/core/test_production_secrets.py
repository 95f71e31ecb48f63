"""Production refuses settings that would expose it: a public secret key, DEBUG."""

import os
import subprocess
import sys
import time

import pytest

from guardwatch.settings import DEMO_SECRET_KEY, DEMO_SECRETS_KEY
from tests.core.test_settings import ROOT, check_with

PRODUCTION = {
    "GUARDWATCH_ENV": "production", "SECRET_KEY": "x" * 60, "GUARDWATCH_SECRETS_KEY": "y" * 40,
    "ALLOWED_HOSTS": "gw.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/guardwatch_test", "REDIS_URL": "redis://127.0.0.1:6379/1",
}  # fmt: skip


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"SECRET_KEY": DEMO_SECRET_KEY}, "SECRET_KEY is the published demo key"),
        ({"DEBUG": "true"}, "DEBUG=true shows tracebacks"),
        ({"GUARDWATCH_SECRETS_KEY": ""}, "GUARDWATCH_SECRETS_KEY is required"),
        ({"GUARDWATCH_SECRETS_KEY": "x" * 60}, "GUARDWATCH_SECRETS_KEY must differ from SECRET_KEY"),
        ({"GUARDWATCH_SECRETS_KEY": DEMO_SECRETS_KEY}, "GUARDWATCH_SECRETS_KEY is the published demo key"),
        ({"GUARDWATCH_SECRETS_KEY": "short"}, "GUARDWATCH_SECRETS_KEY must be at least 32 characters"),
    ],
)
def test_production_refuses_to_start_exposed(override, reason):
    result = check_with(PRODUCTION | override)

    assert result.returncode != 0
    assert reason in result.stderr


def test_the_same_settings_without_the_exposure_start():
    assert check_with(PRODUCTION).returncode == 0


def server_env(**extra: str) -> dict[str, str]:
    """Test mode (the demo's published SECRET_KEY) in a clean process."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GUARDWATCH_", "SECRET_", "DJANGO_ALLOW"))}
    return base | {"GUARDWATCH_ENV": "test"} | extra


def test_runserver_refuses_to_serve_the_demo_key_beyond_loopback():
    result = subprocess.run([sys.executable, "manage.py", "runserver", "0.0.0.0:8765", "--noreload"], cwd=ROOT,
                            env=server_env(), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode != 0
    assert "Refusing to listen on 0.0.0.0: SECRET_KEY is the published demo key" in result.stderr


def test_gunicorn_refuses_to_serve_the_demo_key_beyond_loopback():
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "gunicorn"), "guardwatch.wsgi:application",
                             "--bind", "0.0.0.0:0", "--workers", "1"], cwd=ROOT, env=server_env(),
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 1
    assert "Refusing to listen on 0.0.0.0: SECRET_KEY is the published demo key" in result.stderr


def test_gunicorn_serves_the_demo_key_on_loopback():
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "gunicorn"), "guardwatch.wsgi:application",
                             "--bind", "127.0.0.1:0", "--workers", "1"], cwd=ROOT, env=server_env(),
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # readiness: gunicorn logs each worker it boots
            line = proc.stderr.readline()
            lines.append(line)
            if "Booting worker" in line or not line:
                break
        assert any("Booting worker" in line for line in lines), "".join(lines)
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=30)
