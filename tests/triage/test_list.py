"""The analyst's findings list: filters, counts, keyset pages, URL state, query budget, export."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.http import QueryDict
from django.utils import timezone

from findings.models import Finding
from tests.triage.support import store_findings
from triage.filters import SORTS

pytestmark = pytest.mark.django_db


def rows_of(response) -> list[int]:
    html = response.content.decode()
    return [int(part.split('"', 1)[0]) for part in html.split('data-finding="')[1:]]


def walk_pages(client, url: str, *, most: int = 10) -> list[int]:
    """The finding ids of each page in turn, following the list's rel="next" link."""
    seen: list[int] = []
    for _ in range(most):
        response = client.get(url)
        seen.extend(rows_of(response))
        html = response.content.decode()
        if 'rel="next"' not in html:
            break
        href = html.split('rel="next"')[0].rsplit('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        url = "/findings/" + href
    return seen


@pytest.fixture(params=["probe", "walk"])
def search_route(request, monkeypatch):
    """Free text both ways: the trigram index probed first (few matches), or the severity walk (many)."""
    from triage import filters as list_filters

    if request.param == "walk":  # as if the planner expected too many matches to probe
        monkeypatch.setattr(list_filters, "SEARCH_PROBE_BELOW_ROWS", 0)
    return request.param


def test_analyst_filters_high_severity_ec2_findings_and_sees_only_those(client_for):
    store_findings(60)
    response = client_for("analyst").get("/findings/?band=high&resource_type=Instance&size=200")
    shown = Finding.objects.filter(pk__in=rows_of(response))
    expected = Finding.objects.filter(severity__gte=7, severity__lt=9, resource_type="Instance")
    assert expected.exists()
    assert set(shown) == set(expected)


def test_counts_by_severity_follow_the_filter(client_for):
    store_findings(60)
    response = client_for("analyst").get("/findings/?resource_type=Instance")
    html = response.content.decode()
    for band in ("critical", "high", "medium", "low"):
        expected = Finding.objects.filter(resource_type="Instance", severity_band=band).count()
        assert f'data-band="{band}"' in html
        assert f">{band.capitalize()} <strong>{expected}</strong>" in html


def test_htmx_request_gets_the_results_fragment_and_out_of_band_counts(client_for):
    store_findings(20)
    response = client_for("analyst").get("/findings/?band=low", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html
    assert 'id="results"' in html
    assert 'id="severity-counts"' in html and 'hx-swap-oob="true"' in html
    assert "HX-Request" in response["Vary"]


def test_history_restore_request_gets_the_full_page(client_for):
    store_findings(5)
    response = client_for("analyst").get(
        "/findings/?band=low", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in response.content.decode()


@pytest.mark.parametrize("sort", list(SORTS))
def test_keyset_pages_walk_every_matching_finding_exactly_once_in_order(client_for, sort):
    store_findings(57)
    client = client_for("analyst")
    url = f"/findings/?sort={sort}&size=25"
    seen = walk_pages(client, url)
    assert len(seen) == len(set(seen)) == 57
    column = SORTS[sort].column
    values = [
        getattr(f, column)
        for f in sorted(Finding.objects.filter(pk__in=seen), key=lambda f: seen.index(f.pk))
    ]
    assert values == sorted(values, reverse=SORTS[sort].descending)


def test_free_text_search_looks_in_title_description_and_resource(client_for, search_route):
    findings = store_findings(30)
    target = findings[3]
    client = client_for("analyst")
    assert target.pk in rows_of(client.get(f"/findings/?q={target.resource_id}&size=200"))
    word = target.title.split()[-1].upper()
    shown = rows_of(client.get(f"/findings/?q={word}&size=200"))
    assert target.pk in shown
    assert all(
        word.lower() in (f.title + " " + f.description + " " + f.resource_id).lower()
        for f in Finding.objects.filter(pk__in=shown)
    )


def test_bad_filter_values_are_reported_and_ignored(client_for):
    store_findings(5)
    response = client_for("analyst").get(
        "/findings/?band=huge&account=12&first_seen_from=yesterday&after=garbage"
    )
    html = response.content.decode()
    assert "Unknown severity band" in html
    assert "not a 12-digit account id" in html
    assert "is not a date" in html
    assert "no longer valid" in html
    assert len(rows_of(response)) == 5


@pytest.mark.parametrize("size", [25, 200])
def test_a_list_page_costs_the_same_number_of_queries_whatever_its_size(
    client_for, django_assert_max_num_queries, size, search_route
):
    findings = store_findings(210, finding_type="Recon:EC2/PortProbeUnprotectedPort")
    client = client_for("analyst")
    client.post(f"/findings/{findings[0].pk}/assign/", {"assignee": "analyst"})
    client.get("/findings/")  # session and permission caches warm, as for any page after the first
    # session, user, 2 permission reads, the person's team scope, the search's estimate, the page, saved views, assignable
    # people, their groups; then either the probe (savepoint, settings on, the probe, settings off,
    # release) and one grouped count, or the capped counts (savepoint, timeout on and off, the count,
    # release)
    with django_assert_max_num_queries(16):
        response = client.get(f"/findings/?size={size}&status=open&q=port&sort=-last_seen")
    assert len(rows_of(response)) == size


@pytest.mark.parametrize("size", [25, 200])
def test_a_type_filtered_page_costs_the_same_number_of_queries_whatever_its_size(
    client_for, django_assert_max_num_queries, size
):
    store_findings(230, finding_type="Recon:EC2/PortProbeUnprotectedPort")
    client = client_for("analyst")
    client.get("/findings/")
    # as above, plus the planner's estimate that picks the filter-first plan
    with django_assert_max_num_queries(15):
        response = client.get(f"/findings/?size={size}&type_prefix=Recon:EC2/")
    assert len(rows_of(response)) == size


def test_search_shorter_than_three_characters_is_reported_and_ignored(client_for):
    store_findings(12)
    response = client_for("analyst").get("/findings/?q=ab")
    assert "Search needs at least 3 characters" in response.content.decode()
    assert len(rows_of(response)) == 12


def test_search_counts_stop_at_their_cap_and_say_so(client_for, monkeypatch):
    from triage import filters as list_filters
    from triage import selectors

    store_findings(30, finding_type="Recon:EC2/PortProbeUnprotectedPort")
    monkeypatch.setattr(list_filters, "SEARCH_PROBE_BELOW_ROWS", 0)  # the walk: counts are sampled
    monkeypatch.setattr(selectors, "SEARCH_COUNT_CAP", 5)
    response = client_for("analyst").get("/findings/?q=port")
    assert "5+ matching" in response.content.decode()


def test_counts_too_slow_to_take_exactly_are_shown_as_estimates(client_for, monkeypatch):
    from django.db import OperationalError
    from psycopg.errors import QueryCanceled

    from triage import selectors

    def cancelled(base, per_band, *, sampled, bounds=None):
        raise OperationalError("canceling statement due to statement timeout") from QueryCanceled()

    store_findings(30)
    monkeypatch.setattr(selectors, "_severity_counts_exact", cancelled)
    response = client_for("analyst").get("/findings/?status=open")
    html = response.content.decode()
    assert response.status_code == 200
    assert "≈" in html and "Estimated: counting exactly would slow the page down" in html
    assert len(rows_of(response)) == Finding.objects.filter(status="new").count()


@pytest.mark.parametrize("sort", ["-severity", "severity"])
def test_type_filtered_pages_walk_every_match_once_in_order(client_for, sort):
    store_findings(40, seed=3)
    client = client_for("analyst")
    expected = list(
        Finding.objects.filter(type__startswith="Recon:")
        .order_by(*(["-severity", "-id"] if sort == "-severity" else ["severity", "id"]))
        .values_list("pk", flat=True)
    )
    assert expected
    url = f"/findings/?type_prefix=Recon:&sort={sort}&size=25"
    seen = walk_pages(client, url)
    assert seen == expected


@pytest.mark.parametrize("sort", ["-severity", "severity"])
def test_searched_pages_sorted_by_severity_walk_every_match_once_in_order(client_for, sort, search_route):
    store_findings(80, seed=5)
    matches = [
        f for f in Finding.objects.all() if "instance" in f"{f.title} {f.description} {f.resource_id}".lower()
    ]
    assert 25 < len(matches) < 80  # several pages, and not everything
    expected = [
        f.pk for f in sorted(matches, key=lambda f: (f.severity, f.pk), reverse=sort == "-severity")
    ]
    seen = walk_pages(client_for("analyst"), f"/findings/?q=Instance&sort={sort}&size=25")
    assert seen == expected


def test_search_with_a_severity_band_shows_only_that_band(client_for, search_route):
    store_findings(80, seed=5)
    expected = {
        f.pk
        for f in Finding.objects.filter(severity__gte=7, severity__lt=9)
        if "instance" in f"{f.title} {f.description} {f.resource_id}".lower()
    }
    assert expected
    seen = walk_pages(client_for("analyst"), "/findings/?q=instance&band=high&size=25")
    assert set(seen) == expected and len(seen) == len(expected)


def test_a_selective_search_reads_only_its_matches_and_counts_them_exactly(client_for):
    from triage import filters as list_filters

    findings = store_findings(40, seed=5)
    target = findings[7]
    same_resource = Finding.objects.filter(resource_id=target.resource_id)
    filters = list_filters.FindingFilters.from_query(QueryDict(f"q={target.resource_id}"))
    list_filters.narrow_search(filters)
    assert filters.search_ids is not None and target.pk in filters.search_ids

    html = client_for("analyst").get(f"/findings/?q={target.resource_id}&size=200").content.decode()
    assert f"{same_resource.count()} matching" in html and "+ matching" not in html


def test_searches_the_trigram_index_cannot_narrow_or_that_match_too_many_walk(client_for, monkeypatch):
    from triage import filters as list_filters

    store_findings(40, seed=5)
    no_word = list_filters.FindingFilters.from_query(QueryDict("q=i-0"))  # no word of 3 characters
    list_filters.narrow_search(no_word)
    assert no_word.search_ids is None
    monkeypatch.setattr(list_filters, "SEARCH_IDS_MAX", 3)
    broad = list_filters.FindingFilters.from_query(QueryDict("q=instance"))
    list_filters.narrow_search(broad)
    assert broad.search_ids is None
    expected = {
        f.pk for f in Finding.objects.all() if "instance" in f"{f.title} {f.description} {f.resource_id}".lower()
    }
    assert len(expected) > 3
    assert set(walk_pages(client_for("analyst"), "/findings/?q=instance&size=25")) == expected


def test_a_search_that_matches_nothing_says_so_with_zero_counts(client_for):
    store_findings(10)
    html = client_for("analyst").get("/findings/?q=no-such-thing-anywhere").content.decode()
    assert "No findings match this filter." in html
    assert "0 matching" in html and ">Critical <strong>0</strong>" in html


def test_overdue_filter_shows_open_findings_past_their_sla(client_for, settings):
    settings.GUARDWATCH_SLA_HOURS = {"low": 1, "medium": 1, "high": 1, "critical": 1}
    old = store_findings(6)
    Finding.objects.filter(pk__in=[f.pk for f in old]).update(created_at=timezone.now() - timedelta(hours=2))
    fresh = store_findings(1, seed=99)[0]
    Finding.objects.filter(pk=fresh.pk).update(created_at=timezone.now())
    resolved = Finding.objects.exclude(pk=fresh.pk).first()
    Finding.objects.filter(pk=resolved.pk).update(status="resolved")
    response = client_for("analyst").get("/findings/?overdue=1&size=200")
    shown = set(rows_of(response))
    assert fresh.pk not in shown and resolved.pk not in shown
    assert len(shown) == 5
    assert "Overdue" in response.content.decode()


def test_overdue_counts_by_band_use_each_bands_own_sla(client_for, settings):
    # Low findings get 100 h, the rest 1 h: two hours old, only the non-low ones are overdue.
    settings.GUARDWATCH_SLA_HOURS = {"low": 100, "medium": 1, "high": 1, "critical": 1}
    store_findings(60)
    Finding.objects.update(created_at=timezone.now() - timedelta(hours=2))
    Finding.objects.filter(pk__in=Finding.objects.filter(severity_band="high").values("pk")[:2]).update(
        status="resolved"
    )
    html = client_for("analyst").get("/findings/?overdue=1").content.decode()
    assert {"low", "high"} <= set(Finding.objects.values_list("severity_band", flat=True))
    for band in ("critical", "high", "medium", "low"):
        expected = 0 if band == "low" else Finding.objects.filter(severity_band=band, status="new").count()
        assert f">{band.capitalize()} <strong>{expected}</strong>" in html


def test_sla_setting_rejects_a_missing_band_loudly():
    from django.core.exceptions import ImproperlyConfigured

    from guardwatch.settings import env_sla_hours

    assert env_sla_hours("X_UNSET_SLA", "critical=4,high=24,medium=168,low=720")["high"] == 24
    import os

    os.environ["X_BAD_SLA"] = "critical=4,high=24"
    try:
        with pytest.raises(ImproperlyConfigured, match="every band"):
            env_sla_hours("X_BAD_SLA", "")
        os.environ["X_BAD_SLA"] = "critical=soon,high=1,medium=1,low=1"
        with pytest.raises(ImproperlyConfigured, match="whole number"):
            env_sla_hours("X_BAD_SLA", "")
    finally:
        del os.environ["X_BAD_SLA"]


def test_csv_export_streams_the_current_filter(client_for):
    store_findings(40)
    response = client_for("manager").get("/findings/export.csv?band=high")
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {int(r["id"]) for r in rows} == set(
        Finding.objects.filter(severity_band="high").values_list("id", flat=True)
    )


def test_csv_export_of_a_search_has_exactly_its_matches(client_for, search_route):
    findings = store_findings(40, seed=5)
    target = findings[7]
    response = client_for("analyst").get(f"/findings/export.csv?q={target.resource_id}")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    expected = {
        f.pk for f in Finding.objects.all()
        if target.resource_id.lower() in f"{f.title} {f.description} {f.resource_id}".lower()
    }  # fmt: skip
    assert target.pk in expected
    assert [int(r["id"]) for r in rows] == sorted(
        expected, key=lambda pk: (-Finding.objects.get(pk=pk).severity, -pk)
    )


def test_json_export_streams_the_current_filter(client_for):
    store_findings(20)
    response = client_for("analyst").get("/findings/export.json?resource_type=Instance")
    data = json.loads(b"".join(response.streaming_content))
    assert {d["id"] for d in data} == set(
        Finding.objects.filter(resource_type="Instance").values_list("id", flat=True)
    )


def test_csv_export_neutralises_spreadsheet_formulas_from_attackers(client_for):
    finding = store_findings(1)[0]
    Finding.objects.filter(pk=finding.pk).update(title='=HYPERLINK("http://attacker.example.com","open")')
    body = b"".join(client_for("analyst").get("/findings/export.csv").streaming_content).decode()
    assert "'=HYPERLINK" in body


def test_last_seen_range_filter(client_for):
    findings = store_findings(10)
    day = (findings[0].last_seen - timedelta(days=0)).date().isoformat()
    shown = Finding.objects.filter(
        pk__in=rows_of(client_for("analyst").get(f"/findings/?last_seen_from={day}&last_seen_to={day}"))
    )
    assert shown.exists()
    assert all(f.last_seen.date().isoformat() == day for f in shown)


def test_counting_puts_the_statement_timeout_back_as_it_was(client_for):
    from django.db import connection

    from triage import filters as list_filters
    from triage import selectors

    store_findings(10)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = '7s'")
    for query in ("status=open", f"q={Finding.objects.first().resource_id}", "q=instance"):
        filters = list_filters.FindingFilters.from_query(QueryDict(query))
        selectors.severity_counts(filters=filters)
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout'), current_setting('enable_seqscan')")
            assert cursor.fetchone() == ("7s", "on"), query


def test_a_search_probe_past_its_budget_falls_back_to_the_walk_and_leaves_the_settings_as_they_were(client_for):
    from django.db import connection

    from triage import filters as list_filters

    findings = store_findings(40, seed=5)
    target = findings[7]

    def slow_probe(execute, sql, params, many, context):  # the probe, made slower than SEARCH_PROBE_MS
        if "findings_findingsearch" in sql and f"LIMIT {list_filters.SEARCH_IDS_MAX + 1}" in sql:
            sql = sql.replace("WHERE", "WHERE pg_sleep(0.3) IS NOT NULL AND", 1)
        return execute(sql, params, many, context)

    def settings_now():
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout'), current_setting('enable_seqscan')")
            return cursor.fetchone()

    before = settings_now()
    filters = list_filters.FindingFilters.from_query(QueryDict(f"q={target.resource_id}"))
    with connection.execute_wrapper(slow_probe):
        list_filters.narrow_search(filters)
    assert filters.search_narrowed and filters.search_ids is None  # the walk
    assert settings_now() == before
    with connection.execute_wrapper(slow_probe):
        shown = rows_of(client_for("analyst").get(f"/findings/?q={target.resource_id}&size=200"))
    assert target.pk in shown
