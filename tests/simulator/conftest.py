"""Fixtures for the simulator's own tests: a strict simulator per test and boto3 clients for it.

Every response a client receives is checked against the operation's output shape (on top of the
server's own strict mode), and a test fails if the simulator recorded any internal error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.config
import pytest

from gdsim import SimulatorServer, SimulatorState, credentials_for, validate_output

from .world import ADMIN, MEMBER, REGION, START, http_call


def _validate_every_response(http_response, parsed, model, **kwargs) -> None:
    if http_response.status_code < 300:
        validate_output(model.name, parsed, service=model.service_model.service_name)


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    """A simulator on its own port, strict about its responses, with the clock frozen at START."""
    state = SimulatorState(seed=1, strict_responses=True, now=START)
    with SimulatorServer(state) as server:
        yield server
    assert state.errors == [], "the simulator recorded errors:\n" + "\n".join(state.errors)


@pytest.fixture
def state(simulator) -> SimulatorState:
    """The running simulator's state."""
    return simulator.state


@pytest.fixture
def gd_client(simulator) -> Callable[..., Any]:
    """`gd_client(account_id, region)`: a boto3 GuardDuty client acting as that account.

    `validate=False` turns botocore's client-side parameter checks off, so requests botocore
    would refuse reach the server and its own validation answers.
    """
    def make(account_id: str, region: str = REGION, *, validate: bool = True, max_attempts: int = 1):
        client = boto3.client(
            "guardduty", endpoint_url=simulator.endpoint_url, region_name=region, **credentials_for(account_id),
            config=botocore.config.Config(retries={"mode": "standard", "total_max_attempts": max_attempts},
                                          parameter_validation=validate))
        client.meta.events.register("after-call.guardduty", _validate_every_response)
        return client
    return make


@pytest.fixture
def aws_client(simulator) -> Callable[..., Any]:
    """`aws_client("sts", account_id)`: any boto3 client against the simulator (responses validated)."""
    def make(service: str, account_id: str = ADMIN, region: str = REGION, **credentials: str):
        client = boto3.client(service, endpoint_url=simulator.endpoint_url, region_name=region,
                              **(credentials or credentials_for(account_id)),
                              config=botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1}))
        client.meta.events.register(f"after-call.{client.meta.service_model.endpoint_prefix}",
                                    _validate_every_response)
        return client
    return make


@pytest.fixture
def control(simulator) -> Callable[..., Any]:
    """`control("POST", "/_sim/clock", {...})`: call the JSON control API; returns (status, body)."""
    def call(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        status, _, answer = http_call(simulator.endpoint_url, method, path, body=data,
                                      headers={"Content-Type": "application/json"})
        return status, answer
    return call


@pytest.fixture
def admin_detector(gd_client) -> str:
    """The administrator's detector in REGION."""
    return gd_client(ADMIN).create_detector(Enable=True)["DetectorId"]


@pytest.fixture
def enabled_member(state, gd_client, admin_detector) -> str:
    """MEMBER has accepted ADMIN's invitation in REGION (through the API); returns its detector id."""
    admin, member = gd_client(ADMIN), gd_client(MEMBER)
    state.register_account(MEMBER, "member@example.com")
    admin.create_members(DetectorId=admin_detector, AccountDetails=[{"AccountId": MEMBER,
                                                                     "Email": "member@example.com"}])
    admin.invite_members(DetectorId=admin_detector, AccountIds=[MEMBER])
    member_detector = member.create_detector(Enable=True)["DetectorId"]
    invitation = member.list_invitations()["Invitations"][0]
    member.accept_administrator_invitation(DetectorId=member_detector, AdministratorId=ADMIN,
                                           InvitationId=invitation["InvitationId"])
    return member_detector
