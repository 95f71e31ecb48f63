"""The container health check asks /healthz with a Host the production ALLOWED_HOSTS accepts."""

import socket
from urllib.parse import urlsplit

import pytest

from guardwatch.core.healthcheck import check, health_host


@pytest.mark.parametrize(
    ("allowed", "host"),
    [
        ("guardwatch.example.com,other.example.com", "guardwatch.example.com"),
        (" *, .example.com", "guardwatch.example.com"),
        ("", "localhost"),
        ("*", "localhost"),
    ],
)
def test_the_host_named_comes_from_allowed_hosts(allowed, host):
    assert health_host(allowed) == host


@pytest.mark.django_db(transaction=True)
def test_a_production_host_list_still_gets_a_healthy_answer(live_server, settings):
    settings.ALLOWED_HOSTS = ["guardwatch.example.com"]
    port = urlsplit(live_server.url).port

    assert check(port, "guardwatch.example.com")
    assert not check(port, "")  # "localhost" is not allowed here: the check would have failed


def test_nothing_listening_is_unhealthy_not_a_crash():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert not check(port, "localhost", timeout=1)
