"""Sign-in throttling: repeated wrong passwords lock that user name, and the address they came from.

Counts live in the cache (Redis in production, shared by every web process) for a fixed window that
starts at the first attempt: GUARDWATCH_LOGIN_MAX_FAILURES wrong passwords for one user name, or five
times as many from one address (someone spraying many names), and further attempts are refused
without checking the password until the window ends. Each attempt is counted atomically before its
password is checked, so parallel guesses cannot slip past the limit. A successful sign-in clears the
user name's count and gives the address its attempt back. The refusal says how to get in anyway (wait, or ask an Admin, who runs
`manage.py unlock_sign_in NAME`), because the person locked out may be the one responding to an incident.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache

log = logging.getLogger(__name__)
ADDRESS_FACTOR = 5  # an address may fail for this many user names' worth before it is refused


@dataclass(frozen=True)
class _Counter:
    key: str
    limit: int


def _counters(username: str, address: str) -> list[_Counter]:
    limit = settings.GUARDWATCH_LOGIN_MAX_FAILURES
    name = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
    return [
        _Counter(f"gw:login-fail:user:{name}", limit),
        _Counter(f"gw:login-fail:addr:{address}", limit * ADDRESS_FACTOR),
    ]


def _count_up(counter: _Counter, window: int) -> int:
    """Add one to `counter` atomically (Redis INCR keeps the window's expiry) and return the new count."""
    cache.add(counter.key, 0, timeout=window)  # the window starts at the first attempt
    try:
        return cache.incr(counter.key)
    except ValueError:  # expired between add and incr: this attempt opens a new window
        cache.set(counter.key, 1, timeout=window)
        return 1


def login_attempt_reserve(*, username: str, address: str) -> bool:
    """Count this attempt against the user name and the address *before* the password is checked, and say
    whether it may go on. The count is an atomic increment, so N simultaneous attempts never check more
    than the limit's worth of passwords (a check-then-count let 30 parallel guesses run 18 checks)."""
    window = settings.GUARDWATCH_LOGIN_LOCKOUT_MINUTES * 60
    allowed = True
    for counter in _counters(username, address):
        count = _count_up(counter, window)
        if count == counter.limit:
            log.warning("Sign-in locked for %s minutes after %s attempts (%s)",
                        settings.GUARDWATCH_LOGIN_LOCKOUT_MINUTES, count, counter.key.split(":")[2])  # fmt: skip
        allowed = allowed and count <= counter.limit
    return allowed


def login_succeeded(*, username: str, address: str) -> None:
    """A right password: the user name's count starts over, and the address gets its reserved attempt back
    (an office behind one address signs in all day)."""
    user, address_counter = _counters(username, address)
    cache.delete(user.key)
    with contextlib.suppress(ValueError):  # its window ended meanwhile
        cache.decr(address_counter.key)


def login_unlock(*, username: str = "", address: str = "") -> None:
    """Lift the lock on a user name and/or an address now (`manage.py unlock_sign_in`)."""
    user_key, address_key = (c.key for c in _counters(username, address))
    cache.delete_many(([user_key] if username else []) + ([address_key] if address else []))


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, refusing further attempts once the user name or address is locked."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Your username and password didn't match. Please try again.",
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = self.request.META.get("REMOTE_ADDR", "") if self.request else ""
        if not login_attempt_reserve(username=username, address=address):
            raise forms.ValidationError(
                "Too many failed sign-ins for this user or from this address. Wait "
                f"{settings.GUARDWATCH_LOGIN_LOCKOUT_MINUTES} minutes and try again, or ask an Admin "
                "to unlock your sign-in.",
                code="throttled",
            )
        cleaned = super().clean()  # a wrong password raises here; its attempt is already counted
        login_succeeded(username=username, address=address)
        return cleaned
