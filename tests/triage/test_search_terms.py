"""Free text skips the severities its words never occur at (`FindingSearchTerm`, kept by the upsert and a trigger).

The list walks `FindingSearch` in severity order; these tests pin that the skip never loses a match
(the list equals a plain substring filter), that the words recorded are those the trigger would record
whoever writes, and that two writers adding the same new word never wait on each other.
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


# What migration 0023's trigger records for the search rows stored: the reference the upsert's own words must equal.
_TRIGGER_PAIRS = (
    "SELECT DISTINCT CASE WHEN length(m[1]) > 64 THEN '*' ELSE m[1] END, s.severity"
    " FROM findings_findingsearch s, regexp_matches(s.text, '[a-z]{3,}', 'g') AS m"
)


def _trigger_pairs() -> set[tuple[str, float]]:
    with connection.cursor() as cursor:
        cursor.execute(_TRIGGER_PAIRS)
        return set(cursor.fetchall())


@pytest.mark.parametrize("seed", range(3))
def test_the_upsert_records_exactly_the_words_the_trigger_would(seed):
    """Python finds the words of ASCII texts, Postgres those of the others; together they equal the trigger's."""
    rng = random.Random(seed)
    pieces = ["Bitcoin", "EC2", "i-0abc123def", "ÜBER", "café", "naïve", "東京", "x" * 70, "a_b-c.d", "IAM:User",
              "\u2028", "ℹnfo", "İstanbul", "ǅemal", "10.0.0.1", "S3://bucket", "ssh", "ab", "DNS\u00a0query", "😀ok"]
    for index in range(40):
        title = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        description = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
        _store(title, rng.choice([2.0, 5.0, 8.0]), description=description, rng=random.Random(f"{seed}-{index}"))

    assert _pairs() == _trigger_pairs()
    assert any(not text.isascii() for text in FindingSearch.objects.values_list("text", flat=True))


def test_the_upsert_records_the_words_of_a_replaced_finding_whose_text_changed():
    raw = _store("Quiet beacon", 2.0)
    later = copy.deepcopy(raw)
    later["Title"], later["UpdatedAt"] = "Quiet beacon to Zyxwvut café", "2030-01-01T00:00:00.000Z"

    findings_upsert(findings=[parsed(later)], source="pull")

    assert ("zyxwvut", 2.0) in _pairs()
    assert _pairs() == _trigger_pairs()


def test_the_trigger_stands_aside_only_for_the_upsert_statement_that_recorded_its_words():
    """The upsert marks its own statement; a later write in the same transaction is recorded by the trigger."""
    from django.db import transaction

    with transaction.atomic():
        _store("Firstword here", 3.0)
        stored = Finding.objects.get()
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE findings_findingsearch SET text = 'laterword by hand' WHERE finding_id = %s", [stored.pk]
            )

    assert {("firstword", 3.0), ("laterword", 3.0), ("hand", 3.0)} <= _pairs()


def test_words_found_in_python_are_those_of_the_lowercased_ascii_text_and_none_beyond_ascii():
    from findings.upsert import search_terms

    assert sorted(search_terms("EC2 Bitcoin-related", "Seen by ssh", "i-0abcdef")) == [
        "abcdef", "bitcoin", "related", "seen", "ssh",
    ]  # fmt: skip
    assert sorted(search_terms("Over " + "y" * 65, "", "")) == ["*", "over"]
    assert search_terms("Café", "", "") is None


def test_the_trigger_does_not_run_its_regex_again_for_the_upsert_statement(monkeypatch):
    """The words come from the upsert alone: with Python finding none, none are recorded."""
    monkeypatch.setattr("findings.upsert.search_terms", lambda title, description, resource_id: [])

    _store("Unrecordedword title", 4.0)

    assert _pairs() == set()
    assert _trigger_pairs()  # what the trigger would have recorded, had it run


def test_a_batch_that_writes_no_search_row_records_no_words():
    """An older version is refused and an unchanged one rewrites nothing: the statement checks no pairs."""
    raw = _store("Quiet beacon", 2.0)
    older = copy.deepcopy(raw)
    older["Title"], older["UpdatedAt"] = "Neverstoredword beacon", "2000-01-01T00:00:00.000Z"
    before = _pairs()

    refused = findings_upsert(findings=[parsed(older)], source="pull")
    again = findings_upsert(findings=[parsed(raw)], source="pull")

    assert (refused.unchanged, again.unchanged) == (1, 1)
    assert _pairs() == before
