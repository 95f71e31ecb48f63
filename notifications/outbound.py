"""Outbound HTTP for destinations: only Admin-configured http(s) URLs, bounded time, no redirects.

Standard library `http.client` and `ssl` (no new dependency). Every request:
- goes only to a URL an Admin stored on a destination, with scheme http or https;
- is refused if the host resolves to a link-local address (169.254.0.0/16, fe80::/10 — where cloud
  instance metadata services such as 169.254.169.254 live and hand out credentials), an unspecified
  or multicast address, a metadata address outside link-local space (fd00:ec2::254, 100.100.100.200),
  an IPv4 address wrapped in IPv6 (mapped, 6to4, NAT64) that would be refused itself, a well-known
  metadata host name, or a loopback address unless GUARDWATCH_NOTIFY_ALLOW_LOOPBACK is on (the demo
  and tests, whose receivers listen on 127.0.0.1). Private ranges stay allowed: self-hosted Jira and
  relays live there. The check runs when the URL is saved and again before every request;
- connects to the very address that was vetted: the host name is resolved once, and the connection
  is opened to that IP, so a DNS answer that changes between the check and the connection (DNS
  rebinding) cannot send it elsewhere. TLS still verifies the certificate against the host name
  (SNI and Host header carry the name, not the IP);
- does not follow redirects (a 3xx is a failure), so a receiver cannot bounce it elsewhere;
- finishes within GUARDWATCH_NOTIFY_TIMEOUT_SECONDS in all (connect, TLS, sending and the whole
  answer): a receiver that drips its answer a byte at a time is cut off at the deadline, not only
  when one read stalls;
- keeps at most the first 2,000 characters of the answer, as plain text.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
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
    # Retry-After in seconds, when the receiver sent one (Jira's 429s do).
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class Target:
    """A vetted URL: where to connect (`addresses`, resolved once) and what to say (host, path)."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[tuple[int, tuple], ...]  # (family, sockaddr) as getaddrinfo gave them

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return name if self.port == default else f"{name}:{self.port}"


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
    if ip.is_loopback and not settings.GUARDWATCH_NOTIFY_ALLOW_LOOPBACK:
        return "a loopback address (allowed only with GUARDWATCH_NOTIFY_ALLOW_LOOPBACK=true)"
    return None


def url_check(url: str, *, resolve: bool = True) -> Target | None:
    """Raise OutboundRefused unless `url` is an http(s) URL GuardWatch may call.

    With `resolve`, the host is looked up once and every address it has is judged; the answer holds
    them, so the request connects to what was checked instead of asking DNS again.
    """
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
        return None
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise OutboundFailed(f"Cannot resolve {host}: {error}") from None
    for info in infos:
        reason = _address_refused(info[4][0])
        if reason:
            raise OutboundRefused(f"{host} resolves to {reason}.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=parts.scheme, host=host, port=port, path=path,
                  addresses=tuple((info[0], info[4]) for info in infos))  # fmt: skip


# --- The connection: pinned address, one deadline ------------------------------------------------


class _Deadline:
    """Before every send and receive, the socket's timeout becomes the time left until the deadline."""

    _deadline: float | None = None

    def _arm(self) -> None:
        if self._deadline is None:
            return
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        self.settimeout(left)

    def recv(self, *args, **kwargs):
        self._arm()
        return super().recv(*args, **kwargs)

    def recv_into(self, *args, **kwargs):
        self._arm()
        return super().recv_into(*args, **kwargs)

    def send(self, *args, **kwargs):
        self._arm()
        return super().send(*args, **kwargs)

    def sendall(self, *args, **kwargs):
        self._arm()
        return super().sendall(*args, **kwargs)


class _DeadlineSocket(_Deadline, socket.socket):
    pass


class _DeadlineSSLSocket(_Deadline, ssl.SSLSocket):
    pass


def tls_context() -> ssl.SSLContext:
    """Certificate and host name verified; GUARDWATCH_NOTIFY_CA_FILE adds a private CA (self-hosted Jira)."""
    context = ssl.create_default_context(cafile=settings.GUARDWATCH_NOTIFY_CA_FILE or None)
    context.sslsocket_class = _DeadlineSSLSocket
    return context


def _connect(target: Target, deadline: float) -> socket.socket:
    """A socket to one of the vetted addresses, in the order DNS gave them (no second lookup)."""
    last_error: OSError | None = None
    for family, sockaddr in target.addresses:
        sock = _DeadlineSocket(family, socket.SOCK_STREAM)
        sock._deadline = deadline
        try:
            sock._arm()
            sock.connect(sockaddr)
        except OSError as error:
            sock.close()
            last_error = error
            if isinstance(error, TimeoutError):
                break
            continue
        if target.scheme == "https":
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                # SNI and certificate verification use the host name, not the address connected to.
                tls = tls_context().wrap_socket(sock, server_hostname=target.host)
            except OSError:
                sock.close()
                raise
            tls._deadline = deadline
            return tls
        return sock
    raise last_error or OSError(f"No address for {target.host}")


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection whose socket was opened to a vetted address by `_connect`."""

    def __init__(self, target: Target, deadline: float):
        super().__init__(target.host, target.port)
        self._target, self._deadline = target, deadline

    def connect(self) -> None:
        self.sock = _connect(self._target, self._deadline)


def _body_text(raw: bytes) -> str:
    return raw[: MAX_BODY_CHARS * 4].decode("utf-8", "replace")[:MAX_BODY_CHARS]


def _seconds(value: str | None) -> float | None:
    """Retry-After as delta-seconds (the form Jira sends); an HTTP date or junk is ignored."""
    try:
        return min(max(float(value), 0.0), 3600.0) if value else None
    except ValueError:
        return None


def http_post(*, url: str, body: bytes, headers: dict[str, str], timeout: float | None = None) -> HttpAnswer:
    """POST `body` to `url`; an HTTP error status is an answer, a network failure raises OutboundFailed."""
    return _request(method="POST", url=url, body=body, headers=headers, timeout=timeout)


def http_get(*, url: str, headers: dict[str, str], timeout: float | None = None) -> HttpAnswer:
    """GET `url` (Jira's issue search), under the same rules as `http_post`."""
    return _request(method="GET", url=url, body=None, headers=headers, timeout=timeout)


def _request(*, method: str, url: str, body: bytes | None, headers: dict[str, str],
             timeout: float | None) -> HttpAnswer:  # fmt: skip
    timeout = timeout or settings.GUARDWATCH_NOTIFY_TIMEOUT_SECONDS
    deadline = time.monotonic() + timeout
    target = url_check(url)
    connection = _PinnedConnection(target, deadline)
    sent_headers = {"Host": target.host_header, "User-Agent": "GuardWatch-Notifications/1",
                    "Connection": "close", **headers}  # fmt: skip
    if body is not None:
        sent_headers["Content-Length"] = str(len(body))
    try:
        connection.putrequest(method, target.path, skip_host=True, skip_accept_encoding=True)
        for name, value in sent_headers.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return HttpAnswer(status=response.status, body=_body_text(response.read(MAX_BODY_CHARS * 4)),
                          retry_after=_seconds(response.getheader("Retry-After")))  # fmt: skip
    except TimeoutError:
        raise OutboundFailed(f"Timed out after {timeout:g} s waiting for the receiver.") from None
    except ssl.SSLError as error:
        raise OutboundFailed(f"TLS failed: {error.reason or error}") from None
    except (OSError, http.client.HTTPException) as error:
        raise OutboundFailed(f"Connection failed: {error}") from None
    finally:
        connection.close()
