"""`manage.py demo_users`: the demo's three logins, one per role (idempotent; refuses production)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from guardwatch.core.roles import Role
from guardwatch.core.services import user_create, user_set_role

DEMO_USERS = (
    ("admin", Role.ADMIN, "admin-demo-pass"),
    ("analyst", Role.ANALYST, "analyst-demo-pass"),
    ("manager", Role.MANAGER, "manager-demo-pass"),
)


class Command(BaseCommand):
    help = "Create the demo users admin, analyst and manager (demo mode only)."

    def handle(self, *args, **options):
        if not settings.DEMO:
            raise CommandError("demo_users only runs with GUARDWATCH_ENV=demo; it creates known passwords.")
        User = get_user_model()
        for username, role, password in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user_create(username=username, role=role, password=password, actor="demo", validate=False)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
                user_set_role(user=user, role=role, actor="demo")
        for username, role, password in DEMO_USERS:
            self.stdout.write(f"  {role.value:<8} {username} / {password}")
