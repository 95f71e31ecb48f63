"""Server-side PDFs of the report pages (WeasyPrint): the page's own template and figures, charts included.

The page is rendered with `reports/pdf_base.html` instead of `base.html` (no navigation, no scripts) and
WeasyPrint lays it out with the print rules of our stylesheet. WeasyPrint would fetch every URL the HTML
names (stylesheets, images); `static_only_fetcher` serves our own static files from disk and refuses
anything else, so a hostile string that somehow reached the HTML as a URL cannot make the server fetch it.
Rendering takes a fraction of a second to a few seconds (docs/benchmarks.md), so it runs in one of
GUARDWATCH_EXPORTS_MAX slots (`guardwatch.core.slots`): one PDF per person at a time.
"""

from __future__ import annotations

import mimetypes
import os
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import SuspiciousFileOperation
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils._os import safe_join

from guardwatch.core.slots import SlotsBusy, slot_acquire

PDF_BASE = "reports/pdf_base.html"


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


def pdf_render(*, request: HttpRequest, template: str, context: dict) -> bytes:
    """`template` (a page that extends `base`) rendered on PDF_BASE and laid out as a PDF."""
    from weasyprint import HTML  # loads Pango: only the processes that make a PDF pay for it

    html = render_to_string(template, {**context, "base": PDF_BASE, "pdf": True}, request=request)
    base_url = request.build_absolute_uri("/")
    return HTML(string=html, base_url=base_url, url_fetcher=static_only_fetcher(base_url)).write_pdf()


def pdf_download(*, request: HttpRequest, template: str, context: dict, filename: str) -> HttpResponse:
    """The page as a PDF attachment, rendered in an export slot (429 with the reason when none is free)."""
    try:
        slot = slot_acquire("report-pdf", str(request.user.pk), total=settings.GUARDWATCH_EXPORTS_MAX)
    except SlotsBusy as busy:
        response = HttpResponse(busy.message + "\n", status=429, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(busy.retry_after)
        return response
    try:
        pdf = pdf_render(request=request, template=template, context=context)
    finally:
        slot.release()
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
