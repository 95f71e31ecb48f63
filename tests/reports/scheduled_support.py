"""A small organisation for the scheduled report tests: two OUs, a Blue team, findings in one known week."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from pypdf import PdfReader

from accounts.models import ScopedUser, Team, TeamMembership
from findings.models import Finding
from guardwatch.core.roles import Role
from guardwatch.core.services import user_create
from reports.models import ReportRun, ReportSubscription
from tests.reports.support import finding, member, moved

BLUE, RED = "111111111111", "222222222222"
BLUE_OU, RED_OU = "ou-blue-11111111", "ou-redd-22222222"
CREATED = datetime(2031, 3, 1, 12, tzinfo=UTC)  # a Saturday: when the subscriptions were made
MONDAY = datetime(2031, 3, 3, 7, 10, tzinfo=UTC)  # the first weekly report (Monday 07:00) is due just before
WEEK_START, WEEK_END = datetime(2031, 2, 24, tzinfo=UTC), datetime(2031, 3, 3, tzinfo=UTC)


def organisation() -> dict:
    """Blue (monitored in both regions, team Blue) and Red (resigned in one region); a week of findings."""
    blue = member(BLUE, "blue-main", us_east_1="Enabled", eu_west_1="Enabled")
    red = member(RED, "red-crown-jewels", us_east_1="Enabled", eu_west_1="Resigned")
    blue.organizational_unit, red.organizational_unit = BLUE_OU, RED_OU
    blue.save(update_fields=["organizational_unit"])
    red.save(update_fields=["organizational_unit"])
    team = Team.objects.create(name="Blue", account_ids=[BLUE])
    day = WEEK_START + timedelta(days=1)
    finding(created=day, band="high", account_id=BLUE, type="Recon:EC2/PortProbeUnprotectedPort")
    finding(created=day, band="medium", account_id=BLUE, type="Recon:EC2/PortProbeUnprotectedPort")
    # A critical finding whose 4-hour SLA ran out in the week, unresolved: one breach for Red's OU.
    finding(
        created=day + timedelta(hours=2),
        band="critical",
        account_id=RED,
        type="CryptoCurrency:EC2/BitcoinTool.B!DNS",
    )
    solved = finding(
        created=day + timedelta(days=1),
        band="low",
        account_id=RED,
        type="UnauthorizedAccess:EC2/SSHBruteForce",
    )
    moved(solved, to="resolved", at=day + timedelta(days=2))
    finding(created=WEEK_START - timedelta(days=3), band="low", account_id=RED)  # the week before: not new
    return {"team": team}


def person(name: str, role: Role, *, email: str = "", team: Team | None = None):
    user = user_create(username=name, role=role, password="x" * 20, validate=False)
    user.email = email or f"{name}@example.com"
    user.save(update_fields=["email"])
    if team is not None:
        TeamMembership.objects.create(team=team, user=user)
        ScopedUser.objects.create(user=user)
    return user


def subscribe(owner, *, cadence="weekly", weekday=0, hour=7, created=CREATED, **fields) -> ReportSubscription:
    subscription = ReportSubscription.objects.create(
        owner=owner, cadence=cadence, weekday=weekday, hour=hour, **fields
    )
    ReportSubscription.objects.filter(pk=subscription.pk).update(created_at=created)
    subscription.refresh_from_db()
    return subscription


def new_in_week(scope: set[str] | None = None) -> int:
    found = Finding.objects.filter(created_at__gte=WEEK_START, created_at__lt=WEEK_END)
    return (found.filter(account_id__in=scope) if scope is not None else found).count()


def pdf_of(data: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(data))
    return reader, " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def runs(subscription) -> list[ReportRun]:
    return list(ReportRun.objects.filter(subscription=subscription).order_by("period_start"))


SECTIONS = ("Coverage", "Policy compliance", "New and resolved findings", "Time to acknowledge and resolve",
            "SLA breaches by team and OU", "Top finding types", "ATT&CK heatmap")  # fmt: skip
