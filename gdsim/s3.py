"""A minimal S3 (rest-xml, path-style): ListBuckets, GetBucketLocation and GetBucketTagging of the caller's buckets.

GuardWatch reads a member's buckets and tags, as the member, to find the buckets a coverage policy wants under
GuardDuty Malware Protection. The buckets are the ones each account holds in the simulator (Account.s3_buckets).
From the Amazon S3 API Reference (and botocore's s3 model):
- ListBuckets "returns a list of all buckets owned by the authenticated sender of the request"; with MaxBuckets
  (1..10000) it pages with ContinuationToken; each Bucket carries Name, CreationDate and BucketRegion.
- GetBucketLocation: "Buckets in Region us-east-1 have a LocationConstraint of null".
- GetBucketTagging of a bucket without tags answers the error NoSuchTagSet ("There is no tag set associated with
  the bucket"); a bucket that does not exist, NoSuchBucket (404); another account's bucket, AccessDenied (403: the
  bucket policy would have to grant it).
Region redirects (a request to the wrong regional endpoint) are not modelled: botocore follows them itself.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from .state import SimulatorState

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
CREATED = "2026-01-05T09:00:00.000Z"  # the simulator keeps no creation dates: one fixed, plausible moment


class S3Error(Exception):
    def __init__(self, code: str, message: str, status: int = 400, bucket: str = ""):
        super().__init__(message)
        self.code, self.message, self.status, self.bucket = code, message, status, bucket


def _owner(state: SimulatorState, bucket: str) -> str | None:
    """The account owning `bucket` (bucket names are global), or None."""
    return next((a.account_id for a in state.accounts.values() if bucket in a.s3_buckets), None)


def handle(
    state: SimulatorState, account_id: str | None, method: str, path: str, query: dict[str, list[str]]
) -> tuple[str, bytes]:
    """(operation name, XML body) for an authenticated caller; raises S3Error."""
    if account_id is None:
        raise S3Error(
            "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403
        )
    bucket = path.strip("/").split("/", 1)[0]
    if method == "GET" and not bucket:
        return "ListBuckets", _list_buckets(state, account_id, query)
    if method == "GET" and "location" in query:
        region = _owned(state, account_id, bucket)["region"]
        value = "" if region == "us-east-1" else escape(region)
        return (
            "GetBucketLocation",
            f'<LocationConstraint xmlns="{NAMESPACE}">{value}</LocationConstraint>'.encode(),
        )
    if method == "GET" and "tagging" in query:
        tags = _owned(state, account_id, bucket).get("tags") or {}
        if not tags:
            raise S3Error("NoSuchTagSet", "The TagSet does not exist", 404, bucket)
        items = "".join(
            f"<Tag><Key>{escape(k)}</Key><Value>{escape(v)}</Value></Tag>" for k, v in sorted(tags.items())
        )
        return "GetBucketTagging", f'<Tagging xmlns="{NAMESPACE}"><TagSet>{items}</TagSet></Tagging>'.encode()
    raise S3Error("NotImplemented", "The GuardWatch simulator serves only ListBuckets, GetBucketLocation and "
                  "GetBucketTagging.", 501)  # fmt: skip


def _owned(state: SimulatorState, account_id: str, bucket: str) -> dict:
    owner = _owner(state, bucket)
    if owner is None:
        raise S3Error("NoSuchBucket", "The specified bucket does not exist", 404, bucket)
    if owner != account_id:
        raise S3Error("AccessDenied", "Access Denied", 403, bucket)
    return state.accounts[owner].s3_buckets[bucket]


def _list_buckets(state: SimulatorState, account_id: str, query: dict[str, list[str]]) -> bytes:
    account = state.accounts.get(account_id)
    names = sorted(account.s3_buckets) if account else []
    size = query.get("max-buckets", ["10000"])[0]
    if not size.isdigit() or not 1 <= int(size) <= 10000:  # botocore s3 model: MaxBuckets 1..10000
        raise S3Error("InvalidArgument", "max-buckets must be between 1 and 10000.")
    start = query.get("continuation-token", [""])[0]
    if start:
        names = [name for name in names if name > start]
    page, rest = names[: int(size)], names[int(size) :]
    buckets = "".join(f"<Bucket><Name>{escape(n)}</Name><CreationDate>{CREATED}</CreationDate>"
                      f"<BucketRegion>{escape(account.s3_buckets[n]['region'])}</BucketRegion></Bucket>" for n in page)  # fmt: skip
    token = f"<ContinuationToken>{escape(page[-1])}</ContinuationToken>" if rest else ""
    return (f'<ListAllMyBucketsResult xmlns="{NAMESPACE}"><Owner><ID>{account_id}</ID></Owner>'
            f"<Buckets>{buckets}</Buckets>{token}</ListAllMyBucketsResult>").encode()  # fmt: skip


def error_body(error: S3Error) -> bytes:
    bucket = f"<BucketName>{escape(error.bucket)}</BucketName>" if error.bucket else ""
    return (
        f"<Error><Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message>{bucket}"
        f"<RequestId>{uuid.uuid4()}</RequestId></Error>"
    ).encode()
