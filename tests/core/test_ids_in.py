"""`ids_in`: a long id list travels as one array parameter, and selects exactly those rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from findings.models import Finding, FindingOccurrence
from guardwatch.core.db.lookups import ids_in
from tests.triage.support import store_findings

pytestmark = pytest.mark.django_db


def test_ids_in_selects_exactly_the_given_findings_with_one_parameter():
    findings = store_findings(6)
    chosen = [findings[0].pk, findings[3].pk, findings[5].pk, 10**12]  # one id that does not exist
    with CaptureQueriesContext(connection) as queries:
        found = set(Finding.objects.filter(ids_in(chosen)).values_list("pk", flat=True))
    assert found == {findings[0].pk, findings[3].pk, findings[5].pk}
    assert "= ANY(" in queries[0]["sql"] and " IN (" not in queries[0]["sql"]


def test_ids_in_an_empty_list_matches_nothing_and_updates_nothing():
    store_findings(3)
    assert Finding.objects.filter(ids_in([])).update(status="resolved") == 0
    assert not Finding.objects.filter(status="resolved").exists()


def test_ids_in_on_a_foreign_key_column():
    findings = store_findings(4)
    wanted = [findings[1].pk, findings[2].pk]
    found = set(FindingOccurrence.objects.filter(ids_in(wanted, "finding_id")).values_list("finding_id", flat=True))
    assert found == set(wanted)
