"""A too-large upload is refused before its body is read, over a real HTTP connection."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.django_db(transaction=True)  # the live server's thread reads the session


def test_an_upload_over_the_limit_is_refused_before_its_body_is_sent(live_server, client_for, settings):
    """The browser has sent the headers and a first slice of a 50 MB file: the answer comes at once.

    Without the check, Django reads (and spools to a temporary file) the whole body before the view
    sees the file, so no answer would come until all 50 MB arrived.
    """
    session = client_for("admin").cookies[settings.SESSION_COOKIE_NAME].value
    address = urlsplit(live_server.url)
    declared = 50 * 1024 * 1024
    head = (
        f"POST /accounts/upload/ HTTP/1.1\r\nHost: {address.hostname}:{address.port}\r\n"
        f"Cookie: {settings.SESSION_COOKIE_NAME}={session}\r\n"
        "Content-Type: multipart/form-data; boundary=gwboundary\r\n"
        f"Content-Length: {declared}\r\n\r\n"
        '--gwboundary\r\nContent-Disposition: form-data; name="file"; filename="members.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(head + b"123456789012,root@example.com\n" * 2000)  # ~60 KB of the 50 MB
        answer = b""
        while b"</html>" not in answer:
            chunk = sock.recv(65536)  # times out (the test fails) if the server waits for the rest
            if not chunk:
                break
            answer += chunk

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"413"
    page = rest.decode()
    assert f"The upload is {declared:,} bytes; GuardWatch accepts at most 2,097,152 bytes" in page
    assert "split a large CSV into several" in page
