"""Live mode: a background thread that runs one `SimulatorState.tick()` every few seconds.

A tick that fails is logged, kept in the state's recorded errors (GET /_sim/errors) and counted;
the thread goes on with the next tick. `status()` is what GET /_sim/health reports under "live":
"ok", "degraded" while the latest ticks fail, "error" once the thread has stopped on its own.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .records import iso

if TYPE_CHECKING:
    from .state import SimulatorState

logger = logging.getLogger("gdsim.live")


class LiveTicker:
    """Runs the live tick of one state, surviving failing ticks and recording them for health."""

    def __init__(self, state: SimulatorState, *, tick_seconds: float, log: Callable[[str], None] = print):
        self.state = state
        self.tick_seconds = tick_seconds
        self.log = log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.ticks = 0
        self.failures = 0
        self.consecutive_failures = 0
        self.last_tick_at: str | None = None
        self.last_error: str | None = None
        self.last_error_at: str | None = None
        self.stopped_with: str | None = None  # why the loop ended, when it ended without stop()

    # ------------------------------------------------------------------------------------
    # Running

    def run_once(self) -> bool:
        """One tick and a save; False (after logging and recording it) when either raised."""
        try:
            summary = self.state.tick()
            self.state.save()
        except Exception as error:  # a failing tick must not end live mode: record it and go on
            self._failed(f"{type(error).__name__}: {error}", traceback.format_exc())
            return False
        with self._lock:
            self.ticks += 1
            self.consecutive_failures = 0
            self.last_tick_at = iso(self.state.now())
        self.log(f"live tick: {len(summary['new'])} new, {len(summary['repeated'])} repeated, "
                 f"{len(summary['accepted'])} invitations accepted")
        return True

    def _failed(self, error: str, trace: str) -> None:
        with self._lock:
            self.failures += 1
            self.consecutive_failures += 1
            self.last_error = error
            self.last_error_at = iso(self.state.now())
            first = self.consecutive_failures == 1
        self.state.errors.append(f"live tick failed\n{trace}")
        logger.error("live tick failed: %s", error)
        if first:  # the whole trace once per run of failures, then one line per tick
            self.log(f"live tick failed: {error}\n{trace}")
        else:
            self.log(f"live tick failed again ({self.consecutive_failures} in a row): {error}")

    def run(self, max_ticks: int | None = None) -> None:
        """Tick every `tick_seconds` until stop() (or `max_ticks` attempts): the thread's body."""
        attempts = 0
        try:
            while (max_ticks is None or attempts < max_ticks) and not self._stop.wait(self.tick_seconds):
                self.run_once()
                attempts += 1
        except BaseException as error:  # SystemExit and the like: the thread ends, and health says why
            with self._lock:
                self.stopped_with = f"{type(error).__name__}: {error}"
                self.last_error, self.last_error_at = self.stopped_with, iso(self.state.now())
            self.state.errors.append(f"live thread stopped\n{traceback.format_exc()}")
            self.log(f"live thread stopped: {self.stopped_with}")

    def start(self) -> LiveTicker:
        """Run in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name="gdsim-live", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5) -> None:
        """Ask the thread to end after the tick under way, and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    # ------------------------------------------------------------------------------------
    # Health

    @property
    def alive(self) -> bool:
        """Whether the thread is running (False before start() and after it ended)."""
        return self._thread is not None and self._thread.is_alive()

    def health(self) -> str:
        """"error" if the thread ended without stop(), "degraded" while ticks fail, else "ok"."""
        with self._lock:
            if self.stopped_with is not None or (
                    self._thread is not None and not self._thread.is_alive() and not self._stop.is_set()):
                return "error"
            return "degraded" if self.consecutive_failures else "ok"

    def status(self) -> dict[str, Any]:
        """The ticker as JSON, for /_sim/health."""
        status = self.health()
        with self._lock:
            return {"status": status, "running": self.alive, "tick_seconds": self.tick_seconds,
                    "ticks": self.ticks, "failures": self.failures,
                    "consecutive_failures": self.consecutive_failures, "last_tick_at": self.last_tick_at,
                    "last_error": self.last_error, "last_error_at": self.last_error_at}
