"""Request checks every page relies on, done once instead of in each view."""

import logging
import re
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import redirect
from django.template.loader import render_to_string

from guardwatch.core.access import access_load
from guardwatch.core.logs import log_context_bind, log_context_reset, log_request_bind, log_request_reset
from guardwatch.core.problems import problem_response, wants_problem
from guardwatch.core.roles import Role, role_of

request_logger = logging.getLogger("guardwatch.request")
# An incoming X-Request-ID kept as it is: what proxies and load balancers send (hex, UUIDs, AWS trace ids).
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+/-]{0,127}")


class RequestIdMiddleware:
    """Give every request an id, bind it (and, once known, the user) to its log lines, echo it, log the request.

    The id comes from the proxy's X-Request-ID when a trusted proxy is configured
    (GUARDWATCH_TRUSTED_PROXY_HOPS > 0) and the value is sane; otherwise, and always without a proxy (a
    client could otherwise pick ids that collide with others' in the logs), a new one is generated. The
    request line names the path without its query string, which can carry tokens.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        if settings.GUARDWATCH_TRUSTED_PROXY_HOPS > 0 and REQUEST_ID.fullmatch(incoming):
            request_id = incoming
        else:
            request_id = uuid.uuid4().hex
        request.request_id = request_id
        context, bound = log_context_bind(request_id=request_id), log_request_bind(request)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            request_logger.info(
                "%s %s %s", request.method, request.path, response.status_code,
                extra={"method": request.method, "path": request.path, "status": response.status_code,
                       "duration_ms": round((time.monotonic() - started) * 1000, 1)},
            )  # fmt: skip
            return response
        finally:
            log_request_reset(bound)
            log_context_reset(context)


class RequestLimitsMiddleware:
    """A clear 400 for a too-long link and a clear 413 for a too-large body, before anything reads them.

    The link: Django would parse a huge query string (and refuse it deep inside as too many fields, or a
    redirect to the sign-in page carrying it as too long a URL); runserver, gunicorn (gunicorn.conf.py
    lets request lines up to its maximum, 8190 bytes, through to here) and tests all answer this page.
    The body: DATA_UPLOAD_MAX_MEMORY_SIZE and FILE_UPLOAD_MAX_MEMORY_SIZE only decide what stays in
    memory; a larger upload is still read and spooled to a temporary file before the view can refuse
    it. The declared Content-Length is checked before the CSRF check (the first to read a form), so
    nothing is read. Django reads no more than Content-Length, so a body without one is read as empty.
    Views that bound and read their own body (the EventBridge endpoint, csrf_exempt) are left alone; the
    API's (csrf_exempt: they take tokens, not cookies) are not, and get problem details (RFC 9457) instead.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = len(request.META.get("QUERY_STRING", ""))
        limit = settings.GUARDWATCH_MAX_QUERY_STRING_BYTES
        if length > limit:
            return _error_page(request, "400.html", 400, f"This link is too long for GuardWatch ({length:,} characters after "
                               f"the “?”; at most {limit:,}). Go back and choose fewer filters, or start again "
                               "from the dashboard.")  # fmt: skip
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        if getattr(view_func, "csrf_exempt", False) and not wants_problem(request):  # the API's views are exempt too
            return None
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0  # Django reads such a body as empty
        larger = getattr(view_func, "request_bytes_limit", None)  # a view that takes larger files says so
        limit = max(settings.GUARDWATCH_MAX_REQUEST_BYTES, larger() if larger else 0)
        if declared > limit:
            advice = "Go back and send a smaller file." if larger else ("Go back and send a smaller file (split a "
                                                                        "large CSV into several).")
            return _error_page(request, "413.html", 413, f"The upload is {declared:,} bytes; GuardWatch accepts at most "
                               f"{limit:,} bytes in one request. {advice}")  # fmt: skip
        return None


def request_bytes_limit(limit: Callable[[], int]) -> Callable:
    """Let one view's requests be as large as `limit()` (read per request, so settings apply), above
    GUARDWATCH_MAX_REQUEST_BYTES: RequestLimitsMiddleware still refuses anything larger before it is read."""

    def decorator(view: Callable) -> Callable:
        view.request_bytes_limit = limit
        return view

    return decorator


def _error_page(request: HttpRequest, template: str, status: int, reason: str) -> HttpResponse:
    if wants_problem(request):
        return problem_response(status, reason)
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
            return _refused(request, "The link contains a NUL character (%00), which no GuardWatch page accepts.")
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        # Only the form posts CsrfViewMiddleware parses anyway: the EventBridge endpoint (csrf_exempt)
        # bounds and reads its own body, after authenticating the caller.
        if request.method != "POST" or getattr(view_func, "csrf_exempt", False):
            return None
        if _has_nul(request.POST):
            return _refused(request, "The form contains a NUL character, which no GuardWatch form accepts.")
        return None


def _refused(request: HttpRequest, reason: str) -> HttpResponse:
    if wants_problem(request):
        return problem_response(400, reason)
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


class AdminMfaRequiredMiddleware:
    """With GUARDWATCH_MFA_REQUIRED_FOR_ADMINS, an Admin who signed in with a password and has no second
    factor yet sees only the page that adds one (and can sign out). Single sign-on leaves MFA to the IdP."""

    ALLOWED_PREFIXES = ("/auth/2fa/", "/auth/reauthenticate/", "/logout/", "/auth/logout/", "/static/", "/healthz")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.GUARDWATCH_MFA_REQUIRED_FOR_ADMINS and self._needs_mfa(request):
            return redirect("mfa_index")
        return self.get_response(request)

    def _needs_mfa(self, request: HttpRequest) -> bool:
        user = request.user
        if not user.is_authenticated or request.path.startswith(self.ALLOWED_PREFIXES):
            return False
        if role_of(user) is not Role.ADMIN or SocialAccount.objects.filter(user=user).exists():
            return False
        return not Authenticator.objects.filter(user=user).exclude(type=Authenticator.Type.RECOVERY_CODES).exists()
