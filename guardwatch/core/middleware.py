"""Request checks every page relies on, done once instead of in each view."""

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.template.loader import render_to_string

from guardwatch.core.access import access_load


class RequestLimitsMiddleware:
    """A clear 400 for a too-long link and a clear 413 for a too-large body, before anything reads them.

    The link: Django would parse a huge query string (and refuse it deep inside as too many fields, or a
    redirect to the sign-in page carrying it as too long a URL); runserver, gunicorn (gunicorn.conf.py
    lets request lines up to its maximum, 8190 bytes, through to here) and tests all answer this page.
    The body: DATA_UPLOAD_MAX_MEMORY_SIZE and FILE_UPLOAD_MAX_MEMORY_SIZE only decide what stays in
    memory; a larger upload is still read and spooled to a temporary file before the view can refuse
    it. The declared Content-Length is checked before the CSRF check (the first to read a form), so
    nothing is read. Django reads no more than Content-Length, so a body without one is read as empty.
    Views that bound and read their own body (the EventBridge endpoint, csrf_exempt) are left alone.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = len(request.META.get("QUERY_STRING", ""))
        limit = settings.GUARDWATCH_MAX_QUERY_STRING_BYTES
        if length > limit:
            return _error_page("400.html", 400, f"This link is too long for GuardWatch ({length:,} characters after "
                               f"the “?”; at most {limit:,}). Go back and choose fewer filters, or start again "
                               "from the dashboard.")  # fmt: skip
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        if getattr(view_func, "csrf_exempt", False):
            return None
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0  # Django reads such a body as empty
        limit = settings.GUARDWATCH_MAX_REQUEST_BYTES
        if declared > limit:
            return _error_page("413.html", 413, f"The upload is {declared:,} bytes; GuardWatch accepts at most "
                               f"{limit:,} bytes in one request. Go back and send a smaller file (split a large "
                               "CSV into several).")  # fmt: skip
        return None


def _error_page(template: str, status: int, reason: str) -> HttpResponse:
    # Rendered without the request: these answers come before sign-in and the context processors.
    return HttpResponse(render_to_string(template, {"reason": reason}), status=status)


def _has_nul(values: QueryDict) -> bool:
    return any("\x00" in key or any("\x00" in value for value in found) for key, found in values.lists())


class RejectNulCharactersMiddleware:
    """400 for a query string or submitted form carrying a NUL character.

    Views pass filter values and form text to Postgres, which refuses NUL in text: a hand-edited link
    or a scripted form post would otherwise end in a 500. No legitimate value contains one.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _has_nul(request.GET):
            return _refused("The link contains a NUL character (%00), which no GuardWatch page accepts.")
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        # Only the form posts CsrfViewMiddleware parses anyway: the EventBridge endpoint (csrf_exempt)
        # bounds and reads its own body, after authenticating the caller.
        if request.method != "POST" or getattr(view_func, "csrf_exempt", False):
            return None
        if _has_nul(request.POST):
            return _refused("The form contains a NUL character, which no GuardWatch form accepts.")
        return None


def _refused(reason: str) -> HttpResponse:
    return HttpResponseBadRequest(reason, content_type="text/plain; charset=utf-8")


class AccessCacheMiddleware:
    """The signed-in user's permissions and role from the cache (`access.access_load`), not 3 queries."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None:
            access_load(user)
        return self.get_response(request)


class LoginRequiredMiddleware(auth_middleware.LoginRequiredMiddleware):
    """Django's sign-in requirement, except for an HTMX request whose session ended.

    A progress or report poll that got the login page would swap the sign-in form into its fragment
    (and keep polling it); instead the whole page goes to the sign-in page (`HX-Redirect`), and back
    to that page, not to the fragment's URL, afterwards.
    """

    def handle_no_permission(self, request: HttpRequest, view_func) -> HttpResponse:
        htmx = getattr(request, "htmx", None)
        if not htmx or htmx.history_restore_request:  # a history restore swaps the answer into <body>
            return super().handle_no_permission(request, view_func)
        login = redirect_to_login(
            _page_path(request), self.get_login_url(view_func), self.get_redirect_field_name(view_func)
        )
        return HttpResponse(status=204, headers={"HX-Redirect": login.url})


def _page_path(request: HttpRequest) -> str:
    """The path of the page an HTMX request came from (HX-Current-URL), on this host only; else "/".

    Never the request's own path: that is a fragment's. The scheme is not compared (behind a TLS proxy
    the browser's https is http here); LoginView checks `next` again before following it.
    """
    current = urlsplit(request.headers.get("HX-Current-URL", ""))
    if current.netloc != request.get_host() or not current.path.startswith("/") or current.path.startswith("//"):
        return "/"
    return f"{current.path}?{current.query}" if current.query else current.path
