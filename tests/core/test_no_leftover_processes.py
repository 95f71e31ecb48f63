"""The suite's own guard: a process started by a test and still running after the session fails the run."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.waiting import wait_for

pytest_plugins = ["pytester"]
INNER = ("-p", "tests.testenv", "-p", "no:django", "-p", "no:cacheprovider")


def test_a_process_a_test_leaves_running_fails_the_session_and_is_killed(pytester, monkeypatch):
    monkeypatch.setenv("GUARDWATCH_TEST_LEFTOVER_GRACE", "1")
    pytester.makepyfile(
        test_leaves_one="""
        import subprocess

        def test_starts_a_process_and_forgets_it():
            subprocess.Popen(["sleep", "300"], start_new_session=True)  # detached, as the demo's beat was
        """
    )
    result = pytester.runpytest_subprocess(*INNER)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*1 process(es) started by the tests were still running*", "*: sleep 300"])
    pid = int(re.search(r"(\d+): sleep 300", result.stdout.str()).group(1))
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=10, what="the left process to be killed and reaped")


def test_a_session_whose_processes_all_stop_passes(pytester, monkeypatch):
    monkeypatch.setenv("GUARDWATCH_TEST_LEFTOVER_GRACE", "1")
    pytester.makepyfile(
        test_cleans_up="""
        import subprocess

        def test_starts_and_stops_a_process():
            process = subprocess.Popen(["sleep", "300"])
            process.terminate()
            process.wait()
        """
    )
    result = pytester.runpytest_subprocess(*INNER)
    assert result.ret == 0
    assert "still running" not in result.stdout.str()
