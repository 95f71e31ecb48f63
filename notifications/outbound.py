"""Outbound HTTP for destinations: only Admin-configured http(s) URLs, bounded time, no redirects.

Standard library `urllib.request` (no new dependency). Every request:
- goes only to a URL an Admin stored on a destination, with scheme http or https;
- is refused if the host resolves to a link-local address (169.254.0.0/16, fe80::/10 — where cloud
  instance metadata services such as 169.254.169.254 live and hand out credentials), an unspecified
  or multicast address, a metadata address outside link-local space (fd00:ec2::254, 100.100.100.200),
  an IPv4 address wrapped in IPv6 (mapped, 6to4, NAT64) that would be refused itself, or a well-known
  metadata host name; loopback too when
  GUARDWATCH_NOTIFY_BLOCK_LOOPBACK is on. Private ranges stay allowed: self-hosted Jira and relays
  live there. The check runs when the URL is saved and again before every request;
- does not follow redirects (a 3xx is a failure), so a receiver cannot bounce it elsewhere;
- times out after GUARDWATCH_NOTIFY_TIMEOUT_SECONDS (connect and each read);
- keeps at most the first 2,000 characters of the answer, as plain text.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_BODY_CHARS = 2000
METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.azure.internal", "instance-data"}
)
# Metadata services outside link-local space: EC2's IPv6 endpoint (Nitro) and Alibaba Cloud's.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
)
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


class OutboundRefused(ValueError):
    """The URL may not be called (wrong scheme, metadata/link-local address, …)."""


class OutboundFailed(Exception):
    """The request did not get an HTTP answer: timeout, refused connection, DNS failure."""


@dataclass(frozen=True)
class HttpAnswer:
    """The receiver's status code and the start of its body."""

    status: int
    body: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _address_refused(address: str) -> str | None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address wrapped in IPv6 (mapped, 6to4, NAT64) reaches that IPv4 address: judge it.
        if ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        elif ip.sixtofour:
            ip = ip.sixtofour
        elif ip in NAT64_PREFIX:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in METADATA_ADDRESSES:
        return "a cloud instance metadata address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata services live there)"
    if ip.is_unspecified or ip.is_multicast:
        return "an unspecified or multicast address"
    if ip.is_loopback and settings.GUARDWATCH_NOTIFY_BLOCK_LOOPBACK:
        return "a loopback address (GUARDWATCH_NOTIFY_BLOCK_LOOPBACK is on)"
    return None


def url_check(url: str, *, resolve: bool = True) -> None:
    """Raise OutboundRefused unless `url` is an http(s) URL GuardWatch may call."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise OutboundRefused(f"Not a valid URL: {error}") from None
    if parts.scheme not in {"http", "https"}:
        raise OutboundRefused("Only http:// and https:// URLs are allowed.")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise OutboundRefused("The URL has no host.")
    if parts.username or parts.password:
        raise OutboundRefused("Put credentials in the destination's fields, not in the URL.")
    if host in METADATA_HOSTS:
        raise OutboundRefused(f"{host} is a cloud metadata host.")
    try:
        reason = _address_refused(host)
    except ValueError:
        reason = None  # a name, not an address: checked after resolution
    if reason:
        raise OutboundRefused(f"{host} is {reason}.")
    if not resolve:
        return
    try:
        infos = socket.getaddrinfo(
            host, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except OSError as error:
        raise OutboundFailed(f"Cannot resolve {host}: {error}") from None
    for info in infos:
        reason = _address_refused(info[4][0])
        if reason:
            raise OutboundRefused(f"{host} resolves to {reason}.")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: PLR0913
        return None  # urllib then raises HTTPError with the 3xx status


_opener = urllib.request.build_opener(_NoRedirects)


def _body_text(raw: bytes) -> str:
    return raw[: MAX_BODY_CHARS * 4].decode("utf-8", "replace")[:MAX_BODY_CHARS]


def http_post(*, url: str, body: bytes, headers: dict[str, str], timeout: float | None = None) -> HttpAnswer:
    """POST `body` to `url`; an HTTP error status is an answer, a network failure raises OutboundFailed."""
    return _request(method="POST", url=url, body=body, headers=headers, timeout=timeout)


def http_get(*, url: str, headers: dict[str, str], timeout: float | None = None) -> HttpAnswer:
    """GET `url` (Jira's issue search), under the same rules as `http_post`."""
    return _request(method="GET", url=url, body=None, headers=headers, timeout=timeout)


def _request(*, method: str, url: str, body: bytes | None, headers: dict[str, str],
             timeout: float | None) -> HttpAnswer:  # fmt: skip
    url_check(url)
    timeout = timeout or settings.GUARDWATCH_NOTIFY_TIMEOUT_SECONDS
    request = urllib.request.Request(url, data=body, method=method,  # noqa: S310 (scheme checked above)
                                     headers={"User-Agent": "GuardWatch-Notifications/1", **headers})  # fmt: skip
    try:
        with _opener.open(request, timeout=timeout) as response:
            return HttpAnswer(status=response.status, body=_body_text(response.read(MAX_BODY_CHARS * 4)))
    except urllib.error.HTTPError as error:
        try:
            text = _body_text(error.read(MAX_BODY_CHARS * 4))
        except (OSError, TimeoutError):
            text = ""
        return HttpAnswer(status=error.code, body=text)
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError | socket.timeout):
            raise OutboundFailed(f"Timed out after {timeout:g} s connecting to the receiver.") from None
        raise OutboundFailed(f"Connection failed: {reason}") from None
    except TimeoutError:
        raise OutboundFailed(f"Timed out after {timeout:g} s waiting for the receiver's answer.") from None
    except OSError as error:
        raise OutboundFailed(f"Connection failed: {error}") from None
