"""Live mode (issue 15): the ticker keeps producing findings for as long as the demo runs, a
failing tick does not end it, and /_sim/health says when ticks fail or the thread has stopped.

Why the tick used to fail (an Id given twice) is covered in test_finding_ids.py. The health
answer is the simulator's own control API, not an AWS behaviour: no AWS source applies to it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from gdsim import SimulatorServer, SimulatorState
from gdsim.live import LiveTicker
from gdsim.records import iso
from tests.support.waiting import wait_for

from .test_gdsim_command import free_port, health
from .world import START, http_call

ROOT = Path(__file__).resolve().parents[2]


def _demo(seed: int = 7) -> SimulatorState:
    state = SimulatorState(seed=seed, now=START)
    state.seed_scenario("demo", seed=seed)
    return state


def test_the_ticker_loop_runs_hundreds_of_ticks_without_a_failure():
    state = _demo(7)
    before = state.finding_count()
    lines: list[str] = []
    ticker = LiveTicker(state, tick_seconds=0, log=lines.append)
    ticker.run(max_ticks=300)
    status = ticker.status()
    assert (status["ticks"], status["failures"], status["last_error"]) == (300, 0, None)
    assert state.finding_count() >= before + 300
    assert state.errors == []
    assert all(line.startswith("live tick: ") for line in lines)


def _serve_with_ticker(state: SimulatorState, ticker: LiveTicker):
    state.live = ticker
    return SimulatorServer(state)


def _health(server: SimulatorServer) -> dict:
    status, _, body = http_call(server.endpoint_url, "GET", "/_sim/health")
    assert status == 200
    return body


def test_health_reports_a_failing_tick_and_the_ticker_goes_on(monkeypatch):
    state = SimulatorState(seed=3, now=START)
    state.seed_scenario("empty", seed=3)
    lines: list[str] = []
    ticker = LiveTicker(state, tick_seconds=0, log=lines.append)
    real_tick = state.tick
    outcomes = iter([ValueError("finding id 0123 already belongs to account 222222222222"), None, None])

    def flaky_tick(**kwargs):
        error = next(outcomes)
        if error is not None:
            raise error
        return real_tick(**kwargs)

    monkeypatch.setattr(state, "tick", flaky_tick)
    with _serve_with_ticker(state, ticker) as server:
        assert _health(server)["status"] == "ok"
        ticker.run(max_ticks=1)  # the failing tick: recorded, not raised
        answer = _health(server)
        assert answer["status"] == "degraded"
        assert answer["live"]["failures"] == 1 and answer["live"]["consecutive_failures"] == 1
        assert answer["live"]["last_error"] == "ValueError: finding id 0123 already belongs to account 222222222222"
        assert answer["live"]["last_error_at"] == iso(START)
        assert answer["errors"] == 1 and "already belongs" in state.errors[0]
        assert lines[0].startswith("live tick failed: ValueError") and "Traceback" in lines[0]

        ticker.run(max_ticks=2)  # the next ticks work again
        answer = _health(server)
        assert answer["status"] == "ok"
        assert (answer["live"]["ticks"], answer["live"]["failures"], answer["live"]["consecutive_failures"]) == (2, 1, 0)
        assert answer["live"]["last_error"].startswith("ValueError")  # kept for whoever looks later


def test_health_reports_a_live_thread_that_stopped(monkeypatch):
    state = SimulatorState(seed=3, now=START)
    state.seed_scenario("empty", seed=3)
    ticker = LiveTicker(state, tick_seconds=0, log=lambda line: None)

    def fatal_tick(**kwargs):
        raise SystemExit("tick thread killed")

    monkeypatch.setattr(state, "tick", fatal_tick)
    with _serve_with_ticker(state, ticker) as server:
        ticker.start()
        ticker._thread.join(timeout=10)
        assert not ticker.alive
        answer = _health(server)
        assert answer["status"] == "error"
        assert answer["live"]["running"] is False
        assert answer["live"]["last_error"] == "SystemExit: tick thread killed"


def test_a_stopped_ticker_is_not_an_error():
    state = SimulatorState(seed=3, now=START)
    state.seed_scenario("empty", seed=3)
    ticker = LiveTicker(state, tick_seconds=0.01, log=lambda line: None).start()
    wait_for(lambda: ticker.ticks >= 3, timeout=30, what="three ticks")
    ticker.stop()
    assert not ticker.alive and ticker.health() == "ok"
    assert not any(thread.name == "gdsim-live" and thread.is_alive() for thread in threading.enumerate())


def test_python_m_gdsim_live_keeps_ticking_and_says_so_in_health(tmp_path):
    """The command from the report, with a shorter tick: it must get far past the ~15th tick."""
    port = free_port()
    log = (tmp_path / "gdsim.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "gdsim", "--port", str(port), "--scenario", "demo",
                                "--seed", "7", "--live", "--tick-seconds", "0.01"],
                               cwd=ROOT, env={}, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        answer = wait_for(lambda: (process.poll() is not None and {"exited": process.returncode})
                          or ((h := health(endpoint)) and h["live"]["ticks"] + h["live"]["failures"] >= 200 and h),
                          timeout=120, what="200 live ticks")
        assert "exited" not in answer, (tmp_path / "gdsim.log").read_text()
        assert answer["status"] == "ok", answer
        assert answer["live"]["failures"] == 0 and answer["live"]["running"] is True
        assert answer["errors"] == 0
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_in_live_mode_a_member_invited_recently_accepts_on_its_own_and_old_invitations_stay_pending():
    """The seed's member side (CreateDetector, then AcceptAdministratorInvitation), done by the simulated
    member after a while, as the people who own member accounts do; invitations older than a day stay."""
    from datetime import timedelta

    from gdsim.relationships import create_members, invite_members

    state = SimulatorState(seed=4, now=START)
    for account in ("111111111111", "222222222222", "333333333333"):
        state.register_account(account, f"root+{account}@example.com")
    state.ensure_detector("111111111111", "us-east-1")
    state.set_clock(START - timedelta(days=3))
    create_members(state, "111111111111", "us-east-1", [{"AccountId": "333333333333", "Email": "root+333333333333@example.com"}])
    invite_members(state, "111111111111", "us-east-1", ["333333333333"])  # three days ago: left pending
    state.set_clock(START)
    create_members(state, "111111111111", "us-east-1", [{"AccountId": "222222222222", "Email": "root+222222222222@example.com"}])
    invite_members(state, "111111111111", "us-east-1", ["222222222222"])
    assert state.tick()["accepted"] == []  # not within the first minute
    state.set_clock(START + timedelta(minutes=5))
    for _ in range(40):
        state.tick()
    assert state.member_status("111111111111", "222222222222", "us-east-1") == "Enabled"
    assert state.scope("222222222222", "us-east-1").detector is not None  # it created its detector first
    assert state.member_status("111111111111", "333333333333", "us-east-1") == "Invited"
