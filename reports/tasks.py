"""Report Celery tasks: thin interfaces to `reports.services` (beat runs the refresh every minute).

The first two keep the names they had when they lived in `findings.tasks`, so messages queued by a
previous version and beat entries still find them.
"""

from datetime import datetime

from celery import shared_task

from reports import evidence, pdf, scheduled_services, services


@shared_task(name="findings.tasks.findings_figures_refresh")
def findings_figures_refresh() -> list[str]:
    """Beat (every minute) and stale pages: recompute stale report snapshots; one run at a time across workers."""
    return services.findings_figures_refresh()


@shared_task(name="findings.tasks.findings_report_snapshot")
def findings_report_snapshot(query: dict[str, str], owner: str = "") -> str:
    """A report page had no figures for a period: compute and keep its snapshot (the page polls for it)."""
    return services.findings_report_snapshot(query=query, owner=owner)


@shared_task(name="reports.tasks.findings_figures_rebuild")
def findings_figures_rebuild() -> list[str]:
    """Recompute every findings snapshot now, stale or not (after the demo's history rewrote a month)."""
    return services.findings_figures_rebuild()


@shared_task(name="reports.tasks.report_pdf_render")
def report_pdf_render(token: str, html: str, base_url: str) -> str:
    """A person asked for a page as PDF: lay out the HTML the request rendered and keep the PDF for them."""
    return pdf.pdf_job_render(token=token, html=html, base_url=base_url)


@shared_task(name="reports.tasks.scheduled_reports_tick")
def scheduled_reports_tick(now: str | None = None) -> dict[str, int]:
    """Beat: claim every due scheduled report period (catching up), queue due deliveries, expire old PDFs.

    `now` (ISO 8601) stands in for the clock: tests and catch-up drills pass it instead of waiting.
    """
    return scheduled_services.scheduled_reports_tick(now=datetime.fromisoformat(now) if now else None)


@shared_task(name="reports.tasks.scheduled_report_deliver")
def scheduled_report_deliver(run_id: int) -> str:
    """Render one scheduled report run's PDF (once) and email it (once); failures are kept and retried."""
    return scheduled_services.scheduled_report_deliver(run_id=run_id)


@shared_task(name="reports.tasks.evidence_pack_render")
def evidence_pack_render(pack_id: int) -> str:
    """A person asked for an evidence pack: read, lay out and sign it (the pack's page polls until it is ready)."""
    return evidence.evidence_pack_render(pack_id=pack_id)


@shared_task(name="reports.tasks.evidence_packs_purge")
def evidence_packs_purge() -> int:
    """Beat, daily: delete the evidence packs past GUARDWATCH_EVIDENCE_KEEP_DAYS."""
    return evidence.evidence_packs_purge()
