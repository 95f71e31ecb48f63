"""Scheduled reports: subscribing within one's scope, the beat's claims (once per period, under concurrent
beats, catching up after downtime), delivery by mail with the PDF, failures shown and retried, the archive."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail
from django.db import connection

from guardwatch.core import queue
from guardwatch.core.roles import Role
from reports import pdf as report_pdf
from reports.coverage import coverage_summary_compute
from reports.models import ReportRun, ReportSubscription
from reports.schedule import CATCH_UP_PERIODS, due_periods, period_for
from reports.scheduled_services import scheduled_report_deliver, scheduled_reports_tick
from tests.reports.scheduled_support import (
    BLUE,
    BLUE_OU,
    CREATED,
    MONDAY,
    RED,
    SECTIONS,
    WEEK_END,
    WEEK_START,
    new_in_week,
    organisation,
    pdf_of,
    person,
    runs,
    subscribe,
)

DELIVER = "reports.tasks.scheduled_report_deliver"


@pytest.fixture
def sent_tasks(monkeypatch) -> list[tuple]:
    """Deliveries the beat queued (task name, run id), kept here instead of sent to the broker."""
    queued: list[tuple] = []
    monkeypatch.setattr(queue, "task_send", lambda name, *args, **kwargs: queued.append((name, *args)))
    return queued


@pytest.fixture
def world(db):
    return organisation()


@pytest.fixture
def tick(django_capture_on_commit_callbacks):
    """One beat tick at `now`, its deliveries queued as the commit would queue them."""

    def run(now: datetime) -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            return scheduled_reports_tick(now=now)

    return run


# --- When a report is due ------------------------------------------------------------------------


def test_a_weekly_report_covers_the_seven_whole_days_before_its_day():
    start, end = period_for(cadence="weekly", due_day=date(2031, 3, 3))
    assert (start, end) == (datetime(2031, 2, 24, tzinfo=UTC), datetime(2031, 3, 3, tzinfo=UTC))


def test_a_monthly_report_covers_the_previous_calendar_month_across_a_year_end():
    start, end = period_for(cadence="monthly", due_day=date(2031, 1, 1))
    assert (start, end) == (datetime(2030, 12, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC))


def test_nothing_is_due_before_the_hour_or_for_periods_before_the_subscription():
    before_hour = due_periods(
        cadence="weekly", weekday=0, hour=7, since=CREATED, now=MONDAY.replace(minute=0, hour=6)
    )
    assert before_hour == []
    assert [
        p.due_at for p in due_periods(cadence="weekly", weekday=0, hour=7, since=CREATED, now=MONDAY)
    ] == [datetime(2031, 3, 3, 7, tzinfo=UTC)]


def test_after_a_long_downtime_only_the_newest_missed_periods_are_owed():
    later = MONDAY + timedelta(weeks=10)
    owed = due_periods(cadence="weekly", weekday=0, hour=7, since=CREATED, now=later)
    assert len(owed) == CATCH_UP_PERIODS and owed[-1].due_at.date() == later.date()


# --- Subscribing -------------------------------------------------------------------------------------


def test_manager_subscribes_to_a_weekly_report_of_an_ou(world, client):
    manager = person("manager", Role.MANAGER)
    client.force_login(manager)
    assert 'href="/reports/scheduled/"' in client.get("/findings/report/").content.decode()
    response = client.post("/reports/scheduled/", {"cadence": "weekly", "weekday": "0", "hour": "7",
                                                   "scope_kind": "ou", "organizational_unit": BLUE_OU})  # fmt: skip
    assert response.status_code == 302
    subscription = ReportSubscription.objects.get(owner=manager)
    assert (subscription.scope_label, subscription.schedule_label) == (
        f"OU {BLUE_OU}",
        "every Monday at 07:00 UTC",
    )
    page = client.get("/reports/scheduled/").content.decode()
    assert f"OU {BLUE_OU}" in page and "manager@example.com" in page


def test_a_manager_may_send_only_to_their_own_address_and_is_told_why(world, client):
    client.force_login(person("manager", Role.MANAGER))
    response = client.post("/reports/scheduled/", {"cadence": "weekly", "hour": "7", "scope_kind": "organisation",
                                                   "extra_recipients": "ceo@example.com"})  # fmt: skip
    assert (
        response.status_code == 400
        and "Only an Admin may send reports to other addresses" in response.content.decode()
    )
    assert not ReportSubscription.objects.exists()


def test_an_admin_adds_other_addresses_and_bad_ones_are_named(world, client):
    admin = person("boss", Role.ADMIN)
    client.force_login(admin)
    bad = client.post("/reports/scheduled/", {"cadence": "monthly", "hour": "6", "scope_kind": "organisation",
                                              "extra_recipients": "ciso@example.com, not-an-address"})  # fmt: skip
    assert bad.status_code == 400 and "“not-an-address” is not an email address." in bad.content.decode()
    assert not ReportSubscription.objects.exists()
    client.post("/reports/scheduled/", {"cadence": "monthly", "hour": "6", "scope_kind": "organisation",
                                        "extra_recipients": "ciso@Example.COM\nciso@example.com"})  # fmt: skip
    assert ReportSubscription.objects.get(owner=admin).extra_recipients == ["ciso@example.com"]


def test_a_team_scoped_manager_can_only_choose_their_own_team(world, client):
    red_team = type(world["team"]).objects.create(name="Red", account_ids=[RED])
    client.force_login(person("blue_manager", Role.MANAGER, team=world["team"]))
    response = client.post("/reports/scheduled/", {"cadence": "weekly", "hour": "7", "scope_kind": "team",
                                                   "team": str(red_team.pk)})  # fmt: skip
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not ReportSubscription.objects.exists()


def test_an_analyst_cannot_subscribe(world, client):
    client.force_login(person("analyst", Role.ANALYST))
    assert 'href="/reports/scheduled/"' not in client.get("/findings/report/").content.decode()
    assert client.get("/reports/scheduled/").status_code == 403


# --- The beat: each period once ----------------------------------------------------------------------


def test_the_beat_claims_the_due_week_once_and_queues_its_delivery_once(world, tick, sent_tasks):
    subscription = subscribe(person("manager", Role.MANAGER))
    tick(MONDAY)
    tick(MONDAY + timedelta(minutes=5))  # the next tick: claimed and queued already
    (run,) = runs(subscription)
    assert (run.period_start, run.period_end, run.state) == (WEEK_START, WEEK_END, ReportRun.State.PENDING)
    assert sent_tasks == [(DELIVER, run.pk)]


@pytest.mark.django_db(transaction=True)
def test_two_beats_running_at_once_claim_and_queue_each_period_once(sent_tasks):
    organisation()
    subscription = subscribe(person("manager", Role.MANAGER))
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def beat():
        try:
            start.wait(timeout=10)
            scheduled_reports_tick(now=MONDAY + timedelta(weeks=2))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    claimed = runs(subscription)
    assert [r.period_end.date() for r in claimed] == [date(2031, 3, 3), date(2031, 3, 10), date(2031, 3, 17)]
    assert sorted(pk for _name, pk in sent_tasks) == [r.pk for r in claimed]  # each queued by one beat only


def test_after_downtime_the_beat_catches_up_each_missed_week_without_sending_twice(world, tick, sent_tasks):
    subscription = subscribe(person("manager", Role.MANAGER))
    tick(MONDAY)
    first = runs(subscription)[0]
    scheduled_report_deliver(run_id=first.pk, now=MONDAY)
    # The beat was down for two weeks: back on Wednesday, it owes the two Mondays it missed.
    tick(MONDAY + timedelta(weeks=2, days=2))
    owed = runs(subscription)
    assert [r.period_start.date() for r in owed] == [date(2031, 2, 24), date(2031, 3, 3), date(2031, 3, 10)]
    for run in owed[1:]:
        scheduled_report_deliver(run_id=run.pk, now=MONDAY + timedelta(weeks=2, days=2))
    assert [m.subject[-24:] for m in mail.outbox] == [
        "2031-02-24 to 2031-03-02", "2031-03-03 to 2031-03-09", "2031-03-10 to 2031-03-16"
    ]  # fmt: skip
    assert [r.state for r in runs(subscription)] == [ReportRun.State.SENT] * 3


# --- Delivery ---------------------------------------------------------------------------------------


def test_the_manager_receives_the_weekly_pdf_with_its_figures_and_delivering_again_sends_nothing(
    world, tick, sent_tasks
):
    subscription = subscribe(person("manager", Role.MANAGER))
    tick(MONDAY)
    run = runs(subscription)[0]
    assert scheduled_report_deliver(run_id=run.pk, now=MONDAY) == "sent"
    assert scheduled_report_deliver(run_id=run.pk, now=MONDAY) == "skipped"
    (message,) = mail.outbox
    assert message.to == ["manager@example.com"] and "weekly report: the organisation" in message.subject
    (filename, data, mimetype) = message.attachments[0]
    assert (filename, mimetype) == ("guardwatch-report-20310224-20310302.pdf", "application/pdf")
    reader, text = pdf_of(data)
    assert len(reader.pages) >= 2
    for heading in SECTIONS:
        assert heading in text
    coverage = coverage_summary_compute(scope=None).percent
    assert f"Coverage {coverage} %" in text and coverage == 50.0
    assert f"New findings {new_in_week()}" in text and new_in_week() == 4
    # The high finding's 24 h and the critical one's 4 h ran out in the week, unresolved; the medium one's 7 days did not.
    assert "Resolved findings 1" in text and "SLA breaches 2" in text
    assert "Blue 0 1 0 0 1" in text and "ou-redd-22222222 1 0 0 0 1" in text
    assert "Recon:EC2/PortProbeUnprotectedPort 2 1 2" in text
    assert "New findings: 4; resolved: 1; SLA breaches: 2." in message.body
    assert f"/reports/scheduled/{subscription.pk}/" in message.body
    # The heatmap counts each new finding under its type's tactics (findings.attack), per band: the port
    # probes (high, medium) under Reconnaissance, the bitcoin tool (critical) under Impact.
    assert "Reconnaissance TA0043 0 1 1 0 2" in text and "Impact TA0040 1 0 0 0 1" in text


def test_a_team_scoped_manager_gets_only_their_teams_accounts_even_subscribed_to_everything(
    world, tick, sent_tasks
):
    subscription = subscribe(person("blue_manager", Role.MANAGER, team=world["team"]))
    tick(MONDAY)
    scheduled_report_deliver(run_id=runs(subscription)[0].pk, now=MONDAY)
    _reader, text = pdf_of(mail.outbox[0].attachments[0][1])
    assert f"New findings {new_in_week({BLUE})}" in text and new_in_week({BLUE}) == 2
    assert "Coverage 100.0 %" in text and "Covering the accounts of blue_manager's teams." in text
    assert "CryptoCurrency" not in text and "ou-redd" not in text and "SSHBruteForce" not in text


def test_a_render_failure_is_shown_with_its_reason_and_retried_after_a_backoff(
    world, tick, sent_tasks, monkeypatch, client
):
    manager = person("manager", Role.MANAGER)
    subscription = subscribe(manager)
    tick(MONDAY)
    run = runs(subscription)[0]
    real = report_pdf._layout

    def no_fonts(html, base_url):
        raise OSError("no fonts")

    monkeypatch.setattr(report_pdf, "_layout", no_fonts)
    assert scheduled_report_deliver(run_id=run.pk, now=MONDAY) == "retrying"
    run.refresh_from_db()
    assert run.error == "Rendering failed: OSError: no fonts" and run.next_attempt_at == MONDAY + timedelta(
        seconds=300
    )
    client.force_login(manager)
    page = client.get(f"/reports/scheduled/{subscription.pk}/").content.decode()
    assert "Rendering failed: OSError: no fonts" in page and "Failed; will retry" in page
    tick(MONDAY + timedelta(seconds=299))
    assert len(sent_tasks) == 1  # not before its backoff
    monkeypatch.setattr(report_pdf, "_layout", real)
    tick(MONDAY + timedelta(seconds=300))
    assert sent_tasks[-1] == (DELIVER, run.pk)
    assert scheduled_report_deliver(run_id=run.pk, now=MONDAY + timedelta(seconds=300)) == "sent"
    assert len(mail.outbox) == 1


def test_a_send_failure_keeps_the_pdf_and_the_retry_sends_it_once(world, tick, sent_tasks, settings):
    subscription = subscribe(person("manager", Role.MANAGER))
    tick(MONDAY)
    run = runs(subscription)[0]
    locmem = settings.MAILERS
    # A mail server that refuses connections (nothing listens on port 1).
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                                    "OPTIONS": {"host": "127.0.0.1", "port": 1, "timeout": 2}}}  # fmt: skip
    assert scheduled_report_deliver(run_id=run.pk, now=MONDAY) == "retrying"
    run.refresh_from_db()
    assert run.error.startswith("Sending failed: ConnectionRefusedError") and run.pdf is not None
    rendered_at = run.rendered_at
    settings.MAILERS = locmem
    assert scheduled_report_deliver(run_id=run.pk, now=MONDAY + timedelta(minutes=6)) == "sent"
    run.refresh_from_db()
    assert run.rendered_at == rendered_at and run.attempts == 2 and run.error == ""
    assert len(mail.outbox) == 1


def test_after_the_last_attempt_the_run_gives_up_and_says_why(world, tick, sent_tasks, settings, monkeypatch):
    settings.GUARDWATCH_SCHEDULED_REPORTS_MAX_ATTEMPTS = 2
    monkeypatch.setattr(
        report_pdf, "_layout", lambda html, base_url: (_ for _ in ()).throw(OSError("no fonts"))
    )
    subscription = subscribe(person("manager", Role.MANAGER))
    tick(MONDAY)
    run = runs(subscription)[0]
    assert scheduled_report_deliver(run_id=run.pk, now=MONDAY) == "retrying"
    assert scheduled_report_deliver(run_id=run.pk, now=MONDAY + timedelta(minutes=6)) == "failed"
    assert scheduled_report_deliver(run_id=run.pk, now=MONDAY + timedelta(days=1)) == "skipped"
    assert mail.outbox == []


def test_an_owner_who_lost_the_manager_role_gets_no_report_and_the_archive_says_why(world, tick, sent_tasks):
    manager = person("manager", Role.MANAGER)
    subscription = subscribe(manager)
    manager.is_active = False
    manager.save(update_fields=["is_active"])
    tick(MONDAY)
    run = runs(subscription)[0]
    assert scheduled_report_deliver(run_id=run.pk, now=MONDAY) == "failed"
    run.refresh_from_db()
    assert "is no longer an active Manager or Admin" in run.error and mail.outbox == []


def test_pdfs_past_the_retention_are_dropped_and_the_period_is_not_sent_again(
    world, tick, sent_tasks, settings
):
    settings.GUARDWATCH_SCHEDULED_REPORTS_KEEP_DAYS = 1
    subscription = subscribe(person("manager", Role.MANAGER))
    tick(MONDAY)
    run = runs(subscription)[0]
    scheduled_report_deliver(run_id=run.pk, now=MONDAY)
    ReportRun.objects.filter(pk=run.pk).update(created_at=MONDAY)
    tick(MONDAY + timedelta(days=2))
    run.refresh_from_db()
    assert run.pdf is None and run.state == ReportRun.State.SENT
    assert len(runs(subscription)) == 1 and len(mail.outbox) == 1


# --- The archive --------------------------------------------------------------------------------------


def test_the_archive_lists_each_period_and_only_its_owner_or_an_admin_downloads_the_pdf(
    world, tick, sent_tasks, client
):
    owner = person("manager", Role.MANAGER)
    subscription = subscribe(owner)
    tick(MONDAY)
    run = runs(subscription)[0]
    scheduled_report_deliver(run_id=run.pk, now=MONDAY)
    client.force_login(owner)
    page = client.get(f"/reports/scheduled/{subscription.pk}/").content.decode()
    assert "2031-02-24 to 2031-03-03" in page and f"/reports/scheduled/runs/{run.pk}/pdf/" in page
    download = client.get(f"/reports/scheduled/runs/{run.pk}/pdf/")
    assert download["Content-Type"] == "application/pdf" and bytes(download.content) == bytes(
        mail.outbox[0].attachments[0][1]
    )
    client.force_login(person("other_manager", Role.MANAGER))
    assert client.get(f"/reports/scheduled/{subscription.pk}/").status_code == 404
    assert client.get(f"/reports/scheduled/runs/{run.pk}/pdf/").status_code == 404
    assert client.post(f"/reports/scheduled/{subscription.pk}/delete/").status_code == 404
    client.force_login(person("analyst", Role.ANALYST))
    assert client.get(f"/reports/scheduled/runs/{run.pk}/pdf/").status_code == 403
    client.force_login(person("boss", Role.ADMIN))
    assert client.get(f"/reports/scheduled/runs/{run.pk}/pdf/").status_code == 200


def test_hostile_finding_and_team_names_are_text_in_the_pdf_which_fetches_only_our_static_files(
    world, tick, sent_tasks, monkeypatch
):
    from tests.reports.support import finding

    hostile = '<img src="http://attacker.example/a.png">'
    finding(created=WEEK_START + timedelta(days=2), band="high", account_id=BLUE, type=f"Recon:EC2/{hostile}")
    world["team"].name = f"Blue{hostile}"
    world["team"].save(update_fields=["name"])
    asked: list[str] = []
    real = report_pdf.static_only_fetcher

    def recording(base_url):
        fetcher = real(base_url)
        fetch = fetcher.fetch

        def wrapped(url, *args, **kwargs):
            asked.append(url)
            return fetch(url, *args, **kwargs)

        fetcher.fetch = wrapped
        return fetcher

    monkeypatch.setattr(report_pdf, "static_only_fetcher", recording)
    subscription = subscribe(person("manager", Role.MANAGER))
    tick(MONDAY)
    scheduled_report_deliver(run_id=runs(subscription)[0].pk, now=MONDAY)
    _reader, text = pdf_of(mail.outbox[0].attachments[0][1])
    assert text.count("attacker.example/a.png") == 2  # the type and the team, shown as text
    assert asked and all(url.startswith("http://guardwatch.invalid/static/") for url in asked), asked


def test_the_archive_page_reads_a_constant_number_of_queries(
    world, tick, sent_tasks, client, django_assert_max_num_queries
):
    owner = person("manager", Role.MANAGER)
    subscription = subscribe(owner)
    tick(MONDAY + timedelta(weeks=3))
    assert len(runs(subscription)) == 4
    client.force_login(owner)
    with django_assert_max_num_queries(12):
        page = client.get(f"/reports/scheduled/{subscription.pk}/")
    assert page.content.decode().count('data-testid="run"') == 4


def test_a_report_of_a_deleted_team_fails_saying_so_instead_of_covering_more(world, tick, sent_tasks):
    team = world["team"]
    subscription = subscribe(
        person("manager", Role.MANAGER), scope_kind="team", team=team, team_name=team.name
    )
    team.delete()
    tick(MONDAY)
    run = runs(subscription)[0]
    assert scheduled_report_deliver(run_id=run.pk, now=MONDAY) == "failed"
    run.refresh_from_db()
    assert (
        run.error == "The team 'Blue' was deleted; subscribe again with another scope." and mail.outbox == []
    )
