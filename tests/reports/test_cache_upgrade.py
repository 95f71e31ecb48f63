"""Figures cached by another version of GuardWatch (classes since moved or changed) are recomputed, never a 500.

After an upgrade the cache still holds figures pickled with the old module paths of their classes
(before the apps were split, snapshots were `guardwatch.core.report_cache.Snapshot` holding
`findings.reports.FindingsReport`). Reading one back must drop it and compute the figures again.
"""

from __future__ import annotations

import pickle
import sys
import types

import pytest
from django.core.cache import cache

from guardwatch.core.data_version import data_version
from reports.cache import _digest, _snapshot_key, reports_cached, snapshot_get
from reports.coverage import regions
from reports.services import DASHBOARD


@pytest.fixture(autouse=True)
def snapshots_on(settings):
    settings.GUARDWATCH_REPORTS_CACHE_SECONDS = 60


def pickled_by_a_module_that_is_gone() -> bytes:
    """Bytes as an older version wrote them: an object whose class lived in a module that no longer exists."""
    module = types.ModuleType("guardwatch_core_report_cache_of_old")

    class Snapshot:
        pass

    Snapshot.__module__ = module.__name__
    Snapshot.__qualname__ = "Snapshot"
    module.Snapshot = Snapshot
    sys.modules[module.__name__] = module
    try:
        return pickle.dumps(Snapshot())
    finally:
        del sys.modules[module.__name__]


def store_raw(key: str, data: bytes) -> None:
    """Put bytes in the cache exactly as the Redis backend would have stored another version's pickle."""
    client = cache._cache.get_client(key, write=True)  # noqa: SLF001 - below Django's serializer on purpose
    client.set(cache.make_and_validate_key(key), data)


def test_a_snapshot_another_version_kept_reads_as_missing_and_is_dropped():
    key = _snapshot_key(DASHBOARD, {})
    store_raw(key, pickled_by_a_module_that_is_gone())
    with pytest.raises(ModuleNotFoundError):
        cache.get(key)  # what every page read did before: a 500
    assert snapshot_get(DASHBOARD, {}) is None
    assert cache.has_key(key) is False


def test_cached_figures_another_version_kept_are_computed_again():
    key = f"guardwatch:reports:{data_version()}:coverage-dashboard:{_digest({'regions': regions()})}"
    store_raw(key, pickled_by_a_module_that_is_gone())
    assert reports_cached("coverage-dashboard", {"regions": regions()}, lambda: {"gaps": 3}) == {"gaps": 3}
    assert cache.get(key) == {"gaps": 3}


def test_the_dashboard_opens_over_figures_kept_by_the_previous_layout(client_for):
    store_raw(_snapshot_key(DASHBOARD, {}), pickled_by_a_module_that_is_gone())
    store_raw(f"guardwatch:reports:{data_version()}:coverage-summary-v3:{_digest({'regions': regions()})}",
              pickled_by_a_module_that_is_gone())  # fmt: skip
    response = client_for("manager").get("/")
    assert response.status_code == 200
    assert "Coverage" in response.content.decode()
