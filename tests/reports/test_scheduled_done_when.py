"""Issue 20's done-when, "a manager receives the weekly PDF": the beat's tick, with the clock passed as `now`,
goes through the Redis broker to a real Celery worker, which claims the week, renders the PDF and mails it
with the locmem backend; the PDF's pages, section headings and figures are checked against the database.

The worker runs in this process (celery.contrib.testing's embedded worker, on threads) so the locmem
outbox it writes is the one this test reads; it consumes only this test's own queues, so a worker
process another test started in the same session never takes these tasks.
"""

from __future__ import annotations

import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail

from guardwatch.celery import app
from guardwatch.core.queue import queue_names, task_send
from guardwatch.core.roles import Role
from reports.coverage import coverage_summary_compute
from reports.models import ReportRun
from tests.reports.scheduled_support import (
    MONDAY,
    SECTIONS,
    new_in_week,
    organisation,
    pdf_of,
    person,
    runs,
    subscribe,
)
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_manager_receives_the_weekly_pdf_from_a_real_worker_with_the_databases_figures(settings):
    settings.CELERY_TASK_DEFAULT_QUEUE = f"gw-test-scheduled-{uuid.uuid4().hex[:8]}"
    organisation()
    manager = person("manager", Role.MANAGER)
    subscription = subscribe(manager)
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30,
                      queues=queue_names("reports"), loglevel="WARNING"):  # fmt: skip
        # Two beats at once (a doubled beat after a failover): one claim, one delivery.
        ticks = [task_send("reports.tasks.scheduled_reports_tick", MONDAY.isoformat()) for _ in range(2)]
        assert sorted(t.get(timeout=60)["queued"] for t in ticks) == [0, 1]
        wait_for(lambda: ReportRun.objects.filter(state=ReportRun.State.SENT).exists(), timeout=120,
                 what="the worker to render and send the weekly report")  # fmt: skip
    (run,) = runs(subscription)
    (message,) = mail.outbox
    assert message.to == ["manager@example.com"] and run.recipients == ["manager@example.com"]
    (_name, data, mimetype) = message.attachments[0]
    assert mimetype == "application/pdf" and bytes(run.pdf) == data  # the archive keeps what was sent
    reader, text = pdf_of(data)
    assert 3 <= len(reader.pages) <= 8
    for heading in SECTIONS:
        assert heading in text
    coverage = coverage_summary_compute(scope=None).percent
    assert f"Coverage {coverage} %" in text
    assert f"New findings {new_in_week()}" in text and new_in_week() == 4
