"""The one write path: bulk upsert where only a strictly newer updatedAt replaces a stored finding."""

import copy

import pytest

from findings import upsert
from findings.models import Finding, FindingOccurrence
from findings.upsert import findings_upsert
from gdsim.catalogue import FINDING_TYPES

from .factories import parsed, raw_finding, raw_findings, repeated

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["native", "portable"])
def write_path(request, monkeypatch):
    """Run each story through the Postgres statement and through the portable (SQLite) one."""
    if request.param == "portable":
        monkeypatch.setattr(upsert, "_upsert_postgres", upsert._upsert_portable)
    return request.param


def test_new_findings_are_stored_with_their_first_occurrence(write_path):
    raws = raw_findings(60)

    result = findings_upsert(findings=[parsed(r) for r in raws], source="pull")

    assert (result.received, result.new, result.updated, result.unchanged) == (60, 60, 0, 0)
    assert set(Finding.objects.values_list("arn", flat=True)) == {r["Arn"] for r in raws}
    assert FindingOccurrence.objects.count() == 60
    stored = Finding.objects.get(arn=raws[0]["Arn"])
    assert stored.raw["Id"] == raws[0]["Id"]
    assert stored.source == "pull"
    assert stored.severity_band in {"low", "medium", "high", "critical"}


def test_a_newer_version_replaces_the_finding_and_appends_an_occurrence(write_path):
    first = raw_finding()
    findings_upsert(findings=[parsed(first)], source="pull")
    later = repeated(first)

    result = findings_upsert(findings=[parsed(later)], source="pull")

    assert (result.new, result.updated, result.unchanged) == (0, 1, 0)
    stored = Finding.objects.get(arn=first["Arn"])
    assert stored.count == later["Service"]["Count"]
    assert stored.source == "pull"
    assert list(stored.occurrences.order_by("updated_at").values_list("count", flat=True)) == [
        first["Service"]["Count"],
        later["Service"]["Count"],
    ]


def test_an_older_version_never_overwrites_a_newer_one(write_path):
    first = raw_finding()
    later = repeated(first)
    findings_upsert(findings=[parsed(later)], source="pull")

    result = findings_upsert(findings=[parsed(first)], source="pull")

    assert (result.new, result.updated, result.unchanged) == (0, 0, 1)
    stored = Finding.objects.get(arn=first["Arn"])
    assert stored.count == later["Service"]["Count"]
    assert stored.occurrences.count() == 1


def test_a_push_never_overwrites_values_guardduty_gave_even_when_newer(write_path):
    first = raw_finding()
    findings_upsert(findings=[parsed(first)], source="pull")

    result = findings_upsert(findings=[parsed(repeated(first))], source="push")

    assert (result.new, result.updated, result.unchanged) == (0, 0, 1)
    stored = Finding.objects.get(arn=first["Arn"])
    assert (stored.count, stored.source) == (first["Service"]["Count"], "pull")


def test_a_newer_push_replaces_an_unconfirmed_push(write_path):
    first = raw_finding()
    findings_upsert(findings=[parsed(first)], source="push")
    later = repeated(first)

    result = findings_upsert(findings=[parsed(later)], source="push")

    assert result.updated == 1
    assert Finding.objects.get(arn=first["Arn"]).count == later["Service"]["Count"]


def test_a_pull_overwrites_pushed_values_whatever_updated_at_they_claim(write_path):
    first = raw_finding()
    later = repeated(first)
    findings_upsert(findings=[parsed(later)], source="push")

    result = findings_upsert(findings=[parsed(first)], source="pull")

    assert (result.new, result.updated, result.unchanged) == (0, 1, 0)
    stored = Finding.objects.get(arn=first["Arn"])
    assert (stored.count, stored.source) == (first["Service"]["Count"], "pull")
    assert stored.occurrences.count() == 2  # both versions stay in the history


def test_the_same_version_twice_changes_nothing(write_path):
    raws = raw_findings(5)
    findings_upsert(findings=[parsed(r) for r in raws], source="pull")
    before = dict(Finding.objects.values_list("arn", "last_synced_at"))

    result = findings_upsert(findings=[parsed(r) for r in raws], source="push")

    assert (result.new, result.updated, result.unchanged) == (0, 0, 5)
    assert dict(Finding.objects.values_list("arn", "last_synced_at")) == before
    assert FindingOccurrence.objects.count() == 5


def test_duplicates_within_one_batch_keep_the_newest(write_path):
    first = raw_finding()
    later = repeated(first)

    result = findings_upsert(findings=[parsed(later), parsed(first)], source="push")

    assert result.new == 1
    assert Finding.objects.get().count == later["Service"]["Count"]


def test_archive_and_feedback_from_guardduty_reach_the_stored_finding(write_path):
    first = raw_finding()
    findings_upsert(findings=[parsed(first)], source="pull")
    archived = repeated(first)
    archived["Service"]["Archived"] = True
    archived["Service"]["UserFeedback"] = "NOT_USEFUL"

    findings_upsert(findings=[parsed(archived)], source="pull")

    stored = Finding.objects.get()
    assert stored.archived is True
    assert stored.feedback == "NOT_USEFUL"


