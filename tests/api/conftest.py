import pytest


@pytest.fixture(autouse=True)
def _api_rate_high(settings):
    """Tests other than the rate limit's own make many requests with one token."""
    settings.GUARDWATCH_API_RATE_PER_MINUTE = 10_000
