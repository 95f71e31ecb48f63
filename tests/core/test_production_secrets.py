"""Production refuses settings that would expose it: a public secret key, DEBUG."""

from guardwatch.settings import DEMO_SECRET_KEY
from tests.core.test_settings import check_with


def test_production_refuses_the_published_demo_secret_key():
    env = {
        "GUARDWATCH_ENV": "production", "SECRET_KEY": DEMO_SECRET_KEY, "ALLOWED_HOSTS": "gw.example.com",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/guardwatch_test", "REDIS_URL": "redis://127.0.0.1:6379/1",
    }  # fmt: skip

    result = check_with(env)

    assert result.returncode != 0
    assert "SECRET_KEY is the published demo key" in result.stderr


def test_production_refuses_debug():
    env = {
        "GUARDWATCH_ENV": "production", "SECRET_KEY": "x" * 60, "ALLOWED_HOSTS": "gw.example.com", "DEBUG": "true",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/guardwatch_test", "REDIS_URL": "redis://127.0.0.1:6379/1",
    }  # fmt: skip

    result = check_with(env)

    assert result.returncode != 0
    assert "DEBUG=true shows tracebacks" in result.stderr
