"""Sign-in throttling: wrong passwords lock the user name (and a spraying address), with a clear reason."""

from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command

from guardwatch.core.login import _counters

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"
LOCKED = "Too many failed sign-ins for this user or from this address"


@pytest.fixture
def analyst_user(django_user_model, settings):
    settings.GUARDWATCH_LOGIN_MAX_FAILURES = 3
    user = django_user_model.objects.create_user("throttled-analyst", password=PASSWORD)
    yield user
    for address in ("127.0.0.1", "10.0.0.9"):
        cache.delete_many([c.key for c in _counters("throttled-analyst", address)])
        for n in range(20):
            cache.delete_many([c.key for c in _counters(f"sprayed-{n}", address)])


def sign_in(client, username, password, address="127.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_after_the_limit_even_the_right_password_is_refused_with_a_reason(client, analyst_user):
    for _ in range(3):
        response = sign_in(client, "throttled-analyst", "wrong")
        assert response.status_code == 200 and LOCKED not in response.content.decode()

    response = sign_in(client, "Throttled-Analyst ", PASSWORD)  # spelling variants count as the same name

    assert response.status_code == 200
    assert LOCKED in response.content.decode() and "ask an Admin" in response.content.decode()
    assert "_auth_user_id" not in client.session

    call_command("unlock_sign_in", "throttled-analyst", stdout=StringIO())  # an Admin lets them in
    assert sign_in(client, "throttled-analyst", PASSWORD).status_code == 302


def test_a_success_before_the_limit_clears_the_count(client, analyst_user):
    for _ in range(2):
        sign_in(client, "throttled-analyst", "wrong")
    assert sign_in(client, "throttled-analyst", PASSWORD).status_code == 302
    client.logout()
    for _ in range(2):
        sign_in(client, "throttled-analyst", "wrong")

    assert sign_in(client, "throttled-analyst", PASSWORD).status_code == 302


def test_an_address_spraying_many_user_names_is_refused_too(client, analyst_user):
    for n in range(15):  # 5 × the per-name limit, each name below its own limit
        sign_in(client, f"sprayed-{n}", "wrong", address="10.0.0.9")

    blocked = sign_in(client, "throttled-analyst", PASSWORD, address="10.0.0.9")
    allowed = sign_in(client, "throttled-analyst", PASSWORD, address="127.0.0.1")

    assert LOCKED in blocked.content.decode()
    assert allowed.status_code == 302


@pytest.mark.django_db(transaction=True)
def test_simultaneous_wrong_passwords_never_run_more_password_checks_than_the_limit(analyst_user, monkeypatch):
    """Thirty attempts at once for one user name (limit 3): at most 3 passwords are checked."""
    import threading

    from django.contrib.auth.hashers import check_password as real_check
    from django.db import connection
    from django.test import RequestFactory

    from guardwatch.core.login import ThrottledAuthenticationForm

    checks, lock, start = [], threading.Lock(), threading.Barrier(30)

    def counting_check(password, encoded, *args, **kwargs):
        with lock:
            checks.append(password)
        return real_check(password, encoded, *args, **kwargs)

    monkeypatch.setattr("django.contrib.auth.base_user.check_password", counting_check)

    def attempt(n: int) -> None:
        request = RequestFactory().post("/login/", REMOTE_ADDR=f"10.9.0.{n}")  # 30 addresses: the name's limit
        form = ThrottledAuthenticationForm(request, data={"username": "throttled-analyst", "password": f"wrong{n}"})
        start.wait()
        form.is_valid()
        connection.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 <= len(checks) <= 3
    for n in range(30):
        cache.delete_many([c.key for c in _counters("throttled-analyst", f"10.9.0.{n}")])
