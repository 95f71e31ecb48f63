"""`manage.py unlock_sign_in [NAME] [--address IP]`: lift a sign-in lock before its window ends."""

from django.core.management.base import BaseCommand, CommandError

from guardwatch.core.login import login_unlock


class Command(BaseCommand):
    help = "Let a user name (and/or an address) sign in again at once after too many failed attempts."

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?", default="")
        parser.add_argument("--address", default="", help="Also unlock this client address (as GuardWatch sees it: see GUARDWATCH_TRUSTED_PROXY_HOPS).")

    def handle(self, *args, username: str, address: str, **options):
        if not username and not address:
            raise CommandError("Name a user, an --address, or both.")
        login_unlock(username=username, address=address)
        unlocked = " and ".join(part for part in (username and f"user {username}", address and f"address {address}") if part)
        self.stdout.write(self.style.SUCCESS(f"Sign-in unlocked for {unlocked}."))
