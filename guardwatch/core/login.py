"""Sign-in throttling: growing delays per (user name, address), never a lock on a name or a shared address.

Three budgets of password checks, each counted in the cache (Redis in production, shared by every web
process) for a window of WINDOW_SECONDS from its first attempt:

- one user name from one address: GUARDWATCH_LOGIN_MAX_FAILURES attempts, then each further attempt
  waits GUARDWATCH_LOGIN_DELAY_SECONDS, twice that, four times… up to GUARDWATCH_LOGIN_MAX_DELAY_MINUTES;
- one user name from every address it has not signed in from before (GUARDWATCH_LOGIN_NAME_MAX_FAILURES),
  and one address for every name that has not signed in from it (GUARDWATCH_LOGIN_ADDRESS_MAX_FAILURES,
  someone spraying names), each with the same growing delays once spent.

So an attacker's wrong passwords from address A slow down A, not the user signing in from B; an address
a user signed in from in the last KNOWN_FOR_SECONDS keeps working for that user even while their name
is under attack from elsewhere. Each attempt is reserved (an atomic increment) before its password is
checked and given back if refused, so simultaneous guesses never check more passwords than the budgets
allow at that moment. A right password clears the (name, address) budget and gives the shared budgets
their attempt back. Every wrong password, and each time a budget starts refusing, is in the audit log.
The client address comes from `client_address` (trusted proxy hops). See docs/security.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass, field

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache

from guardwatch.core.services import audit_record

log = logging.getLogger(__name__)
WINDOW_SECONDS = 24 * 3600  # a budget's counts start over this long after its first attempt
KNOWN_FOR_SECONDS = 30 * 24 * 3600  # a (name, address) that signed in is exempt from the shared budgets this long
MFA_PREFIX = "mfa\0"  # an MFA code's budgets are the user name's own, apart from its password's
ANONYMOUS = "anonymous sign-in"  # the audit log's actor for attempts by someone not signed in


def _clock() -> float:
    return time.time()


# --- The client's address ---------------------------------------------------------------------------


def client_address(request) -> str:
    """The address the request came from: REMOTE_ADDR, or behind GUARDWATCH_TRUSTED_PROXY_HOPS proxies the
    address the outermost trusted proxy saw, read from the right of X-Forwarded-For.

    Each proxy appends the address that connected to it, so with n trusted hops the client is the n-th
    entry from the right; entries further left were written by the client and are never believed. A header
    shorter than n entries, or an entry that is not an IP address, means the request did not come through
    the proxies as configured: the connection's own address is used (and a warning logged).
    """
    remote = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    hops = settings.GUARDWATCH_TRUSTED_PROXY_HOPS
    if not hops:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < hops:
        log.warning("X-Forwarded-For has %s entries, fewer than the %s trusted proxy hops; using REMOTE_ADDR",
                    len(forwarded), hops)  # fmt: skip
        return remote
    try:
        return str(ipaddress.ip_address(forwarded[-hops]))
    except ValueError:
        log.warning("X-Forwarded-For entry %r is not an IP address; using REMOTE_ADDR", forwarded[-hops][:64])
        return remote


# --- Budgets -------------------------------------------------------------------------------------------


def _hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def _name(username: str) -> str:
    return username.strip().casefold()


@dataclass(frozen=True)
class _Budget:
    """One budget of password checks: `free` attempts, then growing delays."""

    kind: str  # pair | name | address
    key: str  # its count; `key:t0` the time its free attempts ran out
    free: int


def _generations(username: str, address: str) -> tuple[int, int]:
    """`login_unlock` moves a name's or an address's generation on, which starts its budgets over."""
    keys = [f"gw:login:gen:name:{_hash(_name(username))}", f"gw:login:gen:addr:{address}"]
    found = cache.get_many(keys)
    return found.get(keys[0], 0), found.get(keys[1], 0)


def _known_key(username: str, address: str) -> str:
    return f"gw:login:known:{_hash(_name(username), address)}"


def _budgets(username: str, address: str, *, known: bool) -> list[_Budget]:
    name_gen, addr_gen = _generations(username, address)
    name = _hash(_name(username))
    budgets = [
        _Budget("pair", f"gw:login:pair:{name_gen}.{addr_gen}:{_hash(_name(username), address)}",
                settings.GUARDWATCH_LOGIN_MAX_FAILURES),
    ]  # fmt: skip
    if not known:
        budgets += [
            _Budget("name", f"gw:login:name:{name_gen}:{name}", settings.GUARDWATCH_LOGIN_NAME_MAX_FAILURES),
            _Budget("address", f"gw:login:addr:{addr_gen}:{address}", settings.GUARDWATCH_LOGIN_ADDRESS_MAX_FAILURES),
        ]  # fmt: skip
    return budgets


def _delay(step: int) -> float:
    """The wait before the step-th attempt past the free ones: base, twice, four times… capped."""
    base = settings.GUARDWATCH_LOGIN_DELAY_SECONDS
    cap = settings.GUARDWATCH_LOGIN_MAX_DELAY_MINUTES * 60
    return min(base * 2 ** min(step - 1, 32), cap)


def _opens_at(steps: int) -> float:
    """Seconds after the free attempts ran out until `steps` further attempts have been allowed."""
    return math.fsum(_delay(step) for step in range(1, steps + 1))


def _allowance(budget: _Budget, since: float | None, now: float) -> int:
    """How many password checks the budget allows by `now` (free ones, plus one per delay elapsed)."""
    if since is None:
        return budget.free
    steps, opens = 0, _delay(1)
    while opens <= now - since:
        steps += 1
        opens += _delay(steps + 1)
    return budget.free + steps


def _count_up(key: str) -> int:
    """Add one to `key` atomically (Redis INCR keeps the window's expiry) and return the new count."""
    if cache.add(key, 0, timeout=WINDOW_SECONDS):  # the window starts at the first attempt
        cache.delete(f"{key}:t0")  # a previous window's delays do not carry over
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr: this attempt opens a new window
        cache.set(key, 1, timeout=WINDOW_SECONDS)
        return 1


def _give_back(key: str) -> None:
    with contextlib.suppress(ValueError):  # its window ended meanwhile
        cache.decr(key)


@dataclass
class LoginAttempt:
    """One reserved attempt: the budgets it counts against; `retry_in` seconds when it was refused."""

    username: str
    address: str
    budgets: list[_Budget]
    allowed: bool = True
    retry_in: float = 0.0
    refused_by: str = ""
    counts: dict[str, int] = field(default_factory=dict)


def login_attempt_reserve(*, username: str, address: str) -> LoginAttempt:
    """Count this attempt against its budgets *before* the password is checked, and say whether it may go on.

    Each count is an atomic increment compared with what the budget allows now, so N simultaneous
    attempts never check more passwords than that; a refused attempt gives its reservations back.
    """
    now = _clock()
    known = cache.get(_known_key(username, address)) is not None
    attempt = LoginAttempt(username=username, address=address, budgets=_budgets(username, address, known=known))
    starts = cache.get_many([f"{b.key}:t0" for b in attempt.budgets])
    reserved: list[_Budget] = []
    for budget in attempt.budgets:
        count = _count_up(budget.key)
        reserved.append(budget)
        since = starts.get(f"{budget.key}:t0")
        attempt.counts[budget.kind] = count
        if count > _allowance(budget, since, now):
            wait = _opens_at(count - budget.free) - (now - since if since is not None else 0.0)
            attempt.allowed, attempt.refused_by, attempt.retry_in = False, budget.kind, max(wait, 1.0)
            break
    if not attempt.allowed:
        for budget in reserved:
            _give_back(budget.key)
        _audit_refusal(attempt)
        return attempt
    for budget in attempt.budgets:
        if attempt.counts[budget.kind] >= budget.free:  # the free attempts ran out now: delays count from here
            cache.add(f"{budget.key}:t0", now, timeout=WINDOW_SECONDS)
    return attempt


def _audit_refusal(attempt: LoginAttempt) -> None:
    """Once per budget and delay step (a refused attempt is not audited again and again)."""
    budget = next(b for b in attempt.budgets if b.kind == attempt.refused_by)
    step = attempt.counts[budget.kind] - budget.free
    since = cache.get(f"{budget.key}:t0", 0)
    if not cache.add(f"{budget.key}:audited:{since}:{step}", 1, timeout=WINDOW_SECONDS):
        return
    log.warning("Sign-in delayed %.0fs (%s budget spent) for %r from %s",
                attempt.retry_in, budget.kind, attempt.username[:150], attempt.address)  # fmt: skip
    audit_record(
        actor=ANONYMOUS,
        verb="auth.sign_in_delayed",
        target=_target(attempt.username),
        details={"address": attempt.address, "budget": budget.kind, "retry_in_seconds": round(attempt.retry_in)},
    )


def _target(username: str) -> tuple[str, str, str]:
    username = username.removeprefix(MFA_PREFIX)
    user = get_user_model().objects.filter(username__iexact=username.strip()).only("pk").first()
    return ("auth.user", str(user.pk) if user else "", username.strip()[:255])


def login_failed(*, attempt: LoginAttempt) -> None:
    """A wrong password (its attempt stays counted): in the log and the audit log."""
    log.warning("Sign-in failed for %r from %s", attempt.username[:150], attempt.address,
                extra={"attempted_username": attempt.username[:150], "client": attempt.address})  # fmt: skip
    audit_record(
        actor=ANONYMOUS,
        verb="auth.mfa_failed" if attempt.username.startswith(MFA_PREFIX) else "auth.sign_in_failed",
        target=_target(attempt.username),
        details={"address": attempt.address, "failures_from_address": attempt.counts.get("pair", 0)},
    )


def login_succeeded(*, attempt: LoginAttempt) -> None:
    """A right password: the (name, address) budget starts over, the shared budgets get their attempt back
    (an office behind one address signs in all day), and this address is known for this name."""
    log.info("Sign-in of %r from %s", attempt.username[:150], attempt.address,
             extra={"attempted_username": attempt.username[:150], "client": attempt.address})  # fmt: skip
    pair, *shared = attempt.budgets
    cache.delete_many([pair.key, f"{pair.key}:t0"])
    for budget in shared:
        _give_back(budget.key)
    cache.set(_known_key(attempt.username, attempt.address), 1, timeout=KNOWN_FOR_SECONDS)


def login_unlock(*, username: str = "", address: str = "") -> None:
    """Start a user name's and/or an address's budgets over now, from every address (`manage.py unlock_sign_in`)."""
    for key, wanted in ((f"gw:login:gen:name:{_hash(_name(username))}", username),
                        (f"gw:login:gen:addr:{address}", address)):  # fmt: skip
        if wanted:
            cache.add(key, 0, timeout=None)
            cache.incr(key)


def _wait_text(seconds: float) -> str:
    seconds = math.ceil(seconds)
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


@contextlib.contextmanager
def throttled_check(*, username: str, address: str):
    """Run one credential check (the body) under the sign-in budgets: reserved first, refused with a
    "try again in" error while a budget is spent, audited as a failure when the body raises
    ValidationError, cleared when it does not. Used by every password form and by MFA codes."""
    attempt = login_attempt_reserve(username=username, address=address)
    if not attempt.allowed:
        raise forms.ValidationError(
            "Too many failed sign-ins for this user or from this address. Try again in "
            f"{_wait_text(attempt.retry_in)} (each further failure makes the wait longer, up to "
            f"{settings.GUARDWATCH_LOGIN_MAX_DELAY_MINUTES} minutes), sign in from an address you have "
            "used before, or ask an Admin to unlock your sign-in.",
            code="throttled",
        )
    try:
        yield attempt
    except forms.ValidationError:
        login_failed(attempt=attempt)
        raise
    login_succeeded(attempt=attempt)
