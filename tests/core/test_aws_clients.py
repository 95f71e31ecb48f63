"""The client factory meets real AWS's rules for regions and partitions (GUARDDUTY.md, "Regions and partitions")."""

from __future__ import annotations

import boto3
import pytest

from guardwatch import aws


@pytest.fixture(autouse=True)
def real_endpoints(settings):
    settings.GUARDWATCH_AWS_ENDPOINT_URL = ""  # the endpoints boto3 would call in AWS (nothing is called)
    aws.reset_clients()
    yield
    aws.reset_clients()


@pytest.mark.parametrize("region", ["eu-south-2", "ap-southeast-4", "us-east-1"])
def test_sts_is_called_in_the_home_region_so_its_tokens_work_in_opt_in_regions(settings, region):
    """IAM User Guide, "Managing AWS STS in an AWS Region": tokens from the global endpoint are valid only
    in regions enabled by default; a regional endpoint's tokens are valid in every region."""
    settings.GUARDWATCH_AWS_REGIONS = [region, "us-west-2"]
    sts = aws.sts_client(boto3.Session())
    assert sts.meta.region_name == region
    assert sts.meta.endpoint_url == f"https://sts.{region}.amazonaws.com"


@pytest.mark.parametrize(
    ("region", "arn"),
    [
        ("us-east-1", "arn:aws:iam::222233334444:role/GuardWatchMember"),
        ("cn-north-1", "arn:aws-cn:iam::222233334444:role/GuardWatchMember"),
        ("us-gov-west-1", "arn:aws-us-gov:iam::222233334444:role/GuardWatchMember"),
    ],
)
def test_the_member_role_arn_is_in_the_partition_of_the_configured_regions(settings, region, arn):
    settings.GUARDWATCH_AWS_REGIONS = [region]
    settings.GUARDWATCH_MEMBER_ROLE_NAME = "GuardWatchMember"
    assert aws.member_role_arn("222233334444") == arn
