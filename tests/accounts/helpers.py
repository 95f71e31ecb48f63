"""Building the member-accounts world for tests: accounts in GuardWatch, root emails in the simulator."""

from __future__ import annotations

from accounts.models import MemberAccount

ADMIN = "111111111111"


def member_id(n: int) -> str:
    """The n-th test member account id (never the administrator's)."""
    return f"{200000000000 + n:012d}"


def accounts_make(n: int, *, simulator=None, start: int = 1) -> list[MemberAccount]:
    """`n` accounts in GuardWatch; registered in the simulator with the same root email when given."""
    made = MemberAccount.objects.bulk_create(
        [MemberAccount(account_id=member_id(i), email=f"root+{member_id(i)}@example.com") for i in range(start, start + n)]
    )
    if simulator is not None:
        for account in made:
            simulator.register_account(account.account_id, account.email)
    return made


def detectors(simulator, regions) -> dict[str, str]:
    """The administrator's detector in each region."""
    return {region: simulator.ensure_detector(ADMIN, region) for region in regions}
