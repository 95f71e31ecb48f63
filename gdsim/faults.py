"""Faults on demand: throttling, server errors, latency and a failing ListFindings page.

Rules are scoped by operation, region and account (None matches any) and fire with a rate
drawn from one seeded random generator, so a run with the same seed and the same calls fails
the same calls. Kinds:
- `throttle`: HTTP 429 TooManyRequestsException (`status` 429, default) or 400 ThrottlingException;
- `server_error`: HTTP 500 InternalServerErrorException (default) or 503 ServiceUnavailableException;
- `latency`: sleeps `latency_ms` before answering;
- `fail_page`: lets the first `page` ListFindings calls in its scope through, then fails the
  following ones (with a 500 unless `status` says otherwise): the listing's page `page + 1` fails,
  whether the listing pages by NextToken or, as GuardWatch's sync does, by moving its `updatedAt`
  lower bound (calls answered by an earlier rule, such as a throttle, are not counted).
Every rule fires every time it matches (`repeat: "always"`, the default) or only once ("once"); with
`times` it fires at most that many times (a burst of N errors, then the service answers again).
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import SimulatorError

KINDS = ("throttle", "server_error", "latency", "fail_page")


@dataclass
class FaultRule:
    """One fault and where it applies."""

    kind: str
    rate: float = 1.0
    operation: str | None = None
    region: str | None = None
    account: str | None = None
    status: int | None = None
    latency_ms: int = 0
    page: int = 1
    repeat: str = "always"
    times: int | None = None
    fired: int = field(default=0)
    passed: int = field(default=0)  # fail_page: calls let through so far

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {KINDS}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if self.repeat not in ("once", "always"):
            raise ValueError("repeat must be 'once' or 'always'")
        if self.kind == "fail_page" and self.operation is None:
            self.operation = "ListFindings"

    def applies(self, operation: str, account: str | None, region: str | None) -> bool:
        """Whether the rule's scope covers this call."""
        return ((self.operation in (None, "*", operation))
                and (self.region in (None, region))
                and (self.account in (None, account)))

    def error(self) -> SimulatorError:
        """The error this rule answers with."""
        if self.kind == "throttle":
            if self.status == 400:
                return SimulatorError("Rate exceeded", status=400, code="ThrottlingException",
                                      error_type="ThrottlingException")
            return SimulatorError("Rate exceeded", status=429, code="TooManyRequestsException",
                                  error_type="TooManyRequestsException")
        if self.status == 503:
            return SimulatorError("Service unavailable, please try again later.", status=503,
                                  code="ServiceUnavailableException", error_type="ServiceUnavailableException")
        return SimulatorError("Internal server error", status=500, code="InternalServerErrorException",
                              error_type="InternalServerErrorException")


class FaultInjector:
    """The active fault rules and the seeded generator deciding when they fire."""

    def __init__(self, seed: int = 0):
        self._lock = threading.Lock()
        self.rules: list[FaultRule] = []
        self.seed = seed
        self._rng = random.Random(seed)

    def configure(self, rules: list[dict[str, Any]], *, seed: int | None = None) -> None:
        """Replace every rule (and reseed, when a seed is given)."""
        parsed = [FaultRule(**rule) for rule in rules]
        with self._lock:
            self.rules = parsed
            if seed is not None:
                self.seed = seed
                self._rng = random.Random(seed)

    def add(self, kind: str, **options: Any) -> FaultRule:
        """Add one rule; see the module docstring for the kinds and options."""
        rule = FaultRule(kind=kind, **options)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self.rules = []

    def describe(self) -> dict[str, Any]:
        """The rules as JSON (with how often each fired)."""
        with self._lock:
            return {"seed": self.seed, "rules": [asdict(rule) for rule in self.rules]}

    def decide(self, operation: str, account: str | None, region: str | None) -> tuple[float, SimulatorError | None]:
        """Seconds to wait and the error to answer with (None: answer normally)."""
        delay = 0.0
        with self._lock:
            for rule in self.rules:
                if not rule.applies(operation, account, region):
                    continue
                if rule.repeat == "once" and rule.fired:
                    continue
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                if rule.kind == "fail_page" and rule.passed < rule.page:
                    rule.passed += 1
                    continue
                if rule.rate < 1.0 and self._rng.random() >= rule.rate:
                    continue
                rule.fired += 1
                if rule.kind == "latency":
                    delay += rule.latency_ms / 1000.0
                    continue
                return delay, rule.error()
        return delay, None
