"""Sign-in throttling: growing delays per (user name, address), so an attacker slows down only themselves."""

import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import RequestFactory

from guardwatch.core.login import client_address
from guardwatch.core.models import AuditEntry

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"
DELAYED = "Too many failed sign-ins for this user or from this address"


@pytest.fixture(autouse=True)
def own_cache_keys(settings):
    """This test's throttle counts under a key prefix of its own in the shared Redis, deleted afterwards
    (as tests/reports/conftest.py does: clearing the database would drop other runs' keys and Celery's queue)."""
    from django.core.cache import cache

    prefix = f"gw-test-{uuid.uuid4().hex}"
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": prefix}}
    yield
    if hasattr(cache, "_cache") and hasattr(cache._cache, "get_client"):  # noqa: SLF001 - Redis only
        client = cache._cache.get_client(write=True)  # noqa: SLF001
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, moved by hand (no sleeping)."""

    class Clock:
        now = 1_800_000_000.0

        def advance(self, seconds: float) -> None:
            self.now += seconds

    clock = Clock()
    monkeypatch.setattr("guardwatch.core.login._clock", lambda: clock.now)
    return clock


@pytest.fixture
def analyst_user(django_user_model, settings):
    settings.GUARDWATCH_LOGIN_MAX_FAILURES = 3
    settings.GUARDWATCH_LOGIN_NAME_MAX_FAILURES = 9
    settings.GUARDWATCH_LOGIN_ADDRESS_MAX_FAILURES = 15
    settings.GUARDWATCH_LOGIN_DELAY_SECONDS = 30
    settings.GUARDWATCH_LOGIN_MAX_DELAY_MINUTES = 2
    return django_user_model.objects.create_user("throttled-analyst", password=PASSWORD)


def sign_in(client, username, password, address="127.0.0.1", **headers):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address, **headers)


def delayed(response) -> bool:
    return response.status_code == 200 and DELAYED in response.content.decode()


def test_after_the_free_attempts_the_next_waits_and_the_page_says_how_long(client, analyst_user, clock):
    for _ in range(3):
        response = sign_in(client, "throttled-analyst", "wrong")
        assert response.status_code == 200 and not delayed(response)

    response = sign_in(client, "Throttled-Analyst ", PASSWORD)  # spelling variants count as the same name

    page = response.content.decode()
    assert delayed(response) and "Try again in 30 seconds" in page and "ask an Admin" in page
    assert "_auth_user_id" not in client.session

    call_command("unlock_sign_in", "throttled-analyst", stdout=StringIO())  # an Admin lets them in
    assert sign_in(client, "throttled-analyst", PASSWORD).status_code == 302


def test_delays_double_after_each_further_failure_up_to_the_ceiling(client, analyst_user, clock):
    for _ in range(3):
        sign_in(client, "throttled-analyst", "wrong")
    waits = []
    for _ in range(4):
        refused = sign_in(client, "throttled-analyst", "wrong").content.decode()
        waits.append(refused.split("Try again in ")[1].split(" (")[0])
        wait = {"30 seconds": 30, "60 seconds": 60, "2 minutes": 120}[waits[-1]]
        clock.advance(wait - 1)
        assert delayed(sign_in(client, "throttled-analyst", "wrong"))  # a second early: still refused
        clock.advance(1)
        assert not delayed(sign_in(client, "throttled-analyst", "wrong"))  # on time: this one is checked

    assert waits == ["30 seconds", "60 seconds", "2 minutes", "2 minutes"]  # capped at MAX_DELAY_MINUTES
    clock.advance(120)
    assert sign_in(client, "throttled-analyst", PASSWORD).status_code == 302


def test_an_attackers_failures_from_one_address_do_not_block_the_user_from_another(client, analyst_user, clock):
    for _ in range(8):
        sign_in(client, "throttled-analyst", "guess", address="203.0.113.66")
    assert delayed(sign_in(client, "throttled-analyst", "guess", address="203.0.113.66"))

    assert sign_in(client, "throttled-analyst", PASSWORD, address="198.51.100.7").status_code == 302


def test_many_addresses_against_one_name_slow_down_new_addresses_but_not_the_users_own(
    client, analyst_user, clock
):
    assert sign_in(client, "throttled-analyst", PASSWORD, address="198.51.100.7").status_code == 302
    client.logout()
    for n in range(9):  # a botnet: one wrong password from each address, the name's budget (9) spent
        sign_in(client, "throttled-analyst", "guess", address=f"203.0.113.{n}")

    assert delayed(sign_in(client, "throttled-analyst", "guess", address="203.0.113.200"))
    assert sign_in(client, "throttled-analyst", PASSWORD, address="198.51.100.7").status_code == 302


def test_an_address_spraying_many_user_names_is_slowed_down_too(client, analyst_user, clock):
    for n in range(15):  # the address's budget, each name below its own
        sign_in(client, f"sprayed-{n}", "wrong", address="10.0.0.9")

    blocked = sign_in(client, "throttled-analyst", PASSWORD, address="10.0.0.9")
    allowed = sign_in(client, "throttled-analyst", PASSWORD, address="127.0.0.1")

    assert delayed(blocked)
    assert allowed.status_code == 302


def test_a_success_before_the_limit_clears_the_count(client, analyst_user, clock):
    for _ in range(2):
        sign_in(client, "throttled-analyst", "wrong")
    assert sign_in(client, "throttled-analyst", PASSWORD).status_code == 302
    client.logout()
    for _ in range(2):
        sign_in(client, "throttled-analyst", "wrong")

    assert sign_in(client, "throttled-analyst", PASSWORD).status_code == 302


def test_a_missing_password_neither_counts_nor_clears_the_count(client, analyst_user, clock):
    for _ in range(2):
        sign_in(client, "throttled-analyst", "wrong")
    for _ in range(5):
        sign_in(client, "throttled-analyst", "")  # nothing checked
    sign_in(client, "throttled-analyst", "wrong")

    assert delayed(sign_in(client, "throttled-analyst", PASSWORD))


def test_wrong_passwords_and_the_delay_are_in_the_audit_log_once_each(client, analyst_user, clock):
    for _ in range(3):
        sign_in(client, "throttled-analyst", "wrong", address="203.0.113.66")
    for _ in range(5):  # refused: one audit entry for the delay, not one per refusal
        sign_in(client, "throttled-analyst", "wrong", address="203.0.113.66")

    failed = AuditEntry.objects.filter(verb="auth.sign_in_failed")
    assert failed.count() == 3
    assert {(e.target_id, e.target_label, e.details["address"]) for e in failed} == {
        (str(analyst_user.pk), "throttled-analyst", "203.0.113.66")
    }
    delayed_entries = AuditEntry.objects.filter(verb="auth.sign_in_delayed")
    assert [(e.details["address"], e.details["budget"], e.details["retry_in_seconds"]) for e in delayed_entries] == [
        ("203.0.113.66", "pair", 30)
    ]


# --- The client's address behind trusted proxies ----------------------------------------------------


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "10.0.0.1"),  # no trusted proxy: the header is anyone's to write
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "198.51.100.7, 203.0.113.9", "203.0.113.9"),  # the client wrote the left entry: ignored
        (2, "198.51.100.7, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, "203.0.113.9", "10.0.0.1"),  # shorter than the hops: not through the proxies as configured
        (1, "not-an-address", "10.0.0.1"),
        (1, "", "10.0.0.1"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_address_is_read_from_trusted_proxy_hops_only(settings, hops, forwarded, expected):
    settings.GUARDWATCH_TRUSTED_PROXY_HOPS = hops
    request = RequestFactory().post("/login/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_behind_a_proxy_each_client_has_its_own_delays(client, analyst_user, settings, clock):
    settings.GUARDWATCH_TRUSTED_PROXY_HOPS = 1
    proxy = "10.0.0.1"  # every request's REMOTE_ADDR
    for _ in range(20):  # the attacker also writes the user's address on the left: ignored
        sign_in(client, "throttled-analyst", "guess", address=proxy,
                HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.66")  # fmt: skip

    assert delayed(sign_in(client, "throttled-analyst", "guess", address=proxy, HTTP_X_FORWARDED_FOR="203.0.113.66"))
    user = sign_in(client, "throttled-analyst", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert user.status_code == 302
    assert set(AuditEntry.objects.filter(verb="auth.sign_in_failed").values_list("details__address", flat=True)) == {
        "203.0.113.66"
    }


# --- Simultaneous attempts -------------------------------------------------------------------------------


def _simultaneous_wrong_passwords(monkeypatch, addresses: list[str]) -> list[str]:
    """One wrong password per address, all at once for one user name; returns the passwords checked."""
    import threading

    from django.contrib.auth.hashers import check_password as real_check
    from django.db import connection

    from guardwatch.core.sso import LoginForm

    checks, lock, start = [], threading.Lock(), threading.Barrier(len(addresses))

    def counting_check(password, encoded, *args, **kwargs):
        with lock:
            checks.append(password)
        return real_check(password, encoded, *args, **kwargs)

    monkeypatch.setattr("django.contrib.auth.base_user.check_password", counting_check)

    def attempt(n: int, address: str) -> None:
        request = RequestFactory().post("/login/", REMOTE_ADDR=address)
        form = LoginForm(request=request, data={"username": "throttled-analyst", "password": f"wrong{n}"})
        start.wait()
        form.is_valid()
        connection.close()

    threads = [threading.Thread(target=attempt, args=(n, a)) for n, a in enumerate(addresses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return checks


@pytest.mark.django_db(transaction=True)
def test_simultaneous_wrong_passwords_never_run_more_password_checks_than_the_limit(
    analyst_user, monkeypatch, settings
):
    """Thirty attempts at once for one user name from 30 addresses (the name's budget: 3): at most 3 checks."""
    settings.GUARDWATCH_LOGIN_NAME_MAX_FAILURES = 3
    checks = _simultaneous_wrong_passwords(monkeypatch, [f"10.9.0.{n}" for n in range(30)])
    assert 1 <= len(checks) <= 3


@pytest.mark.django_db(transaction=True)
def test_simultaneous_wrong_passwords_from_one_address_never_run_more_checks_than_its_limit(
    analyst_user, monkeypatch
):
    """Thirty attempts at once for one user name from one address (limit 3): at most 3 checks."""
    checks = _simultaneous_wrong_passwords(monkeypatch, ["10.9.1.1"] * 30)
    assert 1 <= len(checks) <= 3
