"""`manage.py demo_accounts ID,EMAIL,NAME …`: the accounts the demo administrator added by hand, with names.

The demo's members outside the organization were invited by hand (an acquired company, say): GuardDuty
and Organizations know no name for them, so an administrator would have typed one when adding them.
`manage.py demo` passes them from the simulator's scenario. Idempotent; demo mode only.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import MemberAccount
from accounts.services import member_account_create


class Command(BaseCommand):
    help = "Add the demo's hand-invited member accounts with their names (demo mode only)."

    def add_arguments(self, parser):
        parser.add_argument("accounts", nargs="*", help="ACCOUNT_ID,EMAIL,NAME")

    def handle(self, *args, accounts: list[str], **options):
        if not settings.DEMO:
            raise CommandError("demo_accounts only runs with GUARDWATCH_ENV=demo.")
        added = 0
        for line in accounts:
            account_id, email, name = (line.split(",", 2) + ["", ""])[:3]
            if MemberAccount.objects.filter(account_id=account_id).exists():
                continue
            try:
                member_account_create(account_id=account_id, email=email, display_name=name, actor="demo",
                                      added_via="demo")  # fmt: skip
            except ValidationError as error:
                raise CommandError(f"{line}: {' '.join(error.messages)}") from error
            added += 1
        self.stdout.write(f"  {added} hand-invited demo account(s) added")
