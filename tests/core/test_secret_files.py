"""Secrets can come from files (`<NAME>_FILE`), as Docker and Kubernetes secrets mount them."""

import json
import os
import subprocess
import sys

import pytest

from tests.core.test_production_secrets import PRODUCTION
from tests.core.test_settings import ROOT, check_with

SECRET_KEY = "k3y-" + "Zq8!vR2#mW7@pL4$" * 4
SECRETS_KEY = "s3c-" + "Vb6^nT1&xK9*qJ3!" * 3


def settings_in(env: dict[str, str]) -> dict:
    """The settings a clean process loads with exactly this environment added (the secrets among them)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GUARDWATCH_", "DATABASE_", "SECRET_", "REDIS_", "CELERY_"))}
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; print(json.dumps({"
        "'SECRET_KEY': s.SECRET_KEY, 'GUARDWATCH_SECRETS_KEY': s.GUARDWATCH_SECRETS_KEY,"
        "'DATABASE_PASSWORD': s.DATABASES['default']['PASSWORD'], 'REDIS_URL': s.REDIS_URL,"
        "'CELERY_BROKER_URL': s.CELERY_BROKER_URL, 'CACHE': s.CACHES['default']['LOCATION'],"
        "'SECRET_KEY_FALLBACKS': s.SECRET_KEY_FALLBACKS}))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env=base | {"DJANGO_SETTINGS_MODULE": "guardwatch.settings"} | env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def secret_file(tmp_path):
    """`secret_file("name", "value\\n")`: a file as a secrets mount holds it, its path returned."""

    def write(name: str, text: str) -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


def test_production_reads_every_secret_from_files_without_their_trailing_newline(secret_file):
    env = PRODUCTION | {
        "SECRET_KEY": "", "SECRET_KEY_FILE": secret_file("secret_key", SECRET_KEY + "\n"),
        "GUARDWATCH_SECRETS_KEY": "", "GUARDWATCH_SECRETS_KEY_FILE": secret_file("secrets_key", SECRETS_KEY + "\n"),
        "SECRET_KEY_FALLBACKS_FILE": secret_file("fallbacks", "old-one,old-two\n"),
        "DATABASE_PASSWORD_FILE": secret_file("db_password", "pa:ss/w@rd\n"),
        "REDIS_URL": "", "REDIS_URL_FILE": secret_file("redis_url", "redis://:r3dis-pass@127.0.0.1:6379/1\n"),
    }  # fmt: skip

    loaded = settings_in(env)

    assert loaded["SECRET_KEY"] == SECRET_KEY
    assert loaded["GUARDWATCH_SECRETS_KEY"] == SECRETS_KEY
    assert loaded["SECRET_KEY_FALLBACKS"] == ["old-one", "old-two"]
    assert loaded["DATABASE_PASSWORD"] == "pa:ss/w@rd"
    assert loaded["REDIS_URL"] == loaded["CELERY_BROKER_URL"] == loaded["CACHE"] == "redis://:r3dis-pass@127.0.0.1:6379/1"


def test_a_database_url_can_come_whole_from_a_file(secret_file):
    env = PRODUCTION | {
        "DATABASE_URL": "",
        "DATABASE_URL_FILE": secret_file("database_url", "postgres://gw:fr0m-file@127.0.0.1:5432/guardwatch_test\n"),
    }
    assert settings_in(env)["DATABASE_PASSWORD"] == "fr0m-file"


def test_only_one_trailing_newline_is_dropped(secret_file):
    """A key that ends in whitespace on purpose keeps it; only the line end an editor adds goes."""
    env = PRODUCTION | {"SECRET_KEY": "", "SECRET_KEY_FILE": secret_file("secret_key", SECRET_KEY + " \r\n")}
    assert settings_in(env)["SECRET_KEY"] == SECRET_KEY + " "


def test_a_secret_set_both_ways_is_refused(secret_file):
    result = check_with(PRODUCTION | {"SECRET_KEY_FILE": secret_file("secret_key", SECRET_KEY)})
    assert result.returncode != 0
    assert "Both SECRET_KEY and SECRET_KEY_FILE are set" in result.stderr


def test_an_unreadable_secret_file_is_named_with_the_reason(tmp_path):
    missing = str(tmp_path / "no-such-file")
    result = check_with(PRODUCTION | {"GUARDWATCH_SECRETS_KEY": "", "GUARDWATCH_SECRETS_KEY_FILE": missing})
    assert result.returncode != 0
    assert f"GUARDWATCH_SECRETS_KEY_FILE='{missing}' cannot be read: No such file or directory" in result.stderr


def test_an_empty_secret_file_is_refused(secret_file):
    result = check_with(PRODUCTION | {"SECRET_KEY": "", "SECRET_KEY_FILE": secret_file("secret_key", "\n")})
    assert result.returncode != 0
    assert "SECRET_KEY_FILE=" in result.stderr and "is empty" in result.stderr


def test_a_database_password_in_the_url_and_apart_is_refused(secret_file):
    env = PRODUCTION | {
        "DATABASE_URL": "postgres://gw:in-url@127.0.0.1:5432/guardwatch_test",
        "DATABASE_PASSWORD_FILE": secret_file("db_password", "apart\n"),
    }
    result = check_with(env)
    assert result.returncode != 0
    assert "DATABASE_URL holds a password and DATABASE_PASSWORD is set" in result.stderr


def test_a_file_variable_for_a_setting_that_is_not_a_secret_is_not_read(secret_file):
    """Only the secrets listed in settings.SECRET_VARIABLES are read from files; others stay as given."""
    result = check_with(PRODUCTION | {"ALLOWED_HOSTS_FILE": secret_file("hosts", "evil.example.net\n")})
    assert result.returncode == 0, result.stderr
