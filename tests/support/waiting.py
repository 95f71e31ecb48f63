"""Waiting on another process (a Celery worker, the demo) without sleeping to pass."""

import time


def wait_for(predicate, *, timeout: float, what: str):
    """Poll until `predicate()` is truthy and return its value; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"Timed out after {timeout:.0f}s waiting for {what}")
