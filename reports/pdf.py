"""Server-side PDFs of the report pages (WeasyPrint): the page's own template and figures, charts included.

The page is rendered with `reports/pdf_base.html` instead of `base.html` (no navigation, no scripts) and
WeasyPrint lays it out with the print rules of our stylesheet. WeasyPrint would fetch every URL the HTML
names (stylesheets, images); `static_only_fetcher` serves our own static files from disk and refuses
anything else, so a hostile string that somehow reached the HTML as a URL cannot make the server fetch it.
Laying out a page takes seconds (a heatmap page of 100 accounts × 17 regions over ten on a loaded
machine: docs/benchmarks.md), too long to hold a web thread: the request renders the page's HTML (the
figures the person sees, as fast as the page itself), a Celery worker lays it out
(`reports.tasks.report_pdf_render`) and keeps the PDF in the cache for JOB_SECONDS, and the person
waits on a page that polls until its download link appears. One job per person at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import mimetypes
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.core.exceptions import SuspiciousFileOperation
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils._os import safe_join

from guardwatch.core.queue import task_send

logger = logging.getLogger(__name__)
PDF_BASE = "reports/pdf_base.html"
QUEUED, READY, FAILED = "queued", "ready", "failed"
JOB_SECONDS = 10 * 60  # a job, and its PDF once laid out, are kept this long (the cache is also the broker)
WORKER_WAIT_SECONDS = 120  # a job no worker started in this long is reported (the page stops polling)


class RefusedFetch(ValueError):
    """The PDF asked for something other than one of our static files."""


def static_only_fetcher(base_url: str):
    """A WeasyPrint URL fetcher that serves `base_url` + STATIC_URL files from disk and refuses any other URL.

    It never opens a connection: WeasyPrint's own fetcher (which this subclasses only to be accepted)
    would follow any http(s), ftp or file URL.
    """
    from weasyprint.urls import URLFetcher, URLFetcherResponse  # loads Pango: only PDF makers pay for it

    static_prefix = base_url.rstrip("/") + "/" + settings.STATIC_URL.strip("/") + "/"

    class StaticOnlyFetcher(URLFetcher):
        def fetch(self, url: str, headers=None) -> URLFetcherResponse:
            parts = urlsplit(url)
            if not url.startswith(static_prefix) or parts.query or parts.fragment:
                raise RefusedFetch(f"PDF rendering fetches only GuardWatch's static files, not {url[:200]!r}")
            path = _static_path(unquote(parts.path)[len(urlsplit(static_prefix).path) :])
            if not path:
                raise RefusedFetch(f"No such static file: {url[:200]!r}")
            with open(path, "rb") as handle:
                data = handle.read()
            content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
            return URLFetcherResponse(url, data, {"Content-Type": content_type})

    return StaticOnlyFetcher(allowed_protocols=("http", "https"))


def _static_path(name: str) -> str | None:
    """A static file's path: collectstatic's copy (hashed names, in production) or the apps' own folders."""
    try:
        if settings.STATIC_ROOT and os.path.isfile(candidate := safe_join(settings.STATIC_ROOT, name)):
            return candidate
        found = finders.find(name)
    except SuspiciousFileOperation:
        return None
    return found if isinstance(found, str) else None


def _pdf_write(html: str, base_url: str) -> bytes:
    """Lay out HTML as a PDF, fetching only our static files."""
    from weasyprint import HTML  # loads Pango: only the processes that make a PDF pay for it

    return HTML(string=html, base_url=base_url, url_fetcher=static_only_fetcher(base_url)).write_pdf()


def pdf_layout(html: str, base_url: str) -> bytes:
    """Lay out `html` as a PDF now (seconds: workers only), fetching nothing but our static files; scheduled
    reports and evidence packs use it, through `_layout` (tests replace it to make a layout fail)."""
    return _layout(html, base_url)


@dataclass(frozen=True)
class PdfJob:
    """One person's PDF: queued (a worker lays it out), ready (its bytes are kept) or failed (why)."""

    token: str
    owner: str
    filename: str
    state: str
    queued_at: datetime
    error: str = ""

    @property
    def pending(self) -> bool:
        return self.state == QUEUED

    @property
    def stalled(self) -> bool:
        """Queued WORKER_WAIT_SECONDS and not laid out: no worker is taking report work (the page says so)."""
        return self.pending and (timezone.now() - self.queued_at).total_seconds() >= WORKER_WAIT_SECONDS


