"""Free text skips the severities its words never occur at (`FindingSearchTerm`, kept by a trigger).

The list walks `FindingSearch` in severity order; these tests pin that the skip never loses a match
(the list equals a plain substring filter), that the trigger records what any writer writes, and that
two writers adding the same new word never wait on each other.
"""

from __future__ import annotations

import copy
import random
import threading

import pytest
from django.db import connection, connections

from findings.models import Finding, FindingSearch, FindingSearchTerm
from findings.upsert import findings_upsert
from tests.findings.factories import parsed, raw_finding
from triage.filters import FindingFilters, findings_filtered, narrow_search, search_severities
from triage.selectors import finding_page, severity_counts_compute

pytestmark = pytest.mark.django_db


def _store(title: str, severity: float, *, description: str = "Seen once.", rng: random.Random | None = None) -> dict:
    raw = copy.deepcopy(raw_finding(rng or random.Random(title + str(severity))))
    raw["Title"], raw["Description"], raw["Severity"] = title, description, severity
    findings_upsert(findings=[parsed(raw)], source="pull")
    return raw


def _pairs() -> set[tuple[str, float]]:
    return set(FindingSearchTerm.objects.values_list("term", "severity"))


def test_the_trigger_records_each_word_of_three_letters_or_more_with_its_severity():
    _store("Bitcoin-related domain queried", 8.0, description="An EC2 instance did it.")

    pairs = _pairs()
    for word in ("bitcoin", "related", "domain", "queried", "ec", "instance", "did"):
        assert ((word, 8.0) in pairs) == (len(word) >= 3), word
    assert not any(severity != 8.0 for _term, severity in pairs)


def test_a_new_severity_or_a_new_title_records_new_pairs():
    raw = _store("Quiet beacon", 2.0)
    later = copy.deepcopy(raw)
    later["Title"], later["Severity"] = "Zanzibarquux beacon", 5.0
    later["UpdatedAt"] = "2030-01-01T00:00:00.000Z"

    findings_upsert(findings=[parsed(later)], source="pull")

    assert {("beacon", 2.0), ("beacon", 5.0), ("zanzibarquux", 5.0)} <= _pairs()


def test_an_over_long_run_of_letters_is_kept_as_the_long_term_marker_and_still_found(client_for):
    long_word = "x" * 200
    raw = _store(f"Odd {long_word} title", 3.0)

    assert ("*", 3.0) in _pairs()
    assert not FindingSearchTerm.objects.filter(term__startswith="xxx").exists()
    finding = Finding.objects.get(arn=raw["Arn"])
    html = client_for("analyst").get("/findings/?q=" + "x" * 120).content.decode()
    assert f'data-finding="{finding.pk}"' in html


def test_search_severities_are_those_where_every_run_of_the_query_occurs():
    _store("Bitcoin tool seen", 8.0)
    _store("Bitcoin wallet seen", 5.0)
    _store("Tool misuse", 2.0)

    assert search_severities("bitcoin") == [5.0, 8.0]
    assert search_severities("itcoin too") == [8.0]  # a run inside a word, across two words
    assert search_severities("Bitcoin") == [5.0, 8.0]  # the query's case does not matter
    assert search_severities("tool") == [2.0, 8.0]
    assert search_severities("nowhere-word") == []
    assert search_severities("i-0") is None  # no run of 3 letters: tells nothing


def test_a_word_no_finding_holds_matches_nothing_without_walking():
    _store("Bitcoin tool seen", 8.0)
    filters = FindingFilters(q="zzqqxxnothing")

    narrow_search(filters)

    assert filters.search_ids == []
    assert finding_page(filters=FindingFilters(q="zzqqxxnothing")).findings == []


