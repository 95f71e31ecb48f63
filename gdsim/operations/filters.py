"""Saved filters and suppression rules (Action ARCHIVE archives matching NEW findings on arrival)."""

from __future__ import annotations

import re
from typing import Any

from ..criteria import Criteria
from ..errors import BadRequest
from ..findings import paginate
from ..records import SavedFilter, iso, parse_iso
from .registry import Context, handles

FILTER_LIMIT = 100
# CreateFilter / UpdateFilter, botocore's guardduty model: Name (checked as protocol.EXTRA_PATTERNS) "Valid characters include period (.),
# underscore (_), dash (-), and alphanumeric characters. A whitespace is considered to be an invalid
# character." (length 3..64); Description "Valid characters include alphanumeric characters, and special
# characters such as hyphen, period, colon, underscore, parentheses ({ }, [ ], and ( )), forward slash,
# horizontal tab, vertical tab, newline, form feed, return, and whitespace." (length 0..512).
# GuardDuty answers any other character, a comma say, with BadRequestException "The request is rejected
# because the JSON could not be processed." (seen in production: terraform-provider-aws issue #28367).
_DESCRIPTION = re.compile(r"[A-Za-z0-9 .:_{}\[\]()/\t\v\n\f\r-]{0,512}")


def _check_text(params: dict[str, Any]) -> None:
    """Refuse a Description GuardDuty refuses (the Name's characters are checked with every request's
    parameters: protocol.EXTRA_PATTERNS["FilterName"])."""
    if not _DESCRIPTION.fullmatch(params.get("Description", "")):
        raise BadRequest("The request is rejected because the JSON could not be processed.")


def _saved(context: Context, name: str) -> SavedFilter:
    saved = context.scope.filters.get(name)
    if saved is None:
        raise BadRequest(f"The request is rejected because the filter {name} does not exist.")
    return saved


@handles("CreateFilter")
def create_filter(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Save a filter; at most 100 per account and region ("Filters (saved rules) per account per Region: 100",
    GuardDuty quotas, https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_limits.html). Rank 1..100
    (botocore's guardduty model); without one the simulator puts the filter last (GuardDuty does not say)."""
    context.detector(params["DetectorId"])
    _check_text(params)
    filters = context.scope.filters
    name = params["Name"]
    if name in filters:
        raise BadRequest(f"The request is rejected because a filter with the name {name} already exists.")
    if len(filters) >= FILTER_LIMIT:
        raise BadRequest(f"The request is rejected because the number of filters exceeds the limit of {FILTER_LIMIT} "
                         "per account and Region.")
    Criteria(params["FindingCriteria"])  # rejects empty conditions before anything is saved
    stamp = iso(context.state.now())
    filters[name] = SavedFilter(
        name=name, action=params.get("Action", "NOOP"), rank=params.get("Rank", len(filters) + 1),
        criteria=params["FindingCriteria"], description=params.get("Description", ""),
        tags=dict(params.get("Tags") or {}), created_at=stamp, updated_at=stamp)
    return {"Name": name}


@handles("GetFilter")
def get_filter(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """One saved filter. Output members per botocore's guardduty model (GetFilterResponse): Name, Description,
    Action (NOOP | ARCHIVE), Rank ("the position of the filter in the list of current filters. Also specifies
    the order in which this filter is applied to the findings", 1..100), FindingCriteria, Tags, CreatedAt,
    UpdatedAt, Version."""
    context.detector(params["DetectorId"])
    saved = _saved(context, params["FilterName"])
    result: dict[str, Any] = {
        "Name": saved.name,
        "Description": saved.description,
        "Action": saved.action,
        "Rank": saved.rank,
        "FindingCriteria": saved.criteria,
        "CreatedAt": parse_iso(saved.created_at),
        "UpdatedAt": parse_iso(saved.updated_at),
        "Version": saved.version,
    }
    if saved.tags:
        result["Tags"] = dict(saved.tags)
    return result


@handles("UpdateFilter")
def update_filter(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Change a filter's description, action, rank or criteria."""
    context.detector(params["DetectorId"])
    saved = _saved(context, params["FilterName"])
    _check_text(params)
    if "FindingCriteria" in params:
        Criteria(params["FindingCriteria"])
        saved.criteria = params["FindingCriteria"]
    saved.description = params.get("Description", saved.description)
    saved.action = params.get("Action", saved.action)
    saved.rank = params.get("Rank", saved.rank)
    saved.version += 1
    saved.updated_at = iso(context.state.now())
    return {"Name": saved.name}


@handles("DeleteFilter")
def delete_filter(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Forget a filter (findings it archived stay archived)."""
    context.detector(params["DetectorId"])
    _saved(context, params["FilterName"])
    del context.scope.filters[params["FilterName"]]
    return {}


@handles("ListFilters")
def list_filters(context: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Filter names in rank order. MaxResults (botocore's guardduty model, ListFilters): "The default value is
    50. The maximum value is 50."; NextToken continues the listing. The order is not documented; the
    simulator lists by rank (GuardDuty's console shows saved rules in that order)."""
    context.detector(params["DetectorId"])
    names = [saved.name for saved in sorted(context.scope.filters.values(), key=lambda saved: (saved.rank, saved.name))]
    page, token = paginate(names, params.get("MaxResults"), params.get("NextToken"), scope="filters")
    result: dict[str, Any] = {"FilterNames": page}
    if token:
        result["NextToken"] = token
    return result