def test_first_synced_at_survives_later_versions(write_path):
    first = raw_finding()
    findings_upsert(findings=[parsed(first)], source="pull")
    original = Finding.objects.get().first_synced_at

    findings_upsert(findings=[parsed(repeated(first))], source="pull")

    stored = Finding.objects.get()
    assert stored.first_synced_at == original
    assert stored.last_synced_at > original


def test_hostile_strings_including_nul_bytes_are_stored_intact_enough(write_path):
    raws = [raw_finding(finding_type=name, hostile=True) for name in sorted(FINDING_TYPES)[:20]]
    # A NUL escape and a lone surrogate deep in the raw JSON, where the parser does not look.
    raws[0]["Resource"]["Tags"] = [{"Key": "evil\x00key", "Value": "\ud800lone"}]

    result = findings_upsert(findings=[parsed(r) for r in raws], source="push")

    assert result.new == 20
    stored = Finding.objects.get(arn=raws[0]["Arn"])
    assert "\x00" not in stored.raw["Resource"]["Tags"][0]["Key"]
    assert stored.raw["Resource"]["Tags"][0]["Key"].startswith("evil")


def test_every_resource_type_in_the_catalogue_is_stored():
    raws = [raw_finding(finding_type=name) for name in sorted(FINDING_TYPES)]

    findings_upsert(findings=[parsed(r) for r in raws], source="pull")

    assert Finding.objects.count() == len(FINDING_TYPES)
    assert Finding.objects.exclude(resource_type="").values("resource_type").distinct().count() >= 8


def test_a_fixed_number_of_statements_per_thousand_findings(django_assert_num_queries, monkeypatch):
    monkeypatch.setattr(upsert, "BATCH_SIZE", 100)  # 1,000 in production; 120 findings make 2 batches
    findings = [parsed(r) for r in raw_findings(120)]

    # Per batch: staging table check, COPY, upsert; all inside one savepoint (opened and released); and
    # once per 500 ARNs of the call, the look-up of which of them are resolved (a new occurrence reopens
    # them: triage.receivers, GUARDWATCH_REOPEN_RESOLVED_ON_RECURRENCE).
    with django_assert_num_queries(2 + 2 * 3 + 1):
        findings_upsert(findings=findings, source="pull")

    assert Finding.objects.count() == 120
    assert FindingOccurrence.objects.count() == 120


def test_several_batches_in_one_transaction_never_see_each_others_rows(monkeypatch):
    monkeypatch.setattr(upsert, "BATCH_SIZE", 7)
    findings = [parsed(r) for r in raw_findings(30)]

    first = findings_upsert(findings=findings[:20], source="pull")
    second = findings_upsert(findings=findings[10:], source="push")

    assert (first.new, first.unchanged) == (20, 0)
    assert (second.new, second.unchanged) == (10, 10)
    assert Finding.objects.count() == FindingOccurrence.objects.count() == 30


def test_columns_the_upsert_does_not_write_can_be_left_to_the_database():
    """Local columns (triage state) are outside the SET list, so a sync never overwrites them; the
    INSERT leaves them out too, so each needs a database default or NULL."""
    owned = set(upsert.GUARDDUTY_COLUMNS) | set(upsert.BOOKKEEPING_COLUMNS)
    local = [f for f in Finding._meta.concrete_fields if f.column not in owned and not f.primary_key]
    for field in local:
        assert field.null or field.has_db_default(), f"Finding.{field.name} needs null=True or db_default"


def test_a_sync_never_overwrites_local_triage_state(write_path):
    first = raw_finding()
    findings_upsert(findings=[parsed(first)], source="pull")
    Finding.objects.update(status="in_progress", status_reason="looking into it")

    findings_upsert(findings=[parsed(repeated(first))], source="pull")

    stored = Finding.objects.get()
    assert (stored.status, stored.status_reason) == ("in_progress", "looking into it")
    assert stored.count == repeated(first)["Service"]["Count"]


def test_a_pull_at_the_same_updated_at_brings_console_archive_and_feedback(write_path):
    """GuardDuty does not move updatedAt when a finding is archived; GetFindings still shows it."""
    first = raw_finding()
    findings_upsert(findings=[parsed(first)], source="pull")
    archived = copy.deepcopy(first)
    archived["Service"]["Archived"] = True
    archived["Service"]["UserFeedback"] = "USEFUL"

    result = findings_upsert(findings=[parsed(archived)], source="pull")

    assert result.updated == 1
    stored = Finding.objects.get()
    assert (stored.archived, stored.feedback) == (True, "USEFUL")
    assert stored.occurrences.count() == 1


def test_a_push_at_the_same_updated_at_never_unarchives(write_path):
    first = raw_finding()
    archived = copy.deepcopy(first)
    archived["Service"]["Archived"] = True
    findings_upsert(findings=[parsed(archived)], source="pull")

    result = findings_upsert(findings=[parsed(first)], source="push")

    assert result.unchanged == 1
    assert Finding.objects.get().archived is True


def test_raw_is_kept_as_received():
    first = raw_finding()
    original = copy.deepcopy(first)

    findings_upsert(findings=[parsed(first)], source="pull")

    assert Finding.objects.get().raw["Service"]["Count"] == original["Service"]["Count"]
    assert Finding.objects.get().raw["Resource"] == original["Resource"]
