"""`manage.py create_user NAME --role Admin|Analyst|Manager`: a user with exactly one role."""

import getpass
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from guardwatch.core.roles import Role
from guardwatch.core.services import user_create


class Command(BaseCommand):
    help = "Create a GuardWatch user holding one role (Admin, Analyst or Manager)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=[r.value for r in Role])
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password-stdin", action="store_true", help="Read the password from standard input (for scripts)."
        )

    def handle(self, *args, username: str, role: str, email: str, password_stdin: bool, **options):
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords do not match.")
        try:
            user_create(username=username, role=Role(role), password=password, email=email, actor="cli")
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Created {username} with role {role}."))
