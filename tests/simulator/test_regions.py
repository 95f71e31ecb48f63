"""EC2 DescribeRegions: the regions enabled for the caller's account (default ones, and opt-in ones it enabled)."""

from gdsim import ec2

from .world import ADMIN


def test_default_regions_are_enabled_and_opt_in_ones_only_once_opted_in(state, aws_client):
    client = aws_client("ec2", ADMIN)
    before = {r["RegionName"]: r["OptInStatus"] for r in client.describe_regions()["Regions"]}
    assert set(before) == set(ec2.ENABLED_BY_DEFAULT)
    assert set(before.values()) == {"opt-in-not-required"}

    state.opted_in_regions[ADMIN] = {"eu-south-2"}
    after = {r["RegionName"]: r["OptInStatus"] for r in client.describe_regions()["Regions"]}

    assert after["eu-south-2"] == "opted-in" and len(after) == len(before) + 1


def test_all_regions_lists_the_disabled_ones_as_not_opted_in(aws_client):
    regions = {r["RegionName"]: r["OptInStatus"] for r in aws_client("ec2", ADMIN).describe_regions(AllRegions=True)["Regions"]}

    assert regions["ap-east-1"] == "not-opted-in" and regions["us-east-1"] == "opt-in-not-required"
