"""`manage.py demo_team NAME ACCOUNT_ID …`: a team owning the listed accounts, for `make demo SSO=1` (the demo
IdP's group team-payments maps to it). Idempotent; demo mode only."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Team
from accounts.teams import team_rules_parse, team_save


class Command(BaseCommand):
    help = "Add a demo team owning the listed member accounts (demo mode only)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("account_ids", nargs="+")

    def handle(self, *args, name: str, account_ids: list[str], **options):
        if not settings.DEMO:
            raise CommandError("demo_team only runs with GUARDWATCH_ENV=demo.")
        rules = team_rules_parse(account_ids=",".join(account_ids), organizational_units="", tags="")
        team_save(team=Team.objects.filter(name=name).first(), name=name, rules=rules, actor="demo")
        self.stdout.write(f"  demo team {name}: {len(rules['account_ids'])} account(s)")
