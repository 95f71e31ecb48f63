"""gunicorn settings read from the working directory (the image's /app): command-line flags still win.

Forwarded headers: gunicorn trusts X-Forwarded-Proto (and sets the request's scheme from it) only
from the addresses in FORWARDED_ALLOW_IPS (its default 127.0.0.1,::1); Django does not read the
header itself (see docs/security.md).
"""

import os

# gunicorn's largest request line (its default is 4094): a link up to GUARDWATCH_MAX_QUERY_STRING_BYTES
# then reaches GuardWatch, which answers a too-long one with its own 400 page like runserver does.
limit_request_line = 8190


def when_ready(server):
    """Stop at once if the published demo SECRET_KEY would be served beyond loopback."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guardwatch.settings")
    from guardwatch.core.exposure import demo_key_exposure

    for listener in server.LISTENERS:
        address = listener.sock.getsockname()
        if isinstance(address, tuple):  # a TCP listener (a unix socket is local)
            problem = demo_key_exposure(address[0])
            if problem:
                server.halt(problem, exit_status=1)
