"""`manage.py demo_jira --base-url https://127.0.0.1:9443`: the demo's Jira destination, on the local stand-in."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from notifications import services
from notifications.models import Destination

DEMO_JIRA_NAME = "Jira (local stand-in)"
# The stand-in's published demo account (gdsim.jira's defaults), not a secret.
DEMO_JIRA_EMAIL, DEMO_JIRA_TOKEN = "bot@example.com", "tok-123456789"  # noqa: S105


class Command(BaseCommand):
    help = "Add the Jira destination for the local Jira stand-in (demo mode only; once)."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", required=True)

    def handle(self, *args, base_url: str, **options):
        if not settings.DEMO:
            raise CommandError("`manage.py demo_jira` only runs with GUARDWATCH_ENV=demo.")
        config = {"base_url": base_url, "email": DEMO_JIRA_EMAIL, "project_key": "SEC", "issue_type": "Task",
                  "labels": [], "priority_map": "critical=Highest,high=High,medium=Medium,low=Low",
                  "extra_fields": {}, "ticket_scope": "finding"}  # fmt: skip
        existing = Destination.objects.filter(name=DEMO_JIRA_NAME).first()
        if existing is None:
            services.destination_create(name=DEMO_JIRA_NAME, kind=Destination.Kind.JIRA, enabled=True, config=config,
                                        secrets={"api_token": DEMO_JIRA_TOKEN}, actor="demo")  # fmt: skip
        elif existing.config.get("base_url") != base_url:  # another port this time: the token goes with it
            services.destination_update(destination=existing, name=existing.name, enabled=True, config=config,
                                        secrets={"api_token": DEMO_JIRA_TOKEN}, actor="demo")  # fmt: skip
