"""Where a form may send the user back to: only this site, and never from https down to http."""

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def next_url(request: HttpRequest, candidate: str, *, fallback: str) -> str:
    """`candidate` (a `next`/`back` value the browser sent) if it stays on this site, else `fallback`.

    The same test Django's LoginView applies: same host, http(s) or relative, and https only when this
    request came over https (a `next=http://this-host/…` would otherwise downgrade the user).
    """
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback
