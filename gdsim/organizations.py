"""A minimal AWS Organizations (json-1.1 protocol): ListAccounts, DescribeOrganization, and the tree of one
root with organizational units directly under it (ListRoots, ListOrganizationalUnitsForParent,
ListAccountsForParent).

Enough for Organizations mode and for coverage policies scoped to an OU.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .errors import SimulatorError
from .findings import paginate
from .records import parse_iso

if TYPE_CHECKING:
    from .state import SimulatorState

TARGET_PREFIX = "AWSOrganizationsV20161128."
# botocore organizations model, shape Account: `Status` (ACTIVE | SUSPENDED | PENDING_CLOSURE) "will be retired on
# September 9, 2026"; `State` adds PENDING_ACTIVATION and CLOSED. Both are sent while the model has both.
_STATUS_VALUES = ("ACTIVE", "SUSPENDED", "PENDING_CLOSURE")


def _not_in_use() -> SimulatorError:
    return SimulatorError("Your account is not a member of an organization.", code="AWSOrganizationsNotInUseException",
                          error_type="AWSOrganizationsNotInUseException")


def organization_id(management_account_id: str) -> str:
    """A stable organization id for the management account."""
    return "o-" + hashlib.sha256(management_account_id.encode()).hexdigest()[:10]


def root_id(management_account_id: str) -> str:
    """A stable root id (botocore organizations model, RootId pattern ^r-[0-9a-z]{4,32}$)."""
    return "r-" + hashlib.sha256(("root:" + management_account_id).encode()).hexdigest()[:4]


def handle(state: SimulatorState, account_id: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """Answer ListAccounts or DescribeOrganization for a caller in the organization."""
    management = state.management_account_id
    caller = state.accounts.get(account_id)
    if management is None or caller is None or not caller.in_organization:
        raise _not_in_use()
    org_id = organization_id(management)

    def arn(member_id: str) -> str:
        return f"arn:aws:organizations::{management}:account/{org_id}/{member_id}"

    if operation == "DescribeOrganization":
        email = state.accounts[management].email or f"{management}@example.com"
        return {"Organization": {
            "Id": org_id, "Arn": f"arn:aws:organizations::{management}:organization/{org_id}", "FeatureSet": "ALL",
            "MasterAccountArn": arn(management), "MasterAccountId": management, "MasterAccountEmail": email,
            "AvailablePolicyTypes": [],
        }}
    def account_view(account) -> dict[str, Any]:
        return {
            "Id": account.account_id, "Arn": arn(account.account_id),
            "Email": account.email or f"{account.account_id}@example.com",
            "Name": account.name or account.account_id, "State": account.state,
            **({"Status": account.state} if account.state in _STATUS_VALUES else {}),
            "JoinedMethod": "CREATED" if account.account_id == management else "INVITED",
            "JoinedTimestamp": parse_iso(account.joined_at) if account.joined_at else datetime(2020, 1, 1, tzinfo=UTC),
        }

    def paged(key: str, items: list, scope: str) -> dict[str, Any]:
        page, token = paginate(items, params.get("MaxResults"), params.get("NextToken"), default=20, scope=scope)
        return {key: page, **({"NextToken": token} if token else {})}

    root = root_id(management)
    if operation == "ListAccounts":
        return paged("Accounts", [account_view(a) for a in state.organization_accounts()], "org-accounts")
    if operation == "ListRoots":
        return {"Roots": [{"Id": root, "Arn": f"arn:aws:organizations::{management}:root/{org_id}/{root}",
                           "Name": "Root", "PolicyTypes": []}]}
    if operation == "ListOrganizationalUnitsForParent":
        units = sorted({a.parent_id for a in state.organization_accounts() if a.parent_id}) if (
            params["ParentId"] == root) else []  # fmt: skip
        return paged("OrganizationalUnits", [{"Id": unit, "Name": unit, "Arn": f"arn:aws:organizations::{management}:ou/"
                                              f"{org_id}/{unit}"} for unit in units], f"org-units:{params['ParentId']}")
    if operation == "ListAccountsForParent":
        parent = params["ParentId"]
        held = [a for a in state.organization_accounts() if (a.parent_id or root) == parent]
        return paged("Accounts", [account_view(a) for a in held], f"org-accounts:{parent}")
    raise SimulatorError(f"The GuardWatch simulator does not implement Organizations {operation}.", status=501,
                         code="NotImplementedException", error_type="NotImplementedException")