def _job_key(token: str) -> str:
    return f"guardwatch:report-pdf:job:{token}"


def _file_key(token: str) -> str:
    return f"guardwatch:report-pdf:file:{token}"


def _owner_key(owner: str) -> str:
    return f"guardwatch:report-pdf:owner:{owner}"


def pdf_job_start(*, request: HttpRequest, template: str, context: dict, filename: str) -> str:
    """Render the page's HTML now, with the figures the person sees, and queue its layout; the job's token.

    One job per person at a time: asking again while one is queued returns that one. With no broker
    the layout is done here (as the report pages compute their figures when no worker can be asked).
    """
    owner = str(request.user.pk)
    current = cache.get(_owner_key(owner))
    if current and (job := cache.get(_job_key(current))) is not None and job.pending and not job.stalled:
        return current
    html = render_to_string(template, {**context, "base": PDF_BASE, "pdf": True}, request=request)
    token = secrets.token_urlsafe(16)
    cache.set(_job_key(token), PdfJob(token, owner, filename, QUEUED, timezone.now()), JOB_SECONDS)
    cache.set(_owner_key(owner), token, JOB_SECONDS)
    try:
        task_send("reports.tasks.report_pdf_render", token, html, request.build_absolute_uri("/"))
    except Exception:  # noqa: BLE001 - no broker: this request lays the PDF out itself
        logger.warning("Could not queue a PDF; laying it out on the request.", exc_info=True)
        with contextlib.suppress(Exception):  # a failure is kept on the job and shown on its page
            pdf_job_render(token=token, html=html, base_url=request.build_absolute_uri("/"))
    return token


_layout = _pdf_write  # the name report PDFs call (tests replace it to make a layout fail)


def pdf_job_render(*, token: str, html: str, base_url: str) -> str:
    """Lay out a queued PDF and keep it JOB_SECONDS (what the worker does); its state after. Safe to run twice."""
    job: PdfJob | None = cache.get(_job_key(token))
    if job is None or not job.pending:
        return job.state if job else "expired"
    try:
        pdf = _layout(html, base_url)
    except Exception as error:
        message = f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"[:300]
        _finish(dataclasses.replace(job, state=FAILED, error=message))
        raise
    cache.set(_file_key(token), pdf, JOB_SECONDS)
    _finish(dataclasses.replace(job, state=READY))
    return READY


def _finish(job: PdfJob) -> None:
    cache.set(_job_key(job.token), job, JOB_SECONDS)
    if cache.get(_owner_key(job.owner)) == job.token:
        cache.delete(_owner_key(job.owner))


def pdf_job_get(*, token: str, owner: str) -> PdfJob | None:
    """The job `token` if it is `owner`'s and still kept (someone else's token is no one's)."""
    job: PdfJob | None = cache.get(_job_key(token[:64]))
    return job if job is not None and job.owner == owner else None


def pdf_job_file(*, job: PdfJob) -> bytes | None:
    return cache.get(_file_key(job.token)) if job.state == READY else None


def pdf_job_page(request: HttpRequest, token: str) -> HttpResponse:
    """A PDF job's page: waiting (it polls), the download once ready (`download=1` serves the file), or why not."""
    job = pdf_job_get(token=token, owner=str(request.user.pk))
    back = request.GET.copy()
    for key in ("pdf", "download", "export"):
        back.pop(key, None)
    back_url = request.path + (f"?{back.urlencode()}" if back else "")
    if job is not None and request.GET.get("download") == "1" and (pdf := pdf_job_file(job=job)) is not None:
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{job.filename}"'
        return response
    context = {"job": job, "back_url": back_url, "seconds": JOB_SECONDS // 60}
    template = "reports/pdf_job.html#job" if request.htmx else "reports/pdf_job.html"
    return render(request, template, context, status=200 if job else 404)


def pdf_download(*, request: HttpRequest, template: str, context: dict, filename: str) -> HttpResponse:
    """"Download PDF": queue the page's PDF and send the person to its waiting page."""
    token = pdf_job_start(request=request, template=template, context=context, filename=filename)
    query = request.GET.copy()
    query.pop("export", None)
    query["pdf"] = token
    return redirect(f"{request.path}?{query.urlencode()}")
