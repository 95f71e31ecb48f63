"""A manager reads the findings report for a period: what came in, how fast the team handled it, against SLA."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from guardwatch.core.data_version import data_version_bump
from reports.services import findings_figures_refresh
from reports.timing import percentile_cont
from tests.reports.support import finding, moved

pytestmark = pytest.mark.django_db
A, B = "200000000001", "200000000002"
CRYPTO = "CryptoCurrency:EC2/BitcoinTool.B!DNS"


def at(days_ago: int, hour: int) -> datetime:
    """A moment `days_ago` days before today (UTC), at `hour` o'clock."""
    return datetime.combine(
        timezone.now().astimezone(UTC).date() - timedelta(days=days_ago), time(hour), tzinfo=UTC
    )


@pytest.fixture
def week():
    """Four findings this week, one the week before, with known acknowledge/resolve times."""
    f1 = finding(created=at(2, 10), band="high", account_id=A, type=CRYPTO)
    moved(f1, to="acknowledged", at=at(2, 11))  # 1 h
    moved(f1, to="resolved", at=at(2, 20))  # 10 h: within the 24 h SLA
    f2 = finding(created=at(2, 12), band="high", account_id=A, type=CRYPTO)
    moved(f2, to="acknowledged", at=at(2, 15))  # 3 h
    moved(f2, to="resolved", at=at(1, 18))  # 30 h: SLA missed
    finding(created=at(1, 8), band="critical", account_id=B)  # still New, 4 h SLA long past
    f4 = finding(
        created=at(3, 9), band="low", account_id=B, type="UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B"
    )
    moved(f4, to="acknowledged", at=at(3, 11))  # 2 h, still open, SLA not yet due
    f5 = finding(created=at(10, 9), band="high", account_id=A)  # the previous 7 days
    moved(f5, to="resolved", at=at(10, 14))


def _page(client, query="period=7") -> str:
    return client.get(f"/findings/report/?{query}").content.decode()


def _row(html: str, attr: str, value: str) -> list[str]:
    row = re.search(rf'<tr {attr}="{value}"[^>]*>(.*?)</tr>', html, re.S).group(1)
    return [
        re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
    ]


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_new_findings_per_day_are_counted_by_severity(client_for, week):
    html = _page(client_for("manager"))
    # Day, critical, high, medium, low, new, resolved, reopened, open at end of day
    assert _row(html, "data-day", f"{at(2, 0):%Y-%m-%d}") == [
        f"{at(2, 0):%Y-%m-%d}",
        "0",
        "2",
        "0",
        "0",
        "2",
        "1",
        "0",
        "2",
    ]
    assert _row(html, "data-day", f"{at(1, 0):%Y-%m-%d}")[1:] == ["1", "0", "0", "0", "1", "1", "0", "2"]
    assert _row(html, "data-day", f"{at(3, 0):%Y-%m-%d}")[-1] == "1"  # only the low finding was open
    assert re.search(r'data-testid="new-total">4<', html)


def test_time_to_acknowledge_and_resolve_mean_and_p90_per_severity(client_for, week):
    high = _row(_page(client_for("manager")), "data-band", "high")
    # findings, acknowledged, mean/p90 to acknowledge, resolved, mean/p90 to resolve
    assert high[1:8] == ["2", "2", "2.0 h", "2.8 h", "2", "20.0 h", "28.0 h"]


def test_sla_compliance_counts_resolved_or_overdue_findings(client_for, week):
    html = _page(client_for("manager"))
    assert _row(html, "data-band", "high")[-1] == "50.0% (1/2)"
    assert _row(html, "data-band", "critical")[-1] == "0.0% (0/1)"
    assert _row(html, "data-band", "low")[-1] == "—"  # acknowledged, not resolved, SLA not yet due
    assert re.search(r'data-testid="sla-overall">33.3%<', html)


def test_overall_p90_is_taken_over_every_finding_not_averaged(client_for, week):
    overall = _row(_page(client_for("manager")), "data-band", "all")
    assert overall[3:5] == ["2.0 h", "2.8 h"]  # acknowledged after 1, 3 and 2 hours


def test_top_types_and_accounts_are_ranked_by_new_findings(client_for, week):
    html = _page(client_for("manager"))
    types = re.findall(r"type_prefix=[^\"]*\">([^<]+)</a>", html)
    assert types[0] == CRYPTO and len(types) == 3
    accounts = re.findall(r"\?account=(\d{12})", html)
    assert accounts == [A, B]


