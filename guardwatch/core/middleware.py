"""Request checks every page relies on, done once instead of in each view."""

from collections.abc import Callable
from urllib.parse import urlsplit

from django.contrib.auth import middleware as auth_middleware
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict


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
