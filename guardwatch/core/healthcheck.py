"""The container's HEALTHCHECK: GET /healthz on this host, with a Host header the site accepts.

`python -m guardwatch.core.healthcheck` exits 0 when the web process and its database answer. It asks
127.0.0.1 but names the first ALLOWED_HOSTS entry as Host: with production's ALLOWED_HOSTS
(guardwatch.example.com, say) a request for "127.0.0.1" would be refused as a disallowed host and the
container would be marked unhealthy while serving users well. Standard library only, no Django setup:
it runs every 30 s.
"""

from __future__ import annotations

import http.client
import os
import sys


def health_host(allowed_hosts: str) -> str:
    """A concrete host name from an ALLOWED_HOSTS value ("*" and ".example.com" patterns included)."""
    for entry in (part.strip() for part in allowed_hosts.split(",")):
        if not entry or entry == "*":
            continue
        return "guardwatch" + entry if entry.startswith(".") else entry
    return "localhost"


def check(port: int, allowed_hosts: str, timeout: float = 5.0) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/healthz", headers={"Host": health_host(allowed_hosts)})
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


if __name__ == "__main__":
    port = int(os.environ.get("GUARDWATCH_HEALTH_PORT", "8000"))
    sys.exit(0 if check(port, os.environ.get("ALLOWED_HOSTS", "")) else 1)