def test_change_against_the_previous_period(client_for, week):
    html = _page(client_for("manager"))
    new = re.search(r"<th scope=\"row\">New findings</th>(.*?)</tr>", html, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", new, re.S)]
    assert cells == ["4", "1", "+3 (+300.0%)"]


def test_custom_period_shows_only_its_days(client_for, week):
    day = f"{at(10, 0):%Y-%m-%d}"
    html = _page(client_for("manager"), f"period=custom&start={day}&end={day}")
    assert re.findall(r'<tr data-day="([\d-]+)"', html) == [day]
    assert re.search(r'data-testid="new-total">1<', html)


def test_unreadable_period_falls_back_to_thirty_days_and_says_so(client_for):
    html = _page(client_for("manager"), "period=custom&start=yesterday")
    assert "showing the last 30 days" in html
    assert len(re.findall(r"<tr data-day=", html)) == 30


def test_daily_table_downloads_as_csv(client_for, week):
    rows = _csv(client_for("manager").get("/findings/report/?period=7&export=daily"))
    assert rows[0][:6] == ["day", "Critical", "High", "Medium", "Low", "new"]
    assert len(rows) == 8
    assert [f"{at(2, 0):%Y-%m-%d}", "0", "2", "0", "0", "2"] == rows[5][:6]


def test_timing_table_downloads_as_csv_in_hours(client_for, week):
    rows = _csv(client_for("manager").get("/findings/report/?period=7&export=timing"))
    high = next(r for r in rows if r[0] == "High")
    assert high[3:5] == ["2.0", "2.8"] and high[-1] == "50.0"


def test_report_page_runs_a_bounded_number_of_queries(client_for, week, django_assert_max_num_queries):
    client = client_for("manager")
    with django_assert_max_num_queries(20):
        assert client.get("/findings/report/?period=90").status_code == 200


def test_charts_are_labelled_svg_without_inline_styles(client_for, week):
    html = _page(client_for("manager"))
    assert html.count('<svg class="chart-svg"') == 3  # new per day; open at end of day; resolved per day
    assert (
        'aria-label="New findings per day by severity: 4 in all (1 Low, 0 Medium, 2 High, 1 Critical)' in html
    )
    assert "style=" not in html


def test_figures_are_kept_until_a_sync_that_changed_findings_and_a_refresh(
    client_for, week, settings, report_worker
):
    settings.GUARDWATCH_REPORTS_CACHE_SECONDS = 60
    client = client_for("manager")
    assert 'data-testid="report-pending"' in _page(client)  # no figures kept yet: a worker computes them
    report_worker.run()
    assert re.search(r'data-testid="new-total">4<', _page(client))
    finding(created=at(1, 9), band="low")
    assert re.search(r'data-testid="new-total">4<', _page(client))
    data_version_bump(scope="findings")
    findings_figures_refresh()
    assert re.search(r'data-testid="new-total">5<', _page(client))


def test_person_without_a_role_cannot_open_the_report(client_for):
    assert client_for("outsider").get("/findings/report/").status_code == 403


def test_percentile_fallback_matches_postgres_percentile_cont():
    assert percentile_cont([3600, 10800, 7200], 0.9) == pytest.approx(10080)
    assert percentile_cont([], 0.9) is None


def test_page_says_when_its_figures_were_read_and_how_they_are_kept(client_for, week, settings, report_worker):
    settings.GUARDWATCH_REPORTS_CACHE_SECONDS = 60
    client = client_for("manager")
    _page(client)
    report_worker.run()
    first = re.search(r'data-testid="report-freshness">Figures as of <time datetime="([^"]+)"', _page(client))
    assert "recomputed in the background after findings change, and at least every 15 minutes" in _page(client)
    again = re.search(r'data-testid="report-freshness">Figures as of <time datetime="([^"]+)"', _page(client))
    assert first.group(1) == again.group(1)  # served from the snapshot: the same moment
    assert abs(datetime.fromisoformat(first.group(1)) - timezone.now()) < timedelta(minutes=1)
    data_version_bump(scope="findings")
    findings_figures_refresh()
    later = re.search(r'data-testid="report-freshness">Figures as of <time datetime="([^"]+)"', _page(client))
    assert later.group(1) > first.group(1)


def test_resolved_per_day_has_its_own_chart_and_axis_not_a_flat_line_under_the_backlog(client_for, week):
    """Issue 16.15: beside a backlog in the thousands, a day's few resolved findings drew a flat line on 0-2,000."""
    for n in range(1500):  # a large open backlog from before the period
        finding(created=at(20, 1) + timedelta(seconds=n), band="low")
    html = _page(client_for("manager"))
    resolved = re.search(r'<svg class="chart-svg"[^>]*aria-label="Findings resolved per day:[^"]*".*?</svg>', html, re.S).group(0)
    assert re.findall(r'<text class="tick"[^>]*text-anchor="end">([^<]+)</text>', resolved) == ["0", "0.5", "1"]
    backlog = re.search(r'<svg class="chart-svg"[^>]*aria-label="Open findings at the end of each day:[^"]*".*?</svg>', html, re.S).group(0)
    assert "2,000" in backlog and "resolved" not in backlog


def test_response_times_are_all_in_hours_and_percentage_changes_in_points(client_for, week):
    """Issue 16.15: one table showed "30 min", "20.0 h" and "4.2 d" side by side."""
    slow = finding(created=at(6, 1), band="medium")
    moved(slow, to="acknowledged", at=at(6, 1) + timedelta(minutes=30))
    moved(slow, to="resolved", at=at(6, 1) + timedelta(hours=100))
    html = _page(client_for("manager"))
    medium = re.search(r'<tr data-band="medium">(.*?)</tr>', html, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", medium, re.S)]
    assert cells[2] == "0.5 h" and cells[5] == "100.0 h"
    assert " min<" not in html and " d<" not in html
    sla = re.search(r'<th scope="row">SLA compliance</th>(.*?)</tr>', html, re.S).group(1)
    change = re.sub(r"<[^>]+>", "", re.findall(r"<td[^>]*>(.*?)</td>", sla, re.S)[2]).strip()
    assert change.endswith(" pp") and "%" not in change
    rows = _csv(client_for("manager").get("/findings/report/?period=7&export=comparison"))
    assert rows[0][-2:] == ["change unit", "change %"]
    assert next(r for r in rows if r[0] == "SLA compliance")[-2:] == ["pp", ""]
