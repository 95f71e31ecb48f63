"""`manage.py gdsim`: the simulator as its own process, seeded, persisted, and restarted."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3
import pytest

from gdsim import credentials_for
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "111111111111"  # the demo scenario's administrator
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health(endpoint: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{endpoint}/_sim/health", timeout=2) as response:
            return json.load(response)
    except OSError:
        return None


@pytest.fixture
def gdsim(tmp_path):
    """Start `manage.py gdsim` with the given arguments; every process started is stopped at the end."""
    started: list[subprocess.Popen] = []

    def start(*args: str) -> str:
        port = free_port()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        log = (tmp_path / f"gdsim-{len(started)}.log").open("w")
        process = subprocess.Popen([sys.executable, "manage.py", "gdsim", "--port", str(port), *args],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        started.append(process)
        endpoint = f"http://127.0.0.1:{port}"
        wait_for(lambda: health(endpoint) or process.poll() is not None, timeout=60, what="gdsim to answer")
        assert process.poll() is None, (tmp_path / f"gdsim-{len(started) - 1}.log").read_text()
        return endpoint

    def stop_all() -> None:
        for process in started:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=20)

    start.stop_all = stop_all
    yield start
    stop_all()


def admin_client(endpoint: str):
    return boto3.client("guardduty", endpoint_url=endpoint, region_name=REGION, **credentials_for(ADMIN))


def test_gdsim_serves_the_demo_scenario_to_unmodified_boto3_and_keeps_it_across_a_restart(gdsim, tmp_path):
    state_file = tmp_path / "simulator.sqlite3"
    endpoint = gdsim("--scenario", "demo", "--seed", "7", "--persist", str(state_file), "--strict")

    admin = admin_client(endpoint)
    detector = admin.list_detectors()["DetectorIds"][0]
    members = admin.list_members(DetectorId=detector, OnlyAssociated="false", MaxResults=50)["Members"]
    statuses = {m["RelationshipStatus"] for m in members}
    assert len(members) > 30 and {"Enabled", "Invited", "Resigned"} <= statuses
    findings = admin.list_findings(DetectorId=detector, MaxResults=50)["FindingIds"]
    assert len(findings) == 50
    admin.archive_findings(DetectorId=detector, FindingIds=findings[:1])
    before = health(endpoint)

    gdsim.stop_all()
    endpoint = gdsim("--persist", str(state_file), "--strict")  # no scenario: the saved world comes back

    after = health(endpoint)
    assert (after["accounts"], after["findings"]) == (before["accounts"], before["findings"])
    archived = admin_client(endpoint).get_findings(DetectorId=detector, FindingIds=findings[:1])["Findings"][0]
    assert archived["Service"]["Archived"] is True
    assert after["errors"] == 0  # strict mode: every response matched botocore's output shapes


def test_python_m_gdsim_answers_boto3_with_no_environment_variables(tmp_path):
    """The simulator is its own program: no DJANGO_SETTINGS_MODULE, no SECRET_KEY, no GUARDWATCH_ENV."""
    port = free_port()
    log = (tmp_path / "gdsim.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "gdsim", "--port", str(port), "--scenario", "demo"],
                               cwd=ROOT, env={}, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        endpoint = f"http://127.0.0.1:{port}"
        wait_for(lambda: health(endpoint) or process.poll() is not None, timeout=60, what="gdsim to answer")
        assert process.poll() is None, (tmp_path / "gdsim.log").read_text()
        assert admin_client(endpoint).list_detectors()["DetectorIds"]
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_manage_py_gdsim_is_a_wrapper_that_needs_no_product_settings(tmp_path):
    """`manage.py gdsim` hands over to `python -m gdsim` before Django loads production settings."""
    port = free_port()
    log = (tmp_path / "gdsim.log").open("w")
    env = {"PATH": os.environ.get("PATH", ""), "GUARDWATCH_ENV": "production"}  # no SECRET_KEY
    process = subprocess.Popen([sys.executable, "manage.py", "gdsim", "--port", str(port)],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        endpoint = f"http://127.0.0.1:{port}"
        wait_for(lambda: health(endpoint) or process.poll() is not None, timeout=60, what="gdsim to answer")
        assert process.poll() is None, (tmp_path / "gdsim.log").read_text()
        assert health(endpoint)["status"] == "ok"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_non_loopback_address_is_refused_unless_asked_for_explicitly():
    refused = subprocess.run([sys.executable, "-m", "gdsim", "--host", "0.0.0.0", "--port", str(free_port())],  # noqa: S104
                             cwd=ROOT, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert refused.returncode == 2
    assert "--host 0.0.0.0 is not a loopback address; add --allow-remote" in refused.stderr
