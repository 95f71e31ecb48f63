"""Report tests run with two regions, so matrices and percentages are easy to read."""

import pytest

from tests.reports.support import REGIONS


@pytest.fixture(autouse=True)
def two_regions(settings):
    settings.GUARDWATCH_AWS_REGIONS = list(REGIONS)
    settings.GUARDWATCH_INVITE_PENDING_DAYS = 7
    settings.GUARDWATCH_SLA_HOURS = {"critical": 4, "high": 24, "medium": 168, "low": 720}