def test_the_walk_is_bounded_by_the_severities_the_words_occur_at():
    _store("Bitcoin tool seen", 7.5)
    _store("Bitcoin tool seen again", 4.0)
    _store("Port probe", 9.0)
    filters = FindingFilters(q="bitcoin")

    narrow_search(filters)

    assert filters.search_bounds == (4.0, 7.5)
    filters.search_ids = None  # as for a common word, which the trigram probe leaves to the walk
    sql = str(findings_filtered(filters=filters).query)
    assert '"findings_findingsearch"."severity" >= 4.0' in sql
    assert '"findings_findingsearch"."severity" <= 7.5' in sql
    assert [f.title for f in finding_page(filters=filters).findings] == ["Bitcoin tool seen", "Bitcoin tool seen again"]


@pytest.mark.parametrize("probe_below", [20_000, 0], ids=["trigram-probe", "walk"])
def test_the_list_equals_a_plain_substring_filter_for_assorted_queries(client_for, monkeypatch, probe_below):
    # With 0 the trigram probe is never asked, so every query walks the severity order within its bounds,
    # as a common word does in a large store.
    monkeypatch.setattr("triage.filters.SEARCH_PROBE_BELOW_ROWS", probe_below)
    rng = random.Random(11)
    words = ["bitcoin", "tool", "domain", "query", "beacon", "ssh", "brute", "force", "probe", "port"]
    stored = []
    for index in range(60):
        title = " ".join(rng.choice(words) for _ in range(3)) + f"-{rng.choice(words)}x"
        severity = rng.choice([1.0, 2.0, 5.0, 5.5, 8.0, 8.5])
        stored.append(_store(title, severity, description=f"Case {index}.", rng=random.Random(index)))
    queries = ["bitcoin", "tool bit", "itcoin", "ortx", "brute force", "ssh-", "domainx", "probe port probe", "e b"]
    client = client_for("analyst")
    texts = dict(FindingSearch.objects.values_list("finding_id", "text"))

    for q in queries:
        expected = {pk for pk, text in texts.items() if q.lower() in text}
        page = finding_page(filters=FindingFilters(q=q), size=200)
        assert {f.pk for f in page.findings} == expected, q
        html = client.get("/findings/", {"q": q, "size": 200}).content.decode()
        assert all(f'data-finding="{pk}"' in html for pk in expected), q


@pytest.mark.django_db(transaction=True)
def test_two_writers_adding_the_same_new_word_do_not_wait_for_each_other():
    """A unique constraint would make the second writer wait for the first one's transaction."""
    first_stored = threading.Event()
    second_done = threading.Event()
    errors: list[BaseException] = []

    def first_writer():
        try:
            conn = connections["default"]
            with conn.cursor():
                pass
            from django.db import transaction

            with transaction.atomic():
                _store("Brandnewword alpha", 6.0, rng=random.Random(1))
                first_stored.set()
                second_done.wait(timeout=20)  # hold the transaction open until the second writer is done
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_writer)
    thread.start()
    try:
        assert first_stored.wait(timeout=20)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        _store("Brandnewword beta", 6.0, rng=random.Random(2))  # would raise LockNotAvailable if it waited
        second_done.set()
    finally:
        second_done.set()
        thread.join(timeout=30)
    assert not errors
    assert FindingSearchTerm.objects.filter(term="brandnewword", severity=6.0).count() in (1, 2)
    assert Finding.objects.count() == 2


def test_capped_search_counts_are_exact_zeros_in_bands_the_words_never_occur_at(monkeypatch):
    monkeypatch.setattr("triage.selectors.SEARCH_COUNT_CAP", 2)
    monkeypatch.setattr("triage.filters.SEARCH_PROBE_BELOW_ROWS", 0)  # the walk, as for a common word
    for index in range(4):
        _store(f"Bitcoin miner {index}", 8.0)
    _store("Port probe", 2.0)

    counts = severity_counts_compute(filters=FindingFilters(q="bitcoin"))

    assert counts.bands == {"critical": 0, "high": 2, "medium": 0, "low": 0}
    assert counts.capped == {"high"}  # "2+" for high; the other bands are a sure 0, not "0+"
