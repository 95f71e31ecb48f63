"""A minimal EC2 (ec2 query protocol): DescribeRegions, the regions enabled for the caller's account.

GuardWatch reads it to find the administrator's enabled regions (Coverage: regions without an
administrator detector). botocore ec2 service-2.json, DescribeRegions: "Describes the Regions that are
enabled for your account, or all Regions"; `AllRegions`: "Indicates whether to display all Regions, including
Regions that are disabled for your account"; `Region.OptInStatus`: "opt-in-not-required", "opted-in" or
"not-opted-in". AWS General Reference ("Enable or disable AWS Regions in your account"): the Regions introduced
before March 20, 2019 are enabled by default and cannot be disabled; later ones are opt-in.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

import boto3

if TYPE_CHECKING:
    from .state import SimulatorState

NAMESPACE = "http://ec2.amazonaws.com/doc/2016-11-15/"
ENABLED_BY_DEFAULT = (
    "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
    "ca-central-1", "eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2", "eu-west-3", "sa-east-1",
    "us-east-1", "us-east-2", "us-west-1", "us-west-2",
)


class Ec2Error(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def all_regions() -> list[str]:
    """Every commercial-partition region botocore knows for EC2."""
    return sorted(set(boto3.Session().get_available_regions("ec2")) | set(ENABLED_BY_DEFAULT))


def region_statuses(state: SimulatorState, account_id: str) -> dict[str, str]:
    """Each region's OptInStatus for `account_id`."""
    opted_in = state.opted_in_regions.get(account_id, set())
    return {
        region: "opt-in-not-required" if region in ENABLED_BY_DEFAULT
        else "opted-in" if region in opted_in else "not-opted-in"
        for region in all_regions()
    }  # fmt: skip


def handle(state: SimulatorState, account_id: str | None, form: dict[str, str]) -> bytes:
    """Answer DescribeRegions for an authenticated caller; raises Ec2Error."""
    if account_id is None:
        raise Ec2Error("AuthFailure", "AWS was not able to validate the provided access credentials", 401)
    action = form.get("Action", "")
    if action != "DescribeRegions":
        raise Ec2Error("InvalidAction", f"The action {action or '(none)'} is not valid for this web service.")
    every = form.get("AllRegions", "false").lower() == "true"
    names = [value for key, value in sorted(form.items()) if key.startswith("RegionName.")]
    items = []
    for region, status in region_statuses(state, account_id).items():
        if (names and region not in names) or (not every and status == "not-opted-in"):
            continue
        items.append(f"<item><regionName>{escape(region)}</regionName>"
                     f"<regionEndpoint>ec2.{escape(region)}.amazonaws.com</regionEndpoint>"
                     f"<optInStatus>{status}</optInStatus></item>")
    return (f'<DescribeRegionsResponse xmlns="{NAMESPACE}"><requestId>{uuid.uuid4()}</requestId>'
            f"<regionInfo>{''.join(items)}</regionInfo></DescribeRegionsResponse>").encode()


def error_body(error: Ec2Error) -> bytes:
    return (f"<Response><Errors><Error><Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message>"
            f"</Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>").encode()
