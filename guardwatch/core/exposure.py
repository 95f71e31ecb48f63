"""The published demo SECRET_KEY is safe only where nobody else can reach the server: on loopback.

Anyone who has the key (it is in guardwatch/settings.py) can forge sessions and password-reset
links. Production refuses it outright; the demo and test modes use it, so their servers refuse to
listen on anything but a loopback address while it is in use: `runserver` (our override) and
gunicorn (gunicorn.conf.py) both ask `demo_key_exposure` before serving.
"""

from __future__ import annotations

import ipaddress
import socket

from django.conf import settings


def _loopback(host: str) -> bool:
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%", 1)[0]).is_loopback for info in infos)


def demo_key_exposure(host: str) -> str | None:
    """Why serving on `host` is refused (the demo key would be reachable from elsewhere), or None."""
    if settings.SECRET_KEY != settings.DEMO_SECRET_KEY or _loopback(host):
        return None
    return (
        f"Refusing to listen on {host}: SECRET_KEY is the published demo key, so anyone who can reach "
        "this server could forge sessions. Listen on 127.0.0.1 (or ::1), or set SECRET_KEY to a random "
        'value (python -c "import secrets; print(secrets.token_urlsafe(64))").'
    )
