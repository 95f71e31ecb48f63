"""Production refuses settings that would expose it: a public secret key, DEBUG."""

import pytest

from guardwatch.settings import DEMO_SECRET_KEY, DEMO_SECRETS_KEY
from tests.core.test_settings import check_with

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
