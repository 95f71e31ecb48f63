"""Settings read from the environment fail loudly on bad values."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from guardwatch.settings import database_from_url

ROOT = Path(__file__).resolve().parents[2]


def check_with(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Run `manage.py check` in a clean process with exactly this environment added."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GUARDWATCH_", "DATABASE_", "SECRET_", "REDIS_", "DJANGO_ALLOW"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args], cwd=ROOT, env=base | env, capture_output=True, text=True
    )


def test_database_url_parses_postgres_with_options():
    db = database_from_url("postgres://gw:s%40cret@db.internal:6543/guardwatch?sslmode=require")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "gw", "s@cret", "db.internal", "6543", "guardwatch",
    )  # fmt: skip
    assert db["OPTIONS"] == {"sslmode": "require"}


def test_database_url_parses_sqlite_path():
    assert database_from_url("sqlite:////tmp/demo.sqlite3")["NAME"] == "/tmp/demo.sqlite3"


def test_unknown_database_scheme_is_refused():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="mysql"):
        database_from_url("mysql://x@y/z")


def test_production_without_secret_key_names_the_variable():
    result = check_with({"GUARDWATCH_ENV": "production"})
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_bad_boolean_is_refused_with_its_name():
    result = check_with({"GUARDWATCH_ENV": "test", "DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_bad_region_list_is_refused():
    result = check_with({"GUARDWATCH_ENV": "test", "GUARDWATCH_AWS_REGIONS": "us-east-1,mars"})
    assert result.returncode != 0
    assert "'mars', which is not a region name" in result.stderr


def test_production_refuses_sqlite():
    env = {
        "GUARDWATCH_ENV": "production", "SECRET_KEY": "x" * 60, "ALLOWED_HOSTS": "gw.example.com",
        "GUARDWATCH_SECRETS_KEY": "y" * 40,
        "REDIS_URL": "redis://127.0.0.1:6379/0", "DATABASE_URL": "sqlite:////tmp/x.sqlite3",
    }  # fmt: skip
    result = check_with(env)
    assert result.returncode != 0
    assert "SQLite is for the demo only" in result.stderr


def test_production_settings_pass_the_deploy_check():
    env = {
        "GUARDWATCH_ENV": "production",
        "SECRET_KEY": "k3y-" + "Zq8!vR2#mW7@pL4$" * 4,
        "GUARDWATCH_SECRETS_KEY": "s3c-" + "Vb6^nT1&xK9*qJ3!" * 3,
        "ALLOWED_HOSTS": "guardwatch.example.com",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/guardwatch_test",
        "REDIS_URL": "redis://127.0.0.1:6379/1",
    }
    result = check_with(env, "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr + result.stdout


def member_role_in(env: dict[str, str]) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GUARDWATCH_", "DATABASE_", "SECRET_", "REDIS_"))}
    code = "import django; django.setup(); from django.conf import settings; print(settings.GUARDWATCH_MEMBER_ROLE_NAME)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env=base | {"DJANGO_SETTINGS_MODULE": "guardwatch.settings"} | env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_demo_names_a_member_role_so_accepting_on_a_members_behalf_works(tmp_path):
    assert member_role_in({"GUARDWATCH_ENV": "demo", "GUARDWATCH_VAR_DIR": str(tmp_path)}) == "GuardWatchMember"
    assert member_role_in({"GUARDWATCH_ENV": "test"}) == ""  # elsewhere off until set
    assert member_role_in({"GUARDWATCH_ENV": "demo", "GUARDWATCH_VAR_DIR": str(tmp_path),
                           "GUARDWATCH_MEMBER_ROLE_NAME": "OrgAccess"}) == "OrgAccess"  # fmt: skip


def test_production_refuses_an_aws_endpoint_override():
    """The override sends calls signed with the administrator's credentials elsewhere: simulator only."""
    env = {
        "GUARDWATCH_ENV": "production", "SECRET_KEY": "k3y-" + "Zq8!vR2#mW7@pL4$" * 4,
        "GUARDWATCH_SECRETS_KEY": "s3c-" + "Vb6^nT1&xK9*qJ3!" * 3, "ALLOWED_HOSTS": "gw.example.com", "REDIS_URL": "redis://127.0.0.1:6379/1",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/guardwatch_test",
        "GUARDWATCH_AWS_ENDPOINT_URL": "http://collector.example.net:4566",
    }  # fmt: skip
    result = check_with(env)
    assert result.returncode != 0
    assert "GUARDWATCH_AWS_ENDPOINT_URL is for the local GuardDuty simulator" in result.stderr


def _replica_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GUARDWATCH_", "DATABASE_", "SECRET_", "REDIS_"))}
    code = ("import json, django; django.setup(); from django.conf import settings as s; "
            "print(json.dumps({a: [d['HOST'], d['NAME'], d['PASSWORD'], d.get('TEST', {}).get('MIRROR')] "
            "for a, d in s.DATABASES.items()}))")  # fmt: skip
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env=base | {"DJANGO_SETTINGS_MODULE": "guardwatch.settings", "GUARDWATCH_ENV": "test"} | env)  # fmt: skip


def test_a_read_replica_url_adds_the_replica_database_with_the_primarys_password():
    import json

    result = _replica_settings({"DATABASE_URL": "postgres://gw@primary.internal/guardwatch", "DATABASE_PASSWORD": "pw",
                                "GUARDWATCH_REPLICA_DATABASE_URL": "postgres://gw@replica.internal/guardwatch"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    databases = json.loads(result.stdout)
    assert databases["default"][:3] == ["primary.internal", "guardwatch", "pw"]
    assert databases["replica"] == ["replica.internal", "guardwatch", "pw", "default"]  # tests: the primary


def test_without_a_replica_url_there_is_one_database():
    import json

    result = _replica_settings({"DATABASE_URL": "postgres://gw@primary.internal/guardwatch"})
    assert result.returncode == 0, result.stderr
    assert list(json.loads(result.stdout)) == ["default"]


def test_a_read_replica_of_sqlite_is_refused():
    result = _replica_settings({"GUARDWATCH_ENV": "demo", "DATABASE_URL": "sqlite:////tmp/x.sqlite3",
                                "GUARDWATCH_REPLICA_DATABASE_URL": "postgres://gw@replica.internal/guardwatch"})  # fmt: skip
    assert result.returncode != 0
    assert "GUARDWATCH_REPLICA_DATABASE_URL needs DATABASE_URL to be a postgres:// URL" in result.stderr
