"""The simulator's S3: a member lists its own buckets, their regions and tags; nobody else's."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from .world import MEMBER, OTHER_MEMBER


@pytest.fixture
def buckets(state):
    state.register_account(MEMBER, f"root+{MEMBER}@example.com")
    state.accounts[MEMBER].s3_buckets.update({
        "payroll-exports": {"region": "us-east-1", "tags": {"data-class": "confidential"}},
        "eu-invoices": {"region": "eu-west-1", "tags": {"data-class": "confidential", "team": "billing"}},
        "build-cache": {"region": "us-east-1", "tags": {}},
    })  # fmt: skip


def test_a_member_lists_its_buckets_with_their_regions(aws_client, buckets):
    listed = aws_client("s3", MEMBER).list_buckets()["Buckets"]
    assert [(b["Name"], b["BucketRegion"]) for b in listed] == [
        ("build-cache", "us-east-1"), ("eu-invoices", "eu-west-1"), ("payroll-exports", "us-east-1")]  # fmt: skip
    assert aws_client("s3", OTHER_MEMBER).list_buckets()["Buckets"] == []


def test_list_buckets_pages_with_a_continuation_token(aws_client, buckets):
    s3 = aws_client("s3", MEMBER)
    first = s3.list_buckets(MaxBuckets=2)
    second = s3.list_buckets(MaxBuckets=2, ContinuationToken=first["ContinuationToken"])
    assert [b["Name"] for b in first["Buckets"]] == ["build-cache", "eu-invoices"]
    assert [b["Name"] for b in second["Buckets"]] == ["payroll-exports"] and "ContinuationToken" not in second


def test_us_east_1_is_a_null_location_constraint(aws_client, buckets):
    s3 = aws_client("s3", MEMBER)
    assert s3.get_bucket_location(Bucket="payroll-exports")["LocationConstraint"] is None
    assert s3.get_bucket_location(Bucket="eu-invoices")["LocationConstraint"] == "eu-west-1"


def test_tags_are_read_and_a_bucket_without_tags_has_no_tag_set(aws_client, buckets):
    s3 = aws_client("s3", MEMBER)
    assert s3.get_bucket_tagging(Bucket="eu-invoices")["TagSet"] == [
        {"Key": "data-class", "Value": "confidential"}, {"Key": "team", "Value": "billing"}]  # fmt: skip
    with pytest.raises(ClientError) as missing:
        s3.get_bucket_tagging(Bucket="build-cache")
    assert missing.value.response["Error"]["Code"] == "NoSuchTagSet"


def test_another_accounts_bucket_is_access_denied_and_an_unknown_one_does_not_exist(aws_client, buckets):
    with pytest.raises(ClientError) as denied:
        aws_client("s3", OTHER_MEMBER).get_bucket_tagging(Bucket="payroll-exports")
    with pytest.raises(ClientError) as missing:
        aws_client("s3", MEMBER).get_bucket_location(Bucket="no-such-bucket")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert missing.value.response["Error"]["Code"] == "NoSuchBucket"
