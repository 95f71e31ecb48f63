"""Finding storage per region, indexed so ListFindings pages cheaply over 100,000 findings.

Each region keeps every account's findings, a list sorted by `updatedAt` (so an updatedAt window
is a bisect, not a scan) and a small cache of query results: the ids matching one
(visible accounts, criteria, sort) at one store version. A NextToken names that cache entry and an
offset, so paging walks a snapshot; once the entry is gone, paging goes on over fresh results.

AWS documents nothing about what a ListFindings NextToken holds or whether paging sees a fixed set:
"You can use this parameter when paginating results. Set the value of this parameter to null on your
first call to the list action. For subsequent calls to the action, fill nextToken in the request with
the value of NextToken from the previous response to continue listing data." (botocore guardduty
service-2.json, ListFindingsRequest.NextToken; API reference, ListFindings). So the simulator can
also hand out offset tokens (`SimulatorState.listing_tokens = "offset"`): the token holds only a
position in the query's current sorted result, which every page evaluates afresh, so a finding that
moves or arrives before that position while a client pages shifts the rest (one skipped or repeated).
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from .criteria import Criteria, sort_key
from .errors import invalid_parameter
from .protocol import encode_value
from .records import epoch_ms

DEFAULT_SORT = ("updatedAt", "DESC")
_CACHE_SIZE = 32


def home_region(data: dict[str, Any]) -> str:
    """The region a finding lives in: its ARN's, where its detector is. Its `Region` field may name another
    one (botocore's guardduty model, Finding.Region: "For findings generated from Global Service Events, the
    Region value in the finding might differ from the Region where GuardDuty identifies the potential
    threat")."""
    return data["Arn"].split(":")[3]


class StoredFinding:
    """One finding (boto3 spelling in `data`), the attributes queries read most, and its wire JSON.

    The wire JSON is encoded when the finding is stored or changed, not when it is read: findings
    are read far more often than written, and GetFindings then only splices strings together.
    """

    __slots__ = ("account_id", "created_ms", "data", "id", "region", "resource_type", "severity", "type",
                 "updated_ms", "wire")

    def __init__(self, data: dict[str, Any]):
        self.set(data)

    def set(self, data: dict[str, Any]) -> None:
        """Replace the finding's content (a repeat occurrence, an archive, feedback)."""
        self.data = data
        self.id = data["Id"]
        self.account_id = data["AccountId"]
        self.region = home_region(data)
        self.type = data["Type"]
        self.severity = data["Severity"]
        self.updated_ms = epoch_ms(data["UpdatedAt"])
        self.created_ms = epoch_ms(data["CreatedAt"])
        self.resource_type = data.get("Resource", {}).get("ResourceType")
        self.wire = encode_value("Finding", data)

    @property
    def archived(self) -> bool:
        """Service.Archived."""
        return bool(self.data.get("Service", {}).get("Archived", False))


class _Result:
    """The ids matching one query in its sort order, worked out only as far as paging has asked.

    For an `updatedAt` sort (GuardWatch's, and the default) the matches are read off the sorted index
    in order and the walk stops once a page and one more are found: a listing that moves its lower
    bound page by page costs a page, not a pass over the rest of the region. The walk holds indexes
    into the store's sorted list, so the store finishes every pending walk before it changes
    (`RegionFindings.settle_results`): a snapshot stays the result as it was.
    """

    def __init__(self, ids: list[str], walk: Iterator[str] | None = None):
        self.ids = ids
        self._walk = walk

    def upto(self, count: int) -> list[str]:
        """At least the first `count` ids (fewer when the result is shorter)."""
        while self._walk is not None and len(self.ids) < count:
            following = next(self._walk, None)
            if following is None:
                self._walk = None
            else:
                self.ids.append(following)
        return self.ids

    def settle(self) -> None:
        """Work out the whole result now."""
        if self._walk is not None:
            self.ids.extend(self._walk)
            self._walk = None


class RegionFindings:
    """All findings of one region, every account's, with the indexes ListFindings uses."""

    def __init__(self, region: str):
        self.region = region
        self.by_id: dict[str, StoredFinding] = {}
        self._by_updated: list[tuple[int, str]] = []
        self.version = 0
        self._results: OrderedDict[tuple[str, int], _Result] = OrderedDict()
        # Change tracking for persistence (off unless a Persistence asked for it).
        self.tracking = False
        self._changed: set[str] = set()
        self._removed: set[str] = set()

    def __len__(self) -> int:
        return len(self.by_id)

    def get(self, finding_id: str) -> StoredFinding | None:
        """The finding with this id, or None."""
        return self.by_id.get(finding_id)

    def settle_results(self) -> None:
        """Finish every pending query walk; call before changing a stored finding's `data` in place."""
        for result in self._results.values():
            result.settle()

    def put(self, data: dict[str, Any]) -> StoredFinding:
        """Store a new finding or replace the content of an existing one (same Id)."""
        self.settle_results()
        existing = self.by_id.get(data["Id"])
        if existing is not None:
            if existing.account_id != data["AccountId"]:
                raise ValueError(f"finding id {data['Id']} already belongs to account {existing.account_id}")
            self._unindex(existing)
            existing.set(data)
            stored = existing
        else:
            stored = StoredFinding(data)
            self.by_id[stored.id] = stored
        bisect.insort(self._by_updated, (stored.updated_ms, stored.id))
        self._mark(stored.id)
        return stored

    def touch(self, stored: StoredFinding) -> None:
        """Record an in-place change of `stored.data` that does not move updatedAt (archive, feedback)."""
        self.settle_results()
        stored.set(stored.data)
        self._mark(stored.id)

    def remove(self, finding_id: str) -> None:
        """Forget a finding."""
        self.settle_results()
        stored = self.by_id.pop(finding_id, None)
        if stored is not None:
            self._unindex(stored)
            self.version += 1
            if self.tracking:
                self._changed.discard(finding_id)
                self._removed.add(finding_id)

    def _mark(self, finding_id: str) -> None:
        self.version += 1
        if self.tracking:
            self._changed.add(finding_id)
            self._removed.discard(finding_id)

    def drain_changes(self) -> tuple[set[str], set[str]]:
        """Ids changed and ids removed since the last call (for persistence)."""
        changed, removed = self._changed, self._removed
        self._changed, self._removed = set(), set()
        return changed, removed

    def _unindex(self, stored: StoredFinding) -> None:
        key = (stored.updated_ms, stored.id)
        index = bisect.bisect_left(self._by_updated, key)
        if index < len(self._by_updated) and self._by_updated[index] == key:
            del self._by_updated[index]

    def account_findings(self, account_id: str) -> list[StoredFinding]:
        """Every finding of one account in this region."""
        return [stored for stored in self.by_id.values() if stored.account_id == account_id]

    def latest_ids(self, count: int) -> list[str]:
        """Ids of the `count` most recently updated findings."""
        return [finding_id for _, finding_id in self._by_updated[-count:]]

    def older_than(self, cutoff_ms: int) -> list[str]:
        """Ids of findings last updated before the cutoff (for the 90-day retention)."""
        end = bisect.bisect_left(self._by_updated, (cutoff_ms, ""))
        return [finding_id for _, finding_id in self._by_updated[:end]]

    # ---------------------------------------------------------------------------------------
    # Queries

    def candidates(self, criteria: Criteria) -> list[StoredFinding]:
        """Findings possibly matching: an updatedAt window via bisect, else all of them."""
        if criteria.updated_low is None and criteria.updated_high is None:
            return list(self.by_id.values())
        start = 0 if criteria.updated_low is None else bisect.bisect_left(self._by_updated, (criteria.updated_low, ""))
        if criteria.updated_high is None:
            end = len(self._by_updated)
        else:
            end = bisect.bisect_right(self._by_updated, (criteria.updated_high, "\uffff"))
        return [self.by_id[finding_id] for _, finding_id in self._by_updated[start:end]]

    def select(self, accounts: frozenset[str], criteria: Criteria,
               sort: tuple[str, str] | None = None) -> list[StoredFinding]:
        """Matching findings of the given accounts, sorted (no caching)."""
        matched = [stored for stored in self.candidates(criteria)
                   if stored.account_id in accounts and criteria.matches(stored)]
        attribute, order = sort or DEFAULT_SORT
        key = sort_key(attribute)
        keyed = [(key(stored), stored) for stored in matched]
        present = [(value, stored) for value, stored in keyed if value[0] == 0]
        missing = [stored for value, stored in keyed if value[0] != 0]
        present.sort(key=lambda pair: (pair[0], pair[1].id), reverse=order == "DESC")
        return [stored for _, stored in present] + sorted(missing, key=lambda stored: stored.id)

    def result(self, accounts: frozenset[str], criteria: Criteria, sort: tuple[str, str] | None) -> _Result:
        """The ids of `select`, in its order; lazily for an updatedAt sort (see _Result)."""
        attribute, order = sort or DEFAULT_SORT
        if attribute != "updatedAt":
            return _Result([stored.id for stored in self.select(accounts, criteria, sort)])
        start = 0 if criteria.updated_low is None else bisect.bisect_left(self._by_updated, (criteria.updated_low, ""))
        if criteria.updated_high is None:
            end = len(self._by_updated)
        else:
            end = bisect.bisect_right(self._by_updated, (criteria.updated_high, "\uffff"))
        indexes = range(start, end) if order != "DESC" else range(end - 1, start - 1, -1)

        def walk() -> Iterator[str]:
            for index in indexes:
                stored = self.by_id[self._by_updated[index][1]]
                if stored.account_id in accounts and criteria.matches(stored):
                    yield stored.id
        return _Result([], walk())

    def page(self, accounts: frozenset[str], criteria: Criteria, sort: tuple[str, str] | None,
             max_results: int, next_token: str | None, *, offset_tokens: bool = False) -> tuple[list[str], str | None]:
        """One ListFindings page: the ids and the next token (None on the last page).

        With `offset_tokens`, the token is a bare position into the query's current result (see the
        module docstring); otherwise it names a cached snapshot of the result.
        """
        query = _query_hash(accounts, criteria, sort)
        if offset_tokens:
            return self._offset_page(query, accounts, criteria, sort, max_results, next_token)
        offset, page_number, version = 0, 1, self.version
        if next_token:
            token = decode_token(next_token)
            if token.get("q") != query:
                raise invalid_parameter("nextToken", "The token does not belong to this query.")
            if not all(isinstance(token.get(key), int) for key in ("o", "p", "v")):
                raise invalid_parameter("nextToken")
            offset, page_number, version = token["o"], token["p"], token["v"]
        result = self._results.get((query, version))
        if result is None:
            version = self.version
            result = self._results.get((query, version))
        if result is None:
            result = self.result(accounts, criteria, sort)
            self._results[(query, version)] = result
            while len(self._results) > _CACHE_SIZE:
                self._results.popitem(last=False)
        else:
            self._results.move_to_end((query, version))
        ids = result.upto(offset + max_results + 1)
        chunk = ids[offset:offset + max_results]
        following = None
        if offset + max_results < len(ids):
            following = encode_token({"q": query, "v": version, "o": offset + max_results, "p": page_number + 1})
        return chunk, following


    def _offset_page(self, query: str, accounts: frozenset[str], criteria: Criteria, sort: tuple[str, str] | None,
                     max_results: int, next_token: str | None) -> tuple[list[str], str | None]:
        offset = 0
        if next_token:
            token = decode_token(next_token)
            if token.get("q") != query or token.get("m") != "offset":
                raise invalid_parameter("nextToken", "The token does not belong to this query.")
            if not isinstance(token.get("o"), int):
                raise invalid_parameter("nextToken")
            offset = token["o"]
        ids = self.result(accounts, criteria, sort).upto(offset + max_results + 1)
        chunk = ids[offset:offset + max_results]
        following = None
        if offset + max_results < len(ids):
            following = encode_token({"q": query, "m": "offset", "o": offset + max_results})
        return chunk, following


def _query_hash(accounts: frozenset[str], criteria: Criteria, sort: tuple[str, str] | None) -> str:
    text = json.dumps([sorted(accounts), criteria.key, list(sort or DEFAULT_SORT)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_token(payload: dict[str, Any]) -> str:
    """An opaque NextToken."""
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    """The payload of a NextToken made by encode_token; BadRequest for anything else."""
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except ValueError:
        raise invalid_parameter("nextToken") from None
    if not isinstance(payload, dict):
        raise invalid_parameter("nextToken")
    return payload


def paginate(items: list[Any], max_results: int | None, next_token: str | None, *, default: int = 50,
             scope: str = "") -> tuple[list[Any], str | None]:
    """Offset pagination for the small lists (members, filters, invitations, coverage)."""
    size = max_results or default
    offset = 0
    if next_token:
        payload = decode_token(next_token)
        if payload.get("s") != scope or not isinstance(payload.get("o"), int):
            raise invalid_parameter("nextToken")
        offset = payload["o"]
    chunk = items[offset:offset + size]
    following = encode_token({"s": scope, "o": offset + size}) if offset + size < len(items) else None
    return chunk, following
